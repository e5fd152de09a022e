"""Ids: a message's, 32 hex digits, the shape of Platypush's (uuid4().hex),
and a request's (for the logs), 16. Unique rather than secret: a random
prefix drawn once per process, then a counter, where os.urandom would cost
a system call on every call's path."""

from __future__ import annotations

import itertools
import os

_prefix = ""
_counter = itertools.count()


def _draw() -> None:
    """A new prefix: at start, and in a forked child, which must not repeat its parent's ids."""
    global _prefix, _counter
    _prefix, _counter = os.urandom(8).hex(), itertools.count()


_draw()
os.register_at_fork(after_in_child=_draw)


def new_id() -> str:
    return f"{_prefix}{next(_counter):016x}"


def short_id() -> str:
    return f"{_prefix[:8]}{next(_counter) & 0xFFFFFFFF:08x}"
