"""Log-in throttling: repeated failures for one user, or from one peer, lock
log-in out for a while, doubling with each further failure."""

from __future__ import annotations

import time
from collections import defaultdict
from dataclasses import dataclass

from monotreme.config import AuthSettings
from monotreme.errors import ResourceExhausted


@dataclass
class _Failures:
    count: int = 0
    locked_until: float = 0.0


class Throttle:
    def __init__(self, settings: AuthSettings) -> None:
        self._settings = settings
        self._failures: defaultdict[str, _Failures] = defaultdict(_Failures)

    @staticmethod
    def keys(username: str, peer: str) -> list[str]:
        """What one attempt counts against: the user, and the peer's address."""
        return [f"user:{username}"] + ([f"peer:{peer.rsplit(':', 1)[0]}"] if peer else [])

    def check(self, keys: list[str]) -> None:
        """Raises ResourceExhausted while any of `keys` is locked out."""
        now = time.monotonic()
        locked = max(self._failures[key].locked_until for key in keys)
        if locked > now:
            raise ResourceExhausted(
                f"too many failed log-ins: try again in {locked - now:.0f} s", reason="TOO_MANY_ATTEMPTS"
            )

    def failed(self, keys: list[str]) -> None:
        now = time.monotonic()
        for key in keys:
            failures = self._failures[key]
            failures.count += 1
            extra = failures.count - self._settings.max_failed_logins
            if extra >= 0:
                failures.locked_until = now + self._settings.lockout_seconds * 2 ** min(extra, 10)

    def succeeded(self, keys: list[str]) -> None:
        for key in keys:
            self._failures.pop(key, None)
