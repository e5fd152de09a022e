"""The typed Python client (`monotreme_client`) against a real hub."""

from __future__ import annotations

import asyncio
import json
import os
import sys
import time
from collections.abc import AsyncIterator, Awaitable, Callable
from pathlib import Path
from subprocess import PIPE
from typing import Any

import grpc
import pytest
from monotreme.server import Server
from monotreme_client import (
    ActionFailed,
    AlreadyExists,
    DeadlineExceeded,
    Event,
    FailedPrecondition,
    Hub,
    InvalidArgument,
    ManagerApi,
    MonotremeError,
    NotFound,
    PermissionDenied,
    Unauthenticated,
    Unavailable,
)
from monotreme_client.events import CUSTOM_EVENT

from tests.conftest import ADMIN_PASSWORD, ADMIN_USER, Credentials, SpawnedServer, register_admin
from tests.test_operations import delta, scrape

CONFIG = """
procedure.at_home(who):
  - action: utils.echo
    args:
      greeting: "welcome home, ${who}"
  - return: ${greeting}

procedure.broken:
  - action: nothing.here
"""


# Apis stream with StreamEvents (max_delay_ms unset), or with StreamEventBatches.
RPCS = ("StreamEvents", "StreamEventBatches")
STREAMS = pytest.mark.parametrize("max_delay_ms", [None, 20], ids=RPCS)


def client(server: Server | SpawnedServer, token: str | None, **options: Any) -> ManagerApi:
    return ManagerApi(server.http_url, token=token, grpc_target=server.grpc_target, **options)


@pytest.fixture
async def hub_server(make_server: Callable[..., Awaitable[Server]]) -> Server:
    return await make_server(CONFIG)


@pytest.fixture
async def owner(hub_server: Server) -> Credentials:
    async with grpc.aio.insecure_channel(hub_server.grpc_target) as channel:
        return await register_admin(channel)


@pytest.fixture
async def hub(hub_server: Server, owner: Credentials) -> AsyncIterator[ManagerApi]:
    async with client(hub_server, owner.token, app_id="kitchen") as api:
        yield api


async def test_the_ten_lines(hub_server: Server, owner: Credentials) -> None:
    """The issue's promise: publish, receive through get_api, run a procedure, get an owner token."""
    received: list[Event] = []
    async with client(hub_server, owner.token, app_id="kitchen") as hub:
        arrivals = hub.get_api_app("kitchen")
        arrivals.on("arrived", received.append)
        await arrivals.subscribed()
        assert (arrivals.app_id, arrivals.is_subscribed) == ("kitchen", True)
        await hub.realtime("arrived", {"who": "alice"})
        greeting = await hub.run("procedure.at_home", who="alice")
        token = await hub.get_owner_api_token()
        for _ in range(200):
            if received:
                break
            await asyncio.sleep(0.01)
    assert greeting == "welcome home, alice"
    assert [(e.name, e.data, e.origin) for e in received] == [("arrived", {"who": "alice"}, "kitchen")]
    assert received[0].type == "platypush.message.event.custom.CustomEvent"
    async with client(hub_server, token) as as_owner:
        assert await as_owner.execute("utils.echo", n=1) == {"n": 1}


async def test_apis_receive_only_their_source_and_iterate_in_order(
    hub: ManagerApi, hub_server: Server, owner: Credentials
) -> None:
    kitchen, everything = hub.get_api_app("kitchen"), hub.get_api("*")
    hallway = hub.get_api("hallway")
    await asyncio.gather(kitchen.subscribed(), everything.subscribed(), hallway.subscribed())
    async with client(hub_server, owner.token, app_id="hallway") as other:
        await other.realtime("door", {"open": True})
    for n in range(3):
        await hub.realtime("tick", n)

    async def first(api: Any, count: int) -> list[tuple[str, Any, str]]:
        out = []
        async for event in api:
            out.append((event.name, event.data, event.origin))
            if len(out) == count:
                return out
        return out

    assert await asyncio.wait_for(first(kitchen, 3), 10) == [("tick", n, "kitchen") for n in range(3)]
    assert await asyncio.wait_for(first(hallway, 1), 10) == [("door", {"open": True}, "hallway")]
    assert [e[0] for e in await asyncio.wait_for(first(everything, 4), 10)] == [
        "door",
        "tick",
        "tick",
        "tick",
    ]


async def test_the_hubs_own_events_come_from_its_device_id(hub: ManagerApi, hub_server: Server) -> None:
    api = hub.get_api(hub_server.config.server.device_id)
    arrivals: list[Any] = []
    api.on("arrived", lambda event: arrivals.append(event.data))
    await api.subscribed()
    await hub.realtime("arrived", {"who": "not the hub"})  # from "kitchen": not this source
    await hub.execute("event.trigger", subtype="arrived", args={"who": "owner"})
    event = await asyncio.wait_for(anext(api.__aiter__()), 10)
    assert (event.name, event.data, event.origin) == (
        "arrived",
        {"who": "owner"},
        hub_server.config.server.device_id,
    )
    assert arrivals == [{"who": "owner"}]


async def test_typed_filters_and_failing_handlers_do_not_stop_the_stream(hub: ManagerApi) -> None:
    api = hub.get_api("*", types=["CustomEvent"], args={"args": {"level": {"$gt": 5}}})
    seen: list[Any] = []

    def broken(event: Event) -> None:
        raise RuntimeError("a handler bug")

    async def slow(event: Event) -> None:
        await asyncio.sleep(0.01)
        seen.append(event.data["level"])

    api.on("reading", broken).on("reading", slow)
    await api.subscribed()
    for level in (3, 7, 9):
        await hub.realtime("reading", {"level": level})
    await hub.publish("platypush.message.event.variable.VariableEvent", data={"level": 10})
    for _ in range(300):
        if len(seen) == 2:
            break
        await asyncio.sleep(0.01)
    assert seen == [7, 9]
    api.off("reading", slow)
    await hub.realtime("reading", {"level": 8})
    received = api.__aiter__()  # everything since the Api was made, in order
    levels = [(await asyncio.wait_for(anext(received), 10)).data["level"] for _ in range(3)]
    await asyncio.sleep(0.05)
    assert (levels, seen) == ([7, 9, 8], [7, 9])  # 8 came, and the removed handler did not run
    hub.unregister_api(api)
    await api.wait_closed()
    assert [e async for e in api] == []  # drained, and closed: the iteration ends


@STREAMS
async def test_every_event_arrives_once_in_order_with_either_stream(
    hub_server: Server, owner: Credentials, max_delay_ms: int | None
) -> None:
    count = 100
    handled: list[Event] = []
    async with client(hub_server, owner.token, app_id="kitchen", max_delay_ms=max_delay_ms) as hub:
        _, before = await scrape(hub_server.http_url, owner.token)
        api = hub.get_api_app("kitchen").on("tick", handled.append)
        await api.subscribed()
        _, during = await scrape(hub_server.http_url, owner.token)
        # Published back to back, so that batches fill with several events.
        published = [(await hub.publish(CUSTOM_EVENT, subtype="tick", args=n)).id for n in range(count)]
        received = api.__aiter__()
        iterated = [await asyncio.wait_for(anext(received), 10) for _ in range(count)]
    opened = {rpc: delta(before, during, "monotreme_streams_open", rpc=rpc, door="grpc") for rpc in RPCS}
    assert opened == {"StreamEvents": max_delay_ms is None, "StreamEventBatches": max_delay_ms is not None}
    for events in (iterated, handled):
        assert [(e.id, e.data, e.missed) for e in events] == [(id, n, 0) for n, id in enumerate(published)]


@pytest.mark.parametrize("max_delay_ms", [5000, -1])
async def test_a_max_delay_ms_the_hub_refuses_ends_each_api_with_its_reason(
    hub_server: Server, owner: Credentials, max_delay_ms: int
) -> None:
    async with client(hub_server, owner.token, max_delay_ms=max_delay_ms) as hub:
        api = hub.get_api("*")
        with pytest.raises(InvalidArgument) as refused:
            await api.subscribed()
        with pytest.raises(InvalidArgument):
            async for _ in api:
                pass
    # -1 goes as a uint32's 4294967295, which the hub refuses the same way.
    assert (refused.value.reason, refused.value.message) == (
        "INVALID_ARGUMENT",
        "max_delay_ms: at most 1000 (0 to send at once)",
    )
    assert api.reconnects == 0 and not api.is_subscribed


async def test_rest_calls_under_api(hub: ManagerApi, owner: Credentials) -> None:
    me = await hub.get("/v1/me")
    assert me["user"]["username"] == ADMIN_USER
    created = await hub.post("v1/tokens", {"name": "phone", "expiry_days": 30})
    assert created["info"]["name"] == "phone"
    assert await hub.delete(f"/v1/tokens/{created['info']['id']}") == {"status": "ok"}
    assert "phone" not in [t["name"] for t in (await hub.get("/v1/tokens"))["tokens"]]
    with pytest.raises(MonotremeError) as refused:
        await hub.put("/v1/tokens", {"name": "x"})
    assert refused.value.reason == "METHOD_NOT_ALLOWED"
    with pytest.raises(NotFound) as missing:
        await hub.get("/v1/nothing")
    assert missing.value.reason == "NOT_FOUND"
    assert await hub.get_local_url() == hub.url


async def test_actions_and_tokens(hub: ManagerApi) -> None:
    actions = {a.name: a for a in await hub.actions("utils")}
    assert set(actions) >= {"utils.echo", "utils.sleep"}
    assert [(p.name, p.type, p.required) for p in actions["utils.sleep"].parameters] == [
        ("seconds", "number", True)
    ]
    assert {a.name for a in await hub.actions()} >= {"procedure.at_home", "utils.echo"}
    secret, token = await hub.create_token("script", expiry_days=1)
    assert secret and token.name == "script" and token.expires_at > token.created_at
    assert "script" in [t.name for t in await hub.tokens()]
    with pytest.raises(AlreadyExists) as duplicate:
        await hub.create_token("script")
    assert duplicate.value.reason == "TOKEN_NAME_EXISTS"
    await hub.revoke_token(token.id)
    assert "script" not in [t.name for t in await hub.tokens()]


async def test_scoped_tokens_and_the_audit_trail(hub: ManagerApi, hub_server: Server) -> None:
    secret, token = await hub.create_token("phone", scopes=["execute:procedure.at_home"])
    assert token.scopes == ["execute:procedure.at_home"]
    async with client(hub_server, secret) as phone:
        with pytest.raises(PermissionDenied) as refused:
            await phone.execute("utils.echo")
        assert (refused.value.reason, refused.value.message) == (
            "MISSING_SCOPE",
            "running utils.echo: the token lacks the scope 'execute:utils.echo'",
        )
    records = await hub.audit_records(limit=2)
    assert [(r.kind, r.username) for r in records] == [("denied", ADMIN_USER), ("token_created", ADMIN_USER)]
    assert [r.id for r in await hub.audit_records(limit=1, before=records[0].id)] == [records[1].id]


async def test_each_typed_error(hub: ManagerApi, hub_server: Server, owner: Credentials) -> None:
    with pytest.raises(NotFound) as unknown:
        await hub.execute("nothing.here")
    assert unknown.value.reason == "UNKNOWN_ACTION" and "nothing.here" in unknown.value.message
    with pytest.raises(InvalidArgument):
        await hub.execute("utils.sleep", seconds="soon")
    with pytest.raises(ActionFailed) as failed:
        await hub.run("procedure.broken")
    assert "nothing.here" in failed.value.errors[0]
    async with client(hub_server, owner.token, timeout=0.3) as impatient:
        with pytest.raises(DeadlineExceeded):
            await impatient.execute("utils.sleep", seconds=5)
    async with client(hub_server, "not-a-token") as stranger:
        with pytest.raises(Unauthenticated):
            await stranger.execute("utils.echo")
        with pytest.raises(Unauthenticated):
            await stranger.get("/v1/me")
        api = stranger.get_api("*")
        with pytest.raises(Unauthenticated):
            await api.subscribed()
        with pytest.raises(Unauthenticated):
            async for _ in api:
                pass
    await hub.post("/v1/users", {"username": "guest", "password": ADMIN_PASSWORD})
    login = await hub.post("/v1/login", {"username": "guest", "password": ADMIN_PASSWORD})
    async with client(hub_server, login["token"]) as guest:
        with pytest.raises(PermissionDenied) as denied:
            await guest.get_owner_api_token()
    assert denied.value.reason == "ADMIN_REQUIRED"
    api = hub.get_api("*", args={"level": {"$bogus": 1}})
    with pytest.raises(InvalidArgument):
        await api.subscribed()
    async with ManagerApi("http://127.0.0.1:9", grpc_target="127.0.0.1:9", timeout=2) as nowhere:
        with pytest.raises(Unavailable):
            await nowhere.execute("utils.echo")
        with pytest.raises(Unavailable):
            await nowhere.get("/v1/me")


async def test_before_the_first_user(make_server: Callable[..., Awaitable[Server]]) -> None:
    server = await make_server()
    async with client(server, "anything") as hub:
        with pytest.raises(FailedPrecondition) as grpc_door:
            await hub.execute("utils.echo")
        with pytest.raises(FailedPrecondition) as http_door:
            await hub.get("/v1/me")
    assert grpc_door.value.reason == http_door.value.reason == "REGISTRATION_REQUIRED"


@STREAMS
@pytest.mark.parametrize("how", ["restart", "kill -9"])
async def test_streams_resume_after_the_server_comes_back(
    tmp_path: Path, spawn_server: Callable[..., Awaitable[SpawnedServer]], how: str, max_delay_ms: int | None
) -> None:
    first = await spawn_server(tmp_path / "data")
    async with grpc.aio.insecure_channel(first.grpc_target) as channel:
        owner = await register_admin(channel)
    ports = ("--grpc-port", str(first.ports["gRPC"]), "--http-port", str(first.ports["HTTP"]))
    async with client(first, owner.token, app_id="kitchen", max_delay_ms=max_delay_ms) as hub:
        api = hub.get_api_app("kitchen")
        received = api.__aiter__()
        await api.subscribed()
        await hub.realtime("before")
        assert (await asyncio.wait_for(anext(received), 10)).name == "before"
        if how == "restart":
            assert await first.stop() == 0
        else:
            await first.kill()  # the connection drops with no goodbye
        await asyncio.sleep(3)  # down long enough for several failed attempts
        assert not api.is_subscribed
        second = await spawn_server(tmp_path / "data", *ports)
        for _ in range(500):
            if api.reconnects and api.is_subscribed:
                break
            await asyncio.sleep(0.02)
        await api.subscribed()
        await hub.realtime("after")
        after = await asyncio.wait_for(anext(received), 10)
        # It resumed after "before": what the old run published since went
        # with its history, which the hub says (it cannot know how much).
        assert (after.name, after.missed) == ("after", 1)
        assert api.reconnects >= 1
        await second.stop()


async def test_the_sync_facade(hub_server: Server, owner: Credentials) -> None:
    def script() -> dict[str, Any]:
        with Hub(hub_server.http_url, token=owner.token, grpc_target=hub_server.grpc_target) as hub:
            hub.realtime("arrived", {"who": "bob"})
            try:
                hub.execute("nothing.here")
            except NotFound as e:
                error = e.reason
            created = hub.post("/v1/tokens", {"name": "sync"})
            listed = [t.name for t in hub.tokens()]
            deleted = hub.delete(f"/v1/tokens/{created['info']['id']}")
            try:
                hub.put("/v1/tokens", {})
            except MonotremeError as e:
                put = e.reason
            arrivals: list[Any] = []
            api = hub.get_api("*", types=["CustomEvent"]).on("arrived", arrivals.append)
            deadline = time.monotonic() + 10
            while not api.is_subscribed and time.monotonic() < deadline:
                time.sleep(0.02)
            published = hub.publish(CUSTOM_EVENT, subtype="arrived", args={"who": "carol"})
            while not arrivals and time.monotonic() < deadline:
                time.sleep(0.02)
            hub.unregister_api(api)
            secret, token = hub.create_token("sync-made", expiry_days=1)
            hub.revoke_token(token.id)
            return {
                "published": bool(published.id),
                "received": [event.data for event in arrivals],
                "made": secret.startswith("mt_") and "sync-made" not in [t.name for t in hub.tokens()],
                "greeting": hub.run("procedure.at_home", who="bob"),
                "username": hub.get("/v1/me")["user"]["username"],
                "actions": [a.name for a in hub.actions("utils")],
                "error": error,
                "owner token": bool(hub.get_owner_api_token()),
                "listed": "sync" in listed,
                "deleted": deleted,
                "put": put,
                "url": hub.get_local_url(),
            }

    assert await asyncio.to_thread(script) == {
        "published": True,
        "received": [{"who": "carol"}],
        "made": True,
        "greeting": "welcome home, bob",
        "username": ADMIN_USER,
        "actions": ["utils.echo", "utils.sleep"],
        "error": "UNKNOWN_ACTION",
        "owner token": True,
        "listed": True,
        "deleted": {"status": "ok"},
        "put": "METHOD_NOT_ALLOWED",
        "url": hub_server.http_url,
    }


def test_the_sync_facade_offers_everything_managerapi_does() -> None:
    public = {name for name in dir(ManagerApi) if not name.startswith("_")}
    assert public - set(dir(Hub)) == set()


async def cli(server: Server, token: str | None, *argv: str) -> tuple[int, str, str]:
    """`monotreme-client` in a subprocess: (exit code, stdout, stderr)."""
    env = {**os.environ, "MONOTREME_URL": server.http_url, "MONOTREME_GRPC": server.grpc_target}
    env.pop("MONOTREME_TOKEN", None)
    if token:
        env["MONOTREME_TOKEN"] = token
    process = await asyncio.create_subprocess_exec(
        sys.executable, "-m", "monotreme_client", *argv, env=env, stdout=PIPE, stderr=PIPE
    )
    out, err = await asyncio.wait_for(process.communicate(), 60)
    assert process.returncode is not None
    return process.returncode, out.decode(), err.decode()


async def test_the_command_line_client(hub_server: Server, owner: Credentials) -> None:
    token = owner.token
    assert await cli(hub_server, token, "run", "procedure.at_home", "who=carol") == (
        0,
        "welcome home, carol\n",
        "",
    )
    code, out, _ = await cli(
        hub_server, token, "--json", "run", "utils.echo", "n=3", "on=true", "name=x y", "l=[1]"
    )
    assert (code, json.loads(out)) == (0, {"n": 3, "on": True, "name": "x y", "l": [1]})
    code, out, _ = await cli(hub_server, token, "actions", "utils")
    assert code == 0 and "utils.sleep(seconds: number)" in out.splitlines()[1]
    code, out, _ = await cli(hub_server, token, "--json", "tokens", "create", "cron", "--expiry-days", "2")
    created = json.loads(out)
    assert code == 0 and created["info"]["name"] == "cron" and created["token"]
    code, out, _ = await cli(hub_server, token, "--json", "tokens", "list")
    assert "cron" in [t["name"] for t in json.loads(out)] and "token" not in out
    code, out, _ = await cli(hub_server, token, "tokens", "list")
    assert any(line.split()[1] == "cron" for line in out.splitlines())
    revoked = await cli(hub_server, token, "tokens", "revoke", str(created["info"]["id"]))
    assert revoked == (0, f"revoked token {created['info']['id']}\n", "")
    code, out, _ = await cli(hub_server, created["token"], "run", "utils.echo")
    assert code == 1
    assert await cli(hub_server, token, "run", "nothing.here") == (
        1,
        "",
        "monotreme-client: UNKNOWN_ACTION: unknown action 'nothing.here': no plugin 'nothing' is enabled\n",
    )
    code, _, err = await cli(hub_server, token, "run", "utils.echo", "novalue")
    assert code == 1 and "expected key=value" in err


async def test_the_command_line_client_tails_events(
    hub: ManagerApi, hub_server: Server, owner: Credentials
) -> None:
    tail = asyncio.ensure_future(
        cli(
            hub_server,
            owner.token,
            "--json",
            "events",
            "--type",
            "CustomEvent",
            "--count",
            "2",
            "subtype=arrived",
        )
    )
    watcher = hub.get_api("*")
    await watcher.subscribed()
    # Publish until the tail is subscribed and has seen two arrivals.
    n = 0
    while not tail.done():
        await hub.realtime("left", {"n": n})
        await hub.realtime("arrived", {"n": n})
        n += 1
        await asyncio.sleep(0.05)
    code, out, err = await tail
    lines = [json.loads(line) for line in out.splitlines()]
    assert code == 0, err
    assert [line["args"]["subtype"] for line in lines] == ["arrived", "arrived"]
    assert lines[1]["args"]["args"]["n"] == lines[0]["args"]["args"]["n"] + 1
    assert lines[0]["origin"] == "kitchen" and lines[0]["type"].endswith("CustomEvent")
    code, out, err = await cli(hub_server, owner.token, "--app-id", "phone", "publish", "arrived", "who=dave")
    assert (code, out, err) == (0, "", "")
    async for event in watcher:
        if event.origin == "phone":
            assert (event.name, event.data) == ("arrived", {"who": "dave"})
            break


async def test_closing_ends_handlers_still_running(hub_server: Server, owner: Credentials) -> None:
    started = asyncio.Event()

    async def forever(event: Event) -> None:
        started.set()
        await asyncio.sleep(3600)

    async with client(hub_server, owner.token, app_id="kitchen") as hub:
        api = hub.get_api_app("kitchen").on("arrived", forever)
        await api.subscribed()
        await hub.realtime("arrived")
        await asyncio.wait_for(started.wait(), 10)
    # Leaving the block closed the Api without waiting an hour.
    assert not api.is_subscribed


async def test_a_revoked_token_ends_its_streams_with_the_reason(hub: ManagerApi, hub_server: Server) -> None:
    secret, token = await hub.create_token("tablet")
    async with client(hub_server, secret) as tablet:
        api = tablet.get_api("*")
        await api.subscribed()
        await hub.revoke_token(token.id)
        with pytest.raises(Unauthenticated) as revoked:
            async for _ in api:
                pass
    assert revoked.value.reason == "TOKEN_REVOKED"
    assert api.reconnects == 0 and not api.is_subscribed
