"""Events as the client hands them to handlers and iterators."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from monotreme_client.proto.monotreme.v1 import Event as EventMessage
from monotreme_client.proto.monotreme.v1 import StreamEventsResponse
from monotreme_client.values import from_struct

# What `ManagerApi.realtime` publishes: Platypush's CustomEvent, so hooks
# match it with `@when(CustomEvent, subtype=...)` like any other.
CUSTOM_EVENT = "platypush.message.event.custom.CustomEvent"


@dataclass(frozen=True)
class Event:
    """One event: its type's full name, its fields, where it came from.

    `name` is what `Api.on` matches: a realtime event's name (CustomEvent's
    `subtype`), else the type's class name (`WebhookEvent`)."""

    type: str
    args: dict[str, Any]
    origin: str
    id: str
    timestamp: float
    # Events this subscriber lost just before this one: because it fell behind,
    # or, across a reconnect, because the hub's history no longer held them.
    missed: int = 0

    @property
    def name(self) -> str:
        if self.type == CUSTOM_EVENT and "subtype" in self.args:
            return str(self.args["subtype"])
        return self.type.rsplit(".", 1)[-1]

    @property
    def data(self) -> Any:
        """What `realtime(event, data)` sent: a CustomEvent's `args`, as
        `event.trigger` and Platypush fill them."""
        return self.args.get("args")

    def matches(self, name: str) -> bool:
        return name in (self.name, self.type, self.type.rsplit(".", 1)[-1])

    @classmethod
    def from_response(cls, response: StreamEventsResponse) -> Event:
        event = response.event or EventMessage()
        args = from_struct(event.args)
        return cls(
            type=str(args.pop("type", "")),
            args=args,
            origin=event.origin,
            id=event.id,
            timestamp=event.timestamp,
            missed=response.missed,
        )
