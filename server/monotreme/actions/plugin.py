"""What a plugin is: a class whose `@action` methods are actions named
`plugin.action`, and the small context it works with."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, ClassVar, Protocol, TypeVar, overload

if TYPE_CHECKING:
    from monotreme.actions.schema import ActionSpec
    from monotreme.call import Principal
    from monotreme.config import Config
    from monotreme.events.bus import EventBus
    from monotreme.store import Store
    from monotreme.v1 import hub_pb2

F = TypeVar("F", bound=Callable[..., Any])


@overload
def action(function: F, /) -> F: ...


@overload
def action(*, admin: bool = False) -> Callable[[F], F]: ...


def action(function: F | None = None, /, *, admin: bool = False) -> F | Callable[[F], F]:
    """Makes a plugin method an action (`@action`, or `@action(admin=True)`
    for one only admins may run). Its type hints and docstring become its schema.

    It returns its output, or raises. As with Platypush plugins, a returned
    `(output, errors)` pair (errors a message or a list) answers both."""

    def mark(function: F) -> F:
        function.__monotreme_action__ = True  # type: ignore[attr-defined]
        function.__monotreme_admin__ = admin  # type: ignore[attr-defined]
        return function

    return mark if function is None else mark(function)


class Catalog(Protocol):
    """What the hub can run, for plugins that describe it (`inspect`)."""

    plugins: dict[str, Plugin]
    # Each procedure's definition by action name, as `inspect.get_procedures` shows it.
    procedures: dict[str, dict[str, Any]]
    # Plugins the config names that are not installed.
    unavailable: list[str]

    def specs_for(self, caller: Principal | None) -> list[ActionSpec]: ...

    def describe(self, plugin: str = "", caller: Principal | None = None) -> list[hub_pb2.Action]: ...


class Schedules(Protocol):
    """The hub's cron jobs, for plugins that describe them (`inspect`)."""

    def describe(self) -> dict[str, dict[str, Any]]: ...


@dataclass(frozen=True)
class PluginContext:
    """What a plugin may use of the hub: its bus, its store, its config, the
    catalogue of actions and the schedules; never the hub itself."""

    bus: EventBus
    store: Store
    config: Config
    catalog: Catalog
    schedules: Schedules


class Plugin:
    """Base of every plugin. Settings from the config arrive as constructor keyword arguments."""

    # The name users call it by (`light.hue` for `light.hue.on`).
    name: ClassVar[str]
    # Plugins that can do harm (running commands) stay off until the config enables them.
    enabled_by_default: ClassVar[bool] = True
    # Every action of the plugin is for admins only (`@action(admin=True)` marks one).
    admin_only: ClassVar[bool] = False
    # Set by the registry before `start`.
    context: PluginContext

    async def start(self) -> None:
        """Called once the hub is wired, before it serves calls."""

    async def stop(self) -> None:
        """Called when the hub shuts down."""
