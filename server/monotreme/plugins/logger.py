"""`logger`: lines in the hub's log from actions and procedures, under the
logger `monotreme.plugins.logger`, as Platypush's `logger` plugin writes them."""

from __future__ import annotations

import logging
from collections.abc import Awaitable, Callable
from typing import Any

from monotreme.actions.plugin import Plugin, action

log = logging.getLogger(__name__)


def _logs(level: int) -> Callable[..., Awaitable[None]]:
    """The action logging its message at `level`."""
    name = logging.getLevelName(level)

    async def write(self: LoggerPlugin, msg: Any) -> None:
        log.log(level, "%s", msg)

    write.__name__ = write.__qualname__ = name.lower()
    write.__doc__ = f"""Logs a message at {name} level.

    :param msg: The message; anything else is logged as its text.
    """
    return action(write)


class LoggerPlugin(Plugin):
    name = "logger"

    debug = _logs(logging.DEBUG)
    info = _logs(logging.INFO)
    warning = _logs(logging.WARNING)
    error = _logs(logging.ERROR)

    @action
    async def exception(self, msg: Any = None, exception: Any = None) -> None:
        """Logs a message at ERROR level. An action has no exception being
        handled, so there is no traceback to add.

        :param msg: The message.
        :param exception: The message, under the name Platypush gives it here.
        """
        log.error("%s", exception if msg is None else msg)
