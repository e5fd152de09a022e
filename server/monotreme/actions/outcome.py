"""What an Execute came to, whichever door asked. Imports nothing of the hub,
so a gateway in front of a remote hub speaks it too."""

from __future__ import annotations

from typing import Any, NamedTuple

from monotreme.errors import ServiceError

# Refusals about the action asked for (unknown, bad arguments, too slow)
# rather than about the caller: HTTP answers them in Platypush's envelope,
# with errors filled, as Platypush does.
ACTION_REFUSALS = frozenset({"UNKNOWN_ACTION", "INVALID_ARGUMENT", "DEADLINE_EXCEEDED"})


class Outcome(NamedTuple):
    """The output (JSON as a google.protobuf.Value carries it) and errors of
    an action that ran, or the refusal of one that could not run. (A
    NamedTuple: one is made on every call, in a quarter of a frozen
    dataclass's time.)"""

    output: Any
    errors: list[str]
    refusal: ServiceError | None = None

    @staticmethod
    def refused(error: ServiceError) -> Outcome:
        return Outcome(None, [error.message], error)
