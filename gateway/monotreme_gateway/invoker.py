"""How the gateway reaches the services: in-process (the default: the method
table, no network hop) or remote (a grpc.aio channel to `monotreme serve`).
Both raise ServiceError alike, code and reason kept, and give Execute's
door-neutral outcome, so every adapter behaves the same over either.

The remote one imports only the contract and the services' light modules:
a gateway process in front of a remote hub loads no part of the hub."""

from __future__ import annotations

import logging
from collections.abc import AsyncIterator, Awaitable, Callable
from typing import Any, Protocol

import grpc
from google.protobuf.message import Message
from grpc_health.v1 import health_pb2, health_pb2_grpc
from monotreme.actions.outcome import Outcome
from monotreme.call import Call, current_call
from monotreme.errors import DeadlineExceeded, ServiceError
from monotreme.services import execute
from monotreme.services.status import STATUS_DETAILS_KEY, error_of
from monotreme.services.table import Method, MethodTable, contract
from monotreme.v1 import hub_pb2
from monotreme.values import fill_struct

log = logging.getLogger(__name__)


class Invoker(Protocol):
    """The method table, as the gateway sees it."""

    methods: dict[str, Method]
    # The `origin` of the answers this gateway gives.
    origin: str

    async def unary(self, rpc: Method, request: Message, call: Call) -> Message: ...

    def stream(self, rpc: Method, request: Message, call: Call) -> AsyncIterator[Message]: ...

    async def execute(self, request: hub_pb2.ExecuteRequest, args: dict[str, Any], call: Call) -> Outcome:
        """Execute's outcome (a refusal about the action included); raises a
        refusal about the caller. `args` come apart from the request, as JSON
        values (see values.as_value): the hub in process takes them as they
        are, without a trip through the request's Struct."""
        ...

    async def ready(self) -> bool: ...


def _internal(error: Exception) -> ServiceError:
    """A bug, not the caller's mistake: logged whole, told little."""
    log.exception("internal error", exc_info=error)
    return ServiceError("internal error")


class InProcessInvoker:
    """Calls the hub's method table directly, as the gRPC door does; Execute
    goes through HubService's own outcome, so HTTP prints the envelope from
    it without building an ExecuteResponse only to print it."""

    def __init__(
        self,
        table: MethodTable,
        outcome: Callable[[str, dict[str, Any], Call], Awaitable[Outcome]],
        *,
        origin: str,
        ready: Callable[[], bool],
    ) -> None:
        self._table = table
        self._outcome = outcome
        self._ready = ready
        self.methods = table.methods
        self.origin = origin
        self._execute = self.methods[execute.EXECUTE]

    async def unary(self, rpc: Method, request: Message, call: Call) -> Message:
        try:
            return await self._table.unary(rpc, request, call)
        except ServiceError:
            raise
        except Exception as e:
            raise _internal(e) from None

    async def execute(self, request: hub_pb2.ExecuteRequest, args: dict[str, Any], call: Call) -> Outcome:
        try:
            return await self._table.run(
                self._execute, call, lambda authorized: self._outcome(request.action, args, authorized)
            )
        except ServiceError:
            raise
        except Exception as e:
            raise _internal(e) from None

    async def stream(self, rpc: Method, request: Message, call: Call) -> AsyncIterator[Message]:
        async for response in self._table.stream(rpc, request, call):
            yield response

    async def ready(self) -> bool:
        return self._ready()


def _error(error: grpc.aio.AioRpcError) -> ServiceError:
    """The core's error, from the status and the details the gRPC door sends."""
    if error.code() == grpc.StatusCode.DEADLINE_EXCEEDED:
        return DeadlineExceeded(DeadlineExceeded.MESSAGE)
    details = dict(error.trailing_metadata() or ()).get(STATUS_DETAILS_KEY)
    return error_of(
        error.code().value[0], error.details() or "", details if isinstance(details, bytes) else None
    )


class RemoteInvoker:
    """Forwards calls over a grpc.aio channel to `monotreme serve` elsewhere."""

    def __init__(self, target: str, *, origin: str) -> None:
        self.methods = contract()
        self.origin = origin
        self._channel = grpc.aio.insecure_channel(target)
        self._health = health_pb2_grpc.HealthStub(self._channel)
        self._execute = self.methods[execute.EXECUTE]

    @staticmethod
    def _metadata(call: Call) -> tuple[tuple[str, str], ...]:
        """The call's metadata, and the request's id, so the hub's log names the same request."""
        context = current_call.get()
        forwarded = () if context is None else (("x-request-id", context.request_id),)
        return (*call.metadata.items(), *forwarded)

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
            raise _error(e) from None

    async def execute(self, request: hub_pb2.ExecuteRequest, args: dict[str, Any], call: Call) -> Outcome:
        fill_struct(request.args, args)
        try:
            answer = await self.unary(self._execute, request, call)
        except ServiceError as e:
            return execute.outcome_of(e)
        assert isinstance(answer, hub_pb2.ExecuteResponse)
        return execute.outcome_of(answer)

    async def stream(self, rpc: Method, request: Message, call: Call) -> AsyncIterator[Message]:
        multicallable = self._channel.unary_stream(
            rpc.path, request_serializer=rpc.request_type.SerializeToString,
            response_deserializer=rpc.response_type.FromString,
        )  # fmt: skip
        responses = multicallable(request, metadata=self._metadata(call))
        try:
            # The hub sends its headers once the stream is live; a refusal
            # comes without them, and the loop below raises it.
            await responses.initial_metadata()
            if not responses.done():
                await call.stream_started()
            async for response in responses:
                yield response
        except grpc.aio.AioRpcError as e:
            raise _error(e) from None
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
