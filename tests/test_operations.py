"""Operations: `GET /metrics` after a known mix of calls, JSON log lines with
the call's context, the access log and per-logger levels, and reloading the
config (SIGHUP to `monotreme serve`, and the action `application.reload`)
with streams kept open, a broken config keeping the running one."""

from __future__ import annotations

import asyncio
import json
import signal
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Any

import aiohttp
import grpc
import pytest
from monotreme.server import Server
from monotreme.v1 import auth_pb2, auth_pb2_grpc, hub_pb2, hub_pb2_grpc
from prometheus_client.parser import text_string_to_metric_families

from tests.conftest import Credentials, SpawnedServer, eventually, register_admin
from tests.test_event_stream import CUSTOM, custom_event, publish, subscribe
from tests.test_execute import execute, request

MakeServer = Callable[..., Awaitable[Server]]
Spawn = Callable[..., Awaitable[SpawnedServer]]
Samples = dict[tuple[str, frozenset[tuple[str, str]]], float]

CONFIG = """
event.hook.works:
  if:
    type: CustomEvent
    subtype: hooked
  then:
    - action: utils.echo
event.hook.fails:
  if:
    type: CustomEvent
    subtype: hooked
  then:
    - action: nosuch.thing
cron.nightly:
  cron_expression: '0 3 * * *'
  actions:
    - action: utils.echo
"""


async def scrape(url: str, token: str | None) -> tuple[int, Samples]:
    headers = {"Authorization": f"Bearer {token}"} if token else {}
    async with aiohttp.ClientSession() as http, http.get(f"{url}/metrics", headers=headers) as response:
        text = await response.text()
    if response.status != 200:
        return response.status, {}
    assert response.headers["Content-Type"].startswith("text/plain; version=")
    return 200, {
        (sample.name, frozenset(sample.labels.items())): sample.value
        for family in text_string_to_metric_families(text)
        for sample in family.samples
    }


def delta(before: Samples, after: Samples, name: str, **labels: str) -> float:
    key = (name, frozenset(labels.items()))
    return after.get(key, 0.0) - before.get(key, 0.0)


async def http_execute(url: str, token: str, action: str, **headers: str) -> int:
    body = {"type": "request", "action": action, "args": {}}
    async with (
        aiohttp.ClientSession() as http,
        http.post(f"{url}/execute", json=body, headers={"Authorization": f"Bearer {token}", **headers}) as r,
    ):
        await r.read()
        return r.status


async def test_metrics_count_a_known_mix_of_calls(make_server: MakeServer) -> None:
    server = await make_server(CONFIG)
    async with grpc.aio.insecure_channel(server.grpc_target) as channel:
        admin = await register_admin(channel)
        hub = hub_pb2_grpc.HubServiceStub(channel)
        auth = auth_pb2_grpc.AuthServiceStub(channel)
        _, before = await scrape(server.http_url, admin.token)
        for _ in range(3):
            await execute(hub, admin, "utils.echo")
        with pytest.raises(grpc.aio.AioRpcError):
            await hub.Execute(request("nosuch.thing"), metadata=admin.metadata)
        assert await http_execute(server.http_url, admin.token, "utils.echo") == 200
        assert await http_execute(server.http_url, admin.token, "utils.echo") == 200
        assert await http_execute(server.http_url, "not-a-token", "utils.echo") == 401
        for _ in range(2):
            with pytest.raises(grpc.aio.AioRpcError):
                await auth.Login(auth_pb2.LoginRequest(username=admin.username, password="wrong"))
        assert (await execute(hub, admin, "cron.nightly"))["errors"] == []
        async with aiohttp.ClientSession() as http, http.post(f"{server.http_url}/hook/anything") as r:
            assert r.status == 200
        stream = await subscribe(hub, admin)
        await publish(hub, admin, custom_event("hooked"))

        def hooks_ran(samples: Samples) -> bool:
            runs = [("event.hook.works", "ok"), ("event.hook.fails", "failed")]
            return all(
                delta(before, samples, "monotreme_hook_runs_total", hook=h, outcome=o) == 1 for h, o in runs
            )

        scrapes = 0
        while True:  # the hooks run after PublishEvent answers
            _, after = await scrape(server.http_url, admin.token)
            scrapes += 1
            if hooks_ran(after) or scrapes == 200:
                break
            await asyncio.sleep(0.05)
        stream.cancel()

    calls = "monotreme_rpc_calls_total"
    assert delta(before, after, calls, rpc="Execute", door="grpc", outcome="OK") == 4  # cron.nightly too
    assert delta(before, after, calls, rpc="Execute", door="grpc", outcome="NOT_FOUND") == 1
    assert delta(before, after, calls, rpc="Execute", door="http", outcome="OK") == 2
    assert delta(before, after, calls, rpc="Execute", door="http", outcome="UNAUTHENTICATED") == 1
    assert delta(before, after, calls, rpc="Login", door="grpc", outcome="UNAUTHENTICATED") == 2
    assert delta(before, after, calls, rpc="PublishEvent", door="grpc", outcome="OK") == 1
    assert delta(before, after, calls, rpc="CallWebhook", door="http", outcome="OK") == 1
    # Each scrape checks its credentials (counted before it reads the counts).
    assert delta(before, after, calls, rpc="GetCurrentUser", door="http", outcome="OK") == scrapes
    latency = "monotreme_rpc_duration_seconds_count"
    assert delta(before, after, latency, rpc="Execute", door="grpc") == 5
    assert delta(before, after, latency, rpc="Execute", door="http") == 3
    buckets = "monotreme_rpc_duration_seconds_bucket"
    assert delta(before, after, buckets, rpc="Execute", door="grpc", le="+Inf") == 5
    assert 0 <= delta(before, after, buckets, rpc="Execute", door="grpc", le="0.005") <= 5
    assert delta(before, after, "monotreme_streams_open", rpc="StreamEvents", door="grpc") == 1
    # The web hook's event and the published one; the stream took the latter.
    assert delta(before, after, "monotreme_events_published_total") == 2
    assert delta(before, after, "monotreme_events_delivered_total") == 1
    assert delta(before, after, "monotreme_events_missed_total") == 0
    assert delta(before, after, "monotreme_schedule_runs_total", job="nightly", outcome="ok") == 1
    assert delta(before, after, "monotreme_webhook_calls_total", status="200") == 1
    assert delta(before, after, "monotreme_login_failures_total") == 2
    assert after[("monotreme_http_connections_open", frozenset())] >= 1
    assert after[("process_resident_memory_bytes", frozenset())] > 10_000_000


async def test_metrics_take_credentials_unless_public(
    make_server: MakeServer, server: Server, gateway_url: str
) -> None:
    async with grpc.aio.insecure_channel(server.grpc_target) as channel:
        admin = await register_admin(channel)
    # The hub's own HTTP door, and a gateway alone in front of it (its own process's metrics).
    assert (await scrape(gateway_url, None))[0] == 401
    assert (await scrape(gateway_url, "not-a-token"))[0] == 401
    status, samples = await scrape(gateway_url, admin.token)
    assert status == 200
    assert samples[("monotreme_http_connections_open", frozenset())] >= 1
    public = await make_server("metrics:\n  public: true\n")
    status, samples = await scrape(public.http_url, None)
    assert status == 200
    assert ("process_resident_memory_bytes", frozenset()) in samples


def records(server: SpawnedServer) -> list[dict[str, Any]]:
    return [json.loads(line) for line in server.log if line.startswith("{")]


async def test_json_log_lines_carry_the_calls_context(tmp_path: Path, spawn_server: Spawn) -> None:
    server = await spawn_server(tmp_path / "data", "--log-format", "json", "--access-log")
    async with grpc.aio.insecure_channel(server.grpc_target) as channel:
        admin = await register_admin(channel)
        hub = hub_pb2_grpc.HubServiceStub(channel)
        await hub.Execute(
            request("logger.warning", msg="from gRPC"),
            metadata=(*admin.metadata, ("x-request-id", "grpc-42")),
        )
    async with (
        aiohttp.ClientSession() as http,
        http.post(
            f"{server.http_url}/execute",
            json={"type": "request", "action": "logger.warning", "args": {"msg": "from HTTP"}},
            headers={"Authorization": f"Bearer {admin.token}", "X-Request-Id": "http-7"},
        ) as response,
    ):
        assert response.status == 200
    assert await server.stop() == 0
    assert server.drain is not None
    await server.drain
    lines = records(server)

    def line(**fields: str) -> dict[str, Any]:
        found = [r for r in lines if all(r.get(k) == v for k, v in fields.items())]
        assert len(found) == 1, (fields, lines)
        return found[0]

    logged = line(message="from gRPC")
    assert logged["logger"] == "monotreme.plugins.logger"
    assert logged["peer"].startswith("ipv4:127.0.0.1:")
    assert {k: logged[k] for k in ("rpc", "door", "user", "request_id")} == {
        "rpc": "Execute", "door": "grpc", "user": "admin", "request_id": "grpc-42",
    }  # fmt: skip
    logged = line(message="from HTTP")
    assert {k: logged[k] for k in ("rpc", "door", "user", "request_id", "peer")} == {
        "rpc": "Execute", "door": "http", "user": "admin", "request_id": "http-7", "peer": "127.0.0.1",
    }  # fmt: skip
    access = line(logger="monotreme.access", request_id="grpc-42")
    assert access["outcome"] == "OK"
    assert access["message"].startswith("gRPC /monotreme.v1.HubService/Execute from ipv4:127.0.0.1:")
    assert access["message"].split(" as ")[1].startswith("admin: OK in ")
    access = line(logger="monotreme.access", request_id="http-7")
    assert access["message"].startswith("HTTP POST /execute from 127.0.0.1 as admin: 200 in ")
    # The register and log-in calls before, each a line of its own.
    assert [r["rpc"] for r in lines if r["logger"] == "monotreme.access"] == [
        "Register", "Login", "Execute", "Execute",
    ]  # fmt: skip


async def test_the_access_log_is_off_by_default_and_loggers_take_levels(
    tmp_path: Path, spawn_server: Spawn
) -> None:
    config = tmp_path / "config.yaml"
    config.write_text("logging:\n  format: json\n  levels:\n    monotreme.plugins.logger: ERROR\n")
    server = await spawn_server(tmp_path / "data", "--config", str(config))
    async with grpc.aio.insecure_channel(server.grpc_target) as channel:
        admin = await register_admin(channel)
        hub = hub_pb2_grpc.HubServiceStub(channel)
        await hub.Execute(request("logger.warning", msg="below ERROR"), metadata=admin.metadata)
        await hub.Execute(request("logger.error", msg="at ERROR"), metadata=admin.metadata)
    assert await server.stop() == 0
    assert server.drain is not None
    await server.drain
    lines = records(server)
    assert [r["message"] for r in lines if r["logger"] == "monotreme.plugins.logger"] == ["at ERROR"]
    assert [r for r in lines if r["logger"] == "monotreme.access"] == []
    assert "ready" in [r["message"] for r in lines]


def reload_config(extra: str = "") -> str:
    """`procedure.before` and the web hook `answered` handled by `event.hook.h1`,
    or, with `extra`, what replaces them."""
    return (
        extra
        or """
procedure.before:
  - return: before
event.hook.h1:
  if:
    type: WebhookEvent
    hook: answered
  then:
    return:
      by: h1
"""
    )


AFTER = """
procedure.before:
  - return: before
procedure.after:
  - return: after
"""
BROKEN = """
procedure.before:
  - return: before
procedure.broken:
  - nosuch_step: 1
"""


async def webhook(url: str) -> Any:
    async with aiohttp.ClientSession() as http, http.get(f"{url}/hook/answered") as response:
        assert response.status == 200
        return await response.json(content_type=None)


async def check_streams_survive(
    hub: hub_pb2_grpc.HubServiceStub, admin: Credentials, stream: Any, ws: aiohttp.ClientWebSocketResponse
) -> None:
    published = await publish(hub, admin, custom_event("after-reload"))
    received = await asyncio.wait_for(stream.read(), 10)
    assert received.event.id == published.id
    frame = await asyncio.wait_for(ws.receive_json(), 10)
    assert frame["id"] == published.id


async def test_sighup_reloads_with_streams_open(tmp_path: Path, spawn_server: Spawn) -> None:
    config = tmp_path / "config.yaml"
    config.write_text(reload_config())
    server = await spawn_server(tmp_path / "data", "--config", str(config))
    async with (
        grpc.aio.insecure_channel(server.grpc_target) as channel,
        aiohttp.ClientSession() as http,
    ):
        admin = await register_admin(channel)
        hub = hub_pb2_grpc.HubServiceStub(channel)
        assert await webhook(server.http_url) == {"by": "h1"}
        stream = await subscribe(hub, admin, types=[CUSTOM])
        async with http.ws_connect(f"{server.http_url}/ws/events?token={admin.token}&type={CUSTOM}") as ws:
            config.write_text(AFTER)
            server.process.send_signal(signal.SIGHUP)
            await eventually(lambda: any("reloaded" in line for line in server.log))
            assert (await execute(hub, admin, "procedure.after"))["output"] == "after"
            assert (await webhook(server.http_url))["status"] == "ok"  # no hook answers now
            await check_streams_survive(hub, admin, stream, ws)

            config.write_text(BROKEN)
            server.process.send_signal(signal.SIGHUP)
            await eventually(lambda: any("reload failed" in line for line in server.log))
            failure = next(line for line in server.log if "reload failed" in line)
            assert f"the running config stays: {config}: procedure.broken" in failure
            assert (await execute(hub, admin, "procedure.after"))["output"] == "after"
            with pytest.raises(grpc.aio.AioRpcError) as caught:
                await hub.Execute(request("procedure.broken"), metadata=admin.metadata)
            assert caught.value.code() == grpc.StatusCode.NOT_FOUND
        stream.cancel()


async def test_the_reload_action_and_a_broken_config(make_server: MakeServer, tmp_path: Path) -> None:
    server = await make_server(reload_config())
    assert server.config.source is not None
    async with (
        grpc.aio.insecure_channel(server.grpc_target) as channel,
        aiohttp.ClientSession() as http,
    ):
        admin = await register_admin(channel)
        hub = hub_pb2_grpc.HubServiceStub(channel)
        stream = await subscribe(hub, admin, types=[CUSTOM])
        async with http.ws_connect(f"{server.http_url}/ws/events?token={admin.token}&type={CUSTOM}") as ws:
            plugins = dict(server.hub.actions.plugins)
            (tmp_path / "elsewhere").mkdir()
            server.config.source.write_text(AFTER + "file:\n  roots: [elsewhere]\n")
            answer = await execute(hub, admin, "application.reload")
            assert answer["errors"] == []
            assert answer["output"]["procedures"] == ["procedure.after", "procedure.before"]
            assert answer["output"]["hooks"] == []
            assert (await execute(hub, admin, "procedure.after"))["output"] == "after"
            # The plugin whose settings changed is made anew, with them; the others stay.
            assert server.hub.actions.plugins["file"] is not plugins["file"]
            assert server.hub.actions.plugins["utils"] is plugins["utils"]
            await execute(hub, admin, "file.write", file="note.txt", content="moved")
            assert (tmp_path / "elsewhere" / "note.txt").read_text() == "moved"
            assert (await webhook(server.http_url))["status"] == "ok"
            await check_streams_survive(hub, admin, stream, ws)

            server.config.source.write_text(BROKEN)
            answer = await execute(hub, admin, "application.reload")
            assert answer["output"] == {"success": False}
            [error] = answer["errors"]
            kept = "the config was not reloaded, the running one stays"
            assert error.startswith(
                f"{kept}: {server.config.source}: procedure.broken: step 1: unknown construct"
            )
            assert (await execute(hub, admin, "procedure.after"))["output"] == "after"
            with pytest.raises(grpc.aio.AioRpcError) as caught:
                await hub.Execute(request("procedure.broken"), metadata=admin.metadata)
            assert caught.value.code() == grpc.StatusCode.NOT_FOUND
            await check_streams_survive(hub, admin, stream, ws)
        stream.cancel()


async def test_metrics_count_the_events_a_resumed_stream_missed(make_server: MakeServer) -> None:
    server = await make_server("events:\n  history_size: 1\n")
    async with grpc.aio.insecure_channel(server.grpc_target) as channel:
        admin = await register_admin(channel)
        hub = hub_pb2_grpc.HubServiceStub(channel)
        first = await publish(hub, admin, custom_event("one"))
        await publish(hub, admin, custom_event("two"))
        third = await publish(hub, admin, custom_event("three"))
        _, before = await scrape(server.http_url, admin.token)
        stream = hub.StreamEvents(hub_pb2.StreamEventsRequest(after=first.id), metadata=admin.metadata)
        received = await asyncio.wait_for(stream.read(), 10)
        assert (received.event.id, received.missed) == (third.id, 1)  # "two" left the history
        _, after = await scrape(server.http_url, admin.token)
        stream.cancel()
    assert delta(before, after, "monotreme_events_missed_total") == 1
    assert delta(before, after, "monotreme_events_delivered_total") == 0  # replayed, not published
