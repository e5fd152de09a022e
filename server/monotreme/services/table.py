"""The RPC method table: every RPC of the contract bound to its implementation.

The gRPC door registers these methods as generic handlers and the gateway's
in-process invoker calls them directly, so both doors share the same
authentication and behaviour. Methods come from the proto descriptors, so an
RPC added to the contract needs only its implementation. `contract()` alone
(no implementations) is what a gateway in front of a remote hub knows.
"""

from __future__ import annotations

from collections.abc import AsyncGenerator, Awaitable, Callable, Iterable
from dataclasses import dataclass
from typing import Any, TypeVar

from google.protobuf import message_factory
from google.protobuf.descriptor import MethodDescriptor, ServiceDescriptor
from google.protobuf.message import Message

from monotreme.call import Call, Principal
from monotreme.v1 import auth_pb2, hub_pb2

SERVICES: tuple[ServiceDescriptor, ...] = (
    hub_pb2.DESCRIPTOR.services_by_name["HubService"],
    auth_pb2.DESCRIPTOR.services_by_name["AuthService"],
)

Authenticator = Callable[[Call], Awaitable[Principal]]
F = TypeVar("F", bound=Callable[..., Any])


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


class MethodTable:
    """Every RPC of `SERVICES`, bound to the objects implementing them."""

    def __init__(self, implementations: Iterable[object], authenticate: Authenticator) -> None:
        self._authenticate = authenticate
        self.methods = contract(implementations)
        unbound = [path for path, method in self.methods.items() if method.implementation is None]
        if unbound:
            raise TypeError(f"RPCs without an implementation: {', '.join(unbound)}")

    async def authorize(self, method: Method, call: Call) -> Call:
        """The call with its principal; raises Unauthenticated unless the method is public."""
        if method.public:
            return call
        return call.authenticated(await self._authenticate(call))

    async def unary(self, method: Method, request: Message, call: Call) -> Message:
        """Runs a unary RPC; raises `ServiceError` for a refused call."""
        call = await self.authorize(method, call)
        assert method.implementation is not None
        response: Message = await method.implementation(request, call)
        return response

    async def stream(self, method: Method, request: Message, call: Call) -> AsyncGenerator[Message]:
        """Runs a server-streaming RPC; raises `ServiceError` for a refused call."""
        call = await self.authorize(method, call)
        assert method.implementation is not None
        async for response in method.implementation(request, call):
            yield response
