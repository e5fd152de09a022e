"""Event hooks: `@when(EventType, **filters)` functions from scripts and YAML
`event.hook.NAME` entries, run for each matching event off the publisher's path.

Each run is its own task, so a slow or failing hook never delays the publisher,
the streams or the other hooks; a failure is logged with the hook's name. At
most `MAX_RUNNING` hook runs execute at once and `MAX_PENDING` wait; beyond
that an event's runs are dropped with a warning, so memory stays bounded.
"""

from __future__ import annotations

import asyncio
import inspect
import logging
import re
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from typing import Any

from monotreme import metrics
from monotreme.actions.dispatcher import Dispatcher
from monotreme.automation.procedures import Returned, RunAction, Scope, StepError, compile_steps, run_steps
from monotreme.automation.threads import call_script
from monotreme.call import current_call
from monotreme.events import filters
from monotreme.events.filters import Binder, Bindings, Predicate
from monotreme.events.types import Event, WebhookEvent, canonical_type, short_name, type_matches
from monotreme.v1 import hub_pb2
from monotreme.values import from_struct

log = logging.getLogger(__name__)

MAX_RUNNING = 256
MAX_PENDING = 10_000
_NAME = re.compile(r"^event\.hook\.([\w.-]+)$")


@dataclass
class HookAnswer:
    """How one event's hooks went, for a caller waiting on them (a web hook):
    the first answer or failure settles it; all hooks done without one, `None`;
    hooks dropped for load, "busy"."""

    future: asyncio.Future[tuple[str, Any]]
    remaining: int = 0

    def answer(self, value: Any) -> None:
        if not self.future.done():
            self.future.set_result(("answer", value))

    def fail(self, hook: str, error: BaseException) -> None:
        if not self.future.done():
            self.future.set_result(("error", f"hook '{hook}' failed: {type(error).__name__}: {error}"))

    def finished(self) -> None:
        self.remaining -= 1
        if self.remaining <= 0 and not self.future.done():
            self.future.set_result(("answer", None))


@dataclass(frozen=True)
class Hook:
    """A named reaction to the events of one type (any, when empty) whose args match `filters`."""

    name: str
    event_type: str
    filters: dict[str, Any]
    # Runs the hook for an event (the instance scripts see) with the names its
    # `${name}` conditions bound; answers its return value.
    run: Callable[[Event, Bindings], Awaitable[Any]]
    _test: Predicate = field(init=False, repr=False, compare=False)
    # Only for filters with `${name}` phrases; the others keep the plain predicate.
    _bind: Binder | None = field(init=False, repr=False, compare=False)

    def __post_init__(self) -> None:
        object.__setattr__(self, "_test", filters.predicate(self.filters))
        object.__setattr__(self, "_bind", filters.binder(self.filters))

    def match(self, event_type: str, args: dict[str, Any]) -> Bindings | None:
        """What the event's args bind if it matches (most filters bind nothing), else None."""
        if self.event_type and not type_matches(self.event_type, event_type):
            return None
        if self._bind is not None:
            return self._bind(args)
        return {} if self._test(args) else None


def function_hook(function: Callable[..., Any], event_type: str, conditions: dict[str, Any]) -> Hook:
    """A hook running a script's function, sync (in a thread) or async, with the event
    when it takes a parameter, and what its `${name}` conditions bound as keyword
    arguments it declares (all of them if it takes `**kwargs`), as Platypush passes them."""
    name = f"{function.__module__}.{function.__qualname__}"
    parameters = inspect.signature(function).parameters
    takes_event = bool(parameters)
    takes_any = any(p.kind is p.VAR_KEYWORD for p in parameters.values())

    async def run(event: Event, bound: Bindings) -> Any:
        args = (event,) if takes_event else ()
        kwargs = bound if takes_any else {k: v for k, v in bound.items() if k in parameters}
        return await call_script(function, *args, **kwargs)

    filters.check(conditions, name)
    return Hook(name, canonical_type(event_type), conditions, run)


def yaml_hook(key: str, raw: Any, run_action: RunAction) -> Hook:
    """`event.hook.NAME: {if: {type: ..., <arg filters>}, then: <steps>}`;
    StepError names what is wrong. The steps see the event's args, what its
    `${name}` conditions bound, and `event`."""
    match = _NAME.match(key)
    if match is None:
        raise StepError("name", "write it as event.hook.NAME")
    if not isinstance(raw, dict) or set(raw) - {"if", "then"} or "then" not in raw:
        raise StepError("hook", "expected {if: {type: ..., <arg filters>}, then: [steps]}")
    condition = raw.get("if") or {}
    if not isinstance(condition, dict):
        raise StepError("if", "expected a mapping: {type: ..., <arg filters>}")
    conditions = dict(condition)
    event_type = conditions.pop("type", "")
    if not isinstance(event_type, str):
        raise StepError("if.type", "expected an event type name")
    try:
        filters.check(conditions, "if")
    except ValueError as e:  # "if.level: unknown operator ..."
        where, _, reason = str(e).partition(": ")
        raise StepError(where, reason) from None
    steps = compile_steps(raw["then"], "step")

    async def run(event: Event, bound: Bindings) -> Any:
        scope = Scope({**event.args, **bound, "event": event}, run_action)
        try:
            await run_steps(steps, scope)
        except Returned as answer:
            return answer.value
        return None

    return Hook(key, canonical_type(event_type), conditions, run)


@dataclass
class HookRunner:
    dispatcher: Dispatcher
    hooks: list[Hook] = field(default_factory=list)
    _tasks: set[asyncio.Task[None]] = field(default_factory=set)
    _slots: asyncio.Semaphore = field(default_factory=lambda: asyncio.Semaphore(MAX_RUNNING))

    def add(self, hook: Hook) -> None:
        self.hooks.append(hook)

    def on_event(self, message: hub_pb2.Event) -> None:
        """The bus listener: starts a task per matching hook and returns."""
        self._start(message, None)

    def answer(self, message: hub_pb2.Event) -> HookAnswer:
        """Runs the hooks of a published event whose caller waits for their
        answer (a web hook's), here rather than on the bus's listener path."""
        outcome = HookAnswer(asyncio.get_running_loop().create_future())
        self._start(message, outcome)
        return outcome

    def _start(self, message: hub_pb2.Event, outcome: HookAnswer | None) -> None:
        if not self.hooks:
            if outcome is not None:
                outcome.finished()
            return
        args = from_struct(message.args)
        event_type = canonical_type(str(args.get("type", "")))
        matching = [
            (hook, bound) for hook in self.hooks if (bound := hook.match(event_type, args)) is not None
        ]
        if len(self._tasks) + len(matching) > MAX_PENDING:
            log.warning(
                "event %s (%s): %d hook runs are pending; dropped its hooks %s",
                message.id, short_name(event_type), len(self._tasks), [h.name for h, _ in matching],
            )  # fmt: skip
            for hook, _ in matching:
                metrics.HOOK_RUNS.labels(hook.name, "dropped").inc()
            if outcome is not None and matching:
                outcome.future.set_result(("busy", f"{len(self._tasks)} hook runs are pending"))
            return
        if outcome is not None:
            outcome.remaining = len(matching)
            if not matching:
                outcome.finished()
        for hook, bound in matching:
            task = asyncio.get_running_loop().create_task(self._run(hook, bound, message, outcome))
            self._tasks.add(task)
            task.add_done_callback(self._tasks.discard)

    async def _run(
        self, hook: Hook, bound: Bindings, message: hub_pb2.Event, outcome: HookAnswer | None
    ) -> None:
        self.dispatcher.enter(None)  # a hook runs for no caller, whoever published the event
        current_call.set(None)  # nor do its log lines carry the context of a call
        event = Event.from_message(message)  # each hook its own instance
        if outcome is not None and isinstance(event, WebhookEvent):
            loop = asyncio.get_running_loop()

            def respond(value: Any) -> None:
                loop.call_soon_threadsafe(outcome.answer, value)

            event.responder = respond
        try:
            async with self._slots:
                result = await hook.run(event, bound)
            metrics.HOOK_RUNS.labels(hook.name, "ok").inc()
            if outcome is not None and result is not None:
                outcome.answer(result)
        except Exception as e:
            metrics.HOOK_RUNS.labels(hook.name, "failed").inc()
            log.error("hook %s failed on %s: %s", hook.name, short_name(event.type), e, exc_info=e)
            if outcome is not None:
                outcome.fail(hook.name, e)
        finally:
            if outcome is not None:
                # After the answer above, and after any answer a sync handler sent from its thread.
                asyncio.get_running_loop().call_soon(outcome.finished)

    async def close(self) -> None:
        """Cancels the hook runs still going (server shutdown)."""
        for task in list(self._tasks):
            task.cancel()
        await asyncio.gather(*self._tasks, return_exceptions=True)
