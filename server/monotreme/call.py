"""What a handler knows of its caller, whichever door the call came through."""

from __future__ import annotations

import time
from collections.abc import Awaitable, Callable, Mapping
from contextvars import ContextVar
from dataclasses import dataclass
from types import MappingProxyType
from typing import NamedTuple

from monotreme.ids import short_id


@dataclass(frozen=True)
class Principal:
    """An authenticated caller."""

    user_id: int
    username: str
    is_admin: bool
    # How the caller proved who it is: "jwt", "api", "owner" or "password".
    kind: str
    # The API token used, or the JWT's id, when there is one (for revocation).
    token_id: int | None = None
    jti: str | None = None
    # When the credentials expire (Unix seconds); None for never.
    expires_at: float | None = None
    # The API token's scopes (see monotreme/scopes.py); empty for
    # everything the user's role allows.
    scopes: tuple[str, ...] = ()


class Call(NamedTuple):
    """One RPC's caller: its metadata (lower-case keys), deadline and identity.
    A NamedTuple: immutable, and made in a fraction of a frozen dataclass's
    time (some 1.5 µs), two or three times on every call's path."""

    metadata: Mapping[str, str] = MappingProxyType({})
    # Absolute time.monotonic() by which the caller wants an answer; None for no limit.
    deadline: float | None = None
    peer: str = ""
    # Set once the core has authenticated the call; None for public RPCs.
    principal: Principal | None = None
    # How the door tells a streaming client that its stream is live (gRPC:
    # initial metadata), so it can rely on receiving what is published next.
    on_stream_start: Callable[[], Awaitable[None]] | None = None

    async def stream_started(self) -> None:
        if self.on_stream_start is not None:
            await self.on_stream_start()

    def time_remaining(self) -> float | None:
        """Seconds left before the deadline (never negative), or None."""
        if self.deadline is None:
            return None
        return max(0.0, self.deadline - time.monotonic())

    def within(self, seconds: float) -> Call:
        """This call, due in `seconds` from now."""
        return Call(
            self.metadata, time.monotonic() + seconds, self.peer, self.principal, self.on_stream_start
        )

    def authenticated(self, principal: Principal) -> Call:
        """This call, made by `principal` (cheaper than `_replace` on every call)."""
        return Call(self.metadata, self.deadline, self.peer, principal, self.on_stream_start)

    @property
    def user(self) -> Principal:
        """The authenticated caller; only for RPCs that require authentication."""
        assert self.principal is not None, "the RPC was not authenticated"
        return self.principal


@dataclass(slots=True)
class CallContext:
    """What the log says of the request being served: set by the door that
    took it (where it came from), filled in by the method table (which RPC,
    for whom, how it ended); the JSON log lines written meanwhile carry it."""

    # "grpc" or "http".
    door: str
    peer: str
    # What the caller sent as X-Request-Id (gRPC metadata `x-request-id`), if anything.
    given_id: str | None = None
    rpc: str = ""
    user: str = ""
    # OK or the status code's name, once the RPC has ended.
    outcome: str = ""
    _request_id: str = ""

    @property
    def request_id(self) -> str:
        """The id the caller gave (kept if it is short and printable), else
        one made when first asked for: by a log line or a remote hub, which
        most calls never meet."""
        if not self._request_id:
            given = self.given_id
            if given and len(given) <= 128 and given.isascii() and given.isprintable():
                self._request_id = given
            else:
                self._request_id = short_id()
        return self._request_id


# The request being served by this task (and the tasks it starts).
current_call: ContextVar[CallContext | None] = ContextVar("current_call", default=None)
