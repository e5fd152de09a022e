"""The server process: health, reflection, a non-Python client, shutdown and the CLI."""

from __future__ import annotations

import asyncio
import json
import subprocess
import sys
from collections.abc import Awaitable, Callable
from pathlib import Path

import grpc
import pytest
from google.rpc import error_details_pb2, status_pb2
from grpc_health.v1 import health_pb2, health_pb2_grpc
from grpc_reflection.v1alpha import reflection_pb2, reflection_pb2_grpc
from monotreme.server import Server
from monotreme.v1 import auth_pb2, auth_pb2_grpc, hub_pb2, hub_pb2_grpc

from tests.conftest import Credentials, SpawnedServer, eventually, register_admin, require

SPAWN = Callable[..., Awaitable[SpawnedServer]]


async def test_health_reports_serving(channel: grpc.aio.Channel) -> None:
    health = health_pb2_grpc.HealthStub(channel)
    for service in ("", "monotreme.v1.HubService", "monotreme.v1.AuthService"):
        response = await health.Check(health_pb2.HealthCheckRequest(service=service))
        assert response.status == health_pb2.HealthCheckResponse.SERVING


async def test_reflection_lists_the_services(channel: grpc.aio.Channel) -> None:
    reflection = reflection_pb2_grpc.ServerReflectionStub(channel)
    request = reflection_pb2.ServerReflectionRequest(list_services="")
    responses = [r async for r in reflection.ServerReflectionInfo(iter([request]))]
    names = {s.name for s in responses[0].list_services_response.service}
    assert {"monotreme.v1.HubService", "monotreme.v1.AuthService", "grpc.health.v1.Health"} <= names


async def test_errors_carry_their_reason_in_status_details(hub_stub: hub_pb2_grpc.HubServiceStub) -> None:
    with pytest.raises(grpc.aio.AioRpcError) as caught:
        await hub_stub.Execute(hub_pb2.ExecuteRequest(action="utils.echo"))
    assert caught.value.code() == grpc.StatusCode.FAILED_PRECONDITION
    trailer = dict(caught.value.trailing_metadata() or ())["grpc-status-details-bin"]
    status = status_pb2.Status.FromString(trailer)
    info = error_details_pb2.ErrorInfo()
    assert status.details[0].Unpack(info)
    assert (info.reason, info.domain) == ("REGISTRATION_REQUIRED", "monotreme")
    assert status.message == caught.value.details()


async def test_unknown_rpc_is_unimplemented(channel: grpc.aio.Channel) -> None:
    call = channel.unary_unary("/monotreme.v1.HubService/Nope")
    with pytest.raises(grpc.aio.AioRpcError) as caught:
        await call(b"")
    assert caught.value.code() == grpc.StatusCode.UNIMPLEMENTED


async def _buf_curl(
    target: str, token: str, method: str, body: dict[str, object]
) -> asyncio.subprocess.Process:
    return await asyncio.create_subprocess_exec(
        require("buf"), "curl", "--protocol", "grpc", "--http2-prior-knowledge",
        "-H", f"authorization: Bearer {token}", "-d", json.dumps(body),
        f"http://{target}/monotreme.v1.HubService/{method}",
        stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.PIPE,
    )  # fmt: skip


async def test_buf_curl_speaks_to_the_hub_through_reflection(server: Server, admin: Credentials) -> None:
    """A stock client in another language (Go), with no proto files: reflection only."""
    execute = await _buf_curl(
        server.grpc_target, admin.token, "Execute", {"action": "utils.echo", "args": {"a": 1}}
    )
    stdout, stderr = await execute.communicate()
    assert execute.returncode == 0, stderr.decode()
    response = json.loads(stdout)
    assert (response["type"], response["response"]) == ("response", {"output": {"a": 1}})

    stream = await _buf_curl(server.grpc_target, admin.token, "StreamEvents", {"types": ["CustomEvent"]})
    await eventually(lambda: server.hub.bus.subscriber_count == 1)
    event = {
        "args": {
            "type": "platypush.message.event.custom.CustomEvent",
            "subtype": "foo",
            "args": {"bar": "baz"},
        }
    }
    publish = await _buf_curl(server.grpc_target, admin.token, "PublishEvent", {"event": event})
    stdout, stderr = await publish.communicate()
    assert publish.returncode == 0, stderr.decode()
    published = json.loads(stdout)["event"]
    assert stream.stdout is not None
    received = json.loads(await stream.stdout.readuntil(b"\n}\n"))
    stream.terminate()
    await stream.wait()
    assert received["event"] == published
    assert published["args"] == event["args"]


async def test_sigterm_finishes_in_flight_calls_and_exits_0(tmp_path: Path, spawn_server: SPAWN) -> None:
    spawned = await spawn_server(tmp_path / "data")
    async with grpc.aio.insecure_channel(spawned.grpc_target) as channel:
        hub = hub_pb2_grpc.HubServiceStub(channel)
        metadata = (await register_admin(channel)).metadata
        stream = hub.StreamEvents(hub_pb2.StreamEventsRequest(), metadata=metadata)
        await stream.wait_for_connection()
        request = hub_pb2.ExecuteRequest(action="utils.sleep")
        request.args.update({"seconds": 1})
        sleeping = asyncio.ensure_future(hub.Execute(request, metadata=metadata))
        await asyncio.sleep(0.3)  # let the call reach the server
        assert await spawned.stop() == 0
        response = await sleeping
        assert list(response.response.errors) == []
        assert [r async for r in stream] == []
        assert await stream.code() == grpc.StatusCode.OK


def _cli(*args: str, stdin: str = "") -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "monotreme", *args], input=stdin, capture_output=True, text=True, timeout=60
    )


async def test_cli_adds_a_user_and_creates_a_working_token(tmp_path: Path, spawn_server: SPAWN) -> None:
    data = str(tmp_path / "data")
    added = _cli("user", "add", "alice", "--data-dir", data, "--password-stdin", stdin="s3cret-password\n")
    assert added.returncode == 0, added.stderr
    assert added.stdout.strip() == "added user alice (admin)"
    created = _cli(
        "token", "create", "--user", "alice", "--name", "phone", "--expires", "30d", "--data-dir", data
    )
    assert created.returncode == 0, created.stderr
    token = created.stdout.strip()
    duplicate = _cli("token", "create", "--user", "alice", "--name", "phone", "--data-dir", data)
    assert duplicate.returncode != 0 and "phone" in duplicate.stderr
    assert "Traceback" not in duplicate.stderr
    spawned = await spawn_server(Path(data))
    async with grpc.aio.insecure_channel(spawned.grpc_target) as channel:
        me = await auth_pb2_grpc.AuthServiceStub(channel).GetCurrentUser(
            auth_pb2.GetCurrentUserRequest(), metadata=(("authorization", f"Bearer {token}"),)
        )
    assert (me.user.username, me.user.is_admin) == ("alice", True)


@pytest.mark.parametrize(
    ("yaml_text", "expected"),
    [
        ("server:\n  grpc_port: fast\n", "server.grpc_port: expected int, got str 'fast'"),
        ("server:\n  colour: blue\n", "server.colour: unknown setting"),
        ("server: [1, 2\n", "(file): not valid YAML"),
    ],
)
def test_cli_reports_config_mistakes_with_file_and_key(tmp_path: Path, yaml_text: str, expected: str) -> None:
    config = tmp_path / "hub.yaml"
    config.write_text(yaml_text)
    result = _cli("serve", "--config", str(config), "--data-dir", str(tmp_path / "data"))
    assert result.returncode != 0
    assert f"{config}: {expected}" in result.stderr
    assert "Traceback" not in result.stderr
