"""What operators see of the HTTP door: each request's log context and its
access log line, the open connections, and `GET /metrics`, this process's
Prometheus metrics (a hub's: its RPCs, hooks, schedules...; a gateway's in
front of a remote hub: its own process), behind the same credentials as any
route unless `metrics.public` says otherwise."""

from __future__ import annotations

import logging
import time

from aiohttp import web
from monotreme.call import CallContext, current_call
from monotreme.v1 import auth_pb2
from prometheus_client import CONTENT_TYPE_LATEST, REGISTRY, Gauge, generate_latest

from monotreme_gateway.invoker import Invoker
from monotreme_gateway.transcoder.errors import Handler, error_response
from monotreme_gateway.transcoder.metadata import call_of

# One line per request; off with `logging.access: false` (its level raised).
access_log = logging.getLogger("monotreme.access")
HTTP_CONNECTIONS = Gauge("monotreme_http_connections_open", "HTTP connections open (websockets included)")
_GET_CURRENT_USER = "/monotreme.v1.AuthService/GetCurrentUser"


@web.middleware
async def served(request: web.Request, handler: Handler) -> web.StreamResponse:
    """The request's log context while it is served (the RPCs it calls fill
    in theirs), any failure as the one JSON error body, then its access log
    line; the query string is not logged: it may hold a `token`. (One
    middleware, not one per concern: each costs every request a coroutine.)"""
    context = CallContext("http", request.remote or "", request.headers.get("X-Request-Id"))
    token = current_call.set(context)
    started = time.perf_counter()
    status = 500
    try:
        try:
            response = await handler(request)
        except Exception as e:
            response = error_response(request, e)
        status = response.status
        return response
    finally:
        if access_log.isEnabledFor(logging.INFO):
            access_log.info(
                "HTTP %s %s from %s%s: %d in %.1f ms",
                request.method, request.path, context.peer, f" as {context.user}" if context.user else "",
                status, (time.perf_counter() - started) * 1000,
            )  # fmt: skip
        current_call.reset(token)


def metrics_handler(invoker: Invoker, *, public: bool) -> Handler:
    """`GET /metrics` in Prometheus' text format."""
    whoami = invoker.methods[_GET_CURRENT_USER]

    async def handle(request: web.Request) -> web.StreamResponse:
        if not public:  # refused as any route refuses bad credentials
            await invoker.unary(whoami, auth_pb2.GetCurrentUserRequest(), call_of(request))
        return web.Response(body=generate_latest(REGISTRY), headers={"Content-Type": CONTENT_TYPE_LATEST})

    return handle
