"""gRPC calls with the betterproto2 messages over one grpc.aio channel."""

from __future__ import annotations

from typing import Any, TypeVar

import betterproto2
import grpc

from monotreme_client.errors import from_rpc_error

M = TypeVar("M", bound=betterproto2.Message)

CHANNEL_OPTIONS = [
    # Notice a connection that died silently (Wi-Fi gone, NAT expired) under
    # a quiet event stream; the server accepts pings every 10 s.
    ("grpc.keepalive_time_ms", 30_000),
    ("grpc.keepalive_timeout_ms", 10_000),
    # Try a restarted server again within seconds, not grpc's default of up
    # to two minutes, in step with the Api's own backoff.
    ("grpc.initial_reconnect_backoff_ms", 100),
    ("grpc.max_reconnect_backoff_ms", 5_000),
]


def method(service: str, name: str) -> str:
    """The gRPC path of a method of proto/monotreme/v1."""
    return f"/monotreme.v1.{service}/{name}"


class Transport:
    """One channel, opened on first use, and the caller's credentials."""

    def __init__(self, target: str, token: str | None, timeout: float, tls: bool = False) -> None:
        self.target = target
        self.timeout = timeout
        self.metadata: tuple[tuple[str, str], ...] = (("authorization", f"Bearer {token}"),) if token else ()
        self._tls = tls
        self._channel: grpc.aio.Channel | None = None

    @property
    def channel(self) -> grpc.aio.Channel:
        if self._channel is None:
            self._channel = (
                grpc.aio.secure_channel(self.target, grpc.ssl_channel_credentials(), CHANNEL_OPTIONS)
                if self._tls
                else grpc.aio.insecure_channel(self.target, CHANNEL_OPTIONS)
            )
        return self._channel

    async def unary(self, path: str, request: betterproto2.Message, response: type[M]) -> M:
        """The call's answer; the server's refusal as a typed MonotremeError."""
        call = self.channel.unary_unary(
            path, request_serializer=_serialize, response_deserializer=response.FromString
        )
        try:
            answer: M = await call(request, metadata=self.metadata, timeout=self.timeout)
        except grpc.aio.AioRpcError as e:
            raise from_rpc_error(e) from None
        return answer

    def stream(
        self, path: str, request: betterproto2.Message, response: type[M]
    ) -> grpc.aio.UnaryStreamCall[Any, M]:
        call = self.channel.unary_stream(
            path, request_serializer=_serialize, response_deserializer=response.FromString
        )
        stream: grpc.aio.UnaryStreamCall[Any, M] = call(request, metadata=self.metadata)
        return stream

    async def close(self) -> None:
        if self._channel is not None:
            await self._channel.close()
            self._channel = None


def _serialize(message: betterproto2.Message) -> bytes:
    return bytes(message)
