"""The scripting API: `from monotreme import run, when, procedure`.

`@when` and `@procedure` only mark functions; the hub registers the marked
functions of the scripts it loads (see automation.py). `run()` runs an action
from a hook, a procedure, any thread of a running hub, or, as a library, from
a plain script: the first call then starts a hub in-process from
`Config.init(...)`'s config (no ports are opened).
"""

from __future__ import annotations

import asyncio
import atexit
import threading
from collections.abc import Callable
from typing import TYPE_CHECKING, Any, TypeVar, overload

from monotreme.config import Config
from monotreme.dispatcher import Running, running
from monotreme.events import Event

if TYPE_CHECKING:
    from monotreme.hub import Hub

F = TypeVar("F", bound=Callable[..., Any])
_lock = threading.Lock()
# The hub `monotreme serve` runs in this process, for threads scripts start
# themselves; else the library hub `run()` started.
_default: Running | None = None
_library: Hub | None = None


def when(event_type: type[Event] | str = Event, **filters: Any) -> Callable[[F], F]:
    """Runs the function for every event of `event_type` (a class from
    `monotreme.events` or a type name) whose args match `filters`: values,
    nested partial dicts, or operators such as `{"$gt": 20}` or `{"$regex": "^on"}`.
    The function may be sync (it runs in a thread) or async, and takes the event."""
    name = event_type if isinstance(event_type, str) else event_type.event_type

    def mark(function: F) -> F:
        hooks = function.__dict__.setdefault("__monotreme_hooks__", [])
        hooks.append((name, filters))
        return function

    return mark


@overload
def procedure(function: F, /) -> F: ...
@overload
def procedure(*, name: str | None = None) -> Callable[[F], F]: ...
def procedure(function: F | None = None, /, *, name: str | None = None) -> F | Callable[[F], F]:
    """Makes the function the action `procedure.<name>` (its own name by default);
    its type hints and docstring are its schema, as for plugin actions."""

    def mark(function: F) -> F:
        function.__monotreme_procedure__ = name or function.__name__  # type: ignore[attr-defined]
        return function

    return mark(function) if function is not None else mark


def _context() -> Running:
    context = running.get() or _default
    if context is not None:
        return context
    with _lock:
        return _default or _library_hub()


def run(action: str, /, **args: Any) -> Any:
    """Runs an action (`plugin.action` or `procedure.name`) and answers its output;
    raises what refused it (unknown action, bad arguments) or what it raised."""
    context = _context()
    try:
        on_loop = asyncio.get_running_loop() is context.loop
    except RuntimeError:
        on_loop = False
    if on_loop:
        raise RuntimeError("run() waits for the action: in async code use `await run_async(...)`")
    future = asyncio.run_coroutine_threadsafe(
        context.dispatcher.run(action, args, context.call), context.loop
    )
    return future.result()


async def run_async(action: str, /, **args: Any) -> Any:
    """`run()` for async hooks and procedures, on the hub's own event loop."""
    context = _context()
    if asyncio.get_running_loop() is not context.loop:
        return await asyncio.wrap_future(
            asyncio.run_coroutine_threadsafe(context.dispatcher.run(action, args, context.call), context.loop)
        )
    return await context.dispatcher.run(action, args, context.call)


def serving(hub: Hub, active: bool) -> None:
    """Called when `monotreme serve` starts its hub (and stops it), on its loop."""
    global _default
    if active:
        _default = Running(hub.dispatcher, None, asyncio.get_running_loop())
    elif _default is not None and _default.dispatcher is hub.dispatcher:
        _default = None


def _library_hub() -> Running:
    """Starts a hub from the initialized config on a loop thread of its own."""
    from monotreme.hub import Hub

    global _library
    loop = asyncio.new_event_loop()
    threading.Thread(target=loop.run_forever, name="monotreme-library", daemon=True).start()

    async def start() -> Hub:
        hub = Hub(Config.current())
        await hub.start()
        return hub

    _library = asyncio.run_coroutine_threadsafe(start(), loop).result()
    context = Running(_library.dispatcher, None, loop)

    def close() -> None:
        if _library is not None:
            asyncio.run_coroutine_threadsafe(_library.close(), loop).result(timeout=10)
        loop.call_soon_threadsafe(loop.stop)

    atexit.register(close)
    global _default
    _default = context
    return context
