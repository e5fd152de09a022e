"""Revocation: what used a token ends as soon as the token is revoked or expires.

Live streams and websockets watch their caller's credentials (a timer per
watch for the expiry: streams are few); caches of tokens listen, so a
revoked token fails its very next call. With several processes, what one
revokes is told to the others (`tell_others`, wired by the hub to its bus),
which apply it with `revoked(key, here=False)`.
"""

from __future__ import annotations

import asyncio
import time
from collections import defaultdict
from collections.abc import Callable

from monotreme.call import Principal
from monotreme.errors import Unauthenticated

# ("token", token id) or ("jwt", jti)
Key = tuple[str, int | str]


def key_of(principal: Principal) -> Key | None:
    if principal.token_id is not None:
        return ("token", principal.token_id)
    return ("jwt", principal.jti) if principal.jti else None


class Watch:
    """One stream's watch on its caller's credentials: `ended` is set when
    they are revoked or expire; `error` says which, as the stream's last word."""

    def __init__(self, principal: Principal) -> None:
        self.principal = principal
        self.ended = asyncio.Event()
        self._expiry: asyncio.TimerHandle | None = None
        if principal.expires_at is not None:
            delay = max(0.0, principal.expires_at - time.time())
            self._expiry = asyncio.get_running_loop().call_later(delay, self.ended.set)

    def error(self) -> Unauthenticated:
        expires_at = self.principal.expires_at
        if expires_at is not None and time.time() >= expires_at:
            return Unauthenticated("the token has expired", reason="TOKEN_EXPIRED")
        return Unauthenticated("the token has been revoked", reason="TOKEN_REVOKED")

    def close(self) -> None:
        if self._expiry is not None:
            self._expiry.cancel()


class Revocations:
    def __init__(self) -> None:
        self._watches: defaultdict[Key, set[Watch]] = defaultdict(set)
        self._listeners: list[Callable[[Key], None]] = []
        self._others: list[Callable[[Key], None]] = []

    def listen(self, listener: Callable[[Key], None]) -> None:
        """Calls `listener` with the key of every revoked token."""
        self._listeners.append(listener)

    def tell_others(self, tell: Callable[[Key], None]) -> None:
        """Calls `tell` with the key of every token revoked in this process."""
        self._others.append(tell)

    def watch(self, principal: Principal) -> Watch:
        """A watch that ends when the principal's token is revoked or expires;
        `unwatch` it when the stream ends."""
        watch = Watch(principal)
        if (key := key_of(principal)) is not None:
            self._watches[key].add(watch)
        return watch

    def unwatch(self, watch: Watch) -> None:
        watch.close()
        if (key := key_of(watch.principal)) is not None and key in self._watches:
            self._watches[key].discard(watch)
            if not self._watches[key]:
                del self._watches[key]

    def revoked(self, key: Key, *, here: bool = True) -> None:
        """`here`: revoked in this process, so the others are told; else another told this one."""
        if here:
            for tell in self._others:
                tell(key)
        for listener in self._listeners:
            listener(key)
        for watch in self._watches.pop(key, ()):
            watch.ended.set()
