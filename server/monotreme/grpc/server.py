"""The gRPC door: the method table served by grpc.aio, with health and reflection."""

from __future__ import annotations

import asyncio
import contextlib
import functools
import logging
import socket
import time
from collections.abc import Callable
from typing import Any, NamedTuple

import grpc
from google.protobuf.message import DecodeError, Message
from grpc_health.v1 import health_pb2, health_pb2_grpc
from grpc_health.v1.health import SERVICE_NAME as HEALTH_SERVICE
from grpc_health.v1.health import aio as health_aio
from grpc_reflection.v1alpha import reflection

from monotreme.call import Call, CallContext, current_call
from monotreme.errors import InvalidArgument, ResourceExhausted, ServiceError
from monotreme.events.bus import SEND_TIMEOUT
from monotreme.memo import Memo, spliced
from monotreme.services.status import STATUS_DETAILS_KEY, status_details
from monotreme.services.table import SERVICES, Method, MethodTable, outcome_of
from monotreme.v1 import hub_pb2

log = logging.getLogger(__name__)
# One line per RPC; off with `logging.access: false` (its level raised).
access_log = logging.getLogger("monotreme.access")

# The core's canonical codes (google.rpc.Code) as grpc's enum.
STATUS_CODES = {code.value[0]: code for code in grpc.StatusCode}


def _call(context: grpc.aio.ServicerContext[Any, Any], streaming: bool = False) -> Call:
    remaining = context.time_remaining()
    return Call(
        metadata={key: value for key, value in context.invocation_metadata() or () if isinstance(value, str)},
        deadline=None if remaining is None else time.monotonic() + remaining,
        peer=context.peer(),
        on_stream_start=functools.partial(context.send_initial_metadata, ()) if streaming else None,
    )


class _Served:
    """The RPC's log context while it runs, and its access log line once it
    ends (a class: contextlib's generator-based manager costs every call ~2 µs)."""

    __slots__ = ("_call", "_method", "_started", "_token", "context")

    def __init__(self, method: Method, call: Call) -> None:
        self._method, self._call = method, call
        self.context = CallContext("grpc", call.peer, call.metadata.get("x-request-id"))

    def __enter__(self) -> CallContext:
        self._token = current_call.set(self.context)
        self._started = time.perf_counter()
        return self.context

    def __exit__(self, kind: type[BaseException] | None, error: BaseException | None, _: object) -> None:
        context = self.context
        if error is not None:
            context.outcome = context.outcome or outcome_of(error)
        if access_log.isEnabledFor(logging.INFO):
            access_log.info(
                "gRPC %s from %s%s: %s in %.1f ms",
                self._method.path, self._call.peer, f" as {context.user}" if context.user else "",
                context.outcome or "OK", (time.perf_counter() - self._started) * 1000,
            )  # fmt: skip
        current_call.reset(self._token)


async def _abort(context: grpc.aio.ServicerContext[Any, Any], error: Exception) -> None:
    if not isinstance(error, ServiceError):
        # A bug, not the caller's mistake: log it whole, tell the caller little.
        log.exception("internal error", exc_info=error)
        error = ServiceError("internal error")
    await context.abort(
        STATUS_CODES[error.code],
        error.message,
        trailing_metadata=((STATUS_DETAILS_KEY, status_details(error)),),
    )


class _Undecodable(NamedTuple):
    """A request that is not the method's message: refused in the handler,
    since grpc answers a deserializer's exception with UNKNOWN, the Python
    exception's class and a traceback in the log."""

    error: InvalidArgument


def _deserializer(method: Method) -> Callable[[bytes], Message | _Undecodable]:
    parse, name = method.request_type.FromString, method.request_type.DESCRIPTOR.full_name

    def deserialize(data: bytes) -> Message | _Undecodable:
        try:
            return parse(data)
        except DecodeError as e:  # garbage, truncated, nested too deeply
            return _Undecodable(InvalidArgument(f"the request is not a valid {name}: {e}"))

    return deserialize


async def _refuse_undecodable(
    context: grpc.aio.ServicerContext[Any, Any], method: Method, request: _Undecodable
) -> None:
    log.warning("%s from %s: %s", method.path, context.peer(), request.error.message)
    await _abort(context, request.error)


class _StalledWrites:
    """A stream's writes, ending the stream with RESOURCE_EXHAUSTED when its
    client has not taken a message for SEND_TIMEOUT seconds (a write blocks
    once the client stops reading: HTTP/2 flow control), as the websockets
    do. One check every SEND_TIMEOUT / 2 s per stream, not a timer per message."""

    def __init__(self, context: grpc.aio.ServicerContext[Any, Any]) -> None:
        self._context = context
        self._task = asyncio.current_task()
        self._loop = asyncio.get_running_loop()
        self._writing_since: float | None = None
        self._stalled = False
        self._check = self._loop.call_later(SEND_TIMEOUT / 2, self._look)

    def _look(self) -> None:
        since = self._writing_since
        if since is not None and self._loop.time() - since >= SEND_TIMEOUT and self._task is not None:
            self._stalled = True
            self._task.cancel()
            return
        self._check = self._loop.call_later(SEND_TIMEOUT / 2, self._look)

    async def write(self, message: Message) -> None:
        self._writing_since = self._loop.time()
        try:
            await self._context.write(message)
        except asyncio.CancelledError:
            if not self._stalled or self._task is None:
                raise
            self._task.uncancel()
            log.warning("ending a stream whose client stopped reading (%s)", self._context.peer())
            raise ResourceExhausted(
                f"the client stopped reading: it took no message for {SEND_TIMEOUT:.0f} s",
                reason="CLIENT_TOO_SLOW",
            ) from None
        self._writing_since = None

    def close(self) -> None:
        self._check.cancel()


Events = Memo[hub_pb2.StreamEventsResponse, bytes]
_BATCH_EVENTS = hub_pb2.StreamEventBatchesResponse.DESCRIPTOR.fields_by_name["events"].number


def _serializer(method: Method, events: Events) -> Callable[[Any], bytes]:
    """How the door encodes the method's responses. The bus hands every
    subscriber the same event responses: `events` serializes each once, and a
    StreamEventBatches message (its service yields the list of events) is
    spliced from those bytes."""
    if method.response_type is hub_pb2.StreamEventsResponse:
        return events
    if method.response_type is hub_pb2.StreamEventBatchesResponse:
        return spliced(_BATCH_EVENTS, events)
    serialize: Callable[[Message], bytes] = method.response_type.SerializeToString
    return serialize


def _handler(table: MethodTable, method: Method, events: Events) -> grpc.RpcMethodHandler:
    serialize = _serializer(method, events)
    deserialize = _deserializer(method)
    if method.server_streaming:

        async def stream(
            request: Message | _Undecodable, context: grpc.aio.ServicerContext[Any, Any]
        ) -> None:
            if isinstance(request, _Undecodable):
                await _refuse_undecodable(context, method, request)
                return
            writes = _StalledWrites(context)
            call = _call(context, streaming=True)
            with _Served(method, call):
                try:
                    responses = table.stream(method, request, call)
                    async with contextlib.aclosing(responses):
                        async for response in responses:
                            await writes.write(response)
                except Exception as error:
                    await _abort(context, error)
                finally:
                    writes.close()

        return grpc.unary_stream_rpc_method_handler(stream, deserialize, serialize)

    async def unary(
        request: Message | _Undecodable, context: grpc.aio.ServicerContext[Any, Any]
    ) -> Message | None:
        if isinstance(request, _Undecodable):
            await _refuse_undecodable(context, method, request)
            return None
        call = _call(context)
        with _Served(method, call):
            try:
                return await table.unary(method, request, call)
            except Exception as error:
                await _abort(context, error)
                return None

    return grpc.unary_unary_rpc_method_handler(unary, deserialize, serialize)


def _check_free(host: str, port: int, reuse_port: bool) -> None:
    """Raises OSError, in a line, when host:port cannot be bound: grpc's own
    refusal says only "Failed to bind", after a line of its C core's log."""
    family, kind, proto, _, address = socket.getaddrinfo(host or None, port, type=socket.SOCK_STREAM)[0]
    with socket.socket(family, kind, proto) as probe:
        probe.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)  # as grpc binds
        probe.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEPORT, int(reuse_port))
        try:
            probe.bind(address)
        except OSError as e:
            raise OSError(f"cannot listen for gRPC on {host}:{port}: {e.strerror or e}") from None


class GrpcServer:
    """A grpc.aio server for the method table, the health and the reflection services."""

    def __init__(self, table: MethodTable, *, max_message_bytes: int, reuse_port: bool = False) -> None:
        self._reuse_port = reuse_port
        self._server = grpc.aio.server(
            options=[
                # grpc binds with SO_REUSEPORT by default: a second hub on the
                # same port would start silently and take half the calls. Only
                # the worker processes of one hub (`serve --workers`) share it.
                ("grpc.so_reuseport", int(reuse_port)),
                ("grpc.max_receive_message_length", max_message_bytes),
                # Keep idle streams (event subscribers) alive through NATs and
                # notice dead peers; let clients ping as often as every 10 s.
                ("grpc.keepalive_time_ms", 60_000),
                ("grpc.keepalive_timeout_ms", 20_000),
                ("grpc.keepalive_permit_without_calls", 1),
                ("grpc.http2.min_ping_interval_without_data_ms", 10_000),
                ("grpc.http2.max_pings_without_data", 0),
            ]
        )
        events: Events = Memo(hub_pb2.StreamEventsResponse.SerializeToString)
        for service in SERVICES:
            handlers = {
                method.descriptor.name: _handler(table, method, events)
                for method in table.methods.values()
                if method.descriptor.containing_service is service
            }
            self._server.add_registered_method_handlers(service.full_name, handlers)
        self.health = health_aio.HealthServicer()
        health_pb2_grpc.add_HealthServicer_to_server(self.health, self._server)
        names = [service.full_name for service in SERVICES]
        reflection.enable_server_reflection([*names, HEALTH_SERVICE, reflection.SERVICE_NAME], self._server)

    def bind(self, host: str, port: int) -> int:
        """Listens on host:port (0 for any free port); answers the bound port,
        or raises OSError saying why not in a line."""
        if port:
            _check_free(host, port, self._reuse_port)
        try:
            bound: int = self._server.add_insecure_port(f"{host}:{port}")
        except RuntimeError:
            bound = 0
        if not bound:
            raise OSError(f"cannot listen for gRPC on {host}:{port}")
        return bound

    async def start(self) -> None:
        await self._server.start()
        await self._set_health(health_pb2.HealthCheckResponse.SERVING)

    async def stop(self, grace: float) -> None:
        """Stops taking calls; in-flight calls get `grace` seconds to finish."""
        await self._set_health(health_pb2.HealthCheckResponse.NOT_SERVING)
        await self._server.stop(grace)

    async def serving(self, ready: bool) -> None:
        """What the health service answers: SERVING while the hub is ready."""
        await self._set_health(
            health_pb2.HealthCheckResponse.SERVING if ready else health_pb2.HealthCheckResponse.NOT_SERVING
        )

    async def _set_health(self, status: int) -> None:
        for name in ("", *(service.full_name for service in SERVICES)):
            await self.health.set(name, status)
