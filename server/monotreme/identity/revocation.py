"""Revocation: what used a token ends as soon as the token is revoked.

Live streams and websockets watch their caller's credentials; caches of
tokens listen, so a revoked token fails its very next call.
"""

from __future__ import annotations

import asyncio
from collections import defaultdict
from collections.abc import Callable

from monotreme.call import Principal

# ("token", token id) or ("jwt", jti)
Key = tuple[str, int | str]


def key_of(principal: Principal) -> Key | None:
    if principal.token_id is not None:
        return ("token", principal.token_id)
    return ("jwt", principal.jti) if principal.jti else None


class Revocations:
    def __init__(self) -> None:
        self._watchers: defaultdict[Key, set[asyncio.Event]] = defaultdict(set)
        self._listeners: list[Callable[[Key], None]] = []

    def listen(self, listener: Callable[[Key], None]) -> None:
        """Calls `listener` with the key of every revoked token."""
        self._listeners.append(listener)

    def watch(self, principal: Principal) -> asyncio.Event:
        """An event set when the principal's token is revoked."""
        event = asyncio.Event()
        if (key := key_of(principal)) is not None:
            self._watchers[key].add(event)
        return event

    def unwatch(self, principal: Principal, event: asyncio.Event) -> None:
        if (key := key_of(principal)) is not None and key in self._watchers:
            self._watchers[key].discard(event)
            if not self._watchers[key]:
                del self._watchers[key]

    def revoked(self, key: Key) -> None:
        for listener in self._listeners:
            listener(key)
        for event in self._watchers.pop(key, ()):
            event.set()
