"""`/ws/events` and `/ws/requests`, in-process and remote: the seed's wscat sessions and their failures."""

from __future__ import annotations

import asyncio
import json
from typing import Any

import aiohttp
import pytest
from aiohttp import WSMsgType
from monotreme.server import Server

from tests.conftest import Credentials, eventually

CUSTOM = "platypush.message.event.custom.CustomEvent"
SEED_EVENT = {"type": "event", "args": {"type": CUSTOM, "subtype": "foo", "args": {"bar": "baz"}}}


@pytest.fixture
def ws_url(gateway_url: str) -> str:
    return gateway_url.replace("http", "ws", 1)


async def receive_json(ws: aiohttp.ClientWebSocketResponse) -> Any:
    message = await ws.receive(timeout=10)
    assert message.type == WSMsgType.TEXT, message
    return json.loads(message.data)


async def receive_many(ws: aiohttp.ClientWebSocketResponse, count: int) -> list[Any]:
    return [await receive_json(ws) for _ in range(count)]


async def subscribers(server: Server, count: int) -> None:
    await eventually(lambda: server.hub.bus.subscriber_count == count)


async def test_seed_wscat_send_and_receive_events(
    ws_url: str, server: Server, http: aiohttp.ClientSession, admin: Credentials
) -> None:
    headers = {"Authorization": f"Bearer {admin.token}"}
    async with http.ws_connect(f"{ws_url}/ws/events", headers=headers) as receiver:
        await subscribers(server, 1)
        async with http.ws_connect(f"{ws_url}/ws/events", headers=headers) as sender:
            await subscribers(server, 2)
            await sender.send_str(json.dumps(SEED_EVENT))
            event = await receive_json(receiver)
            assert await receive_json(sender) == event  # the sender subscribes too
    assert list(event) == ["id", "type", "origin", "target", "_timestamp", "args"]
    assert (event["type"], event["args"]) == ("event", SEED_EVENT["args"])


async def test_filters_at_connect_time(
    ws_url: str, server: Server, http: aiohttp.ClientSession, admin: Credentials
) -> None:
    url = f"{ws_url}/ws/events?token={admin.token}&type=CustomEvent&args.subtype=wanted"
    async with http.ws_connect(url) as ws:
        await subscribers(server, 1)
        for subtype in ("unwanted", "wanted"):
            event = {"type": "event", "args": {"type": CUSTOM, "subtype": subtype}}
            await ws.send_str(json.dumps(event))
        assert (await receive_json(ws))["args"]["subtype"] == "wanted"


async def test_filters_by_origin(
    ws_url: str, server: Server, http: aiohttp.ClientSession, admin: Credentials
) -> None:
    async with http.ws_connect(f"{ws_url}/ws/events?token={admin.token}&origin=phone") as ws:
        await subscribers(server, 1)
        for origin in ("tablet", "phone"):
            await ws.send_str(json.dumps({"type": "event", "origin": origin, "args": {"type": CUSTOM}}))
        assert (await receive_json(ws))["origin"] == "phone"


async def test_bad_frames_get_error_frames_and_the_socket_stays_open(
    ws_url: str, server: Server, http: aiohttp.ClientSession, admin: Credentials
) -> None:
    async with http.ws_connect(f"{ws_url}/ws/events?token={admin.token}") as ws:
        await subscribers(server, 1)
        await ws.send_str("{nope")
        assert (await receive_json(ws))["error"] == "MALFORMED_JSON"
        await ws.send_str(json.dumps({"type": "event", "args": {"subtype": "no type"}}))
        error = await receive_json(ws)
        assert (error["type"], error["code"], error["error"]) == ("error", 400, "INVALID_ARGUMENT")
        assert error["message"].startswith("event.args.type: required")
        await ws.send_str(json.dumps(SEED_EVENT))
        assert (await receive_json(ws))["args"] == SEED_EVENT["args"]


@pytest.mark.parametrize("path", ["/ws/events", "/ws/requests"])
async def test_bad_credentials_close_the_socket_with_1008(
    ws_url: str, http: aiohttp.ClientSession, admin: Credentials, path: str
) -> None:
    async with http.ws_connect(f"{ws_url}{path}?token=mt_wrong") as ws:
        message = await asyncio.wait_for(ws.receive(), 10)
    assert message.type == WSMsgType.CLOSE
    assert (message.data, message.extra) == (1008, "invalid or revoked token")


async def test_basic_credentials_open_a_request_socket(
    ws_url: str, http: aiohttp.ClientSession, admin: Credentials
) -> None:
    for password, expected in ((admin.password, "response"), ("wrong password", None)):
        basic = aiohttp.encode_basic_auth(admin.username, password)
        async with http.ws_connect(f"{ws_url}/ws/requests", headers={"Authorization": basic}) as ws:
            if expected is None:
                closed = await ws.receive(timeout=10)
                assert (closed.type, closed.data, closed.extra) == (
                    WSMsgType.CLOSE,
                    1008,
                    "Invalid credentials",
                )
                continue
            await ws.send_str(
                json.dumps({"type": "request", "id": "1", "action": "utils.echo", "args": {"a": 1}})
            )
            reply = await receive_json(ws)
        assert (reply["type"], reply["id"], reply["response"]["output"]) == (expected, "1", {"a": 1})


async def test_revoking_the_token_closes_the_event_socket(
    ws_url: str, server: Server, http: aiohttp.ClientSession, admin: Credentials
) -> None:
    secret, token = server.hub.identity.accounts.create_token("admin", "browser")
    async with http.ws_connect(f"{ws_url}/ws/events?token={secret}") as ws:
        await subscribers(server, 1)
        headers = {"Authorization": f"Bearer {admin.token}"}
        async with http.delete(f"{server.http_url}/api/v1/tokens/{token.id}", headers=headers) as response:
            assert response.status == 200
        message = await asyncio.wait_for(ws.receive(), 10)
    assert (message.type, message.data, message.extra) == (
        WSMsgType.CLOSE,
        1008,
        "the token has been revoked",
    )


async def test_requests_are_answered_by_id_as_each_finishes(
    ws_url: str, http: aiohttp.ClientSession, admin: Credentials
) -> None:
    async with http.ws_connect(
        f"{ws_url}/ws/requests", headers={"Authorization": f"Bearer {admin.token}"}
    ) as ws:
        await ws.send_str(
            json.dumps({"type": "request", "id": "slow", "action": "utils.sleep", "args": {"seconds": 0.5}})
        )
        await ws.send_str(
            json.dumps({"type": "requests", "id": "fast", "action": "utils.echo", "args": {"a": 1}})
        )
        await ws.send_str(json.dumps({"type": "request", "action": "utils.echo"}))
        await ws.send_str(json.dumps({"type": "request", "id": "missing", "action": "lights.on"}))
        answers = [await receive_json(ws) for _ in range(4)]
    by_id = {a["id"]: a for a in answers}
    assert answers[-1]["id"] == "slow"
    assert by_id["fast"]["response"] == {"output": {"a": 1}, "errors": []}
    assert by_id["slow"]["response"] == {"output": {"success": True}, "errors": []}
    assert by_id["missing"]["response"] == {
        "output": None,
        "errors": ["unknown action 'lights.on': no plugin 'lights' is enabled"],
    }
    (assigned,) = set(by_id) - {"fast", "slow", "missing"}
    assert len(assigned) == 32


async def test_a_request_that_runs_too_long_gets_an_error_frame_with_its_id(
    ws_url: str, http: aiohttp.ClientSession, admin: Credentials
) -> None:
    async with http.ws_connect(f"{ws_url}/ws/requests?token={admin.token}") as ws:
        slow = {
            "type": "request",
            "id": "late",
            "action": "utils.sleep",
            "args": {"seconds": 5},
            "timeout": 0.3,
        }
        await ws.send_str(json.dumps(slow))
        await ws.send_str(
            json.dumps({"type": "request", "id": "bad", "action": "utils.echo", "timeout": "soon"})
        )
        answers = {a["id"]: a for a in await receive_many(ws, 2)}
    assert answers["late"]["type"] == "response"
    assert answers["late"]["response"] == {
        "output": None,
        "errors": ["the caller's deadline passed"],
    }
    assert answers["bad"] == {
        "type": "error",
        "code": 400,
        "error": "INVALID_ARGUMENT",
        "message": "timeout: a number of seconds, above 0 and at most 86400",
        "id": "bad",
    }


async def test_a_request_flood_is_answered_frame_for_frame(
    ws_url: str, http: aiohttp.ClientSession, admin: Credentials
) -> None:
    async with http.ws_connect(f"{ws_url}/ws/requests?token={admin.token}") as ws:
        await ws.send_str("not json")
        for i in range(200):
            request = {"type": "request", "id": str(i), "action": "utils.sleep", "args": {"seconds": 0.3}}
            await ws.send_str(json.dumps(request))
        answers = [await receive_json(ws) for _ in range(201)]
    assert answers[0]["error"] == "MALFORMED_JSON"
    ok = {a["id"] for a in answers if a.get("type") == "response"}
    refused = {a["id"] for a in answers if a.get("error") == "TOO_MANY_REQUESTS"}
    assert ok | refused == {str(i) for i in range(200)} and not ok & refused
    assert len(ok) >= 64 and refused  # a cap, with each refusal said out loud


async def test_a_hundred_subscribers_and_one_that_never_reads(
    ws_url: str, server: Server, admin: Credentials
) -> None:
    url = f"{ws_url}/ws/events?token={admin.token}"
    async with aiohttp.ClientSession() as session:
        sockets = [await session.ws_connect(url) for _ in range(100)]
        await subscribers(server, 100)
        stuck = sockets.pop()  # never reads
        payload = "x" * 4096
        for i in range(50):
            event = {
                "type": "event",
                "args": {"type": CUSTOM, "subtype": "n", "args": {"n": i, "pad": payload}},
            }
            await sockets[0].send_str(json.dumps(event))
        received = await asyncio.gather(*(receive_many(ws, 50) for ws in sockets))
        for ws in [*sockets, stuck]:
            await ws.close()
    assert all([e["args"]["args"]["n"] for e in events] == list(range(50)) for events in received)
