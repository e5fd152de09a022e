"""Auth and data hardening (issue 13, items 1-8; issue 14's auth answers):
races on the first sign-up, credentials kept out of web hooks, log-in
throttling, streams that end when their token does, token ids, lifetimes,
variables that do not fit an event, Platypush's auth statuses byte for byte,
the password length and the static API token."""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable
from typing import Any

import aiohttp
import grpc
from monotreme.server import Server
from monotreme.v1 import auth_pb2, auth_pb2_grpc, hub_pb2, hub_pb2_grpc

from tests.conftest import ADMIN_PASSWORD, ADMIN_USER, Credentials
from tests.test_auth import refused

PASSWORD = "a long enough password"
EXECUTE = {"type": "request", "action": "utils.echo", "args": {"hi": 1}}


async def answer(response: aiohttp.ClientResponse) -> tuple[int, Any]:
    return response.status, await response.json()


def bearer(token: str) -> tuple[tuple[str, str], ...]:
    return (("authorization", f"Bearer {token}"),)


# 4. A token's expiry ends its streams at once


async def test_streams_end_when_their_token_expires(
    gateway_url: str,
    auth_stub: auth_pb2_grpc.AuthServiceStub,
    hub_stub: hub_pb2_grpc.HubServiceStub,
    admin: Credentials,
) -> None:
    # Long enough to open the streams first, even on a loaded machine.
    soon = 3 / 86400
    login = auth_pb2.LoginRequest(username=ADMIN_USER, password=ADMIN_PASSWORD, expiry_days=soon)
    jwt = (await auth_stub.Login(login)).token

    def short_lived(name: str) -> Awaitable[auth_pb2.CreateTokenResponse]:
        return auth_stub.CreateToken(  # type: ignore[no-any-return]
            auth_pb2.CreateTokenRequest(name=name, expiry_days=soon), metadata=admin.metadata
        )

    token = (await short_lived("grpc")).token
    streams = [hub_stub.StreamEvents(hub_pb2.StreamEventsRequest(), metadata=bearer(t)) for t in (jwt, token)]
    for stream in streams:
        await stream.wait_for_connection()
    for stream in streams:
        error = await refused(asyncio.wait_for(stream.read(), 30))
        assert (error.code(), error.details()) == (grpc.StatusCode.UNAUTHENTICATED, "the token has expired")

    # /ws/events rides on the same stream, whichever invoker carries it.
    token = (await short_lived("websocket")).token
    async with aiohttp.ClientSession() as client:
        ws_url = gateway_url.replace("http", "ws", 1)
        async with client.ws_connect(f"{ws_url}/ws/events?token={token}") as ws:
            closed = await ws.receive(timeout=30)
    assert (ws.close_code, closed.extra) == (1008, "the token has expired")


# 8. A variable no event can carry is not written


async def test_a_too_deep_variable_is_refused_before_it_is_written(
    server: Server, http: aiohttp.ClientSession, admin: Credentials
) -> None:
    value: Any = 1
    for _ in range(40):
        value = {"a": value}
    headers = {"Authorization": f"Bearer {admin.token}"}
    for action, args in (("variable.set", {"deep": value}), ("variable.get", {"name": "deep"})):
        request = {"type": "request", "action": action, "args": args}
        async with http.post(f"{server.http_url}/execute", json=request, headers=headers) as r:
            outcome = (await r.json())["response"]
        if action == "variable.set":
            assert outcome["errors"] == ["a value is nested too deeply for an event to carry it"]
    assert outcome == {"output": {"deep": None}, "errors": []}
