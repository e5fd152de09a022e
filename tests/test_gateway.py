"""The HTTP/JSON door, in-process and in front of a remote server: the seed's
curl commands, the annotated REST routes, and every error with its status and body."""

from __future__ import annotations

import asyncio
import json
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Any

import aiohttp
import grpc
import pytest
from monotreme.server import Server
from monotreme.v1 import hub_pb2, hub_pb2_grpc
from monotreme_gateway.invoker import RemoteInvoker
from monotreme_gateway.site import create_app, start_site
from monotreme_gateway.transcoder.codec import to_json

from tests.conftest import ADMIN_PASSWORD, Credentials, register_admin, require


async def curl(*args: str) -> tuple[int, Any]:
    """Runs curl as a user would; answers (HTTP status, parsed JSON body)."""
    process = await asyncio.create_subprocess_exec(
        require("curl"), "-s", "-w", "\n%{http_code}", *args, stdout=asyncio.subprocess.PIPE
    )
    stdout, _ = await process.communicate()
    body, _, status = stdout.decode().rpartition("\n")
    return int(status), json.loads(body)


async def test_seed_curl_auth_then_execute(gateway_url: str, server: Server, admin: Credentials) -> None:
    credentials = json.dumps({"username": "admin", "password": ADMIN_PASSWORD})
    status, answer = await curl(
        "-XPOST", "-H", "Content-Type: application/json", "-d", credentials, f"{gateway_url}/auth"
    )
    assert status == 200 and isinstance(answer["token"], str)
    status, response = await curl(
        "-XPOST", "-d", '{"type":"request", "action":"utils.sleep", "args": {"seconds": 0}}',
        "-H", f"Authorization: Bearer {answer['token']}", "-H", "Content-Type: application/json",
        f"{gateway_url}/execute",
    )  # fmt: skip
    assert status == 200
    assert list(response) == ["id", "type", "target", "origin", "_timestamp", "response"]  # the seed's order
    assert list(response["response"]) == ["output", "errors"]
    assert (response["type"], response["origin"]) == ("response", server.config.server.device_id)
    assert response["response"] == {"output": {"success": True}, "errors": []}


async def test_auth_with_wrong_credentials(
    gateway_url: str, http: aiohttp.ClientSession, admin: Credentials
) -> None:
    async with http.post(f"{gateway_url}/auth", json={"username": "admin", "password": "nope"}) as response:
        assert response.status == 401
        assert await response.json() == {
            "code": 401,
            "error": "INVALID_CREDENTIALS",
            "message": "Invalid credentials",
        }


@pytest.mark.parametrize("how", ["bearer", "x-token", "query"])
async def test_execute_accepts_platypush_token_forms(
    gateway_url: str, http: aiohttp.ClientSession, admin: Credentials, how: str
) -> None:
    headers = {"bearer": {"Authorization": f"Bearer {admin.token}"}, "x-token": {"X-Token": admin.token}}
    params = {"token": admin.token} if how == "query" else {}
    body = {"type": "request", "action": "utils.echo", "args": {"n": 1}, "id": "abc", "origin": "phone"}
    async with http.post(
        f"{gateway_url}/execute", json=body, headers=headers.get(how, {}), params=params
    ) as response:
        assert response.status == 200
        answer = await response.json()
    assert (answer["id"], answer["target"], answer["response"]) == (
        "abc",
        "phone",
        {"output": {"n": 1}, "errors": []},
    )


@pytest.mark.parametrize(
    ("body", "status", "error"),
    [
        (
            {"type": "request", "action": "lights.on"},
            404,
            "unknown action 'lights.on': no plugin 'lights' is enabled",
        ),
        (
            {"type": "request", "action": "utils.sleep"},
            400,
            "utils.sleep: missing required argument 'seconds'",
        ),
    ],
)
async def test_refused_actions_keep_the_envelope(
    gateway_url: str,
    http: aiohttp.ClientSession,
    admin: Credentials,
    body: dict[str, Any],
    status: int,
    error: str,
) -> None:
    async with http.post(
        f"{gateway_url}/execute", json={**body, "id": "r1"}, headers={"X-Token": admin.token}
    ) as response:
        assert response.status == status
        answer = await response.json()
    assert (answer["id"], answer["type"], answer["response"]) == (
        "r1",
        "response",
        {"output": None, "errors": [error]},
    )


async def test_execute_honours_its_timeout_as_a_deadline(
    gateway_url: str, http: aiohttp.ClientSession, admin: Credentials
) -> None:
    """HTTP callers get a deadline as gRPC callers set one: the request's
    `timeout` (seconds); past it, 504 in the envelope."""
    request = {
        "type": "request",
        "id": "slow",
        "action": "utils.sleep",
        "args": {"seconds": 5},
        "timeout": 0.2,
    }
    async with http.post(
        f"{gateway_url}/execute", json=request, headers={"X-Token": admin.token}
    ) as response:
        assert response.status == 504
        answer = await response.json()
    assert (answer["id"], answer["response"]) == (
        "slow",
        {"output": None, "errors": ["the caller's deadline passed"]},
    )
    for timeout in ("soon", 0, -1, True):
        bad = {"action": "utils.echo", "timeout": timeout}
        async with http.post(
            f"{gateway_url}/execute", json=bad, headers={"X-Token": admin.token}
        ) as response:
            assert (response.status, await response.json()) == (
                400,
                {
                    "code": 400,
                    "error": "INVALID_ARGUMENT",
                    "message": "timeout: a number of seconds, above 0 and at most 86400",
                },
            )


async def test_execute_reads_json_whatever_its_content_type(
    gateway_url: str, http: aiohttp.ClientSession, admin: Credentials
) -> None:
    """As Platypush: `curl -d '{...}'` without the header sends it as a form."""
    body = '{"type": "request", "action": "utils.echo", "args": {"hi": 1}}'
    headers = {"X-Token": admin.token, "Content-Type": "application/x-www-form-urlencoded"}
    async with http.post(f"{gateway_url}/execute", data=body, headers=headers) as response:
        assert response.status == 200
        assert (await response.json())["response"] == {"output": {"hi": 1}, "errors": []}
    async with http.post(f"{gateway_url}/execute", data="{bad", headers=headers) as response:
        assert response.status == 400
        assert (await response.json())["error"] == "MALFORMED_JSON"


async def test_execute_without_credentials(
    gateway_url: str, http: aiohttp.ClientSession, admin: Credentials
) -> None:
    async with http.post(
        f"{gateway_url}/execute", json={"type": "request", "action": "utils.echo"}
    ) as response:
        assert response.status == 401
        assert await response.json() == {
            "code": 401,
            "error": "MISSING_CREDENTIALS",
            "message": "missing credentials: send 'authorization: Bearer <token>'",
        }


async def test_before_the_first_user_everything_needs_registration(
    gateway_url: str, http: aiohttp.ClientSession
) -> None:
    async with http.post(
        f"{gateway_url}/execute", json={"type": "request", "action": "utils.echo"}
    ) as response:
        assert response.status == 412
        assert (await response.json())["error"] == "REGISTRATION_REQUIRED"
    form = {"username": "alice", "password": "alice-password", "confirm_password": "alice-password"}
    async with http.post(f"{gateway_url}/auth", params={"type": "register"}, data=form) as response:
        assert response.status == 200
        token = (await response.json())["session_token"]
    async with http.post(f"{gateway_url}/auth", params={"type": "register"}, data=form) as response:
        assert response.status == 401  # a user exists now: an admin adds users
        assert (await response.json())["error"] == "REGISTRATION_DISABLED"
    async with http.get(f"{gateway_url}/api/v1/me", headers={"Authorization": f"Bearer {token}"}) as response:
        assert (await response.json())["user"]["username"] == "alice"


@pytest.mark.parametrize(
    ("method", "path", "kwargs", "status", "error"),
    [
        ("POST", "/execute", {"data": b"{not json", "headers": {"Content-Type": "application/json"}}, 400,
         "MALFORMED_JSON"),
        ("POST", "/execute", {"data": b"action=x", "headers": {"Content-Type": "text/plain"}}, 400,
         "MALFORMED_JSON"),
        ("POST", "/api/v1/tokens", {"data": b"name=x", "headers": {"Content-Type": "text/plain"}}, 415,
         "UNSUPPORTED_MEDIA_TYPE"),
        ("POST", "/execute", {"json": {"action": "utils.echo", "args": {"x": "y" * (1 << 20)}}}, 413,
         "PAYLOAD_TOO_LARGE"),
        ("POST", "/execute", {"json": [1, 2]}, 400, "INVALID_ARGUMENT"),
        ("POST", "/execute", {"json": {"action": 5}}, 400, "INVALID_ARGUMENT"),
        ("POST", "/execute", {"json": {"acton": "utils.echo"}}, 400, "INVALID_ARGUMENT"),
        ("GET", "/execute", {}, 405, "METHOD_NOT_ALLOWED"),
        ("GET", "/nowhere", {}, 404, "NOT_FOUND"),
        ("PUT", "/auth", {}, 405, "METHOD_NOT_ALLOWED"),
        ("POST", "/auth?type=magic", {"json": {}}, 400, "INVALID_AUTH_TYPE"),
        ("DELETE", "/api/v1/tokens/abc", {}, 400, "INVALID_ARGUMENT"),
        ("GET", "/api/v1/actions", {"params": {"colour": "red"}}, 400, "INVALID_ARGUMENT"),
    ],
)  # fmt: skip
async def test_bad_requests_get_clear_json_errors(
    gateway_url: str, http: aiohttp.ClientSession, admin: Credentials,
    method: str, path: str, kwargs: dict[str, Any], status: int, error: str,
) -> None:  # fmt: skip
    kwargs = dict(kwargs)  # shared by both invoker modes' runs
    headers = {"Authorization": f"Bearer {admin.token}", **kwargs.pop("headers", {})}
    async with http.request(method, f"{gateway_url}{path}", headers=headers, **kwargs) as response:
        assert response.status == status
        assert response.content_type == "application/json"
        body = await response.json()
    assert (body["code"], body["error"]) == (status, error)
    assert body["message"] and "Traceback" not in body["message"]


async def test_annotated_rest_routes(
    gateway_url: str, http: aiohttp.ClientSession, admin: Credentials
) -> None:
    headers = {"Authorization": f"Bearer {admin.token}"}
    async with http.post(
        f"{gateway_url}/api/v1/tokens", json={"name": "tasker", "expiry_days": 7}, headers=headers
    ) as r:
        assert r.status == 200
        created = await r.json()
    assert created["token"].startswith("mt_") and created["info"]["name"] == "tasker"
    async with http.get(f"{gateway_url}/api/v1/tokens", headers=headers) as r:
        assert [t["name"] for t in (await r.json())["tokens"]] == ["tasker"]
    async with http.post(f"{gateway_url}/api/v1/tokens", json={"name": "tasker"}, headers=headers) as r:
        assert (r.status, (await r.json())["error"]) == (409, "TOKEN_NAME_EXISTS")
    async with http.delete(f"{gateway_url}/api/v1/tokens/{created['info']['id']}", headers=headers) as r:
        assert (r.status, await r.json()) == (200, {"status": "ok"})
    async with http.get(f"{gateway_url}/api/v1/me", headers={"X-Token": created["token"]}) as r:
        assert (r.status, (await r.json())["error"]) == (401, "INVALID_TOKEN")
    login = {"username": "admin", "password": ADMIN_PASSWORD}
    async with http.post(f"{gateway_url}/auth", params={"type": "jwt"}, json=login) as r:
        jwt = (await r.json())["token"]
    async with http.post(f"{gateway_url}/api/v1/tokens:revoke", json={"token": jwt}, headers=headers) as r:
        assert (r.status, await r.json()) == (200, {"status": "ok"})
    async with http.get(f"{gateway_url}/api/v1/me", headers={"Authorization": f"Bearer {jwt}"}) as r:
        assert (r.status, (await r.json())["error"]) == (401, "TOKEN_REVOKED")
    async with http.get(f"{gateway_url}/api/v1/actions", params={"plugin": "utils"}, headers=headers) as r:
        assert [a["name"] for a in (await r.json())["actions"]] == ["utils.echo", "utils.sleep"]
    event = {
        "type": "event",
        "args": {"type": "platypush.message.event.custom.CustomEvent", "subtype": "foo"},
    }
    async with http.post(f"{gateway_url}/api/v1/events", json=event, headers=headers) as r:
        published = (await r.json())["event"]
    assert published["args"] == event["args"] and len(published["id"]) == 32


async def test_admins_list_users(gateway_url: str, http: aiohttp.ClientSession, admin: Credentials) -> None:
    headers = {"Authorization": f"Bearer {admin.token}"}
    bob = {"username": "bob", "password": "bob's password"}
    async with http.post(f"{gateway_url}/api/v1/users", json=bob, headers=headers) as r:
        assert r.status == 200
    async with http.get(f"{gateway_url}/api/v1/users", headers=headers) as r:
        users = (await r.json())["users"]
    assert [(u["user_id"], u["username"], u["is_admin"]) for u in users] == [
        (1, "admin", True),
        (2, "bob", False),
    ]
    assert "password" not in str(users) and all(u["created_at"] > 0 for u in users)
    async with http.post(f"{gateway_url}/auth", params={"type": "jwt"}, json=bob) as r:
        bob_headers = {"Authorization": f"Bearer {(await r.json())['token']}"}
    async with http.get(f"{gateway_url}/api/v1/users", headers=bob_headers) as r:
        assert await r.json() == {
            "code": 403,
            "error": "ADMIN_REQUIRED",
            "message": "only an admin may list users",
        }


async def test_healthz(gateway_url: str, http: aiohttp.ClientSession) -> None:
    async with http.get(f"{gateway_url}/healthz") as response:
        assert (response.status, await response.json()) == (200, {"status": "ok"})


async def test_a_hundred_concurrent_execute_callers(gateway_url: str, admin: Credentials) -> None:
    async def caller(session: aiohttp.ClientSession, n: int) -> Any:
        body = {"type": "request", "action": "utils.echo", "args": {"n": n}}
        async with session.post(
            f"{gateway_url}/execute", json=body, headers={"X-Token": admin.token}
        ) as response:
            return (await response.json())["response"]

    async with aiohttp.ClientSession(connector=aiohttp.TCPConnector(limit=100)) as session:
        answers = await asyncio.gather(*(caller(session, n) for n in range(100)))
    assert answers == [{"output": {"n": n}, "errors": []} for n in range(100)]


SHAPES_SCRIPT = """
import dataclasses, datetime
from monotreme import procedure


@dataclasses.dataclass
class Reading:
    room: str
    value: float


@procedure
def shapes():
    return {
        "float": 2.0, "half": 0.5, "big": 2**60, "tuple": (1, "a"), "set": {3},
        "keys": {1: "one"}, "reading": Reading("hall", 21.0), "bytes": b"hi",
        "when": datetime.date(2026, 11, 23), "none": None, "json text": '{"a": 1}',
    }


@procedure
def as_text():
    return '[1, 2.0]'
"""


@pytest.mark.parametrize("action", ["procedure.shapes", "procedure.as_text", "nothing.here"])
async def test_every_door_answers_execute_alike(
    tmp_path: Path, make_server: Callable[..., Awaitable[Server]], http: aiohttp.ClientSession, action: str
) -> None:
    """The in-process /execute, the remote gateway's and gRPC give the same JSON."""
    (tmp_path / "scripts").mkdir()
    (tmp_path / "scripts" / "shapes.py").write_text(SHAPES_SCRIPT)
    server: Server = await make_server(f"scripts_dir: {tmp_path / 'scripts'}\n")
    async with grpc.aio.insecure_channel(server.grpc_target) as channel:
        admin = await register_admin(channel)
        stub = hub_pb2_grpc.HubServiceStub(channel)
        try:
            grpc_answer = to_json(
                await stub.Execute(hub_pb2.ExecuteRequest(action=action, id="1"), metadata=admin.metadata)
            )
        except grpc.aio.AioRpcError as e:
            grpc_answer = {"code": e.code().name}
    invoker = RemoteInvoker(server.grpc_target, origin=server.config.server.device_id)
    runner, port = await start_site(create_app(invoker, max_body_bytes=1 << 20), "127.0.0.1", 0)
    answers = []
    try:
        for url in (server.http_url, f"http://127.0.0.1:{port}"):
            async with http.post(
                f"{url}/execute", json={"type": "request", "action": action, "id": "1"},
                headers={"Authorization": f"Bearer {admin.token}"},
            ) as response:  # fmt: skip
                answers.append((response.status, await response.json()))
    finally:
        await runner.cleanup()
        await invoker.close()
    for _, answer in answers:
        answer.pop("_timestamp")
    (status, in_process), (_, remote) = answers
    assert in_process == remote
    assert list(in_process) == ["id", "type", "target", "origin", "response"]
    if action == "nothing.here":
        assert (status, grpc_answer, in_process["response"]["output"]) == (404, {"code": "NOT_FOUND"}, None)
        return
    grpc_answer.pop("_timestamp")
    assert (status, in_process) == (200, grpc_answer)
    if action == "procedure.as_text":
        assert in_process["response"] == {"output": [1, 2], "errors": []}
    else:
        assert in_process["response"]["output"] == {
            "float": 2, "half": 0.5, "big": float(2**60), "tuple": [1, "a"], "set": [3],
            "keys": {"1": "one"}, "reading": {"room": "hall", "value": 21}, "bytes": "hi",
            "when": "2026-11-23", "none": None, "json text": '{"a": 1}',
        }  # fmt: skip
