"""The embedded store: one SQLite file in the data dir.

WAL with `synchronous=FULL`: a call that returned has reached the disk, so
nothing acknowledged is lost if the process is killed or the host loses power.
Processes sharing the file share what it holds (SQLite serializes writers).
"""

from __future__ import annotations

import os
import sqlite3
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from monotreme.store.base import MIGRATIONS, VERSION, Conflict, Execute, Store

# The store's file in the data dir.
DATABASE = "monotreme.db"


class SqliteStore(Store):
    """One SQLite file; one connection, used by one thread at a time."""

    def __init__(self, path: Path) -> None:
        self.where = f"SQLite at {path}"
        path.touch(mode=0o600, exist_ok=True)
        self._db = sqlite3.connect(path, check_same_thread=False, isolation_level=None)
        self._lock = threading.Lock()
        for pragma in ("busy_timeout=5000", "synchronous=FULL", "foreign_keys=ON"):
            self._db.execute(f"PRAGMA {pragma}")
        self._use_wal()
        if self._version() < VERSION:
            self._migrate()
        for suffix in ("-wal", "-shm"):
            sidecar = Path(f"{path}{suffix}")
            if sidecar.exists():
                os.chmod(sidecar, 0o600)

    def _use_wal(self) -> None:
        """Write-ahead logging. Switching a file to it takes a lock SQLite may
        refuse at once, busy timeout or not (seen under load, with processes
        opening a new file together): try again for as long as that timeout."""
        deadline = time.monotonic() + 5
        while True:
            try:
                self._db.execute("PRAGMA journal_mode=WAL")
                return
            except sqlite3.OperationalError as e:
                if "locked" not in str(e) or time.monotonic() > deadline:
                    raise
                time.sleep(0.05)

    def _version(self) -> int:
        return int(self._db.execute("PRAGMA user_version").fetchone()[0])

    def _migrate(self) -> None:
        """Brings the file to VERSION in one transaction (a crash leaves it as
        it was), read and written under the write lock: of processes opening
        it together, one migrates and the others see it done."""
        with self._transaction() as execute:
            version = self._version()
            steps = "".join(step.text("sqlite") for step in MIGRATIONS[version:])
            for statement in steps.split(";"):  # (no step holds a `;` of its own)
                if statement.strip():
                    execute(statement)
            execute(f"PRAGMA user_version = {VERSION}")

    def close(self) -> None:
        with self._lock:
            self._db.close()

    def check(self) -> bool:
        return True  # a file of this host's

    def _revision(self) -> object:
        # data_version changes when another connection commits (this one's own do not change it).
        with self._lock:
            return int(self._db.execute("PRAGMA data_version").fetchone()[0])

    def _revised(self) -> None:
        pass  # every commit moves the others' data_version

    def _lock_users(self, execute: Execute) -> None:
        pass  # BEGIN IMMEDIATE did: one writer at a time

    @contextmanager
    def _transaction(self) -> Iterator[Execute]:
        def execute(sql: str, *params: Any) -> sqlite3.Cursor:
            return self._db.execute(sql, params)

        with self._lock, _conflicts():
            # IMMEDIATE: take the write lock first, so another process's
            # writer makes this one wait (busy_timeout), not fail.
            self._db.execute("BEGIN IMMEDIATE")
            try:
                yield execute
            except BaseException:
                self._db.execute("ROLLBACK")
                raise
            self._db.execute("COMMIT")

    def _query(self, sql: str, *params: Any) -> list[tuple[Any, ...]]:
        # One statement commits by itself (autocommit): no BEGIN, no COMMIT.
        with self._lock, _conflicts():
            return self._db.execute(sql, params).fetchall()

    def _write(self, sql: str, *params: Any) -> int:
        with self._lock, _conflicts():
            return self._db.execute(sql, params).rowcount


@contextmanager
def _conflicts() -> Iterator[None]:
    try:
        yield
    except sqlite3.IntegrityError as e:
        raise Conflict(str(e)) from None
