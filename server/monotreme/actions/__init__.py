"""Core: actions. What a plugin is, each action's schema, the registry of every
action, and the dispatcher: the one path every door's Execute takes."""
