"""`utils`: small actions for testing and composing routines."""

from __future__ import annotations

import asyncio
from typing import Any

from monotreme.actions.plugin import Plugin, action


class UtilsPlugin(Plugin):
    name = "utils"

    @action
    async def sleep(self, seconds: float) -> None:
        """Waits, without blocking other calls.

        :param seconds: How long to wait, in seconds.
        """
        await asyncio.sleep(seconds)

    @action
    async def echo(self, **args: Any) -> dict[str, Any]:
        """Answers the arguments it was given, unchanged."""
        return args
