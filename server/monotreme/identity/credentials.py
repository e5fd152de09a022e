"""Credentials: who made a call, from its `authorization` metadata (`Bearer`
API tokens and JWTs, `Session` cookies with their CSRF token, `Basic`).

A static API token from the environment (`MONOTREME_API_TOKEN`, else
Platypush's `PLATYPUSH_API_TOKEN`) serves headless deployments: it is an
admin's, also before any user exists, compared in constant time and never
stored.

Tokens seen, and the JWTs found not revoked, are kept in memory, so a call
costs no query; a revocation drops them at once (it goes through
Revocations), so it still takes effect on the next call, also when another
server process revoked it (on the Redis bus, that process tells this one).
Other processes on the store (`--workers`, PostgreSQL) revoke tokens too:
what is kept is dropped once the store says another process wrote, which it
is asked every 0.25 s at most (see Store.changed_elsewhere).
"""

from __future__ import annotations

import base64
import binascii
import dataclasses
import hmac
import os
import time

from monotreme.call import Call, Principal
from monotreme.config import AuthSettings
from monotreme.errors import FailedPrecondition, PermissionDenied, Unauthenticated
from monotreme.identity.accounts import TOKEN_PREFIX, Accounts, hash_secret
from monotreme.identity.jwts import DAY, Jwts
from monotreme.identity.revocation import Key, Revocations
from monotreme.store import Store, TokenRow

# last_used_at is written at most this often per token: the hot path stays write-free.
_TOUCH_EVERY = 3600.0
_CACHED_TOKENS = 4096
STATIC_TOKEN_VARIABLES = ("MONOTREME_API_TOKEN", "PLATYPUSH_API_TOKEN")
# Who the static token's caller is: an admin that is no user.
STATIC_PRINCIPAL = Principal(0, "api-token", True, "static")


def static_token() -> str | None:
    """The static API token the environment sets, if any."""
    return next((token for name in STATIC_TOKEN_VARIABLES if (token := os.environ.get(name))), None)


class Credentials:
    def __init__(
        self,
        store: Store,
        accounts: Accounts,
        jwts: Jwts,
        revocations: Revocations,
        settings: AuthSettings,
        static_token: str | None = None,
    ) -> None:
        self._static = static_token.encode() if static_token else None
        self._store = store
        self._accounts = accounts
        self._jwts = jwts
        self._settings = settings
        # Tokens by the hash of their secret, each with its caller (made once, not per call).
        self._tokens: dict[str, tuple[TokenRow, Principal]] = {}
        # The ids of JWTs found not revoked.
        self._live_jwts: set[str] = set()
        revocations.listen(self._forget)

    async def authenticate(self, call: Call) -> Principal:
        """The caller of `call`, from its `authorization` metadata."""
        header = call.metadata.get("authorization", "")
        scheme, _, credentials = header.partition(" ")
        credentials = credentials.strip()
        scheme = scheme.lower()
        if scheme == "bearer" and self._is_static(credentials):
            return STATIC_PRINCIPAL
        if not self._accounts.has_users():
            raise FailedPrecondition("Please create a user first", reason="REGISTRATION_REQUIRED")
        if scheme == "bearer" and credentials:
            return self._bearer(credentials)
        if scheme == "session" and credentials:
            return self._session(credentials, call.metadata.get("x-csrf-token"))
        if scheme == "basic" and credentials:
            username, password = _basic(credentials)
            user = await self._accounts.check_password(username, password, call.peer)
            return Principal(user.id, user.username, user.is_admin, "password")
        raise Unauthenticated(
            "missing credentials: send 'authorization: Bearer <token>'", reason="MISSING_CREDENTIALS"
        )

    def is_credential(self, secret: str) -> bool:
        """Whether `secret` is a credential of this hub: the static token, a
        token or session it issued (live or not), or a JWT it signed."""
        if self._is_static(secret):
            return True
        if secret.startswith(TOKEN_PREFIX):
            return self._store.token_by_secret_hash(hash_secret(secret)) is not None
        try:
            self._jwts.verify(secret)
        except Unauthenticated as e:
            return e.reason == "TOKEN_EXPIRED"  # signed here all the same
        return True

    def _is_static(self, secret: str) -> bool:
        return self._static is not None and hmac.compare_digest(secret.encode(), self._static)

    def _bearer(self, token: str) -> Principal:
        if token.startswith(TOKEN_PREFIX):
            return self._token(token)[1]
        claims = self._jwts.verify(token)
        jti = claims["jti"]
        self._refresh()
        if jti not in self._live_jwts:
            if self._store.jwt_revoked(jti):
                raise Unauthenticated("the token has been revoked", reason="TOKEN_REVOKED")
            if len(self._live_jwts) >= _CACHED_TOKENS:
                self._live_jwts.clear()
            self._live_jwts.add(jti)
        user = self._accounts.user(int(claims["sub"]))
        if user is None:
            raise Unauthenticated("the token's user no longer exists", reason="INVALID_TOKEN")
        return Principal(
            user.id, user.username, user.is_admin, "jwt", jti=claims["jti"], expires_at=float(claims["exp"])
        )

    def _session(self, secret: str, csrf_token: str | None) -> Principal:
        """A browser session's cookie, and its CSRF token when the request carries one
        (the gateway insists on it for state-changing requests)."""
        try:
            row, principal = self._token(secret)
        except Unauthenticated as e:
            if e.reason == "INVALID_TOKEN":  # Platypush's answer for an unknown session
                raise Unauthenticated("Invalid session", reason="INVALID_CREDENTIALS") from None
            raise
        if row.kind != "session" or row.csrf_token is None:
            raise Unauthenticated("Invalid session", reason="INVALID_CREDENTIALS")
        if csrf_token is not None and not hmac.compare_digest(csrf_token.encode(), row.csrf_token.encode()):
            raise PermissionDenied("Invalid CSRF token", reason="INVALID_CSRF")
        return principal

    def _token(self, secret: str) -> tuple[TokenRow, Principal]:
        """The live token (API, owner or session) with this secret, and its caller."""
        secret_hash = hash_secret(secret)
        self._refresh()
        known = self._tokens.get(secret_hash)
        if known is not None:
            row, principal = known
        else:
            found = self._store.token_by_secret_hash(secret_hash)
            if found is None:
                raise Unauthenticated("invalid or revoked token", reason="INVALID_TOKEN")
            row, principal = found, self._principal(found)
        now = time.time()
        if row.expires_at is not None and now >= row.expires_at:
            raise Unauthenticated("the token has expired", reason="TOKEN_EXPIRED")
        if row.kind == "owner":
            idle_since = row.last_used_at or row.created_at
            if now - idle_since >= self._settings.owner_token_idle_days * DAY:
                raise Unauthenticated("the owner token expired after going unused", reason="TOKEN_EXPIRED")
        if row.last_used_at is None or now - row.last_used_at >= _TOUCH_EVERY:
            self._store.touch_token(row.id, now)
            row = dataclasses.replace(row, last_used_at=now)
            known = None
        if known is None:
            if len(self._tokens) >= _CACHED_TOKENS:
                self._tokens.clear()  # rarely: a few thousand live tokens is a lot for a hub
            self._tokens[secret_hash] = (row, principal)
        return row, principal

    def _principal(self, row: TokenRow) -> Principal:
        user = self._accounts.user(row.user_id)
        assert user is not None  # tokens are deleted with their user
        return Principal(
            user.id,
            user.username,
            user.is_admin,
            row.kind,
            token_id=row.id,
            expires_at=row.expires_at,
            scopes=row.scopes,
        )

    def _refresh(self) -> None:
        """Forgets what is kept once the store says another process wrote."""
        if self._store.changed_elsewhere():
            self._tokens.clear()
            self._live_jwts.clear()

    def _forget(self, key: Key) -> None:
        if key[0] == "token":
            self._tokens = {h: t for h, t in self._tokens.items() if t[0].id != key[1]}
        elif key[0] == "jwt":
            self._live_jwts.discard(str(key[1]))


def _basic(credentials: str) -> tuple[str, str]:
    try:
        username, sep, password = base64.b64decode(credentials, validate=True).decode().partition(":")
    except (binascii.Error, UnicodeDecodeError):
        sep = ""
    if not sep:
        raise Unauthenticated("Invalid credentials", reason="INVALID_CREDENTIALS")
    return username, password
