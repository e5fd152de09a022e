"""What a plugin is: a class whose `@action` methods are actions named `plugin.action`."""

from __future__ import annotations

from collections.abc import Callable
from typing import TYPE_CHECKING, Any, ClassVar, TypeVar

if TYPE_CHECKING:
    from monotreme.hub import Hub

F = TypeVar("F", bound=Callable[..., Any])


def action(function: F) -> F:
    """Makes a plugin method an action. Its type hints and docstring become its schema.

    It returns its output, or raises. As with Platypush plugins, a returned
    `(output, errors)` pair (errors a message or a list) answers both."""
    function.__monotreme_action__ = True  # type: ignore[attr-defined]
    return function


class Plugin:
    """Base of every plugin. Settings from the config arrive as constructor keyword arguments."""

    # The name users call it by (`light.hue` for `light.hue.on`).
    name: ClassVar[str]
    # Plugins that can do harm (running commands) stay off until the config enables them.
    enabled_by_default: ClassVar[bool] = True
    hub: Hub

    async def start(self) -> None:
        """Called once the hub is wired, before it serves calls."""

    async def stop(self) -> None:
        """Called when the hub shuts down."""
