"""Who a caller is: passwords, JWTs, API tokens, browser sessions and the owner token.

Passwords are argon2 hashes, checked off the event loop. API tokens are
random, so a SHA-256 of the secret is enough at rest. Tokens seen are kept in
memory with their user, so a call costs no query; tokens are only revoked
through this class, which drops them at once, so a revocation still takes
effect on the next call. (Another process may add tokens and users, never
revoke them.)
"""

from __future__ import annotations

import asyncio
import base64
import binascii
import dataclasses
import hashlib
import hmac
import os
import re
import secrets
import sqlite3
import time
import uuid
from collections import defaultdict
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import jwt
from argon2 import PasswordHasher
from argon2.exceptions import InvalidHashError, VerificationError

from monotreme.call import Call, Principal
from monotreme.config import AuthSettings
from monotreme.errors import (
    AlreadyExists,
    FailedPrecondition,
    InvalidArgument,
    NotFound,
    PermissionDenied,
    ResourceExhausted,
    Unauthenticated,
)
from monotreme.store import Store, TokenRow, UserRow

TOKEN_PREFIX = "mt_"
_USERNAME = re.compile(r"^[A-Za-z0-9._@-]{1,64}$")
_MIN_PASSWORD = 8
_DAY = 86400.0
# last_used_at is written at most this often per token: the hot path stays write-free.
_TOUCH_EVERY = 3600.0
_CLAIMS = ["exp", "sub", "jti"]
_CACHED_TOKENS = 4096


def _hash_secret(secret: str) -> str:
    return hashlib.sha256(secret.encode()).hexdigest()


def _secret_key(path: Path) -> bytes:
    """The JWT signing key, created once with mode 0600."""
    try:
        return path.read_bytes()
    except FileNotFoundError:
        pass
    key = secrets.token_bytes(64)
    temporary = path.with_suffix(".tmp")
    fd = os.open(temporary, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "wb") as file:
        file.write(key)
        file.flush()
        os.fsync(file.fileno())
    try:
        os.link(temporary, path)  # atomic, and loses to a concurrent first start
    except FileExistsError:
        pass
    finally:
        temporary.unlink()
    return path.read_bytes()


@dataclass
class _Failures:
    count: int = 0
    locked_until: float = 0.0


class Auth:
    """Authenticates calls and manages users and tokens."""

    def __init__(self, store: Store, data_dir: Path, settings: AuthSettings) -> None:
        self._store = store
        self._settings = settings
        self._key = _secret_key(data_dir / "jwt.secret")
        self._hasher = PasswordHasher()
        self._failures: defaultdict[str, _Failures] = defaultdict(_Failures)
        self._watchers: defaultdict[tuple[str, int | str], set[asyncio.Event]] = defaultdict(set)
        # Tokens by the hash of their secret; users by id (names and roles do not change).
        self._tokens: dict[str, TokenRow] = {}
        self._users: dict[int, UserRow] = {}
        # Once a user exists one always does: users are never removed.
        self._has_users = False

    # Authentication

    async def authenticate(self, call: Call) -> Principal:
        """The caller of `call`, from its `authorization` metadata."""
        if not self.has_users():
            raise FailedPrecondition(
                "no user is registered yet: register the first user", reason="REGISTRATION_REQUIRED"
            )
        header = call.metadata.get("authorization", "")
        scheme, _, credentials = header.partition(" ")
        credentials = credentials.strip()
        if scheme.lower() == "bearer" and credentials:
            return self._bearer(credentials)
        if scheme.lower() == "session" and credentials:
            return self._session(credentials, call.metadata.get("x-csrf-token"))
        if scheme.lower() == "basic" and credentials:
            username, password = self._basic(credentials)
            user = await self.check_password(username, password, call.peer)
            return Principal(user.id, user.username, user.is_admin, "password")
        raise Unauthenticated(
            "missing credentials: send 'authorization: Bearer <token>'", reason="MISSING_CREDENTIALS"
        )

    def _bearer(self, token: str) -> Principal:
        if token.startswith(TOKEN_PREFIX):
            return self._api_token(token)
        try:
            claims = jwt.decode(
                token, self._key, algorithms=["HS256"], options={"require": ["exp", "sub", "jti"]}
            )
        except jwt.ExpiredSignatureError:
            raise Unauthenticated("the token has expired", reason="TOKEN_EXPIRED") from None
        except jwt.InvalidTokenError:
            raise Unauthenticated("invalid token", reason="INVALID_TOKEN") from None
        if self._store.jwt_revoked(claims["jti"]):
            raise Unauthenticated("the token has been revoked", reason="TOKEN_REVOKED")
        user = self._user(int(claims["sub"]))
        if user is None:
            raise Unauthenticated("the token's user no longer exists", reason="INVALID_TOKEN")
        return Principal(user.id, user.username, user.is_admin, "jwt", jti=claims["jti"])

    def _token_row(self, secret: str) -> TokenRow:
        """The live token (API, owner or session) with this secret."""
        secret_hash = _hash_secret(secret)
        row = self._tokens.get(secret_hash) or self._store.token_by_secret_hash(secret_hash)
        if row is None:
            raise Unauthenticated("invalid or revoked token", reason="INVALID_TOKEN")
        now = time.time()
        if row.expires_at is not None and now >= row.expires_at:
            raise Unauthenticated("the token has expired", reason="TOKEN_EXPIRED")
        if row.kind == "owner":
            idle_since = row.last_used_at or row.created_at
            if now - idle_since >= self._settings.owner_token_idle_days * _DAY:
                raise Unauthenticated("the owner token expired after going unused", reason="TOKEN_EXPIRED")
        if row.last_used_at is None or now - row.last_used_at >= _TOUCH_EVERY:
            self._store.touch_token(row.id, now)
            row = dataclasses.replace(row, last_used_at=now)
        if len(self._tokens) >= _CACHED_TOKENS:
            self._tokens.clear()  # rarely: a few thousand live tokens is a lot for a hub
        self._tokens[secret_hash] = row
        return row

    def _api_token(self, secret: str) -> Principal:
        return self._principal(self._token_row(secret))

    def _session(self, secret: str, csrf_token: str | None) -> Principal:
        """A browser session's cookie, and its CSRF token when the request carries one
        (the gateway insists on it for state-changing requests)."""
        row = self._token_row(secret)
        if row.kind != "session" or row.csrf_token is None:
            raise Unauthenticated("invalid or expired session", reason="INVALID_SESSION")
        if csrf_token is not None and not hmac.compare_digest(csrf_token, row.csrf_token):
            raise PermissionDenied("invalid CSRF token", reason="INVALID_CSRF")
        return self._principal(row)

    def _principal(self, row: TokenRow) -> Principal:
        user = self._user(row.user_id)
        assert user is not None  # tokens are deleted with their user
        return Principal(user.id, user.username, user.is_admin, row.kind, token_id=row.id)

    def _user(self, user_id: int) -> UserRow | None:
        user = self._users.get(user_id) or self._store.user(user_id=user_id)
        if user is not None:
            self._users[user_id] = user
        return user

    @staticmethod
    def _basic(credentials: str) -> tuple[str, str]:
        try:
            username, sep, password = base64.b64decode(credentials, validate=True).decode().partition(":")
        except (binascii.Error, UnicodeDecodeError):
            sep = ""
        if not sep:
            raise Unauthenticated("malformed basic credentials", reason="INVALID_CREDENTIALS")
        return username, password

    async def check_password(self, username: str, password: str, peer: str = "") -> UserRow:
        """The user, if the password is right; throttles repeated failures per user and per peer."""
        keys = [f"user:{username}"] + ([f"peer:{peer.rsplit(':', 1)[0]}"] if peer else [])
        now = time.monotonic()
        locked = max(self._failures[key].locked_until for key in keys)
        if locked > now:
            raise ResourceExhausted(
                f"too many failed log-ins: try again in {locked - now:.0f} s", reason="TOO_MANY_ATTEMPTS"
            )
        user = self._store.user(username=username)
        if user is not None and await self._verify(user, password):
            for key in keys:
                self._failures.pop(key, None)
            return user
        for key in keys:
            failures = self._failures[key]
            failures.count += 1
            extra = failures.count - self._settings.max_failed_logins
            if extra >= 0:
                failures.locked_until = now + self._settings.lockout_seconds * 2 ** min(extra, 10)
        raise Unauthenticated("Invalid credentials", reason="INVALID_CREDENTIALS")

    async def _verify(self, user: UserRow, password: str) -> bool:
        try:
            await asyncio.to_thread(self._hasher.verify, user.password_hash, password)
        except (VerificationError, InvalidHashError):
            return False
        if self._hasher.check_needs_rehash(user.password_hash):
            self._store.set_password_hash(user.id, await asyncio.to_thread(self._hasher.hash, password))
        return True

    # Users

    async def add_user(self, username: str, password: str, is_admin: bool = False) -> UserRow:
        """Adds a user; the first one is always an admin."""
        if not _USERNAME.match(username):
            raise InvalidArgument(
                "username: 1-64 letters, digits, '.', '_', '-' or '@'", reason="INVALID_USERNAME"
            )
        if len(password) < _MIN_PASSWORD:
            raise InvalidArgument(f"password: at least {_MIN_PASSWORD} characters", reason="INVALID_PASSWORD")
        password_hash = await asyncio.to_thread(self._hasher.hash, password)
        try:
            return self._store.add_user(username, password_hash, is_admin or self._store.count_users() == 0)
        except sqlite3.IntegrityError:
            raise AlreadyExists(f"user '{username}' already exists", reason="USER_EXISTS") from None

    def has_users(self) -> bool:
        self._has_users = self._has_users or self._store.count_users() > 0
        return self._has_users

    # Tokens

    def issue_jwt(self, user: UserRow, expiry_days: float = 0) -> tuple[str, float]:
        """A signed JWT for the user and its expiry (Unix seconds)."""
        if expiry_days < 0:
            raise InvalidArgument("expiry_days: must not be negative", reason="INVALID_ARGUMENT")
        now = time.time()
        expires_at = now + (expiry_days or self._settings.jwt_expiry_days) * _DAY
        claims = {
            "sub": str(user.id),
            "username": user.username,
            "iat": int(now),
            "exp": int(expires_at),
            "jti": uuid.uuid4().hex,
        }
        return jwt.encode(claims, self._key, algorithm="HS256"), float(int(expires_at))

    def create_token(
        self, user: int | str, name: str, expiry_days: float | None = None, kind: str = "api"
    ) -> tuple[str, TokenRow]:
        """A new token's secret (shown once) and its row; `user` is an id or a username."""
        row = self._store.user(user_id=user) if isinstance(user, int) else self._store.user(username=user)
        if row is None:
            raise NotFound(f"no user '{user}'", reason="USER_NOT_FOUND")
        if not name or len(name) > 128:
            raise InvalidArgument("name: 1-128 characters", reason="INVALID_ARGUMENT")
        if expiry_days is not None and expiry_days < 0:
            raise InvalidArgument("expiry_days: must not be negative", reason="INVALID_ARGUMENT")
        secret = TOKEN_PREFIX + secrets.token_urlsafe(32)
        expires_at = time.time() + expiry_days * _DAY if expiry_days else None
        try:
            token = self._store.add_token(row.id, name, kind, _hash_secret(secret), expires_at)
        except sqlite3.IntegrityError:
            raise AlreadyExists(
                f"a token named '{name}' already exists", reason="TOKEN_NAME_EXISTS"
            ) from None
        return secret, token

    def create_session(self, user: UserRow, remember: bool) -> tuple[str, TokenRow]:
        """A browser session for the user: its secret (the cookie) and its row,
        which holds its CSRF token. It lasts a year when remembered."""
        days = 365.0 if remember else self._settings.jwt_expiry_days
        secret = TOKEN_PREFIX + secrets.token_urlsafe(32)
        row = self._store.add_token(
            user.id,
            f"session-{uuid.uuid4().hex[:12]}",
            "session",
            _hash_secret(secret),
            time.time() + days * _DAY,
            csrf_token=secrets.token_urlsafe(24),
        )
        return secret, row

    def tokens(self, principal: Principal) -> list[TokenRow]:
        """The user's API and owner tokens (sessions are not listed)."""
        return [t for t in self._store.tokens(principal.user_id) if t.kind != "session"]

    def revoke_token(self, principal: Principal, token_id: int) -> None:
        """Revokes the caller's token (an admin: anyone's); live streams using it end."""
        row = self._store.token(token_id)
        if row is None or (row.user_id != principal.user_id and not principal.is_admin):
            raise NotFound(f"no token with id {token_id}", reason="TOKEN_NOT_FOUND")
        self._store.delete_token(token_id)
        self._tokens = {h: t for h, t in self._tokens.items() if t.id != token_id}
        self._notify(("token", token_id))

    def revoke_secret(self, principal: Principal, token: str) -> None:
        """Revokes a token given itself: an API token's secret or a JWT of this hub."""
        if token.startswith(TOKEN_PREFIX):
            row = self._store.token_by_secret_hash(_hash_secret(token))
            if row is None:
                raise NotFound("no such token", reason="TOKEN_NOT_FOUND")
            self.revoke_token(principal, row.id)
            return
        try:
            claims = jwt.decode(token, self._key, algorithms=["HS256"], options={"require": _CLAIMS})
        except jwt.ExpiredSignatureError:
            return  # it no longer works anyway
        except jwt.InvalidTokenError:
            raise InvalidArgument("token: not a token of this hub", reason="INVALID_TOKEN") from None
        if int(claims["sub"]) != principal.user_id and not principal.is_admin:
            raise NotFound("no such token", reason="TOKEN_NOT_FOUND")
        self._store.revoke_jwt(claims["jti"], float(claims["exp"]))
        self._notify(("jwt", claims["jti"]))

    # Revocation watch: streams and websockets end as soon as their credentials go.

    def _key_of(self, principal: Principal) -> tuple[str, int | str] | None:
        if principal.token_id is not None:
            return ("token", principal.token_id)
        return ("jwt", principal.jti) if principal.jti else None

    def watch(self, principal: Principal) -> asyncio.Event:
        """An event set when the principal's token is revoked."""
        event = asyncio.Event()
        if (key := self._key_of(principal)) is not None:
            self._watchers[key].add(event)
        return event

    def unwatch(self, principal: Principal, event: asyncio.Event) -> None:
        if (key := self._key_of(principal)) is not None and key in self._watchers:
            self._watchers[key].discard(event)
            if not self._watchers[key]:
                del self._watchers[key]

    def _notify(self, key: tuple[str, Any]) -> None:
        for event in self._watchers.pop(key, ()):
            event.set()
