"""The scripting API's core: `@when` and `@procedure` mark functions for the
hub to register (see loader.py), and `run_in` runs an action within a hub
from any thread. `from monotreme import run` adds library use on top
(monotreme/library.py).

A process has at most one attached hub, which `run()` reaches from threads
that scripts start themselves; actions and hooks carry theirs in `running`.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from typing import Any, TypeVar, overload

from monotreme.actions.dispatcher import Running, running
from monotreme.events.types import Event

F = TypeVar("F", bound=Callable[..., Any])
# The one explicit attach: the hub this process serves (or runs as a library).
_attached: Running | None = None


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


def attach(context: Running | None) -> None:
    """Makes `context` the hub `run()` reaches outside any action (None detaches)."""
    global _attached
    _attached = context


def current() -> Running | None:
    """The hub the caller runs within: its action's or hook's, else the attached one."""
    return running.get() or _attached


def run_in(context: Running, action: str, args: dict[str, Any]) -> Any:
    """Runs an action on `context`'s loop from another thread and waits for its output."""
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


async def run_async_in(context: Running, action: str, args: dict[str, Any]) -> Any:
    """Runs an action on `context`'s loop, from that loop or another."""
    if asyncio.get_running_loop() is not context.loop:
        return await asyncio.wrap_future(
            asyncio.run_coroutine_threadsafe(context.dispatcher.run(action, args, context.call), context.loop)
        )
    return await context.dispatcher.run(action, args, context.call)
