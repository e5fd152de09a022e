"""Bad input at every door: a clear, structured refusal (400 / INVALID_ARGUMENT),
never a 500, a hang or a traceback in the log (issue 13, items 9-12)."""

from __future__ import annotations

import asyncio
import json
import logging
from typing import Any

import aiohttp
import grpc
import pytest
from monotreme.v1 import hub_pb2, hub_pb2_grpc
from monotreme.values import MAX_DEPTH

from tests.conftest import Credentials

TOO_DEEP = f"nested too deeply (limit {MAX_DEPTH})"


def nested(depth: int) -> Any:
    """`depth` objects, one inside the other."""
    value: Any = 1
    for _ in range(depth):
        value = {"a": value}
    return value


def no_traceback(caplog: pytest.LogCaptureFixture) -> None:
    logged = [r for r in caplog.records if r.exc_info or r.levelno >= logging.ERROR]
    assert not logged, [r.getMessage() for r in logged]


async def answer(http: aiohttp.ClientSession, method: str, url: str, **kwargs: Any) -> tuple[int, Any]:
    async with http.request(method, url, **kwargs) as response:
        assert response.content_type == "application/json"
        return response.status, await response.json()


@pytest.mark.parametrize(
    ("body", "message"),
    [
        (json.dumps(nested(50)), f"the request cannot be an event: {TOO_DEEP}"),
        ('{"a": "\\ud800"}', "the request cannot be an event: a string is not valid Unicode"),
        ('{"a": 1' + "0" * 4299 + "}", "the request cannot be an event: a number is too large"),
    ],
    ids=["nested", "lone-surrogate", "4300-digits"],
)
async def test_a_web_hook_refuses_data_no_event_can_hold(
    gateway_url: str, http: aiohttp.ClientSession, caplog: pytest.LogCaptureFixture, body: str, message: str
) -> None:
    status, error = await answer(http, "POST", f"{gateway_url}/hook/x", data=body)
    assert (status, error["code"], error["error"]) == (400, 400, "INVALID_ARGUMENT")
    assert error["message"].startswith(message)
    no_traceback(caplog)


async def test_payloads_up_to_the_depth_limit_round_trip_and_deeper_ones_are_refused(
    gateway_url: str, http: aiohttp.ClientSession, admin: Credentials, caplog: pytest.LogCaptureFixture
) -> None:
    headers = {"Authorization": f"Bearer {admin.token}"}
    execute = f"{gateway_url}/execute"
    deepest = nested(MAX_DEPTH)
    status, body = await answer(
        http,
        "POST",
        execute,
        json={"type": "request", "action": "utils.echo", "args": deepest},
        headers=headers,
    )
    assert (status, body["response"]["output"]) == (200, deepest)
    status, body = await answer(
        http,
        "POST",
        f"{gateway_url}/api/v1/events",
        json={"args": {"type": "X", **nested(MAX_DEPTH - 1)}},
        headers=headers,
    )
    assert status == 200
    for url, request, field in (
        (execute, {"type": "request", "action": "utils.echo", "args": nested(252)}, "args"),
        (f"{gateway_url}/api/v1/events", {"args": {"type": "X", **nested(50)}}, "event: args"),
    ):
        status, body = await answer(http, "POST", url, json=request, headers=headers)
        assert (status, body) == (
            400,
            {"code": 400, "error": "INVALID_ARGUMENT", "message": f"{field}: {TOO_DEEP}"},
        )
    async with http.ws_connect(f"{gateway_url}/ws/requests", headers=headers) as ws:
        await ws.send_json({"type": "request", "id": "deep", "action": "utils.echo", "args": nested(252)})
        frame = await ws.receive_json(timeout=10)
    assert frame == {
        "type": "error",
        "code": 400,
        "error": "INVALID_ARGUMENT",
        "message": f"args: {TOO_DEEP}",
        "id": "deep",
    }
    no_traceback(caplog)


async def test_a_malformed_multipart_body_is_a_json_400(
    gateway_url: str, http: aiohttp.ClientSession, caplog: pytest.LogCaptureFixture
) -> None:
    status, body = await answer(
        http,
        "POST",
        f"{gateway_url}/auth?type=login",
        data=b"--xx\r\nbad",
        headers={"Content-Type": "multipart/form-data; boundary=xx"},
    )
    assert (status, body["error"]) == (400, "MALFORMED_REQUEST")
    assert body["message"].startswith("malformed request: ")
    no_traceback(caplog)


async def test_405_names_the_allowed_methods(gateway_url: str, http: aiohttp.ClientSession) -> None:
    async with http.patch(f"{gateway_url}/api/v1/actions") as response:
        assert (response.status, response.headers["Allow"]) == (405, "GET")
        assert await response.json() == {
            "code": 405,
            "error": "METHOD_NOT_ALLOWED",
            "message": "use GET for /api/v1/actions",
        }
    async with http.request("TRACE", f"{gateway_url}/hook/x") as response:
        assert (response.status, response.headers["Allow"]) == (405, "DELETE, GET, OPTIONS, PATCH, POST, PUT")
        assert (await response.json())["error"] == "METHOD_NOT_ALLOWED"


async def test_grpc_garbage_is_invalid_argument_in_one_line(
    channel: grpc.aio.Channel, admin: Credentials, caplog: pytest.LogCaptureFixture
) -> None:
    for path, garbage in (
        ("/monotreme.v1.HubService/Execute", b"\xff\xff\xff"),  # not protobuf
        ("/monotreme.v1.HubService/Execute", b"\x0a\x05ab"),  # truncated
        ("/monotreme.v1.HubService/StreamEvents", b"\xff"),
    ):
        call = channel.unary_unary(path)
        if path.endswith("StreamEvents"):
            call = channel.unary_stream(path)  # type: ignore[assignment]
        with pytest.raises(grpc.aio.AioRpcError) as refused:
            answer = call(garbage, metadata=admin.metadata)
            if path.endswith("StreamEvents"):
                async for _ in answer:  # type: ignore[union-attr]
                    pass
            else:
                await answer
        assert refused.value.code() == grpc.StatusCode.INVALID_ARGUMENT
        assert refused.value.details().startswith("the request is not a valid monotreme.v1.")
    no_traceback(caplog)
    assert [r.levelno for r in caplog.records if "not a valid" in r.getMessage()] == [logging.WARNING] * 3


async def raw_request(url: str, request: bytes) -> bytes:
    """What the server answers to `request`, sent as is, until it closes."""
    host, port = url.removeprefix("http://").rsplit(":", 1)
    reader, writer = await asyncio.open_connection(host, int(port))
    writer.write(request)
    answer = await asyncio.wait_for(reader.read(), 30)
    writer.close()
    return answer


@pytest.mark.parametrize(
    "request_bytes",
    [
        b"GET /\x01 HTTP/1.1\r\nHost: x\r\n\r\n",
        b"GET / HTTP/1.1\r\nHost: x\r\nBad Header\r\n\r\n",
        b"POST /execute HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\nzz\r\n",
        b"\x16\x03\x01\x02\x00\x01\x00\x01\xfc\x03\x03",  # TLS to the HTTP port
    ],
    ids=["url", "header", "chunk", "tls"],
)
async def test_a_request_aiohttp_cannot_parse_gets_our_json(
    gateway_url: str, caplog: pytest.LogCaptureFixture, request_bytes: bytes
) -> None:
    head, _, body = (await raw_request(gateway_url, request_bytes)).partition(b"\r\n\r\n")
    assert head.split(b" ", 2)[1] == b"400"
    assert b"Content-Type: application/json" in head
    answer = json.loads(body)
    assert (answer["code"], answer["error"]) == (400, "MALFORMED_REQUEST")
    assert answer["message"].startswith("malformed request: ")
    no_traceback(caplog)


async def test_the_event_stream_refuses_bad_credentials_with_a_status(
    gateway_url: str, http: aiohttp.ClientSession, admin: Credentials
) -> None:
    for headers in ({}, {"Authorization": "Bearer nope"}):
        async with http.get(f"{gateway_url}/api/v1/events", headers=headers) as response:
            assert (response.status, response.content_type) == (401, "application/json")
            assert (await response.json())["code"] == 401
    headers = {"Authorization": f"Bearer {admin.token}"}
    async with http.get(f"{gateway_url}/api/v1/events", headers=headers) as stream:
        assert (stream.status, stream.content_type) == (200, "application/x-ndjson")
        async with http.post(f"{gateway_url}/api/v1/events", json={"args": {"type": "X"}}, headers=headers):
            pass
        line = json.loads(await asyncio.wait_for(stream.content.readline(), 10))
    assert line["result"]["event"]["args"] == {"type": "X"}


@pytest.mark.parametrize(
    ("request_bytes", "message"),
    [
        (b"GET /hook/x HTTP/1.1\r\nHost: x\r\nX-A: \xff\xfe\r\n", "a header is not valid UTF-8"),
        (b"POST /execute HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer \xff\r\n", "credentials must be ASCII"),
        (b"GET /api/v1/actions HTTP/1.1\r\nHost: x\r\nX-Token: \xff\r\n", "credentials must be ASCII"),
    ],
    ids=["hook-header", "authorization", "x-token"],
)
async def test_headers_that_are_not_utf8_are_a_400(
    gateway_url: str, caplog: pytest.LogCaptureFixture, request_bytes: bytes, message: str
) -> None:
    request_bytes += b"Content-Length: 0\r\nConnection: close\r\n\r\n"
    _, _, body = (await raw_request(gateway_url, request_bytes)).partition(b"\r\n\r\n")
    assert json.loads(body) == {"code": 400, "error": "INVALID_ARGUMENT", "message": message}
    no_traceback(caplog)


async def test_client_mistakes_are_not_logged_as_errors(
    gateway_url: str, http: aiohttp.ClientSession, admin: Credentials, caplog: pytest.LogCaptureFixture
) -> None:
    headers = {"Authorization": f"Bearer {admin.token}"}
    request = {"type": "request", "action": "event.trigger", "args": {"type": ""}}
    async with http.post(f"{gateway_url}/execute", json=request, headers=headers) as response:
        assert (response.status, (await response.json())["response"]["output"]) == (200, {"success": False})
    # A client that leaves before its answer.
    sleep = json.dumps({"type": "request", "action": "utils.sleep", "args": {"seconds": 0.3}}).encode()
    host, port = gateway_url.removeprefix("http://").rsplit(":", 1)
    _, writer = await asyncio.open_connection(host, int(port))
    writer.write(
        b"POST /execute HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\n"
        + f"Authorization: Bearer {admin.token}\r\nContent-Length: {len(sleep)}\r\n\r\n".encode()
        + sleep
    )
    await writer.drain()
    writer.transport.abort()
    async with http.get(f"{gateway_url}/healthz") as response:
        assert response.status == 200
    await asyncio.sleep(0.5)  # the abandoned call's time to finish, or to log
    no_traceback(caplog)


async def test_an_output_too_deep_for_any_message_is_an_action_error(
    hub_stub: hub_pb2_grpc.HubServiceStub, admin: Credentials, caplog: pytest.LogCaptureFixture
) -> None:
    request = hub_pb2.ExecuteRequest(action="utils.echo")
    request.args.update(nested(MAX_DEPTH + 1))  # gRPC parses it; no answer could carry it back
    answer = await hub_stub.Execute(request, metadata=admin.metadata)
    assert list(answer.response.errors) == [f"utils.echo: the output cannot be sent: {TOO_DEEP}"]
    no_traceback(caplog)
