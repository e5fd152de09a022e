"""`/hook/<name>`: any HTTP caller's request, transcoded to CallWebhook and back.
Open by design; the hook's handler decides whom to serve, or its signature
when the hook has a secret (checked in the core)."""

from __future__ import annotations

from aiohttp import web
from monotreme.v1 import hub_pb2

from monotreme_gateway.invoker import Invoker
from monotreme_gateway.transcoder.body import read_body
from monotreme_gateway.transcoder.errors import GatewayError
from monotreme_gateway.transcoder.metadata import anonymous

METHODS = ("GET", "POST", "PUT", "DELETE", "PATCH", "OPTIONS")
_CALL_WEBHOOK = "/monotreme.v1.HubService/CallWebhook"


async def hook(invoker: Invoker, request: web.Request) -> web.Response:
    if request.method not in METHODS:
        raise GatewayError.method_not_allowed(METHODS, request.path)
    body = await read_body(request)
    try:
        message = hub_pb2.CallWebhookRequest(
            hook=request.match_info["name"],
            method=request.method,
            args={key: request.query[key] for key in request.query},  # the first of repeated keys
            headers={key: ", ".join(request.headers.getall(key)) for key in request.headers},
            body=body,
        )
    except UnicodeEncodeError:  # aiohttp keeps bytes that are not UTF-8 as surrogates
        raise GatewayError(400, "INVALID_ARGUMENT", "a header is not valid UTF-8") from None
    answer = await invoker.unary(invoker.methods[_CALL_WEBHOOK], message, anonymous(request))
    assert isinstance(answer, hub_pb2.CallWebhookResponse)
    return web.Response(status=answer.status, headers=dict(answer.headers), body=answer.body)
