"""Accounts: users with argon2-hashed passwords, and their tokens (API, owner
and browser sessions). API tokens are random, so a SHA-256 of the secret is
enough at rest; passwords are hashed and checked off the event loop, a few at
a time: each argon2 hash takes 64 MiB while it runs."""

from __future__ import annotations

import asyncio
import hashlib
import re
import secrets
import time
import uuid

from argon2 import PasswordHasher
from argon2.exceptions import InvalidHashError, VerificationError

from monotreme.call import Principal
from monotreme.config import AuthSettings
from monotreme.errors import AlreadyExists, InvalidArgument, NotFound, Unauthenticated
from monotreme.identity.audit import LOGIN_FAILED, TOKEN_CREATED, TOKEN_REVOKED, USER_ADDED, Audit
from monotreme.identity.jwts import DAY, Jwts, check_expiry_days
from monotreme.identity.revocation import Revocations
from monotreme.identity.throttle import Throttle
from monotreme.scopes import unrestricted
from monotreme.store import Conflict, Store, TokenRow, UserRow

TOKEN_PREFIX = "mt_"
_USERNAME = re.compile(r"^[A-Za-z0-9._@-]{1,64}$")
# Argon2 hashes run at once (each holds 64 MiB): more wait their turn. With 60
# log-ins at once, 4 took peak RSS from 130 to 324 MB, 2 to 196 MB.
_CONCURRENT_HASHES = 2


def hash_secret(secret: str) -> str:
    return hashlib.sha256(secret.encode()).hexdigest()


class Accounts:
    def __init__(
        self,
        store: Store,
        jwts: Jwts,
        throttle: Throttle,
        revocations: Revocations,
        settings: AuthSettings,
        audit: Audit,
    ) -> None:
        self._store = store
        self._audit = audit
        self._jwts = jwts
        self._throttle = throttle
        self._revocations = revocations
        self._settings = settings
        self._hasher = PasswordHasher()
        self._hashing = asyncio.Semaphore(_CONCURRENT_HASHES)
        # Checked against for unknown users, so a wrong name costs what a wrong password does.
        self._dummy_hash: str | None = None
        # Users by id (names and roles do not change).
        self._users: dict[int, UserRow] = {}
        # Once a user exists one always does: users are never removed.
        self._has_users = False

    # Users

    async def add_user(
        self,
        username: str,
        password: str,
        is_admin: bool = False,
        by: Principal | None = None,
        peer: str = "",
    ) -> UserRow:
        """Adds a user (`by` an admin, or at the hub's console); the first one is always an admin."""
        user = await self._add_user(username, password, is_admin, only_first=False)
        assert user is not None
        self._audit_added(user, by, peer)
        return user

    async def register_first(self, username: str, password: str, peer: str = "") -> UserRow:
        """Adds the first user, an admin, as anyone may while no user exists;
        after that (even if another sign-up won a moment ago) registrations are closed."""
        if self.has_users():
            raise _registrations_disabled()
        user = await self._add_user(username, password, True, only_first=True)
        if user is None:
            raise _registrations_disabled()
        self._audit_added(user, None, peer)
        return user

    def _audit_added(self, user: UserRow, by: Principal | None, peer: str) -> None:
        role = "an admin" if user.is_admin else "a user"
        self._audit.record(USER_ADDED, by or user.username, f"added {role} '{user.username}'", peer)

    async def _add_user(
        self, username: str, password: str, is_admin: bool, only_first: bool
    ) -> UserRow | None:
        if not _USERNAME.match(username):
            raise InvalidArgument(
                "username: 1-64 letters, digits, '.', '_', '-' or '@'", reason="INVALID_USERNAME"
            )
        shortest = self._settings.min_password_length
        if len(password) < shortest:
            raise InvalidArgument(f"password: at least {shortest} characters", reason="INVALID_PASSWORD")
        password_hash = await self._hash(password)
        try:
            return self._store.add_user(username, password_hash, is_admin, only_first=only_first)
        except Conflict:
            raise AlreadyExists(f"user '{username}' already exists", reason="USER_EXISTS") from None

    def has_users(self) -> bool:
        self._has_users = self._has_users or self._store.count_users() > 0
        return self._has_users

    def user(self, user_id: int) -> UserRow | None:
        user = self._users.get(user_id) or self._store.user(user_id=user_id)
        if user is not None:
            self._users[user_id] = user
        return user

    def users(self) -> list[UserRow]:
        return self._store.users()

    def token(self, token_id: int) -> TokenRow | None:
        return self._store.token(token_id)

    async def check_password(self, username: str, password: str, peer: str = "") -> UserRow:
        """The user, if the password is right. The attempt counts against the
        user at this peer's address, and the address, while it is checked:
        of guesses sent together, only as many as may fail are checked."""
        attempt = await self._throttle.attempt(username, peer)
        failed = True  # also when the check is cut short: it may have been a guess
        try:
            user = self._store.user(username=username)
            if user is None:
                # The same work as for a real user: timing does not tell which names exist.
                await self._verify(await self._dummy(), password)
            else:
                failed = not await self._verify(user.password_hash, password)
        finally:
            self._throttle.settle(attempt, failed)
        if user is None or failed:
            self._audit.record(LOGIN_FAILED, username, "invalid credentials", peer)
            raise Unauthenticated("Invalid credentials", reason="INVALID_CREDENTIALS")
        if self._hasher.check_needs_rehash(user.password_hash):
            self._store.set_password_hash(user.id, await self._hash(password))
        return user

    async def _hash(self, password: str) -> str:
        async with self._hashing:
            return await asyncio.to_thread(self._hasher.hash, password)

    async def _verify(self, password_hash: str, password: str) -> bool:
        async with self._hashing:
            try:
                return await asyncio.to_thread(self._hasher.verify, password_hash, password)
            except (VerificationError, InvalidHashError):
                return False

    async def _dummy(self) -> str:
        if self._dummy_hash is None:
            self._dummy_hash = await self._hash(secrets.token_urlsafe(16))
        return self._dummy_hash

    # Tokens

    def create_token(
        self,
        user: int | str,
        name: str,
        expiry_days: float | None = None,
        kind: str = "api",
        scopes: tuple[str, ...] = (),
        peer: str = "",
    ) -> tuple[str, TokenRow]:
        """A new token's secret (shown once) and its row; `user` is an id or a
        username; `scopes` checked already (see permissions.py)."""
        row = self._store.user(user_id=user) if isinstance(user, int) else self._store.user(username=user)
        if row is None:
            raise NotFound(f"no user '{user}'", reason="USER_NOT_FOUND")
        if not name or len(name) > 128:
            raise InvalidArgument("name: 1-128 characters", reason="INVALID_ARGUMENT")
        if expiry_days is not None:
            check_expiry_days(expiry_days)
        secret = TOKEN_PREFIX + secrets.token_urlsafe(32)
        expires_at = time.time() + expiry_days * DAY if expiry_days else None
        try:
            token = self._store.add_token(row.id, name, kind, hash_secret(secret), expires_at, scopes=scopes)
        except Conflict:
            raise AlreadyExists(
                f"a token named '{name}' already exists", reason="TOKEN_NAME_EXISTS"
            ) from None
        scoped = f" with scopes {', '.join(scopes)}" if scopes else ""
        self._audit.record(TOKEN_CREATED, row.username, f"{_describe(token)}{scoped}", peer)
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
            hash_secret(secret),
            time.time() + days * DAY,
            csrf_token=secrets.token_urlsafe(24),
        )
        return secret, row

    def tokens(self, principal: Principal) -> list[TokenRow]:
        """The user's API and owner tokens (sessions are not listed)."""
        return [t for t in self._store.tokens(principal.user_id) if t.kind != "session"]

    def revoke_token(self, principal: Principal, token_id: int, peer: str = "") -> None:
        """Revokes the caller's token (an admin with an unscoped token:
        anyone's); what used it ends."""
        row = self._store.token(token_id)
        if row is None or (row.user_id != principal.user_id and not _over_all(principal)):
            raise NotFound(f"no token with id {token_id}", reason="TOKEN_NOT_FOUND")
        self._store.delete_token(token_id)
        self._revocations.revoked(("token", token_id))
        self._audit.record(TOKEN_REVOKED, principal, _describe(row), peer)

    def revoke_secret(self, principal: Principal, token: str, peer: str = "") -> None:
        """Revokes a token given itself: an API token's secret or a JWT of this hub."""
        if token.startswith(TOKEN_PREFIX):
            row = self._store.token_by_secret_hash(hash_secret(token))
            if row is None:
                raise NotFound("no such token", reason="TOKEN_NOT_FOUND")
            self.revoke_token(principal, row.id, peer)
            return
        claims = self._jwts.claims_to_revoke(token)
        if claims is None:
            return
        if int(claims["sub"]) != principal.user_id and not _over_all(principal):
            raise NotFound("no such token", reason="TOKEN_NOT_FOUND")
        self._store.revoke_jwt(claims["jti"], float(claims["exp"]))
        self._revocations.revoked(("jwt", claims["jti"]))
        owner = self._store.user(user_id=int(claims["sub"]))
        self._audit.record(TOKEN_REVOKED, principal, f"a JWT of {owner.username if owner else '?'}", peer)


def _over_all(principal: Principal) -> bool:
    """Whether the caller may manage other users' tokens: an admin, unscoped."""
    return principal.is_admin and unrestricted(principal)


def _describe(token: TokenRow) -> str:
    return f"{token.kind} token '{token.name}' (id {token.id}) of {token.username}"


def _registrations_disabled() -> Unauthenticated:
    return Unauthenticated("Registrations are disabled", reason="REGISTRATION_DISABLED")
