"""Core: what the owner wrote. YAML procedures and templates, event hooks, web
hooks, scripts and the scripting API (`run`, `when`, `procedure`)."""
