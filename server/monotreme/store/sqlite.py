"""The SQLite store: users, API tokens, revoked JWTs and variables.

WAL with `synchronous=FULL`: a call that returned has reached the disk, so
nothing acknowledged is lost if the process is killed or the host loses power.
Every method is one short transaction on indexed columns.
"""

from __future__ import annotations

import json
import os
import sqlite3
import threading
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

# The store's file in the data dir.
DATABASE = "monotreme.db"
_SCHEMA = """
CREATE TABLE users (
    id INTEGER PRIMARY KEY,
    username TEXT NOT NULL UNIQUE,
    password_hash TEXT NOT NULL,
    is_admin INTEGER NOT NULL,
    created_at REAL NOT NULL
);
CREATE TABLE tokens (
    id INTEGER PRIMARY KEY,
    user_id INTEGER NOT NULL REFERENCES users(id) ON DELETE CASCADE,
    name TEXT NOT NULL,
    kind TEXT NOT NULL,
    secret_hash TEXT NOT NULL UNIQUE,
    created_at REAL NOT NULL,
    expires_at REAL,
    last_used_at REAL,
    UNIQUE (user_id, name)
);
CREATE TABLE revoked_jwts (jti TEXT PRIMARY KEY, expires_at REAL NOT NULL);
CREATE TABLE variables (name TEXT PRIMARY KEY, value TEXT NOT NULL, updated_at REAL NOT NULL);
"""
# Schema changes since the first version, by the version they bring the file to.
_MIGRATIONS = {
    2: "ALTER TABLE tokens ADD COLUMN csrf_token TEXT;",  # browser sessions
    # Token ids are never reused after a delete (AUTOINCREMENT): a revoked id
    # must not come to name another token. SQLite cannot alter a key, so the
    # table is copied; its rows keep their ids.
    3: """
CREATE TABLE tokens_v3 (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    user_id INTEGER NOT NULL REFERENCES users(id) ON DELETE CASCADE,
    name TEXT NOT NULL,
    kind TEXT NOT NULL,
    secret_hash TEXT NOT NULL UNIQUE,
    created_at REAL NOT NULL,
    expires_at REAL,
    last_used_at REAL,
    csrf_token TEXT,
    UNIQUE (user_id, name)
);
INSERT INTO tokens_v3 SELECT id, user_id, name, kind, secret_hash, created_at, expires_at, last_used_at,
    csrf_token FROM tokens;
DROP TABLE tokens;
ALTER TABLE tokens_v3 RENAME TO tokens;
""",
}
_VERSION = max(_MIGRATIONS)


@dataclass(frozen=True)
class UserRow:
    id: int
    username: str
    password_hash: str
    is_admin: bool
    created_at: float


@dataclass(frozen=True)
class TokenRow:
    id: int
    user_id: int
    username: str
    name: str
    kind: str
    created_at: float
    expires_at: float | None
    last_used_at: float | None
    # Sessions only: what state-changing requests made with the cookie must send.
    csrf_token: str | None


_TOKEN_COLUMNS = (
    "t.id, t.user_id, u.username, t.name, t.kind, t.created_at, t.expires_at, t.last_used_at, t.csrf_token"
)


class Store:
    """One SQLite file; safe to share between the event loop and worker threads."""

    def __init__(self, path: Path) -> None:
        path.touch(mode=0o600, exist_ok=True)
        self._db = sqlite3.connect(path, check_same_thread=False, isolation_level=None)
        self._lock = threading.Lock()
        for pragma in ("journal_mode=WAL", "synchronous=FULL", "foreign_keys=ON", "busy_timeout=5000"):
            self._db.execute(f"PRAGMA {pragma}")
        version = self._db.execute("PRAGMA user_version").fetchone()[0]
        if version < _VERSION:
            steps = [] if version else [_SCHEMA]
            steps += [sql for number, sql in sorted(_MIGRATIONS.items()) if number > max(version, 1)]
            with self._lock:  # one transaction: a crash leaves the file as it was
                self._db.executescript(f"BEGIN; {''.join(steps)} PRAGMA user_version = {_VERSION}; COMMIT;")
        for suffix in ("-wal", "-shm"):
            sidecar = Path(f"{path}{suffix}")
            if sidecar.exists():
                os.chmod(sidecar, 0o600)

    def close(self) -> None:
        with self._lock:
            self._db.close()

    def _all(self, sql: str, *params: Any) -> list[tuple[Any, ...]]:
        with self._lock:
            return self._db.execute(sql, params).fetchall()

    def _write(self, sql: str, *params: Any) -> sqlite3.Cursor:
        with self._lock:
            return self._db.execute(sql, params)

    # Users

    def count_users(self) -> int:
        return int(self._all("SELECT count(*) FROM users")[0][0])

    def add_user(
        self, username: str, password_hash: str, is_admin: bool, *, only_first: bool = False
    ) -> UserRow | None:
        """Adds a user, an admin when asked or when it is the first; with
        `only_first`, only while no user exists (else None). One statement
        decides and inserts, so of concurrent first sign-ups, in this process
        or another, exactly one is first. Raises sqlite3.IntegrityError when
        the name is taken."""
        now = time.time()
        rows = self._all(
            "INSERT INTO users (username, password_hash, is_admin, created_at)"
            " SELECT ?, ?, ? OR NOT EXISTS (SELECT 1 FROM users), ?"
            + (" WHERE NOT EXISTS (SELECT 1 FROM users)" if only_first else "")
            + " RETURNING id, is_admin",
            username,
            password_hash,
            int(is_admin),
            now,
        )
        return UserRow(rows[0][0], username, password_hash, bool(rows[0][1]), now) if rows else None

    def user(self, *, user_id: int | None = None, username: str | None = None) -> UserRow | None:
        column, value = ("id", user_id) if user_id is not None else ("username", username)
        rows = self._all(
            f"SELECT id, username, password_hash, is_admin, created_at FROM users WHERE {column} = ?", value
        )
        return UserRow(rows[0][0], rows[0][1], rows[0][2], bool(rows[0][3]), rows[0][4]) if rows else None

    def set_password_hash(self, user_id: int, password_hash: str) -> None:
        self._write("UPDATE users SET password_hash = ? WHERE id = ?", password_hash, user_id)

    # Tokens

    def add_token(
        self,
        user_id: int,
        name: str,
        kind: str,
        secret_hash: str,
        expires_at: float | None,
        csrf_token: str | None = None,
    ) -> TokenRow:
        """Raises sqlite3.IntegrityError when the user has a token of that name."""
        cursor = self._write(
            "INSERT INTO tokens (user_id, name, kind, secret_hash, created_at, expires_at, csrf_token)"
            " VALUES (?, ?, ?, ?, ?, ?, ?)",
            user_id,
            name,
            kind,
            secret_hash,
            time.time(),
            expires_at,
            csrf_token,
        )
        token = self.token(int(cursor.lastrowid or 0))
        assert token is not None
        return token

    def token(self, token_id: int) -> TokenRow | None:
        rows = self._all(
            f"SELECT {_TOKEN_COLUMNS} FROM tokens t JOIN users u ON u.id = t.user_id WHERE t.id = ?", token_id
        )
        return TokenRow(*rows[0]) if rows else None

    def token_by_secret_hash(self, secret_hash: str) -> TokenRow | None:
        rows = self._all(
            f"SELECT {_TOKEN_COLUMNS} FROM tokens t JOIN users u ON u.id = t.user_id WHERE t.secret_hash = ?",
            secret_hash,
        )
        return TokenRow(*rows[0]) if rows else None

    def tokens(self, user_id: int) -> list[TokenRow]:
        rows = self._all(
            f"SELECT {_TOKEN_COLUMNS} FROM tokens t JOIN users u ON u.id = t.user_id"
            " WHERE t.user_id = ? ORDER BY t.created_at DESC, t.id DESC",
            user_id,
        )
        return [TokenRow(*row) for row in rows]

    def touch_token(self, token_id: int, when: float) -> None:
        self._write("UPDATE tokens SET last_used_at = ? WHERE id = ?", when, token_id)

    def delete_token(self, token_id: int) -> bool:
        return self._write("DELETE FROM tokens WHERE id = ?", token_id).rowcount > 0

    # Revoked JWTs (kept until they would have expired anyway)

    def revoke_jwt(self, jti: str, expires_at: float) -> None:
        self._write("INSERT OR IGNORE INTO revoked_jwts (jti, expires_at) VALUES (?, ?)", jti, expires_at)
        self._write("DELETE FROM revoked_jwts WHERE expires_at < ?", time.time())

    def jwt_revoked(self, jti: str) -> bool:
        return bool(self._all("SELECT 1 FROM revoked_jwts WHERE jti = ?", jti))

    # Variables (JSON values)

    def get_variable(self, name: str) -> Any | None:
        rows = self._all("SELECT value FROM variables WHERE name = ?", name)
        return json.loads(rows[0][0]) if rows else None

    def set_variable(self, name: str, value: Any) -> None:
        self._write(
            "INSERT INTO variables (name, value, updated_at) VALUES (?, ?, ?)"
            " ON CONFLICT (name) DO UPDATE SET value = excluded.value, updated_at = excluded.updated_at",
            name,
            json.dumps(value),
            time.time(),
        )

    def unset_variable(self, name: str) -> bool:
        return self._write("DELETE FROM variables WHERE name = ?", name).rowcount > 0

    def list_variables(self) -> dict[str, Any]:
        return {
            name: json.loads(value)
            for name, value in self._all("SELECT name, value FROM variables ORDER BY name")
        }

    def users(self) -> list[UserRow]:
        """Every user, oldest first."""
        rows = self._all("SELECT id, username, password_hash, is_admin, created_at FROM users ORDER BY id")
        return [UserRow(row[0], row[1], row[2], bool(row[3]), row[4]) for row in rows]
