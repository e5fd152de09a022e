"""Transcoding: annotated RPCs as JSON routes, the `/auth` and `/healthz` adapters,
and the pieces every door of the gateway shares (credentials, JSON bodies, errors)."""

from __future__ import annotations

import logging
from collections.abc import Awaitable, Callable
from typing import Any
from urllib.parse import urlsplit

import orjson
from aiohttp import web
from google.protobuf.descriptor import FieldDescriptor
from google.protobuf.message import Message
from monotreme.call import Call
from monotreme.v1 import hub_pb2

from monotreme_gateway import codec, openapi
from monotreme_gateway.envelope import envelope
from monotreme_gateway.errors import GatewayError, json_response
from monotreme_gateway.invoker import Invoker
from monotreme_gateway.routes import CREDENTIAL_PARAMS, Route, routes

log = logging.getLogger(__name__)
Handler = Callable[[web.Request], Awaitable[web.StreamResponse]]


SESSION_COOKIE = "session_token"
_SAFE_METHODS = frozenset({"GET", "HEAD", "OPTIONS"})


def call_of(request: web.Request) -> Call:
    """The core's view of an HTTP caller. Platypush clients send a token as
    `Authorization`, `X-Token` or `?token=`; browser pages a session cookie,
    which the core reads as `authorization: Session ...`.

    A cookie comes with every request the browser makes, whoever's page asks:
    so with a cookie alone, state-changing requests must carry the session's
    CSRF token, and requests from another origin are refused."""
    metadata = {}
    if authorization := request.headers.get("Authorization"):
        metadata["authorization"] = authorization
    elif token := request.headers.get("X-Token") or request.query.get("token"):
        metadata["authorization"] = f"Bearer {token}"
    elif session := request.cookies.get(SESSION_COOKIE):
        metadata["authorization"] = f"Session {session}"
        origin = request.headers.get("Origin")
        if origin and urlsplit(origin).netloc != request.host:
            raise GatewayError(403, "CROSS_ORIGIN", f"a session cookie is not accepted from {origin}")
        if csrf := request.headers.get("X-CSRF-Token"):
            metadata["x-csrf-token"] = csrf
        elif request.method not in _SAFE_METHODS:
            raise GatewayError(403, "INVALID_CSRF", "send the session's CSRF token as X-CSRF-Token")
    return Call(metadata=metadata, peer=request.remote or "")


async def read_body(request: web.Request) -> bytes:
    """The request's body; 413 over the size limit."""
    try:
        return await request.read()
    except web.HTTPRequestEntityTooLarge:
        limit = request.client_max_size
        raise GatewayError(413, "PAYLOAD_TOO_LARGE", f"the body is over the limit of {limit} bytes") from None


async def json_body(request: web.Request) -> Any:
    """The request's JSON body ({} when empty); 413, 415 or 400 otherwise."""
    if request.content_type not in ("application/json", "application/octet-stream", "") and not (
        request.content_type.endswith("+json")
    ):
        raise GatewayError(415, "UNSUPPORTED_MEDIA_TYPE", f"send JSON, not {request.content_type}")
    raw = await read_body(request)
    if not raw.strip():
        return {}
    try:
        return orjson.loads(raw)
    except orjson.JSONDecodeError as e:
        raise GatewayError(400, "MALFORMED_JSON", f"the body is not valid JSON: {e}") from None


def _query_value(field: Any, value: str) -> Any:
    if field.type == FieldDescriptor.TYPE_BOOL:
        return value.lower() in ("1", "true", "yes")
    return value  # the codec parses numbers from strings


def _query_fields(message_type: type[Message], query: Any) -> dict[str, Any]:
    """Query parameters into a JSON dict for the request message (`a.b=1` for nested fields)."""
    result: dict[str, Any] = {}
    for key in set(query.keys()) - CREDENTIAL_PARAMS:
        *parents, name = key.split(".")
        descriptor, target = message_type.DESCRIPTOR, result
        for parent in parents:
            field = descriptor.fields_by_name.get(parent)
            if field is None or field.message_type is None:
                raise GatewayError(400, "INVALID_ARGUMENT", f"unknown query parameter '{key}'")
            descriptor, target = field.message_type, target.setdefault(parent, {})
        field = descriptor.fields_by_name.get(name)
        if field is None:
            raise GatewayError(400, "INVALID_ARGUMENT", f"unknown query parameter '{key}'")
        values = [_query_value(field, v) for v in query.getall(key)]
        target[name] = values if field.is_repeated else values[-1]
    return result


async def _request_message(route: Route, request: web.Request, variables: dict[str, str]) -> Message:
    data: dict[str, Any]
    if route.body == "*":
        data = await json_body(request)
    elif route.body:
        data = {route.body: await json_body(request)}
    else:
        data = _query_fields(route.rpc.request_type, request.query)
    if not isinstance(data, dict):
        raise GatewayError(400, "INVALID_ARGUMENT", "the body must be a JSON object")
    for path, value in variables.items():
        *parents, name = path.split(".")
        target = data
        for parent in parents:
            target = target.setdefault(parent, {})
        target[name] = value
    return codec.from_json(data, route.rpc.request_type)


def message_json(message: Message) -> dict[str, Any]:
    """The proto3 JSON of a message, keys in field order as the seed shows them."""
    return codec.to_json(message)


class Gateway:
    """Routes requests to RPCs through an invoker."""

    def __init__(self, invoker: Invoker, origin: str) -> None:
        self.invoker = invoker
        self._origin = origin
        self._routes = routes(invoker.methods)
        self._openapi = codec.dumps(openapi.document(self._routes))

    def add_routes(self, app: web.Application) -> None:
        """Every annotated RPC's route, matched by aiohttp's own router."""
        for route in self._routes:
            app.router.add_route(route.http_method, route.aiohttp_path, self._handler(route))

    def _handler(self, route: Route) -> Handler:
        async def handle(request: web.Request) -> web.StreamResponse:
            message = await _request_message(route, request, route.variables_of(request.match_info))
            if route.rpc.server_streaming:
                return await self._stream(route, message, request)
            if isinstance(message, hub_pb2.ExecuteRequest):
                try:
                    return json_response(await self.invoker.execute(message, call_of(request)))
                except GatewayError as e:
                    # About the action itself (unknown, bad arguments, too slow): Platypush's envelope.
                    if e.status in (400, 404, 504):
                        return json_response(self.envelope(message, e), e.status)
                    raise
            response = await self.invoker.unary(route.rpc, message, call_of(request))
            return json_response(message_json(response))

        return handle

    async def _stream(self, route: Route, message: Message, request: web.Request) -> web.StreamResponse:
        """A server stream as newline-delimited `{"result": ...}` lines ending, on
        failure, with `{"error": ...}` (as grpc-gateway does), or as Server-Sent
        Events when the client accepts `text/event-stream`."""
        sse = "text/event-stream" in request.headers.get("Accept", "")
        response = web.StreamResponse(
            headers={
                "Content-Type": "text/event-stream" if sse else "application/x-ndjson",
                "Cache-Control": "no-cache",
            }
        )
        await response.prepare(request)

        async def write(key: str, value: dict[str, Any]) -> None:
            line = codec.dumps({key: value}).decode()
            await response.write(f"event: {key}\ndata: {line}\n\n".encode() if sse else f"{line}\n".encode())

        try:
            async for item in self.invoker.stream(route.rpc, message, call_of(request)):
                await write("result", message_json(item))
        except GatewayError as e:
            await write("error", e.body())
        except ConnectionResetError:
            pass  # the client left
        return response

    async def openapi(self, request: web.Request) -> web.Response:
        return web.Response(body=self._openapi, content_type="application/json")

    def envelope(self, request: hub_pb2.ExecuteRequest, error: GatewayError) -> dict[str, Any]:
        """A refused Execute keeps Platypush's response envelope, errors filled."""
        return envelope(request, self._origin, None, [error.message])

    async def healthz(self, request: web.Request) -> web.Response:
        if await self.invoker.ready():
            return json_response({"status": "ok"})
        return json_response({"status": "unavailable"}, 503)


@web.middleware
async def errors_middleware(request: web.Request, handler: Handler) -> web.StreamResponse:
    """Every failure answers the one JSON error body; never a traceback."""
    try:
        return await handler(request)
    except GatewayError as e:
        return e.response()
    except web.HTTPMethodNotAllowed as e:
        allowed = " or ".join(sorted(e.allowed_methods))
        return GatewayError(405, "METHOD_NOT_ALLOWED", f"use {allowed} for {request.path}").response()
    except web.HTTPNotFound:
        return GatewayError(404, "NOT_FOUND", f"no route for {request.path}").response()
    except web.HTTPException as e:
        return GatewayError(e.status, e.reason.upper().replace(" ", "_"), e.text or e.reason).response()
    except Exception as e:
        log.exception("internal error on %s %s", request.method, request.path, exc_info=e)
        return GatewayError(500, "INTERNAL", "internal error").response()
