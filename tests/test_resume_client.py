"""The Python client resumes its event streams after a dropped connection:
the events published while it was away arrive first, in order, once each."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

import pytest
from monotreme.server import Server
from monotreme_client import ManagerApi

from tests.conftest import Credentials
from tests.test_client import STREAMS


class Proxy:
    """A TCP relay in front of the hub's gRPC door that can cut every
    connection and refuse new ones, as a network that goes away does."""

    def __init__(self, upstream_port: int) -> None:
        self._upstream_port = upstream_port
        self._writers: set[asyncio.StreamWriter] = set()
        self._server: asyncio.Server | None = None
        self.down = False
        self.port = 0

    async def start(self) -> None:
        self._server = await asyncio.start_server(self._relay, "127.0.0.1", 0)
        self.port = self._server.sockets[0].getsockname()[1]

    async def cut(self) -> None:
        """Drops every connection and refuses new ones until `restore`."""
        self.down = True
        for writer in self._writers:
            writer.transport.abort()
        self._writers.clear()

    def restore(self) -> None:
        self.down = False

    async def close(self) -> None:
        await self.cut()
        if self._server is not None:
            self._server.close()
            await self._server.wait_closed()

    async def _relay(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        if self.down:
            writer.transport.abort()
            return
        up_reader, up_writer = await asyncio.open_connection("127.0.0.1", self._upstream_port)
        self._writers |= {writer, up_writer}
        await asyncio.gather(_pipe(reader, up_writer), _pipe(up_reader, writer), return_exceptions=True)
        for w in (writer, up_writer):
            w.transport.abort()
            self._writers.discard(w)


async def _pipe(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
    while data := await reader.read(65536):
        writer.write(data)
        await writer.drain()


@pytest.fixture
async def proxy(server: Server) -> AsyncIterator[Proxy]:
    relay = Proxy(int(server.grpc_target.rsplit(":", 1)[1]))
    await relay.start()
    yield relay
    await relay.close()


@asynccontextmanager
async def _listener_and_phone(
    server: Server, proxy: Proxy, admin: Credentials, max_delay_ms: int | None
) -> AsyncIterator[tuple[ManagerApi, ManagerApi]]:
    """A client streaming through the proxy (which can cut it off) and one publishing directly."""
    async with (
        ManagerApi(
            server.http_url,
            token=admin.token,
            grpc_target=f"127.0.0.1:{proxy.port}",
            max_delay_ms=max_delay_ms,
        ) as listener,
        ManagerApi(
            server.http_url, token=admin.token, grpc_target=server.grpc_target, app_id="phone"
        ) as phone,
    ):
        yield listener, phone


@STREAMS
async def test_a_dropped_connection_loses_nothing_and_repeats_nothing(
    server: Server, proxy: Proxy, admin: Credentials, max_delay_ms: int | None
) -> None:
    async with _listener_and_phone(server, proxy, admin, max_delay_ms) as (listener, phone):
        api = listener.get_api_app("phone")
        received = api.__aiter__()
        await api.subscribed()
        await phone.realtime("n", 0)
        first = await asyncio.wait_for(anext(received), 10)
        await proxy.cut()
        for _ in range(500):
            if not api.is_subscribed:
                break
            await asyncio.sleep(0.02)
        assert not api.is_subscribed
        for n in (1, 2, 3):
            await phone.realtime("n", n)
        proxy.restore()
        await asyncio.wait_for(api.subscribed(), 10)
        await phone.realtime("n", 4)
        rest = [await asyncio.wait_for(anext(received), 10) for _ in range(4)]
    assert [(e.data, e.missed) for e in (first, *rest)] == [(n, 0) for n in range(5)]
    assert api.reconnects >= 1


@STREAMS
async def test_an_api_resumes_with_its_own_filters(
    server: Server, proxy: Proxy, admin: Credentials, max_delay_ms: int | None
) -> None:
    async with _listener_and_phone(server, proxy, admin, max_delay_ms) as (listener, phone):
        api = listener.get_api("phone", args={"subtype": "wanted"})
        received = api.__aiter__()
        await api.subscribed()
        await phone.realtime("wanted", 0)
        await asyncio.wait_for(anext(received), 10)
        await proxy.cut()
        for n in (1, 2):
            await phone.realtime("unwanted", n)
            await phone.realtime("wanted", n)
        proxy.restore()
        rest = [await asyncio.wait_for(anext(received), 10) for _ in range(2)]
    assert [(e.name, e.data, e.missed) for e in rest] == [("wanted", 1, 0), ("wanted", 2, 0)]
