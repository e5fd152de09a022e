"""The store on PostgreSQL (`--store postgresql://...`), which several hub
processes share.

psycopg 3 is synchronous, like the store's interface: a call is one round
trip on a pooled connection in autocommit (committed, so durable, before it
returns). Timeouts are short so that a database that is gone fails a call
fast (UNAVAILABLE) instead of holding the event loop; once a call has failed
so, calls fail at once, without trying, until `check()` (the hub's watch,
with backoff) reaches the database again. The pool replaces broken
connections by itself.
"""

from __future__ import annotations

import logging
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

import psycopg
import psycopg_pool
from psycopg.conninfo import conninfo_to_dict, make_conninfo

from monotreme.errors import ConfigError, Unavailable
from monotreme.store.base import MIGRATIONS, VERSION, Conflict, Execute, Store

log = logging.getLogger(__name__)

# Seconds to connect, to wait for a pooled connection, and for one statement.
CONNECT_TIMEOUT = 3
_POOL_TIMEOUT = 1.0
_STATEMENT_TIMEOUT_MS = 5000
_SETTINGS: dict[str, Any] = {
    "connect_timeout": CONNECT_TIMEOUT,
    "options": f"-c statement_timeout={_STATEMENT_TIMEOUT_MS}",
}
# Advisory lock keys (arbitrary, this application's): schema changes, and
# additions of users (so that of concurrent first sign-ups one is first).
_MIGRATION_LOCK = 0x6D6F6E6F01
_USERS_LOCK = 0x6D6F6E6F02
# What a database that cannot be reached (or answers too late) raises.
_UNREACHABLE = (psycopg.OperationalError, psycopg_pool.PoolTimeout)


class PostgresStore(Store):
    remote = True

    def __init__(self, url: str) -> None:
        self.where = f"PostgreSQL at {_location(url)}"
        # Why it was last unreachable.
        self._why = ""
        self._url = url
        try:
            with self._connect() as connection:
                _migrate(connection, self.where)
        except _UNREACHABLE as e:
            self._why = _first_line(e)
            raise self._unavailable() from None
        self._pool = psycopg_pool.ConnectionPool(
            url,
            min_size=1,
            # The event loop, worker threads (scripts) and the hub's watch.
            max_size=4,
            timeout=_POOL_TIMEOUT,
            # A connection a restart of the server broke is replaced, not used.
            check=psycopg_pool.ConnectionPool.check_connection,
            kwargs={"autocommit": True, **_SETTINGS},
            name="monotreme-store",
            open=False,
        )
        self._pool.open()  # connects in the background

    def close(self) -> None:
        self._pool.close()

    def _connect(self) -> psycopg.Connection[Any]:
        """A connection of its own: one that fails says why (the pool's
        say no more than that none came in time)."""
        return psycopg.connect(self._url, **_SETTINGS)

    def check(self) -> bool:
        try:
            if not self.available:
                self._connect().close()
            with self._pool.connection() as connection:
                connection.execute("SELECT 1")
        except _UNREACHABLE as e:
            self._lost(e)
        else:
            if not self.available:
                log.info("the store (%s) is reachable again", self.where)
            self.available = True
        return self.available

    @contextmanager
    def _connection(self) -> Iterator[psycopg.Connection[Any]]:
        if not self.available:  # fail fast: the hub's watch tries it again
            raise self._unavailable()
        try:
            with self._pool.connection() as connection:
                yield connection
        except psycopg.errors.UniqueViolation as e:
            raise Conflict(str(e)) from None
        except _UNREACHABLE as e:
            self._lost(e)
            raise self._unavailable() from None

    def _lost(self, error: Exception) -> None:
        self._why = _first_line(error)
        if self.available:
            log.warning("the store (%s) is unreachable: %s", self.where, self._why)
        self.available = False

    def _unavailable(self) -> Unavailable:
        return Unavailable(
            f"the store ({self.where}) is unreachable: {self._why}", reason="STORE_UNAVAILABLE"
        )

    @contextmanager
    def _transaction(self) -> Iterator[Execute]:
        with self._connection() as connection, connection.transaction():
            yield lambda sql, *params: _execute(connection, sql, params)

    # One statement commits by itself (autocommit): one round trip.

    def _query(self, sql: str, *params: Any) -> list[tuple[Any, ...]]:
        with self._connection() as connection:
            return _execute(connection, sql, params).fetchall()

    def _write(self, sql: str, *params: Any) -> int:
        with self._connection() as connection:
            return _execute(connection, sql, params).rowcount

    def _lock_users(self, execute: Execute) -> None:
        execute("SELECT pg_advisory_xact_lock(?)", _USERS_LOCK)

    def _revision(self) -> object:
        return tuple(self._query("SELECT last_value, is_called FROM revisions")[0])

    def _revised(self) -> None:
        self._query("SELECT nextval('revisions')")


def _migrate(connection: psycopg.Connection[Any], where: str) -> None:
    """Brings the schema to VERSION, in one transaction (committed when the
    connection's block ends)."""
    # Processes starting together: one migrates, the others then see it done.
    connection.execute("SELECT pg_advisory_xact_lock(%s)", (_MIGRATION_LOCK,))
    connection.execute("CREATE TABLE IF NOT EXISTS monotreme_schema (version INTEGER NOT NULL)")
    row = connection.execute("SELECT version FROM monotreme_schema").fetchone()
    version = int(row[0]) if row else 0
    if version > VERSION:
        raise ConfigError(
            None,
            "store.url",
            f"the store ({where}) has schema version {version}, newer than this Monotreme's"
            f" ({VERSION}): upgrade Monotreme",
        )
    for step in MIGRATIONS[version:]:
        if text := step.text("postgres").strip():
            connection.execute(text.encode())  # several statements: no parameters
    if row is None:
        connection.execute("INSERT INTO monotreme_schema (version) VALUES (%s)", (VERSION,))
    else:
        connection.execute("UPDATE monotreme_schema SET version = %s", (VERSION,))


def _execute(connection: psycopg.Connection[Any], sql: str, params: tuple[Any, ...]) -> psycopg.Cursor[Any]:
    # The queries use `?`; psycopg's parameters are `%s` (none has a `%` of its own).
    return connection.execute(sql.replace("?", "%s").encode(), params)


def client_connection(url: str) -> tuple[str, dict[str, str]]:
    """What PostgreSQL's own programs (pg_dump...) take: the URL's connection
    string without its password, and the environment that gives it."""
    parts = conninfo_to_dict(url)
    password = parts.pop("password", None)
    return make_conninfo(**{k: str(v) for k, v in parts.items()}), (
        {"PGPASSWORD": str(password)} if password is not None else {}
    )


def _location(url: str) -> str:
    """`host:port/database` of a connection URL: what to name in messages, never its password."""
    parts = conninfo_to_dict(url)
    return f"{parts.get('host') or 'localhost'}:{parts.get('port') or 5432}/{parts.get('dbname') or ''}"


def _first_line(error: Exception) -> str:
    return (str(error).strip().splitlines() or [type(error).__name__])[0]
