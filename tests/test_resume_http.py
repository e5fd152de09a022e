"""Resuming over HTTP, in-process and remote: `/ws/events?after=`, the NDJSON
stream's `?after=` and the SSE stream's `Last-Event-ID`. The history first,
in order, then live events, no duplicate, no gap; the lost ones counted."""

from __future__ import annotations

import asyncio
import json
from collections.abc import Awaitable, Callable
from typing import Any

import aiohttp
import pytest
from aiohttp import WSMsgType
from monotreme.server import Server

from tests.conftest import Credentials, eventually
from tests.test_event_stream import CUSTOM

HISTORY = 3


@pytest.fixture
async def server(make_server: Callable[..., Awaitable[Server]]) -> Server:
    """A hub whose history holds the last 3 events."""
    return await make_server(f"events:\n  history_size: {HISTORY}\n")


async def publish_http(http: aiohttp.ClientSession, url: str, admin: Credentials, n: int) -> dict[str, Any]:
    event = {"type": "event", "args": {"type": CUSTOM, "subtype": "n", "args": {"n": n}}}
    async with http.post(f"{url}/api/v1/events", json=event, headers={"X-Token": admin.token}) as response:
        assert response.status == 200
        published: dict[str, Any] = (await response.json())["event"]
        return published


async def publish_many(
    http: aiohttp.ClientSession, url: str, admin: Credentials, count: int
) -> list[dict[str, Any]]:
    return [await publish_http(http, url, admin, n) for n in range(count)]


async def receive_json(ws: aiohttp.ClientWebSocketResponse) -> Any:
    message = await ws.receive(timeout=10)
    assert message.type == WSMsgType.TEXT, message
    return json.loads(message.data)


async def sse_messages(response: aiohttp.ClientResponse, count: int) -> list[dict[str, str]]:
    """The next `count` Server-Sent Events, each as its fields."""
    messages = []
    for _ in range(count):
        fields = {}
        while (line := (await asyncio.wait_for(response.content.readline(), 10)).decode()) != "\n":
            name, value = line.rstrip("\n").split(": ", 1)
            fields[name] = value
        messages.append(fields)
    return messages


async def test_a_websocket_resumes_after_an_id(
    gateway_url: str, server: Server, http: aiohttp.ClientSession, admin: Credentials
) -> None:
    published = await publish_many(http, gateway_url, admin, 3)
    ws_url = gateway_url.replace("http", "ws", 1)
    async with http.ws_connect(f"{ws_url}/ws/events?token={admin.token}&after={published[0]['id']}") as ws:
        replayed = [await receive_json(ws), await receive_json(ws)]
        live = await publish_http(http, gateway_url, admin, 3)
        assert await receive_json(ws) == live
    assert replayed == published[1:]  # the same frames as live ones: no `_missed`


async def test_a_websocket_is_told_what_the_history_lost(
    gateway_url: str, server: Server, http: aiohttp.ClientSession, admin: Credentials
) -> None:
    published = await publish_many(http, gateway_url, admin, 6)
    ws_url = gateway_url.replace("http", "ws", 1)
    url = f"{ws_url}/ws/events?token={admin.token}&type=CustomEvent&after={published[0]['id']}"
    async with http.ws_connect(url) as ws:
        replayed = [await receive_json(ws) for _ in range(HISTORY)]
    # 1 and 2 are gone from a history of 3: the first frame says so.
    assert replayed == [{**published[3], "_missed": 2}, published[4], published[5]]


@pytest.mark.parametrize("after", ["nope", "G" * 32])
async def test_a_malformed_after_is_refused_before_the_handshake(
    gateway_url: str, server: Server, http: aiohttp.ClientSession, admin: Credentials, after: str
) -> None:
    url = f"{gateway_url}/ws/events?token={admin.token}&after={after}"
    with pytest.raises(aiohttp.WSServerHandshakeError) as refused:
        await http.ws_connect(url.replace("http", "ws", 1))
    assert refused.value.status == 400
    async with http.get(url) as response:
        assert (response.status, await response.json()) == (
            400,
            {
                "code": 400,
                "error": "INVALID_ARGUMENT",
                "message": f"after: '{after}' is not an event id of this hub (32 hex digits)",
            },
        )
    assert server.hub.bus.subscriber_count == 0


async def test_the_ndjson_stream_resumes_after_an_id(
    gateway_url: str, server: Server, http: aiohttp.ClientSession, admin: Credentials
) -> None:
    published = await publish_many(http, gateway_url, admin, 5)
    params = {"types": "CustomEvent", "after": published[0]["id"]}
    async with http.get(
        f"{gateway_url}/api/v1/events", params=params, headers={"X-Token": admin.token}
    ) as stream:
        assert (stream.status, stream.content_type) == (200, "application/x-ndjson")
        lines = [json.loads(await asyncio.wait_for(stream.content.readline(), 10)) for _ in range(HISTORY)]
        live = await publish_http(http, gateway_url, admin, 5)
        lines.append(json.loads(await asyncio.wait_for(stream.content.readline(), 10)))
    assert lines == [
        {"result": {"event": published[2], "missed": 1}},
        {"result": {"event": published[3], "missed": 0}},
        {"result": {"event": published[4], "missed": 0}},
        {"result": {"event": live, "missed": 0}},
    ]


async def test_the_ndjson_stream_refuses_a_malformed_after(
    gateway_url: str, server: Server, http: aiohttp.ClientSession, admin: Credentials
) -> None:
    params = {"after": "0" * 31}
    async with http.get(
        f"{gateway_url}/api/v1/events", params=params, headers={"X-Token": admin.token}
    ) as stream:
        assert (stream.status, await stream.json()) == (
            400,
            {
                "code": 400,
                "error": "INVALID_ARGUMENT",
                "message": f"after: '{'0' * 31}' is not an event id of this hub (32 hex digits)",
            },
        )


async def test_server_sent_events_carry_ids_and_resume_after_last_event_id(
    gateway_url: str, server: Server, http: aiohttp.ClientSession, admin: Credentials
) -> None:
    sse = {"Accept": "text/event-stream", "X-Token": admin.token}
    url = f"{gateway_url}/api/v1/events?types=CustomEvent"
    async with http.get(url, headers=sse) as stream:
        await eventually(lambda: server.hub.bus.subscriber_count == 1)
        published = await publish_many(http, gateway_url, admin, 3)
        first = await sse_messages(stream, 3)
    assert first == [
        {
            "id": p["id"],
            "event": "result",
            "data": json.dumps({"result": {"event": p, "missed": 0}}, separators=(",", ":")),
        }
        for p in published
    ]
    # An EventSource reconnecting sends the last id it saw; it wins over the
    # `?after=` its first connection had in its URL.
    resumed = {**sse, "Last-Event-ID": published[1]["id"]}
    async with http.get(f"{url}&after={published[0]['id']}", headers=resumed) as stream:
        [again] = await sse_messages(stream, 1)
        live = await publish_http(http, gateway_url, admin, 3)
        [then] = await sse_messages(stream, 1)
    assert (again["id"], json.loads(again["data"])) == (
        published[2]["id"],
        {"result": {"event": published[2], "missed": 0}},
    )
    assert (then["id"], json.loads(then["data"])) == (live["id"], {"result": {"event": live, "missed": 0}})


async def test_a_malformed_last_event_id_is_refused(
    gateway_url: str, server: Server, http: aiohttp.ClientSession, admin: Credentials
) -> None:
    headers = {"Accept": "text/event-stream", "X-Token": admin.token, "Last-Event-ID": "42"}
    async with http.get(f"{gateway_url}/api/v1/events", headers=headers) as stream:
        assert (stream.status, await stream.json()) == (
            400,
            {
                "code": 400,
                "error": "INVALID_ARGUMENT",
                "message": "Last-Event-ID: '42' is not an event id of this hub (32 hex digits)",
            },
        )
