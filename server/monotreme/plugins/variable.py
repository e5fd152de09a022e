"""`variable`: named values that persist across restarts."""

from __future__ import annotations

from typing import Any

from monotreme.actions.plugin import Plugin, action
from monotreme.events.types import VARIABLE_CHANGED
from monotreme.v1 import hub_pb2
from monotreme.values import fill_struct


class VariablePlugin(Plugin):
    name = "variable"

    @action
    async def get(self, name: str, default: Any = None) -> dict[str, Any]:
        """Reads a variable.

        :param name: The variable's name.
        :param default: What to answer when it is not set.
        :return: ``{name: value}``
        """
        value = self.context.store.get_variable(name)
        return {name: default if value is None else value}

    @action
    async def set(self, **values: Any) -> dict[str, Any]:
        """Sets one or more variables, e.g. ``{"at_home": true}``, and publishes a VariableEvent."""
        event = hub_pb2.Event()
        try:
            # The event must carry the values: one too deep for it is refused
            # here, before anything is written.
            fill_struct(event.args, {"type": VARIABLE_CHANGED, "variables": values})
        except ValueError as e:
            raise ValueError(f"a value cannot be carried by an event: {e}") from None
        for name, value in values.items():
            self.context.store.set_variable(name, value)
        await self.context.bus.publish(event)
        return values

    @action
    async def unset(self, name: str) -> dict[str, bool]:
        """Removes a variable.

        :param name: The variable's name.
        :return: ``{"removed": true}`` if it was set.
        """
        return {"removed": self.context.store.unset_variable(name)}

    @action
    async def list(self) -> dict[str, Any]:
        """Every variable and its value."""
        return self.context.store.list_variables()
