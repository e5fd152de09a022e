"""Runs actions: resolve, check arguments, run within the caller's deadline, wrap the result."""

from __future__ import annotations

import asyncio
import contextvars
import logging
import time
from typing import Any, NamedTuple

from monotreme.call import Call
from monotreme.errors import DeadlineExceeded
from monotreme.ids import new_id
from monotreme.plugins.registry import ActionRegistry
from monotreme.plugins.schema import ActionSpec
from monotreme.procedures import StepError
from monotreme.templates import from_json
from monotreme.v1 import hub_pb2
from monotreme.values import fill_value, from_struct

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


class ActionFailed(Exception):
    """An action answered errors (Platypush plugins return `(output, errors)`)."""


def _with_errors(output: Any) -> tuple[Any, list[str]]:
    """(output, errors) of what an action returned: Platypush-style plugins
    return an `(output, errors)` pair, errors being a message or a list."""
    if isinstance(output, tuple) and len(output) == 2 and isinstance(output[1], str | list | None):
        result, errors = output
        return result, [errors] if isinstance(errors, str) else [str(e) for e in errors or []]
    return output, []


class Dispatcher:
    def __init__(self, actions: ActionRegistry, origin: str) -> None:
        self._actions = actions
        self.origin = origin

    async def run(self, action: str, args: dict[str, Any], call: Call | None = None) -> Any:
        """Runs an action for `call` (by default the call being served) and
        answers its output; raises ServiceError for a refused action, and
        whatever the action raises."""
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
            return await asyncio.wait_for(work, timeout)
        except TimeoutError:
            if timeout is None:
                raise  # the action's own timeout, not the caller's
            raise DeadlineExceeded(DeadlineExceeded.MESSAGE) from None
        finally:
            running.reset(token)

    async def outcome(self, action: str, args: dict[str, Any], call: Call) -> tuple[Any, list[str]]:
        """The action's output and errors as Platypush answers them: one that
        raises fills `errors` instead of failing the call; a string holding JSON
        is that JSON; no output is `{"success": ...}`. Raises ServiceError for a
        refused action (unknown, bad arguments, past the deadline)."""
        spec = self._actions.resolve(action)
        bound = spec.bind(args)
        errors: list[str] = []
        try:
            output, errors = _with_errors(await self._run(spec, bound, call))
        except DeadlineExceeded:
            raise
        except StepError as e:  # the message says it all
            log.warning("%s failed: %s", spec.name, e)
            errors, output = [str(e)], None
        except Exception as e:
            log.exception("action %s failed", spec.name)
            errors, output = [str(e) or type(e).__name__], None
        output = from_json(output)
        if output is None:
            output = {"success": not errors}
        return output, errors

    async def execute(self, request: hub_pb2.ExecuteRequest, call: Call) -> hub_pb2.ExecuteResponse:
        """The response envelope around the outcome."""
        output, errors = await self.outcome(request.action, from_struct(request.args), call)
        response = hub_pb2.ExecuteResponse(
            id=request.id or new_id(),
            type="response",
            target=request.origin,
            origin=self.origin,
            timestamp=time.time(),
            response=hub_pb2.ActionResult(errors=errors),
        )
        fill_value(response.response.output, output)
        return response
