"""The generic transcoder: every annotated RPC's routes, each request turned
into the RPC's message (path variables, body, query), called through the
invoker, and answered as the response's proto3 JSON. Server streams answer
newline-delimited `{"result": ...}` lines ending, on failure, with
`{"error": ...}` (as grpc-gateway does), or Server-Sent Events for clients
that accept `text/event-stream`.

In a resumable stream (`Route.resumable`: StreamEvents), each Server-Sent
Event's `id:` is its event's id, so a browser's EventSource sends the last
one back as `Last-Event-ID` when it reconnects; that header fills `after`
(over `?after=`, which the page's first connection may carry)."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from aiohttp import web
from google.protobuf.message import Message
from monotreme.errors import ServiceError
from monotreme.events.bus import check_id

from monotreme_gateway.invoker import Invoker
from monotreme_gateway.transcoder import codec, openapi
from monotreme_gateway.transcoder.body import json_body
from monotreme_gateway.transcoder.errors import GatewayError, Handler, json_response
from monotreme_gateway.transcoder.metadata import call_of
from monotreme_gateway.transcoder.query import query_fields
from monotreme_gateway.transcoder.routes import Route, routes


async def request_message(route: Route, request: web.Request) -> Message:
    """The RPC's request message from the HTTP request, as the route's annotation binds it."""
    data: dict[str, Any]
    if route.body == "*":
        data = await json_body(request)
    elif route.body:
        data = {route.body: await json_body(request)}
    else:
        data = query_fields(route.rpc.request_type, request.query)
    if not isinstance(data, dict):
        raise GatewayError(400, "INVALID_ARGUMENT", "the body must be a JSON object")
    for path, value in route.variables_of(request.match_info).items():
        *parents, name = path.split(".")
        target = data
        for parent in parents:
            target = target.setdefault(parent, {})
        target[name] = value
    if route.resumable and (last_seen := request.headers.get("Last-Event-ID")):
        data["after"] = check_id(last_seen, "Last-Event-ID")
    return codec.from_json(data, route.rpc.request_type)


class Transcoder:
    """Routes requests to RPCs through an invoker."""

    def __init__(self, invoker: Invoker) -> None:
        self.invoker = invoker
        self._routes = routes(invoker.methods)
        self._openapi = codec.dumps(openapi.document(self._routes))

    def add_routes(self, app: web.Application, adapters: Mapping[str, Handler]) -> None:
        """Every annotated RPC's routes, matched by aiohttp's own router; an RPC
        in `adapters` (by gRPC path) is served by its adapter instead."""
        for route in self._routes:
            handler = adapters.get(route.rpc.path) or self._handler(route)
            app.router.add_route(route.http_method, route.aiohttp_path, handler)
        app.router.add_get("/openapi.json", self.openapi)
        app.router.add_get("/healthz", self.healthz)

    def _handler(self, route: Route) -> Handler:
        async def handle(request: web.Request) -> web.StreamResponse:
            message = await request_message(route, request)
            if route.rpc.server_streaming:
                return await self._stream(route, message, request)
            response = await self.invoker.unary(route.rpc, message, call_of(request))
            return json_response(codec.to_json(response))

        return handle

    async def _stream(self, route: Route, message: Message, request: web.Request) -> web.StreamResponse:
        """The stream's lines; a refusal before the stream starts (bad
        credentials, a bad filter) is an HTTP error status, not a line."""
        sse = "text/event-stream" in request.headers.get("Accept", "")
        response = web.StreamResponse(
            headers={
                "Content-Type": "text/event-stream" if sse else "application/x-ndjson",
                "Cache-Control": "no-cache",
            }
        )

        async def start() -> None:
            if not response.prepared:
                await response.prepare(request)

        async def write(key: str, value: dict[str, Any], event_id: str = "") -> None:
            line = codec.dumps({key: value}).decode()
            if not sse:
                await response.write(f"{line}\n".encode())
                return
            id_line = f"id: {event_id}\n" if event_id else ""
            await response.write(f"{id_line}event: {key}\ndata: {line}\n\n".encode())

        call = call_of(request)._replace(on_stream_start=start)
        try:
            async for item in self.invoker.stream(route.rpc, message, call):
                await start()
                event_id = item.event.id if route.resumable else ""  # type: ignore[attr-defined]
                await write("result", codec.to_json(item), event_id)
        except ServiceError as e:
            if not response.prepared:
                raise
            await write("error", GatewayError.of(e).body())
        except ConnectionResetError:
            pass  # the client left
        return response

    async def openapi(self, request: web.Request) -> web.Response:
        return web.Response(body=self._openapi, content_type="application/json")

    async def healthz(self, request: web.Request) -> web.Response:
        if await self.invoker.ready():
            return json_response({"status": "ok"})
        return json_response({"status": "unavailable"}, 503)
