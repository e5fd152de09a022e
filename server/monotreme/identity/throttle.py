"""Log-in throttling. Each attempt counts against the user at the caller's
address and against the address, before the password is checked, so guesses
sent together are refused once the count is reached. Past
`max_failed_logins`, log-in is locked for `lockout_seconds`, doubling with
each further failure up to `max_lockout_seconds`; a count is forgotten after
`max_lockout_seconds` without failures.

A lock never spans addresses: whoever guesses a user's password from one
address does not lock the owner out at another. The table keeps the most
recently failed keys only (a bounded LRU), so made-up names cannot grow it.
"""

from __future__ import annotations

import time
from collections import OrderedDict
from dataclasses import dataclass

from monotreme.config import AuthSettings
from monotreme.errors import ResourceExhausted

# Keys remembered at most (a few MB); the least recently failed go first.
CAPACITY = 10_000

Key = tuple[str, ...]


@dataclass(slots=True)
class _Failures:
    count: int = 0
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

    def __len__(self) -> int:
        return len(self._failures)

    def attempt(self, username: str, peer: str) -> tuple[Key, Key]:
        """Counts one log-in attempt as failed until `succeeded` says otherwise;
        raises ResourceExhausted, counting nothing, while it is locked out."""
        address = address_of(peer)
        keys = (("user", username, address), ("address", address))
        now = time.monotonic()
        locked = max(self._locked_until(key) for key in keys)
        if locked > now:
            raise ResourceExhausted(
                f"too many failed log-ins: try again in {locked - now:.0f} s", reason="TOO_MANY_ATTEMPTS"
            )
        for key in keys:
            self._fail(key, now)
        return keys

    def succeeded(self, keys: tuple[Key, Key]) -> None:
        """The attempt was right: the user's failures at that address are
        forgotten, and the address's count takes this attempt back."""
        user, address = keys
        self._failures.pop(user, None)
        if (failures := self._failures.get(address)) is not None:
            failures.count -= 1
            if failures.count < self._settings.max_failed_logins:
                failures.locked_until = 0.0

    def _locked_until(self, key: Key) -> float:
        failures = self._failures.get(key)
        return 0.0 if failures is None else failures.locked_until

    def _fail(self, key: Key, now: float) -> None:
        settings = self._settings
        failures = self._failures.pop(key, None)
        if failures is None or now - failures.last > settings.max_lockout_seconds:
            failures = _Failures()
        failures.count += 1
        failures.last = now
        extra = failures.count - settings.max_failed_logins
        if extra >= 0:
            lockout = settings.lockout_seconds * 2 ** min(extra, 20)
            failures.locked_until = now + min(lockout, settings.max_lockout_seconds)
        self._failures[key] = failures  # the most recent last
        if len(self._failures) > self._capacity:
            self._failures.popitem(last=False)
