"""`inspect`: what the hub can do — plugins, actions with their schemas, procedures, event types."""

from __future__ import annotations

from typing import Any

from google.protobuf import json_format

from monotreme.events import KNOWN_EVENT_TYPES
from monotreme.plugins.base import Plugin, action


class InspectPlugin(Plugin):
    name = "inspect"

    def _actions(self, plugin: str = "") -> list[dict[str, Any]]:
        return [
            json_format.MessageToDict(a, always_print_fields_with_no_presence=True)
            for a in self.hub.actions.describe(plugin)
        ]

    @action
    async def get_plugins(self) -> dict[str, Any]:
        """The enabled plugins, each with its documentation and its actions' names."""
        return {
            name: {
                "doc": (type(plugin).__doc__ or "").strip(),
                "actions": [a["name"] for a in self._actions(name)],
            }
            for name, plugin in sorted(self.hub.actions.plugins.items())
        }

    @action
    async def get_actions(self, plugin: str | None = None) -> list[dict[str, Any]]:
        """The actions with their parameters and docs.

        :param plugin: Only this plugin's actions; all when omitted.
        """
        return self._actions(plugin or "")

    @action
    async def get_procedures(self) -> list[dict[str, Any]]:
        """The procedures, with their parameters and docs."""
        return self._actions("procedure")

    @action
    async def get_event_types(self) -> dict[str, dict[str, list[str]]]:
        """The known event types and their fields."""
        return {name: {"fields": list(fields)} for name, fields in sorted(KNOWN_EVENT_TYPES.items())}
