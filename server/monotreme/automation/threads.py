"""Running script code: blocking functions without starving the event loop's
thread pool, and where a script's function was defined."""

from __future__ import annotations

import asyncio
import contextlib
import contextvars
import inspect
import threading
from collections.abc import Callable
from typing import Any


async def in_own_thread(function: Callable[..., Any], /, *args: Any, **kwargs: Any) -> Any:
    """Runs `function` on a thread of its own, in a copy of the current context.

    Scripts' sync hooks and procedures call `run()`, which waits for another
    action that may itself need a thread: on a shared, bounded pool, enough
    concurrent calls would leave every worker waiting on work queued behind it.
    """
    loop = asyncio.get_running_loop()
    future: asyncio.Future[Any] = loop.create_future()
    context = contextvars.copy_context()

    def settle(result: Any, error: BaseException | None) -> None:
        if future.done():  # cancelled: the caller's deadline passed
            return
        if error is not None:
            future.set_exception(error)
        else:
            future.set_result(result)

    def target() -> None:
        try:
            outcome: tuple[Any, BaseException | None] = (context.run(function, *args, **kwargs), None)
        except BaseException as e:
            outcome = (None, e)
        # A thread cannot be cancelled: after shutdown its result has nobody to go to.
        with contextlib.suppress(RuntimeError):
            loop.call_soon_threadsafe(settle, *outcome)

    threading.Thread(target=target, name=getattr(function, "__name__", "script"), daemon=True).start()
    return await future


async def call_script(function: Callable[..., Any], /, *args: Any, **kwargs: Any) -> Any:
    """Awaits a script's async function, or runs a sync one on a thread of its own."""
    if inspect.iscoroutinefunction(function):
        return await function(*args, **kwargs)
    return await in_own_thread(function, *args, **kwargs)


def defined_at(function: Callable[..., Any]) -> dict[str, Any]:
    """Where a script's function is, as `inspect` actions show it."""
    return {
        "module": function.__module__,
        "source": inspect.getsourcefile(function),
        "line": inspect.getsourcelines(function)[1],
    }
