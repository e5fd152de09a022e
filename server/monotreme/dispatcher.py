"""Runs actions: resolve, check arguments, run within the caller's deadline, wrap the result."""

from __future__ import annotations

import asyncio
import logging
import time
import uuid
from typing import Any

from google.protobuf import json_format

from monotreme.call import Call
from monotreme.errors import DeadlineExceeded
from monotreme.plugins.registry import ActionRegistry
from monotreme.plugins.schema import ActionSpec, to_value
from monotreme.v1 import hub_pb2

log = logging.getLogger(__name__)


class Dispatcher:
    def __init__(self, actions: ActionRegistry, origin: str) -> None:
        self._actions = actions
        self._origin = origin

    async def _run(self, spec: ActionSpec, bound: dict[str, Any], call: Call | None) -> Any:
        """The action's output, within the caller's deadline (else DeadlineExceeded);
        anything the action itself raises propagates as is."""
        work = spec.function(**bound) if spec.is_async else asyncio.to_thread(spec.function, **bound)
        timeout = call.time_remaining() if call else None
        try:
            return await asyncio.wait_for(work, timeout)
        except TimeoutError:
            if timeout is None:
                raise  # the action's own timeout, not the caller's
            raise DeadlineExceeded(
                f"{spec.name}: the caller's deadline passed", reason="DEADLINE_EXCEEDED"
            ) from None

    async def execute(self, request: hub_pb2.ExecuteRequest, call: Call) -> hub_pb2.ExecuteResponse:
        """The response envelope; an action that raises fills `errors` instead of failing the call."""
        spec = self._actions.resolve(request.action)
        bound = spec.bind(json_format.MessageToDict(request.args))
        errors: list[str] = []
        try:
            output = await self._run(spec, bound, call)
        except DeadlineExceeded:
            raise
        except Exception as e:
            log.exception("action %s failed", spec.name)
            errors = [str(e) or type(e).__name__]
            output = None
        if output is None:
            output = {"success": not errors}
        response = hub_pb2.ExecuteResponse(
            id=request.id or uuid.uuid4().hex,
            type="response",
            target=request.origin,
            origin=self._origin,
            timestamp=time.time(),
        )
        response.response.output.CopyFrom(to_value(output))
        response.response.errors.extend(errors)
        return response
