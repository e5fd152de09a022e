"""What an Execute came to, whichever door asked. Imports nothing of the hub,
so a gateway in front of a remote hub speaks it too."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from monotreme.errors import ServiceError

# Refusals about the action asked for (unknown, bad arguments, too slow)
# rather than about the caller: HTTP answers them in Platypush's envelope,
# with errors filled, as Platypush does.
ACTION_REFUSALS = frozenset({"UNKNOWN_ACTION", "INVALID_ARGUMENT", "DEADLINE_EXCEEDED"})


@dataclass(frozen=True, slots=True)
class Outcome:
    """The output (JSON as a google.protobuf.Value carries it) and errors of
    an action that ran, or the refusal of one that could not run."""

    output: Any
    errors: list[str]
    refusal: ServiceError | None = None

    @staticmethod
    def refused(error: ServiceError) -> Outcome:
        return Outcome(None, [error.message], error)
