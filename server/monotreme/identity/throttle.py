"""Log-in throttling. Each attempt counts against the user at the caller's
address and against the address. Attempts being checked count too: once
failures and checks under way reach `max_failed_logins`, further attempts
wait for those to settle, so guesses sent together are not all checked,
while right ones sent together all get through. Past `max_failed_logins`
failures, log-in is locked for `lockout_seconds`, doubling with each further
failure up to `max_lockout_seconds`; after a lockout, attempts are checked
one at a time; a count is forgotten after `max_lockout_seconds` without
failures.

The failures are kept in the store, so processes sharing a store share them
(attempts under way are each process's own); a log-in that succeeds writes
nothing unless its user had failed there. A lock never spans addresses:
whoever guesses a user's password from one address does not lock the owner
out at another. The store keeps the keys that failed last only (about
`capacity`), so made-up names cannot grow it.
"""

from __future__ import annotations

import asyncio
import json
import time
from collections import Counter
from dataclasses import dataclass

from monotreme.config import AuthSettings
from monotreme.errors import ResourceExhausted
from monotreme.store import Store
from monotreme.store.base import Failures

# Keys kept at most; the store is pruned to them every tenth of this many failures.
CAPACITY = 10_000


@dataclass(frozen=True)
class Attempt:
    user: str
    address: str
    # Whether the user had failed at this address: a success then forgets it.
    user_failed: bool


def address_of(peer: str) -> str:
    """The address of a peer without its port: gRPC's `ipv4:1.2.3.4:5678` or
    `ipv6:[::1]:5678`, or an HTTP remote address as it is (`::1`)."""
    kind, sep, rest = peer.partition(":")
    if sep and kind in ("ipv4", "ipv6"):
        return rest.rsplit(":", 1)[0].strip("[]")
    return peer


class Throttle:
    def __init__(self, settings: AuthSettings, store: Store, capacity: int = CAPACITY) -> None:
        self._settings = settings
        self._store = store
        self._capacity = capacity
        # Attempts of each key being checked now, in this process.
        self._checking: Counter[str] = Counter()
        self._failed_since_prune = 0
        # Set, and replaced, whenever an attempt settles: waiting attempts look again.
        self._settled = asyncio.Event()

    def __len__(self) -> int:
        """The keys with failures the store keeps."""
        return self._store.count_login_failures()

    async def attempt(self, username: str, peer: str) -> Attempt:
        """Starts one log-in attempt, to be `settle`d once checked; raises
        ResourceExhausted, counting nothing, while it is locked out."""
        address = address_of(peer)
        keys = (json.dumps(["user", username, address]), json.dumps(["address", address]))
        limit = self._settings.max_failed_logins
        while True:
            now = time.time()
            failures = self._store.login_failures(keys)
            locked = max((f.locked_until for f in failures.values()), default=0.0)
            if locked > now:
                raise ResourceExhausted(
                    f"too many failed log-ins: try again in {locked - now:.0f} s", reason="TOO_MANY_ATTEMPTS"
                )
            if all(self._counted(failures.get(key), now) + self._checking[key] < limit for key in keys):
                break
            await self._settled.wait()
        self._checking.update(keys)
        return Attempt(*keys, user_failed=keys[0] in failures)

    def settle(self, attempt: Attempt, failed: bool) -> None:
        """Ends an attempt: a failure counts against both keys; a success
        forgets the user's failures at that address."""
        try:
            if failed:
                self._fail(attempt)
            elif attempt.user_failed:
                self._store.forget_login_failures(attempt.user)
        finally:
            self._checking.subtract((attempt.user, attempt.address))
            self._checking += Counter()  # drops the keys at zero
            settled, self._settled = self._settled, asyncio.Event()
            settled.set()

    def _counted(self, failures: Failures | None, now: float) -> int:
        """What a key's failures weigh against an attempt: past a lockout
        only as much as lets one attempt at a time through."""
        settings = self._settings
        if failures is None or now - failures.last > settings.max_lockout_seconds:
            return 0
        return min(failures.count, settings.max_failed_logins - 1)

    def _fail(self, attempt: Attempt) -> None:
        settings, now = self._settings, time.time()
        for key in (attempt.user, attempt.address):
            count = self._store.add_login_failure(key, now, settings.max_lockout_seconds)
            extra = count - settings.max_failed_logins
            if extra >= 0:
                lockout = settings.lockout_seconds * 2 ** min(extra, 20)
                self._store.lock_login(key, now + min(lockout, settings.max_lockout_seconds))
        self._failed_since_prune += 1
        if self._failed_since_prune >= max(1, self._capacity // 10):
            self._failed_since_prune = 0
            self._store.prune_login_failures(self._capacity, now - settings.max_lockout_seconds)
