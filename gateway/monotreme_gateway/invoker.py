"""How the gateway reaches the service: in-process (the default: the method table,
no network hop) or remote (a grpc.aio channel). Both raise GatewayError alike."""

from __future__ import annotations

import logging
from collections.abc import AsyncIterator
from typing import Any, Protocol

import grpc
from google.protobuf.message import Message
from google.rpc import error_details_pb2, status_pb2
from grpc_health.v1 import health_pb2, health_pb2_grpc
from monotreme.call import Call
from monotreme.errors import DeadlineExceeded, ServiceError
from monotreme.grpc_server import STATUS_DETAILS_KEY
from monotreme.hub import Hub
from monotreme.rpc import Method, contract
from monotreme.v1 import hub_pb2
from monotreme.values import as_value, from_struct

from monotreme_gateway import codec
from monotreme_gateway.envelope import envelope
from monotreme_gateway.errors import GatewayError

log = logging.getLogger(__name__)
EXECUTE = "/monotreme.v1.HubService/Execute"


class Invoker(Protocol):
    methods: dict[str, Method]

    async def unary(self, rpc: Method, request: Message, call: Call) -> Message: ...

    async def execute(self, request: hub_pb2.ExecuteRequest, call: Call) -> dict[str, Any]:
        """Execute, answered as its JSON envelope (the Platypush answer)."""
        ...

    def stream(self, rpc: Method, request: Message, call: Call) -> AsyncIterator[Message]: ...

    async def ready(self) -> bool: ...


def _internal(error: Exception) -> GatewayError:
    log.exception("internal error", exc_info=error)
    return GatewayError(500, "INTERNAL", "internal error")


class InProcessInvoker:
    """Calls the hub's method table directly, as the gRPC server does."""

    def __init__(self, hub: Hub) -> None:
        self._hub = hub
        self.methods = hub.methods.methods
        self._execute = self.methods[EXECUTE]

    async def unary(self, rpc: Method, request: Message, call: Call) -> Message:
        try:
            return await self._hub.methods.unary(rpc, request, call)
        except ServiceError as e:
            raise GatewayError.from_status(e.code, e.reason, e.message) from None
        except Exception as e:
            raise _internal(e) from None

    async def execute(self, request: hub_pb2.ExecuteRequest, call: Call) -> dict[str, Any]:
        # The hub's own Execute, minus building an ExecuteResponse only to
        # print it: /execute's hot path (see BENCHMARKS.md).
        dispatcher = self._hub.dispatcher
        try:
            call = await self._hub.methods.authorize(self._execute, call)
            output, errors = await dispatcher.outcome(request.action, from_struct(request.args), call)
        except ServiceError as e:
            raise GatewayError.from_status(e.code, e.reason, e.message) from None
        except Exception as e:
            raise _internal(e) from None
        return envelope(request, dispatcher.origin, as_value(output), errors)

    async def stream(self, rpc: Method, request: Message, call: Call) -> AsyncIterator[Message]:
        try:
            async for response in self._hub.methods.stream(rpc, request, call):
                yield response
        except ServiceError as e:
            raise GatewayError.from_status(e.code, e.reason, e.message) from None

    async def ready(self) -> bool:
        return self._hub.ready


def _from_rpc_error(error: grpc.aio.AioRpcError) -> GatewayError:
    """The reason travels in the google.rpc.Status details the server sends."""
    if error.code() == grpc.StatusCode.DEADLINE_EXCEEDED:
        return GatewayError(504, "DEADLINE_EXCEEDED", DeadlineExceeded.MESSAGE)
    reason = error.code().name
    for key, value in error.trailing_metadata() or ():
        if key == STATUS_DETAILS_KEY and isinstance(value, bytes):
            for detail in status_pb2.Status.FromString(value).details:
                info = error_details_pb2.ErrorInfo()
                if detail.Unpack(info):
                    reason = info.reason
    return GatewayError.from_status(error.code(), reason, error.details() or reason)


class RemoteInvoker:
    """Forwards calls over a grpc.aio channel to `monotreme serve` elsewhere."""

    def __init__(self, target: str) -> None:
        self.methods = contract()
        self._channel = grpc.aio.insecure_channel(target)
        self._health = health_pb2_grpc.HealthStub(self._channel)

    @staticmethod
    def _metadata(call: Call) -> tuple[tuple[str, str], ...]:
        return tuple(call.metadata.items())

    async def unary(self, rpc: Method, request: Message, call: Call) -> Message:
        multicallable = self._channel.unary_unary(
            rpc.path, request_serializer=rpc.request_type.SerializeToString,
            response_deserializer=rpc.response_type.FromString,
        )  # fmt: skip
        try:
            response: Message = await multicallable(
                request, metadata=self._metadata(call), timeout=call.time_remaining()
            )
            return response
        except grpc.aio.AioRpcError as e:
            raise _from_rpc_error(e) from None

    async def execute(self, request: hub_pb2.ExecuteRequest, call: Call) -> dict[str, Any]:
        return codec.to_json(await self.unary(self.methods[EXECUTE], request, call))

    async def stream(self, rpc: Method, request: Message, call: Call) -> AsyncIterator[Message]:
        multicallable = self._channel.unary_stream(
            rpc.path, request_serializer=rpc.request_type.SerializeToString,
            response_deserializer=rpc.response_type.FromString,
        )  # fmt: skip
        responses = multicallable(request, metadata=self._metadata(call))
        try:
            async for response in responses:
                yield response
        except grpc.aio.AioRpcError as e:
            raise _from_rpc_error(e) from None
        finally:
            responses.cancel()

    async def ready(self) -> bool:
        try:
            answer = await self._health.Check(health_pb2.HealthCheckRequest(), timeout=2)
        except grpc.aio.AioRpcError:
            return False
        return bool(answer.status == health_pb2.HealthCheckResponse.SERVING)

    async def close(self) -> None:
        await self._channel.close()
