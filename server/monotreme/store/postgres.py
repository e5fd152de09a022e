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

from monotreme.errors import Unavailable
from monotreme.store.base import MIGRATIONS, VERSION, Conflict, Execute, Store

log = logging.getLogger(__name__)

# Seconds to connect, to wait for a pooled connection, and for one statement.
CONNECT_TIMEOUT = 3
_POOL_TIMEOUT = 1.0
_STATEMENT_TIMEOUT_MS = 5000
# Advisory lock keys (arbitrary, this application's): schema changes, and
# additions of users (so that of concurrent first sign-ups one is first).
_MIGRATION_LOCK = 0x6D6F6E6F01
_USERS_LOCK = 0x6D6F6E6F02


class PostgresStore(Store):
    remote = True

    def __init__(self, url: str) -> None:
        self.where = where(url)
        self._pool = psycopg_pool.ConnectionPool(
            url,
            min_size=1,
            # The event loop, worker threads (scripts) and the hub's watch.
            max_size=4,
            timeout=_POOL_TIMEOUT,
            # A connection a restart of the server broke is replaced, not used.
            check=psycopg_pool.ConnectionPool.check_connection,
            kwargs={
                "autocommit": True,
                "connect_timeout": CONNECT_TIMEOUT,
                "options": f"-c statement_timeout={_STATEMENT_TIMEOUT_MS}",
            },
            name="monotreme-store",
            open=False,
        )
        try:
            self._pool.open(wait=True, timeout=CONNECT_TIMEOUT * 2)
            self._migrate()
        except (psycopg.OperationalError, psycopg_pool.PoolTimeout) as e:
            self._pool.close()
            raise self._unavailable(e) from None
        except BaseException:
            self._pool.close()
            raise

    def _migrate(self) -> None:
        with self._pool.connection() as connection, connection.transaction():
            # Processes starting together: one migrates, the others then see it done.
            connection.execute("SELECT pg_advisory_xact_lock(%s)", (_MIGRATION_LOCK,))
            connection.execute("CREATE TABLE IF NOT EXISTS monotreme_schema (version INTEGER NOT NULL)")
            row = connection.execute("SELECT version FROM monotreme_schema").fetchone()
            version = int(row[0]) if row else 0
            if version > VERSION:
                raise Unavailable(
                    f"the store at {self.where} has schema version {version}, newer than"
                    f" this Monotreme's ({VERSION}): upgrade Monotreme",
                    reason="STORE_TOO_NEW",
                )
            for step in MIGRATIONS[version:]:
                if text := step.text("postgres").strip():
                    connection.execute(text.encode())  # several statements: no parameters
            if row is None:
                connection.execute("INSERT INTO monotreme_schema (version) VALUES (%s)", (VERSION,))
            else:
                connection.execute("UPDATE monotreme_schema SET version = %s", (VERSION,))

    def close(self) -> None:
        self._pool.close()

    def check(self) -> bool:
        try:
            with self._pool.connection() as connection:
                connection.execute("SELECT 1")
        except (psycopg.OperationalError, psycopg_pool.PoolTimeout) as e:
            if self.available:
                log.warning("the store at %s is unreachable: %s", self.where, _first_line(e))
            self.available = False
        else:
            if not self.available:
                log.info("the store at %s is reachable again", self.where)
            self.available = True
        return self.available

    @contextmanager
    def _connection(self) -> Iterator[psycopg.Connection[Any]]:
        if not self.available:
            raise Unavailable(
                f"the store (PostgreSQL at {self.where}) is unreachable; retrying",
                reason="STORE_UNAVAILABLE",
            )
        try:
            with self._pool.connection() as connection:
                yield connection
        except psycopg.errors.UniqueViolation as e:
            raise Conflict(str(e)) from None
        except (psycopg.OperationalError, psycopg_pool.PoolTimeout) as e:
            if self.available:
                log.warning("the store at %s is unreachable: %s", self.where, _first_line(e))
            self.available = False
            raise self._unavailable(e) from None

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

    def _unavailable(self, error: Exception) -> Unavailable:
        return Unavailable(
            f"the store (PostgreSQL at {self.where}) is unreachable: {_first_line(error)}",
            reason="STORE_UNAVAILABLE",
        )


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


def where(url: str) -> str:
    """`host:port/database` of a connection URL: what to name in messages, never its password."""
    parts = conninfo_to_dict(url)
    return f"{parts.get('host') or 'localhost'}:{parts.get('port') or 5432}/{parts.get('dbname') or ''}"


def _first_line(error: Exception) -> str:
    return (str(error).strip().splitlines() or [type(error).__name__])[0]
