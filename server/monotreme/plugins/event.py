"""`event`: publish events from actions and procedures."""

from __future__ import annotations

from typing import Any

from monotreme.actions.plugin import Plugin, action
from monotreme.events.types import CUSTOM_EVENT
from monotreme.v1 import hub_pb2
from monotreme.values import fill_struct


class EventPlugin(Plugin):
    name = "event"

    @action
    async def trigger(self, type: str = CUSTOM_EVENT, **args: Any) -> dict[str, str]:
        """Publishes an event to every subscriber and hook.

        :param type: The event type; a CustomEvent by default, with ``subtype`` and ``args``.
        :return: ``{"id": <the event's id>}``
        """
        event = hub_pb2.Event()
        fill_struct(event.args, {**args, "type": type})
        return {"id": (await self.context.bus.publish(event)).id}
