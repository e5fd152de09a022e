"""Core: what the hub keeps (users, tokens, sessions, revoked JWTs, variables), in SQLite."""
