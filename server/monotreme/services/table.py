"""The RPC method table: every RPC of the contract bound to its implementation.

The gRPC door registers these methods as generic handlers and the gateway's
in-process invoker calls them directly, so both doors share the same
authentication and behaviour. Methods come from the proto descriptors, so an
RPC added to the contract needs only its implementation. `contract()` alone
(no implementations) is what a gateway in front of a remote hub knows.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncGenerator, Awaitable, Callable, Iterable
from dataclasses import dataclass
from typing import Any, TypeVar

from google.protobuf import message_factory
from google.protobuf.descriptor import MethodDescriptor, ServiceDescriptor
from google.protobuf.message import Message
from google.rpc import code_pb2

from monotreme import metrics
from monotreme.actions.outcome import Outcome
from monotreme.call import Call, CallContext, Principal, current_call
from monotreme.errors import ServiceError
from monotreme.v1 import auth_pb2, hub_pb2

SERVICES: tuple[ServiceDescriptor, ...] = (
    hub_pb2.DESCRIPTOR.services_by_name["HubService"],
    auth_pb2.DESCRIPTOR.services_by_name["AuthService"],
)

Authenticator = Callable[[Call], Awaitable[Principal]]
F = TypeVar("F", bound=Callable[..., Any])
T = TypeVar("T")
OK = "OK"


def public(implementation: F) -> F:
    """Marks an RPC implementation that runs without authentication."""
    implementation.__monotreme_public__ = True  # type: ignore[attr-defined]
    return implementation


@dataclass(frozen=True)
class Method:
    """One RPC: its descriptor, message classes and implementation."""

    descriptor: MethodDescriptor
    request_type: type[Message]
    response_type: type[Message]
    # None where only the contract is known (a gateway in front of a remote server).
    implementation: Callable[[Any, Call], Any] | None
    public: bool

    @property
    def path(self) -> str:
        """The gRPC path, e.g. `/monotreme.v1.HubService/Execute`."""
        return f"/{self.descriptor.containing_service.full_name}/{self.descriptor.name}"

    @property
    def server_streaming(self) -> bool:
        return bool(self.descriptor.server_streaming)


def contract(implementations: Iterable[object] = ()) -> dict[str, Method]:
    """Every RPC of `SERVICES` by gRPC path, bound to the object of its service's
    name among `implementations` when there is one."""
    by_service = {type(impl).__name__: impl for impl in implementations}
    methods = {}
    for service in SERVICES:
        impl = by_service.get(service.name)
        for descriptor in service.methods:
            function = getattr(impl, descriptor.name) if impl is not None else None
            method = Method(
                descriptor=descriptor,
                request_type=message_factory.GetMessageClass(descriptor.input_type),
                response_type=message_factory.GetMessageClass(descriptor.output_type),
                implementation=function,
                public=getattr(function, "__monotreme_public__", False),
            )
            methods[method.path] = method
    return methods


def outcome_of(error: BaseException) -> str:
    """The status code's name an RPC ended with (`NOT_FOUND`), as metrics and the access log say it."""
    if isinstance(error, ServiceError):
        return code_pb2.Code.Name(error.code) if error.code in code_pb2.Code.values() else "UNKNOWN"
    if isinstance(error, asyncio.CancelledError | GeneratorExit):  # the caller left
        return "CANCELLED"
    return "INTERNAL"


class MethodTable:
    """Every RPC of `SERVICES`, bound to the objects implementing them. Every
    call of either door passes here: its metrics and its log context are kept
    here, the door it came through read from the context the door set."""

    def __init__(self, implementations: Iterable[object], authenticate: Authenticator) -> None:
        self._authenticate = authenticate
        self.methods = contract(implementations)
        unbound = [path for path, method in self.methods.items() if method.implementation is None]
        if unbound:
            raise TypeError(f"RPCs without an implementation: {', '.join(unbound)}")

    def _observe(self, method: Method, call: Call) -> tuple[CallContext, metrics.RpcStats]:
        context = current_call.get()
        if context is None:  # called other than through a door (a test, an embedding)
            context = CallContext("", call.peer, call.metadata.get("x-request-id"))
            current_call.set(context)
        context.rpc, context.user, context.outcome = method.descriptor.name, "", ""
        return context, metrics.rpc_stats(method.descriptor.name, context.door)

    async def _authorize(self, method: Method, call: Call, context: CallContext) -> Call:
        """The call with its principal (named in the log context `_observe`
        gave); raises Unauthenticated unless the method is public."""
        if method.public:
            return call
        principal = await self._authenticate(call)
        context.user = principal.username
        return call.authenticated(principal)

    async def run(self, method: Method, call: Call, work: Callable[[Call], Awaitable[T]]) -> T:
        """`work(call)` once the call is authorized, as the unary RPC `method`:
        counted, timed and logged as one (an Execute outcome's refusal as its code)."""
        context, stats = self._observe(method, call)
        started = time.perf_counter()
        try:
            answer = await work(await self._authorize(method, call, context))
        except BaseException as e:
            context.outcome = outcome_of(e)
            raise
        else:
            refusal = answer.refusal if isinstance(answer, Outcome) else None
            context.outcome = OK if refusal is None else outcome_of(refusal)
        finally:
            stats.took(time.perf_counter() - started)
            stats.answered(context.outcome)
        return answer

    async def unary(self, method: Method, request: Message, call: Call) -> Message:
        """Runs a unary RPC; raises `ServiceError` for a refused call."""
        implementation = method.implementation
        assert implementation is not None
        response: Message = await self.run(
            method, call, lambda authorized: implementation(request, authorized)
        )
        return response

    async def stream(self, method: Method, request: Message, call: Call) -> AsyncGenerator[Message]:
        """Runs a server-streaming RPC; raises `ServiceError` for a refused call."""
        context, stats = self._observe(method, call)
        try:
            call = await self._authorize(method, call, context)
            assert method.implementation is not None
            stats.streams += 1
            try:
                async for response in method.implementation(request, call):
                    yield response
            finally:
                stats.streams -= 1
        except BaseException as e:
            context.outcome = outcome_of(e)
            stats.answered(context.outcome)
            raise
        context.outcome = OK
        stats.answered(OK)
