"""`/hook/<name>`, in-process and behind a remote gateway: the WebhookEvent it
publishes, every answer form a handler can give, failures, and load."""

from __future__ import annotations

import asyncio
import json
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Any

import aiohttp
import grpc
import pytest
from google.protobuf import json_format
from monotreme.server import Server
from monotreme.v1 import hub_pb2, hub_pb2_grpc

from tests.conftest import Credentials, SpawnedServer, register_admin, require
from tests.test_execute import execute

SCRIPTS = Path(__file__).parent / "scripts"
EXAMPLES = Path(__file__).parent.parent / "examples"
WEBHOOK = "platypush.message.event.http.hook.WebhookEvent"
CONFIG = f"""
scripts_dir: {SCRIPTS}
webhooks:
  timeout: 2
event.hook.yaml_only:
  if:
    type: WebhookEvent
    hook: yaml_only
  then:
    - action: procedure.record
      args:
        tag: yaml_only
        value: ${{method}}
event.hook.yaml_answer:
  if:
    type: platypush.events.http.hook.WebhookEvent
    hook: yaml_answer
  then:
    return:
      answered_by: yaml
      x: ${{args['x']}}
"""


@pytest.fixture
async def server(make_server: Callable[..., Awaitable[Server]]) -> Server:
    return await make_server(CONFIG)


async def call(url: str, method: str = "GET", **kwargs: Any) -> tuple[int, dict[str, str], bytes]:
    async with aiohttp.ClientSession() as session, session.request(method, url, **kwargs) as response:
        return response.status, dict(response.headers), await response.read()


async def test_without_a_handler_answers_the_event_as_platypush_does(gateway_url: str) -> None:
    status, headers, body = await call(
        f"{gateway_url}/hook/nobody?room=hall&level=3", headers={"x-custom": "yes"}
    )
    assert status == 200
    assert headers["Content-Type"] == "application/json"
    answer = json.loads(body)
    assert list(answer) == ["status", "hook", "method", "args", "data", "headers"]
    assert answer["status"] == "ok"
    assert (answer["hook"], answer["method"]) == ("nobody", "GET")
    assert answer["args"] == {"room": "hall", "level": "3"}
    assert answer["data"] == ""
    assert answer["headers"]["X-Custom"] == "yes"  # names as Platypush's clients see them


@pytest.mark.parametrize("method", ["GET", "POST", "PUT", "DELETE", "PATCH", "OPTIONS"])
async def test_every_method_platypush_accepts(gateway_url: str, method: str) -> None:
    status, _, body = await call(f"{gateway_url}/hook/dict", method)
    assert status == 200
    assert b'"method":"%s"' % method.encode() in body


async def test_other_methods_are_refused(gateway_url: str) -> None:
    status, _, body = await call(f"{gateway_url}/hook/dict", "TRACE")
    assert status == 405
    assert b'"error":"METHOD_NOT_ALLOWED"' in body


@pytest.mark.parametrize(
    ("kwargs", "data"),
    [
        ({"json": {"lights": ["hall", "porch"]}}, {"lights": ["hall", "porch"]}),
        ({"data": '{"as": "curl -d sends it"}'}, {"as": "curl -d sends it"}),  # a form, by its header
        ({"data": {"lat": "45.1", "lon": "7.6"}}, {"lat": "45.1", "lon": "7.6"}),  # Tasker's form
        ({"data": "plain text", "headers": {"Content-Type": "text/plain"}}, "plain text"),
    ],
)
async def test_the_body_becomes_data(gateway_url: str, kwargs: dict[str, Any], data: Any) -> None:
    status, _, body = await call(f"{gateway_url}/hook/dict?x=1", "POST", **kwargs)
    assert status == 200
    assert json.loads(body) == {"method": "POST", "query": {"x": "1"}, "data": data}


@pytest.mark.parametrize(
    ("hook", "status", "content_type", "body", "header"),
    [
        ("list", 200, "application/json", b"[1,2,3]", None),
        ("text", 200, "text/plain; charset=utf-8", b"plain words", None),
        ("created", 201, "application/json", b'{"created":true}', None),
        ("teapot", 418, "text/plain; charset=utf-8", b"short and stout", ("X-Brewed", "yes")),
        ("sent", 202, "text/plain; charset=utf-8", b"sent early", None),
    ],
)
async def test_what_the_handler_answers_is_the_response(
    gateway_url: str,
    hook: str,
    status: int,
    content_type: str,
    body: bytes,
    header: tuple[str, str] | None,
) -> None:
    got_status, headers, got_body = await call(f"{gateway_url}/hook/{hook}")
    assert (got_status, headers["Content-Type"], got_body) == (status, content_type, body)
    if header:
        assert headers[header[0]] == header[1]


@pytest.mark.parametrize(
    ("hook", "status", "error", "message"),
    [
        (
            "fails",
            500,
            "HOOK_FAILED",
            "hook 'scripts.automation.fail' failed: ValueError: the garage door is jammed",
        ),
        ("bad_status", 500, "INVALID_HOOK_RESPONSE", "a hook answered the invalid HTTP status 1000"),
        ("slow", 504, "HOOK_TIMEOUT", "the hook 'slow' did not answer within 2 s"),
    ],
)
async def test_failures_are_json_without_a_traceback(
    gateway_url: str, hook: str, status: int, error: str, message: str
) -> None:
    got_status, headers, body = await call(f"{gateway_url}/hook/{hook}")
    assert got_status == status
    assert headers["Content-Type"] == "application/json"
    assert json.loads(body) == {"code": status, "error": error, "message": message}


async def test_a_yaml_hook_answers_as_soon_as_it_has_run(
    gateway_url: str, hub_stub: hub_pb2_grpc.HubServiceStub, admin: Credentials
) -> None:
    status, _, body = await call(f"{gateway_url}/hook/yaml_only", "PUT")
    assert status == 200
    assert json.loads(body)["status"] == "ok"
    records = await execute(hub_stub, admin, "procedure.records")
    assert records["output"] == [["yaml_only", "PUT"]]

    status, _, body = await call(f"{gateway_url}/hook/yaml_answer?x=42")
    assert (status, json.loads(body)) == (200, {"answered_by": "yaml", "x": 42})


async def test_the_call_is_a_webhook_event_on_the_bus(
    gateway_url: str, hub_stub: hub_pb2_grpc.HubServiceStub, admin: Credentials
) -> None:
    stream = hub_stub.StreamEvents(
        hub_pb2.StreamEventsRequest(types=["WebhookEvent"]), metadata=admin.metadata
    )
    await stream.wait_for_connection()
    await asyncio.sleep(0.1)  # the subscription is registered once the stream's first read is pending
    reading = asyncio.ensure_future(stream.read())
    await asyncio.sleep(0.1)
    status, _, _ = await call(f"{gateway_url}/hook/nobody?a=1", "POST", json={"b": 2})
    message = await asyncio.wait_for(reading, 5)
    stream.cancel()
    assert status == 200
    args = json_format.MessageToDict(message.event.args)
    assert args["type"] == WEBHOOK
    assert (args["hook"], args["method"], args["args"], args["data"]) == (
        "nobody",
        "POST",
        {"a": "1"},
        {"b": 2},
    )
    assert args["headers"]["Content-Type"] == "application/json"


async def test_a_hundred_callers_at_once(gateway_url: str) -> None:
    answers = await asyncio.gather(*(call(f"{gateway_url}/hook/double?n={n}") for n in range(100)))
    assert [(status, body) for status, _, body in answers] == [
        (200, b'{"doubled":%d}' % (2 * n)) for n in range(100)
    ]


async def test_an_oversized_body_is_refused(gateway_url: str) -> None:
    status, _, body = await call(f"{gateway_url}/hook/dict", "POST", data=b"x" * (2 << 20))
    assert status == 413
    assert b'"error":"PAYLOAD_TOO_LARGE"' in body


async def test_the_seed_example_as_a_new_user_runs_it(
    tmp_path: Path, spawn_server: Callable[..., Awaitable[SpawnedServer]]
) -> None:
    """`monotreme serve --config examples/config.yaml`, then the seed's curl and
    a phone's HTTP request (Tasker: a form POST with the token header)."""
    hub = await spawn_server(tmp_path / "data", "--config", str(EXAMPLES / "config.yaml"))
    curl = require("curl")
    url = f"{hub.http_url}/hook/at_home"

    async def run_curl(*args: str) -> str:
        process = await asyncio.create_subprocess_exec(
            curl, "-s", "-w", " %{http_code}", *args, stdout=asyncio.subprocess.PIPE
        )
        out, _ = await process.communicate()
        return out.decode()

    assert await run_curl(url) == "Unauthorized 401"
    assert await run_curl("-H", "X-Token: wrong", url) == "Unauthorized 401"
    async with grpc.aio.insecure_channel(hub.grpc_target) as channel:
        admin = await register_admin(channel)
        stub = hub_pb2_grpc.HubServiceStub(channel)
        assert (await execute(stub, admin, "variable.get", name="at_home"))["output"] == {"at_home": None}

        assert await run_curl("-H", "X-Token: abcdefabcdef", url) == '{"status":"ok"} 200'
        assert (await execute(stub, admin, "variable.get", name="at_home"))["output"] == {"at_home": True}
        # The YAML hook on the routine's CustomEvent notes the time of arrival, soon after.
        for _ in range(100):
            arrived = (await execute(stub, admin, "variable.get", name="arrived_at"))["output"]
            if arrived["arrived_at"] is not None:
                break
            await asyncio.sleep(0.05)
        assert isinstance(arrived["arrived_at"], float)

        leaving = await execute(stub, admin, "procedure.leaving_home", who="alice")
        assert leaving == {"output": "alice left", "errors": []}
        phone = await run_curl("-XPOST", "-H", "x-token: abcdefabcdef", "-d", "lat=45.07&lon=7.68", url)
        assert phone == '{"status":"ok"} 200'
        assert (await execute(stub, admin, "variable.get", name="at_home"))["output"] == {"at_home": True}
