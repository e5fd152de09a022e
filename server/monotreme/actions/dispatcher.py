"""Runs actions: resolve, check arguments, run within the caller's deadline,
and answer one door-neutral outcome. Every door's Execute ends here."""

from __future__ import annotations

import asyncio
import contextvars
import logging
from typing import TYPE_CHECKING, Any, NamedTuple

from monotreme.actions.outcome import Outcome
from monotreme.actions.registry import ActionRegistry
from monotreme.actions.schema import ActionSpec
from monotreme.call import Call, Principal
from monotreme.errors import DeadlineExceeded, ServiceError, Unavailable
from monotreme.values import as_value, from_json

if TYPE_CHECKING:  # the identity package is heavy (argon2, sqlite3): scripts import this module
    from monotreme.identity.permissions import Permissions

log = logging.getLogger(__name__)


class Running(NamedTuple):
    """What an action or hook runs within, so that the actions it runs in turn
    (procedure steps, `run()` in scripts, from any thread) reach the same hub
    and keep the caller's principal and deadline."""

    dispatcher: Dispatcher
    call: Call | None
    loop: asyncio.AbstractEventLoop


# Copied into every task and thread an action or hook starts.
running: contextvars.ContextVar[Running | None] = contextvars.ContextVar("running", default=None)


def caller() -> Principal | None:
    """Who asked for what runs in this context: the principal of the call
    being served; None for the hub's own work (hooks, schedules)."""
    context = running.get()
    return context.call.principal if context is not None and context.call is not None else None


class ActionError(Exception):
    """A failure whose message says it all (a procedure's failing step, errors
    an action answered): logged in one line, without a traceback."""


class ActionFailed(ActionError):
    """An action answered errors (Platypush plugins return `(output, errors)`)."""


def _with_errors(output: Any) -> tuple[Any, list[str]]:
    """(output, errors) of what an action returned: Platypush-style plugins
    return an `(output, errors)` pair, errors being a message or a list."""
    if isinstance(output, tuple) and len(output) == 2 and isinstance(output[1], str | list | None):
        result, errors = output
        return result, [errors] if isinstance(errors, str) else [str(e) for e in errors or []]
    return output, []


class Dispatcher:
    def __init__(self, actions: ActionRegistry, origin: str, permissions: Permissions) -> None:
        self._actions = actions
        self._permissions = permissions
        self.origin = origin

    async def run(self, action: str, args: dict[str, Any], call: Call | None = None) -> Any:
        """Runs an action for `call` (by default the call being served) and
        answers its output; raises ServiceError for a refused action,
        ActionFailed for one that answered errors, and whatever it raised."""
        spec = self._actions.resolve(action)
        if call is None and (context := running.get()) is not None:
            call = context.call
        output, errors = _with_errors(await self._run(spec, spec.bind(args), call))
        if errors:
            raise ActionFailed("; ".join(errors))
        return output

    def enter(self, call: Call | None) -> contextvars.Token[Running | None]:
        """Marks the current context as running within this hub, for `call`."""
        return running.set(Running(self, call, asyncio.get_running_loop()))

    async def _run(self, spec: ActionSpec, bound: dict[str, Any], call: Call | None) -> Any:
        """The action's output, within the caller's deadline (else DeadlineExceeded);
        anything the action itself raises propagates as is."""
        timeout = call.time_remaining() if call else None
        token = self.enter(call)
        try:
            work = spec.function(**bound) if spec.is_async else asyncio.to_thread(spec.function, **bound)
            if timeout is None:
                return await work
            # A timer on this task, not wait_for's extra task per call.
            deadline = asyncio.timeout(timeout)
            try:
                async with deadline:
                    return await work
            except TimeoutError:
                if deadline.expired():
                    raise DeadlineExceeded(DeadlineExceeded.MESSAGE) from None
                raise  # the action's own timeout, not the caller's
        finally:
            running.reset(token)

    async def execute(self, action: str, args: dict[str, Any], call: Call) -> Outcome:
        """The one Execute: the action's outcome as Platypush answers it. One
        that raises fills `errors`; a string holding JSON is that JSON; no
        output is `{"success": ...}`. An unknown action, bad arguments or a
        passed deadline is the outcome's `refusal`; one the caller may not run
        raises PermissionDenied, and a store that cannot be reached raises
        Unavailable, as it does when the credentials need it. (What the action
        runs in turn goes through `run`, unchecked: the hub's own procedures
        and scripts decide.)"""
        self._permissions.execute(call, action)
        try:
            spec = self._actions.resolve(action)
        except ServiceError as e:
            return Outcome.refused(e)
        if spec.admin_only:
            self._permissions.execute_admin_only(call, action)
        try:
            bound = spec.bind(args)
        except ServiceError as e:
            return Outcome.refused(e)
        try:
            output, errors = _with_errors(await self._run(spec, bound, call))
        except DeadlineExceeded as e:
            return Outcome.refused(e)
        except Unavailable:
            raise
        except (ActionError, ServiceError) as e:  # the message says it all
            log.warning("%s failed: %s", action, e)
            output, errors = None, [str(e)]
        except Exception as e:
            log.exception("action %s failed", action)
            output, errors = None, [str(e) or type(e).__name__]
        output = from_json(output)
        if output is None:
            return Outcome({"success": not errors}, errors)
        try:
            return Outcome(as_value(output), errors)
        except ValueError as e:  # e.g. nested deeper than any message may be
            log.warning("%s answered what no answer can hold: %s", action, e)
            return Outcome(None, [*errors, f"{action}: the output cannot be sent: {e}"])
