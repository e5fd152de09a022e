"""Core: what the hub keeps (users, tokens, sessions, revoked JWTs, variables,
failed log-ins): embedded in SQLite in the data dir, or on PostgreSQL, which
several hub processes can share."""

from __future__ import annotations

from pathlib import Path

from monotreme.errors import ConfigError
from monotreme.store.base import AuditRow, Conflict, Store, TokenRow, UserRow
from monotreme.store.sqlite import DATABASE, SqliteStore

__all__ = ["DATABASE", "AuditRow", "Conflict", "Store", "TokenRow", "UserRow", "open_store"]


def open_store(url: str | None, data_dir: Path) -> Store:
    """The store at `url` (`postgresql://...`), or by default SQLite in the data dir.
    Raises Unavailable when the database cannot be reached."""
    if not url:
        return SqliteStore(data_dir / DATABASE)
    if url.startswith(("postgresql:", "postgres:")):
        from monotreme.store.postgres import PostgresStore  # psycopg loads only for it

        return PostgresStore(url)
    raise ConfigError(None, "store.url", f"expected a postgresql://... URL, not {url.split(':')[0]!r}")
