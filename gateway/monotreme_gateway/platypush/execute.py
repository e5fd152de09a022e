"""Execute, as Platypush clients send it: `POST /execute` and each request
frame of `/ws/requests`. One path for both: the request into the RPC's
message, the invoker's outcome, and Platypush's envelope from it; a refusal
about the action keeps the envelope, with the HTTP status of its code.

A request's `timeout` (seconds) is its deadline, as a gRPC caller sets one;
`/execute` has none otherwise, as gRPC has none unless the caller sets it
(a timer per call costs /execute a tenth of its throughput), while a
`/ws/requests` socket bounds each request to 60 s unless it says otherwise."""

from __future__ import annotations

from typing import Any

from aiohttp import web
from monotreme.call import Call
from monotreme.services.execute import envelope
from monotreme.v1 import hub_pb2
from monotreme.values import as_value

from monotreme_gateway.invoker import Invoker
from monotreme_gateway.transcoder import codec
from monotreme_gateway.transcoder.body import json_body
from monotreme_gateway.transcoder.errors import GatewayError, Handler, http_status, json_response
from monotreme_gateway.transcoder.metadata import call_of


async def execute(
    invoker: Invoker, request: Any, call: Call, default_timeout: float | None = None
) -> tuple[int, dict[str, Any]]:
    """(HTTP status, envelope) for a request object (consumed: its `timeout`
    is taken out); raises the refusals about the caller or the request's shape."""
    if not isinstance(request, dict):
        raise GatewayError(400, "INVALID_ARGUMENT", 'send {"type": "request", "action": ..., "args": {...}}')
    timeout = request.pop("timeout", default_timeout)
    if timeout is not None:
        if not isinstance(timeout, int | float) or isinstance(timeout, bool) or not 0 < timeout <= 86400:
            raise GatewayError(
                400, "INVALID_ARGUMENT", "timeout: a number of seconds, above 0 and at most 86400"
            )
        call = call.within(timeout)
    args = _args(request.pop("args", None))
    message = codec.from_json(request, hub_pb2.ExecuteRequest)
    assert isinstance(message, hub_pb2.ExecuteRequest)
    outcome = await invoker.execute(message, args, call)
    status = 200 if outcome.refusal is None else http_status(outcome.refusal.code)
    return status, envelope(message, outcome, invoker.origin)


def _args(value: Any) -> dict[str, Any]:
    """The request's `args` exactly as ExecuteRequest's Struct would carry
    them, and refused as its parser refuses them, without building one."""
    if value is None:
        return {}
    if not isinstance(value, dict):
        raise GatewayError(400, "INVALID_ARGUMENT", "args: expected an object")
    try:
        args: dict[str, Any] = as_value(value)
    except ValueError as e:  # nested too deeply, a number beyond a double
        raise GatewayError(400, "INVALID_ARGUMENT", f"args: {e}") from None
    return args


def handler(invoker: Invoker) -> Handler:
    """`POST /execute`."""

    async def handle(request: web.Request) -> web.StreamResponse:
        call = call_of(request)
        status, answer = await execute(invoker, await json_body(request, any_type=True), call)
        return json_response(answer, status)

    return handle
