"""`inspect`: what the hub can do, in the shapes Platypush's Execute tab and
tools built on it read: plugins with their actions, procedures, event types,
cron jobs, and the configured plugins that are not installed. Actions are
those the caller may run."""

from __future__ import annotations

from typing import Any

from google.protobuf import json_format

from monotreme.actions.dispatcher import caller
from monotreme.actions.plugin import Plugin, action
from monotreme.actions.schema import ActionSpec, spec_from_function
from monotreme.events.types import KNOWN_EVENT_TYPES, Event
from monotreme.values import to_jsonable


def _arguments(spec: ActionSpec) -> dict[str, dict[str, Any]]:
    """Platypush's argument shape; `type` is the JSON type (`string`, `integer`...)."""
    return {
        p.name: {
            "name": p.name,
            "required": p.required,
            "doc": p.doc or None,
            "type": p.type,
            "default": None if p.required else to_jsonable(p.default),
        }
        for p in spec.params
    }


class InspectPlugin(Plugin):
    name = "inspect"

    @action
    async def get_all_plugins(self) -> dict[str, Any]:
        """The enabled plugins: settings (`args`), documentation and the actions the caller may run."""
        specs = self.context.catalog.specs_for(caller())
        plugins = {}
        for name, plugin in sorted(self.context.catalog.plugins.items()):
            cls = type(plugin)
            settings = spec_from_function(name, cls.__init__) if cls.__init__ is not object.__init__ else None
            plugins[name] = {
                "name": name,
                "type": f"{cls.__module__}.{cls.__qualname__}",
                "doc": (cls.__doc__ or "").strip() or None,
                "args": _arguments(settings) if settings else {},
                "actions": {
                    spec.name.rsplit(".", 1)[1]: {
                        "name": spec.name.rsplit(".", 1)[1],
                        "doc": spec.doc or None,
                        "args": _arguments(spec),
                        "has_varargs": False,
                        "has_kwargs": spec.accepts_kwargs,
                    }
                    for spec in specs
                    if spec.plugin == name
                },
            }
        return plugins

    @action
    async def get_enabled_plugins(self) -> list[str]:
        """The names of the enabled plugins."""
        return sorted(self.context.catalog.plugins)

    @action
    async def get_unavailable_plugins(self) -> list[str]:
        """The plugins the config has settings for that are not installed here
        (the hub started without them)."""
        return list(self.context.catalog.unavailable)

    @action
    async def get_cronjobs(self) -> dict[str, Any]:
        """The cron jobs by name: `cron_expression`, `next_run` (ISO 8601),
        `running`, and where each is defined (YAML `actions`, or a script's
        `module`, `source` and `line`). `cron.NAME` runs one now."""
        return self.context.schedules.describe()

    @action
    async def get_all_backends(self) -> dict[str, Any]:
        """Platypush's backends: Monotreme has none (its doors are built in)."""
        return {}

    @action
    async def get_all_events(self) -> dict[str, Any]:
        """The known event types, each with its documentation and fields."""
        classes = {cls.event_type: cls for cls in Event.__subclasses__()}
        return {
            event_type: {
                "name": event_type,
                "doc": (classes[event_type].__doc__ or "").strip() if event_type in classes else None,
                "args": {
                    f: {"name": f, "required": False, "doc": None, "type": None, "default": None}
                    for f in fields
                },
            }
            for event_type, fields in sorted(KNOWN_EVENT_TYPES.items())
        }

    @action
    async def get_procedures(self) -> dict[str, Any]:
        """The procedures by name: YAML ones (`type: config`) with their steps,
        Python ones (`type: python`) with where they are defined."""
        return {d["name"]: d for _, d in sorted(self.context.catalog.procedures.items())}

    @action
    async def get_actions(self, plugin: str | None = None) -> list[dict[str, Any]]:
        """The actions the caller may run, with their parameters and docs, as ListActions answers them.

        :param plugin: Only this plugin's actions (``procedure`` for procedures); all when omitted.
        """
        return [
            json_format.MessageToDict(a, always_print_fields_with_no_presence=True)
            for a in self.context.catalog.describe(plugin or "", caller())
        ]
