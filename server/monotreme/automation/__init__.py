"""Core: what the owner wrote. YAML procedures and templates, event hooks, web
hooks, schedules, scripts (with `import platypush` for those written for
Platypush) and the scripting API (`run`, `when`, `procedure`, `cron`)."""
