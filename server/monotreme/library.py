"""`run` and `run_async`, the scripting API's entry points: within a hook, a
procedure or any thread of a serving hub they run on that hub; in a plain
script, the first call starts a hub in-process from `Config.init(...)`'s
config (no ports are opened), as Platypush's library use does."""

from __future__ import annotations

import asyncio
import atexit
import threading
from typing import Any

from monotreme.actions.dispatcher import Running
from monotreme.automation import scripting
from monotreme.config import Config
from monotreme.hub import Hub

_starting = threading.Lock()


def run(action: str, /, **args: Any) -> Any:
    """Runs an action (`plugin.action` or `procedure.name`) and answers its output;
    raises what refused it (unknown action, bad arguments) or what it raised."""
    return scripting.run_in(_context(), action, args)


async def run_async(action: str, /, **args: Any) -> Any:
    """`run()` for async hooks and procedures, on the hub's own event loop."""
    return await scripting.run_async_in(_context(), action, args)


def _context() -> Running:
    context = scripting.current()
    if context is not None:
        return context
    with _starting:
        return scripting.current() or _start_library_hub()


def _start_library_hub() -> Running:
    """Starts a hub from the initialized config on a loop thread of its own and attaches it."""
    loop = asyncio.new_event_loop()
    threading.Thread(target=loop.run_forever, name="monotreme-library", daemon=True).start()

    async def start() -> Hub:
        hub = Hub(Config.current())
        await hub.start()
        return hub

    hub = asyncio.run_coroutine_threadsafe(start(), loop).result()
    context = Running(hub.dispatcher, None, loop)

    def close() -> None:
        asyncio.run_coroutine_threadsafe(hub.close(), loop).result(timeout=10)
        loop.call_soon_threadsafe(loop.stop)

    atexit.register(close)
    scripting.attach(context)
    return context
