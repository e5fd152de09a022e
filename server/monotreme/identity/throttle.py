"""Log-in throttling. Each attempt counts against the user at the caller's
address and against the address. Attempts being checked count too: once
failures and checks under way reach `max_failed_logins`, further attempts
wait for those to settle, so guesses sent together are not all checked,
while right ones sent together all get through. Past `max_failed_logins`
failures, log-in is locked for `lockout_seconds`, doubling with each further
failure up to `max_lockout_seconds`; a count is forgotten after
`max_lockout_seconds` without failures.

A lock never spans addresses: whoever guesses a user's password from one
address does not lock the owner out at another. The table keeps the most
recently used keys only (a bounded LRU), so made-up names cannot grow it.
"""

from __future__ import annotations

import asyncio
import time
from collections import OrderedDict
from dataclasses import dataclass

from monotreme import metrics
from monotreme.config import AuthSettings
from monotreme.errors import ResourceExhausted

# Keys remembered at most (a few MB); the least recently used go first.
CAPACITY = 10_000

Key = tuple[str, ...]
Attempt = tuple[Key, Key]


@dataclass(slots=True)
class _Failures:
    count: int = 0
    # Attempts of this key being checked now.
    checking: int = 0
    last: float = 0.0
    locked_until: float = 0.0


def address_of(peer: str) -> str:
    """The address of a peer without its port: gRPC's `ipv4:1.2.3.4:5678` or
    `ipv6:[::1]:5678`, or an HTTP remote address as it is (`::1`)."""
    kind, sep, rest = peer.partition(":")
    if sep and kind in ("ipv4", "ipv6"):
        return rest.rsplit(":", 1)[0].strip("[]")
    return peer


class Throttle:
    def __init__(self, settings: AuthSettings, capacity: int = CAPACITY) -> None:
        self._settings = settings
        self._capacity = capacity
        self._failures: OrderedDict[Key, _Failures] = OrderedDict()
        # Set, and replaced, whenever an attempt settles: waiting attempts look again.
        self._settled = asyncio.Event()

    def __len__(self) -> int:
        return len(self._failures)

    async def attempt(self, username: str, peer: str) -> Attempt:
        """Starts one log-in attempt, to be `settle`d once checked; raises
        ResourceExhausted, counting nothing, while it is locked out."""
        address = address_of(peer)
        keys = (("user", username, address), ("address", address))
        while True:
            now = time.monotonic()
            locked = max(self._locked_until(key) for key in keys)
            if locked > now:
                raise ResourceExhausted(
                    f"too many failed log-ins: try again in {locked - now:.0f} s", reason="TOO_MANY_ATTEMPTS"
                )
            if all(self._load(key) < self._settings.max_failed_logins for key in keys):
                break
            await self._settled.wait()
        for key in keys:
            self._entry(key).checking += 1
        return keys

    def settle(self, attempt: Attempt, failed: bool) -> None:
        """Ends an attempt: a failure counts against both keys; a success
        forgets the user's failures at that address."""
        now = time.monotonic()
        user, _ = attempt
        if failed:
            metrics.LOGIN_FAILURES.inc()
        for key in attempt:
            entry = self._entry(key)
            entry.checking = max(0, entry.checking - 1)
            if failed:
                self._fail(key, entry, now)
            elif key == user:
                entry.count = 0
        settled, self._settled = self._settled, asyncio.Event()
        settled.set()

    def _load(self, key: Key) -> int:
        entry = self._failures.get(key)
        return 0 if entry is None else entry.count + entry.checking

    def _locked_until(self, key: Key) -> float:
        entry = self._failures.get(key)
        return 0.0 if entry is None else entry.locked_until

    def _entry(self, key: Key) -> _Failures:
        entry = self._failures.pop(key, None) or _Failures()
        self._failures[key] = entry  # the most recent last
        if len(self._failures) > self._capacity:
            self._failures.popitem(last=False)
        return entry

    def _fail(self, key: Key, entry: _Failures, now: float) -> None:
        settings = self._settings
        if now - entry.last > settings.max_lockout_seconds:
            entry.count = 0  # failures that long ago are forgotten
        entry.count += 1
        entry.last = now
        extra = entry.count - settings.max_failed_logins
        if extra >= 0:
            lockout = settings.lockout_seconds * 2 ** min(extra, 20)
            entry.locked_until = now + min(lockout, settings.max_lockout_seconds)
            metrics.LOGIN_LOCKOUTS.labels(key[0]).inc()
