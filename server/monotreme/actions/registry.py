"""Every executable action: the plugins' (built-in, and third-party ones from the
`monotreme.plugins` entry-point group) and the procedures registered through `register`."""

from __future__ import annotations

import inspect
import logging
from collections.abc import Collection, Mapping
from importlib.metadata import entry_points
from typing import Any

from monotreme.actions.plugin import Plugin, PluginContext
from monotreme.actions.schema import ActionSpec, spec_from_function
from monotreme.call import Principal
from monotreme.config import Config
from monotreme.errors import ConfigError, InvalidArgument, NotFound
from monotreme.scopes import may_run
from monotreme.v1 import hub_pb2

log = logging.getLogger(__name__)
ENTRY_POINT_GROUP = "monotreme.plugins"


def installed_plugins() -> list[type[Plugin]]:
    """Third-party plugin classes; one that fails to load is logged and skipped."""
    found = []
    for entry in entry_points(group=ENTRY_POINT_GROUP):
        try:
            cls = entry.load()
        except Exception:
            log.exception("cannot load plugin %s (%s)", entry.name, entry.value)
            continue
        if isinstance(cls, type) and issubclass(cls, Plugin):
            found.append(cls)
        else:
            log.error("plugin %s (%s) is not a monotreme Plugin class", entry.name, entry.value)
    return found


class ActionRegistry:
    """The plugins enabled by `config` among `classes`, and every action; a
    `Catalog` for the plugins that describe them."""

    def __init__(
        self, classes: list[type[Plugin]], config: Config, running: Mapping[str, Plugin] | None = None
    ) -> None:
        """`running`: plugins to keep as they are, by name (a reload whose
        config leaves their settings alone); the others are made anew."""
        self.plugins: dict[str, Plugin] = {}
        self.procedures: dict[str, dict[str, Any]] = {}
        self._actions: dict[str, ActionSpec] = {}
        classes_by_name = {cls.name: cls for cls in classes}
        # Sections naming plugins that are not installed (a Platypush config
        # names dozens): the hub starts without them unless the config is strict.
        self.unavailable = sorted(set(config.plugins) - set(classes_by_name))
        if self.unavailable:
            reason = (
                f"no such plugin{'s' if len(self.unavailable) > 1 else ''}: {', '.join(self.unavailable)} "
                f"(installed: {', '.join(sorted(classes_by_name))})"
            )
            if config.strict:
                raise ConfigError(config.origin(self.unavailable[0]), "strict", reason)
            log.warning("%s: %s; the hub starts without them", config.source, reason)
        for name, cls in sorted(classes_by_name.items()):
            plugin = (running or {}).get(name) or self._configure(
                cls, dict(config.plugins.get(name, {})), config
            )
            if plugin is None:
                continue
            self.plugins[name] = plugin
            for attribute, member in inspect.getmembers(plugin, inspect.ismethod):
                if getattr(member, "__monotreme_action__", False) and not attribute.startswith("_"):
                    admin_only = cls.admin_only or getattr(member, "__monotreme_admin__", False)
                    self.register(spec_from_function(f"{name}.{attribute}", member, admin_only=admin_only))

    @staticmethod
    def _configure(cls: type[Plugin], settings: dict[str, Any], config: Config) -> Plugin | None:
        enabled = settings.pop("enabled", cls.enabled_by_default)
        if not isinstance(enabled, bool):
            raise ConfigError(config.origin(cls.name), f"{cls.name}.enabled", "expected true or false")
        if not enabled:
            return None
        try:
            if cls.__init__ is object.__init__:
                settings_spec = ActionSpec(cls.name, "", (), False, cls)
            else:
                settings_spec = spec_from_function(cls.name, cls.__init__)
            return cls(**settings_spec.bind(settings))
        except InvalidArgument as e:
            # "plugin: unexpected argument 'x'" -> the config key that is wrong
            raise ConfigError(config.origin(cls.name), cls.name, e.message.split(": ", 1)[1]) from None

    def register(self, spec: ActionSpec, definition: dict[str, Any] | None = None) -> None:
        """Adds an action (procedures, with their `definition`, use this too); a
        name can be registered once."""
        if spec.name in self._actions:
            raise ValueError(f"action {spec.name} is already registered")
        self._actions[spec.name] = spec
        if definition is not None:
            self.procedures[spec.name] = definition

    def resolve(self, name: str) -> ActionSpec:
        spec = self._actions.get(name)
        if spec is not None:
            return spec
        if name.startswith("procedure."):
            raise NotFound(f"unknown procedure '{name[len('procedure.') :]}'", reason="UNKNOWN_ACTION")
        if name.startswith("cron."):
            raise NotFound(f"unknown cron job '{name[len('cron.') :]}'", reason="UNKNOWN_ACTION")
        plugin = name.rsplit(".", 1)[0] if "." in name else name
        if not any(a.startswith(plugin + ".") for a in self._actions):
            raise NotFound(
                f"unknown action '{name}': no plugin '{plugin}' is enabled", reason="UNKNOWN_ACTION"
            )
        raise NotFound(
            f"unknown action '{name}': plugin '{plugin}' has no such action", reason="UNKNOWN_ACTION"
        )

    def specs(self) -> list[ActionSpec]:
        """Every action, sorted by name."""
        return [spec for _, spec in sorted(self._actions.items())]

    def specs_for(self, caller: Principal | None) -> list[ActionSpec]:
        """The actions `caller` may run (every one for the hub itself), sorted by name."""
        specs = self.specs()
        if caller is None:
            return specs
        return [spec for spec in specs if may_run(caller, spec.name, spec.admin_only)]

    def describe(self, plugin: str = "", caller: Principal | None = None) -> list[hub_pb2.Action]:
        """The actions (of one plugin, or all) `caller` may run, sorted by name."""
        return [spec.to_proto() for spec in self.specs_for(caller) if not plugin or spec.plugin == plugin]

    async def start(self, context: PluginContext, running: Collection[Plugin] = ()) -> None:
        """Gives the plugins not `running` already their context, then starts
        them; when one fails, stops those it started and raises."""
        for plugin in self.plugins.values():
            if plugin not in running:
                plugin.context = context
        started: list[Plugin] = []
        try:
            for plugin in self.plugins.values():
                if plugin not in running:
                    await plugin.start()
                    started.append(plugin)
        except BaseException:
            await self.stop(started)
            raise

    def adopt(self, other: ActionRegistry) -> None:
        """Takes `other`'s plugins and actions as its own (a reload): whoever
        holds this registry sees them, without a pause (no await)."""
        self.plugins, self.procedures, self._actions = other.plugins, other.procedures, other._actions
        self.unavailable = other.unavailable

    async def stop(self, plugins: Collection[Plugin] | None = None) -> None:
        """Stops the plugins (these ones only, when given), the last started first."""
        for plugin in reversed(list(self.plugins.values() if plugins is None else plugins)):
            try:
                await plugin.stop()
            except Exception:
                log.exception("plugin %s failed to stop", plugin.name)
