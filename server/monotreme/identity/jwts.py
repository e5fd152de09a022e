"""JWTs this hub issues on log-in: HS256 with a key of its own, kept in the data dir."""

from __future__ import annotations

import os
import secrets
import time
import uuid
from pathlib import Path
from typing import Any

import jwt

from monotreme.config import AuthSettings
from monotreme.errors import InvalidArgument, Unauthenticated
from monotreme.store import UserRow

DAY = 86400.0
# The signing key's file in the data dir.
KEY_FILE = "jwt.secret"
_CLAIMS = ["exp", "sub", "jti"]
# The longest lifetime a caller may ask for a token or JWT (a century).
MAX_EXPIRY_DAYS = 36500.0


def check_expiry_days(expiry_days: float) -> None:
    """Refuses a lifetime that is not a finite number of days from 0 (the
    default) to MAX_EXPIRY_DAYS: NaN would never expire, and the likes of
    1e308 overflow every clock."""
    if (
        isinstance(expiry_days, bool)
        or not isinstance(expiry_days, int | float)
        or not 0 <= expiry_days <= MAX_EXPIRY_DAYS  # False for NaN and infinities too
    ):
        raise InvalidArgument(
            f"expiry_days: a number of days from 0 to {MAX_EXPIRY_DAYS:.0f}, not {expiry_days!r}",
            reason="INVALID_ARGUMENT",
        )


def signing_key(path: Path) -> bytes:
    """The signing key, created once with mode 0600."""
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


class Jwts:
    def __init__(self, key: bytes, settings: AuthSettings) -> None:
        self._key = key
        self._settings = settings

    def issue(self, user: UserRow, expiry_days: float = 0) -> tuple[str, float]:
        """A signed JWT for the user and its expiry (Unix seconds)."""
        check_expiry_days(expiry_days)
        now = time.time()
        expires_at = now + (expiry_days or self._settings.jwt_expiry_days) * DAY
        claims = {
            "sub": str(user.id),
            "username": user.username,
            "iat": int(now),
            "exp": int(expires_at),
            "jti": uuid.uuid4().hex,
        }
        return jwt.encode(claims, self._key, algorithm="HS256"), float(int(expires_at))

    def verify(self, token: str) -> dict[str, Any]:
        """The claims of a valid, unexpired JWT of this hub; else Unauthenticated."""
        try:
            claims: dict[str, Any] = jwt.decode(
                token, self._key, algorithms=["HS256"], options={"require": _CLAIMS}
            )
        except jwt.ExpiredSignatureError:
            raise Unauthenticated("the token has expired", reason="TOKEN_EXPIRED") from None
        except jwt.InvalidTokenError:
            raise Unauthenticated("Invalid JWT token", reason="INVALID_JWT_TOKEN") from None
        return claims

    def claims_to_revoke(self, token: str) -> dict[str, Any] | None:
        """The claims of a JWT of this hub to revoke; None when it has expired
        (it no longer works anyway); InvalidArgument when it is not ours."""
        try:
            return self.verify(token)
        except Unauthenticated as e:
            if e.reason == "TOKEN_EXPIRED":
                return None
            raise InvalidArgument("token: not a token of this hub", reason="INVALID_TOKEN") from None
