"""Scale-out (issue 16): several `monotreme serve` processes on one store
(PostgreSQL, or SQLite in a data dir they share, as `--workers` does) share
users, tokens, revocations, variables and the log-in throttle; a process
killed with -9 loses nothing it acknowledged; a PostgreSQL store that goes
away makes calls UNAVAILABLE and the hub not ready, until it comes back by
itself."""

from __future__ import annotations

import asyncio
import sys
from collections.abc import Awaitable, Callable, Iterator
from pathlib import Path
from typing import Any

import aiohttp
import grpc
import pytest
from grpc_health.v1 import health_pb2, health_pb2_grpc
from monotreme.v1 import auth_pb2, auth_pb2_grpc, hub_pb2, hub_pb2_grpc

from tests import services
from tests.conftest import ADMIN_PASSWORD, ADMIN_USER, SpawnedServer, eventually, register_admin, require
from tests.test_auth import refused

Spawn = Callable[..., Awaitable[SpawnedServer]]


async def _spawn_many(
    spawn: Spawn, count: int, data_dir: Path, store_url: str | None, *args: str
) -> list[SpawnedServer]:
    # One data dir for all: they share its JWT signing key, and its SQLite file
    # when the store is not PostgreSQL.
    store = ("--store", store_url) if store_url else ()
    return [await spawn(data_dir, *store, *args) for _ in range(count)]


def _bearer(token: str) -> tuple[tuple[str, str], ...]:
    return (("authorization", f"Bearer {token}"),)


async def _execute(target: str, token: str, action: str, **args: Any) -> Any:
    async with grpc.aio.insecure_channel(target) as channel:
        request = hub_pb2.ExecuteRequest(action=action)
        request.args.update(args)
        answer = await hub_pb2_grpc.HubServiceStub(channel).Execute(request, metadata=_bearer(token))
        assert list(answer.response.errors) == []
        return answer.response.output


async def test_three_processes_share_users_tokens_and_variables(
    tmp_path: Path, store_url: str | None, spawn_server: Spawn
) -> None:
    a, b, c = await _spawn_many(spawn_server, 3, tmp_path / "data", store_url)
    async with grpc.aio.insecure_channel(a.grpc_target) as channel:
        admin = await register_admin(channel)
    # A token made on B (with a JWT A signed) works on A and C.
    async with grpc.aio.insecure_channel(b.grpc_target) as channel:
        created = await auth_pb2_grpc.AuthServiceStub(channel).CreateToken(
            auth_pb2.CreateTokenRequest(name="phone"), metadata=admin.metadata
        )
    for server in (a, c):
        async with grpc.aio.insecure_channel(server.grpc_target) as channel:
            me = await auth_pb2_grpc.AuthServiceStub(channel).GetCurrentUser(
                auth_pb2.GetCurrentUserRequest(), metadata=_bearer(created.token)
            )
            assert (me.user.username, me.user.is_admin) == (ADMIN_USER, True)
    # A variable set on A is read on C; unset on C, it is gone on B.
    await _execute(a.grpc_target, created.token, "variable.set", at_home=True, temperature=21.5)
    read = await _execute(c.grpc_target, created.token, "variable.get", name="temperature")
    assert dict(read.struct_value) == {"temperature": 21.5}
    await _execute(c.grpc_target, created.token, "variable.unset", name="at_home")
    listed = await _execute(b.grpc_target, created.token, "variable.list")
    assert dict(listed.struct_value) == {"temperature": 21.5}
    # A JWT used on A and B (each keeps it as live), and the API token.
    for server in (a, b):
        await _execute(server.grpc_target, admin.token, "variable.list")
    # Both revoked on C: refused on every process, A and B included, which
    # used them, within a second (each asks the store whether another process
    # wrote every 0.25 s: SQLite's data_version, PostgreSQL's revision).
    async with grpc.aio.insecure_channel(c.grpc_target) as channel:
        auth = auth_pb2_grpc.AuthServiceStub(channel)
        await auth.RevokeToken(auth_pb2.RevokeTokenRequest(id=created.info.id), metadata=admin.metadata)
        await auth.RevokeToken(auth_pb2.RevokeTokenRequest(token=admin.token), metadata=admin.metadata)
    await asyncio.sleep(1.0)
    for server in (a, b, c):
        for token, details in (
            (created.token, "invalid or revoked token"),
            (admin.token, "the token has been revoked"),
        ):
            async with grpc.aio.insecure_channel(server.grpc_target) as channel:
                error = await refused(
                    hub_pb2_grpc.HubServiceStub(channel).Execute(
                        hub_pb2.ExecuteRequest(action="variable.list"), metadata=_bearer(token)
                    )
                )
            assert (error.code(), error.details()) == (grpc.StatusCode.UNAUTHENTICATED, details)


async def test_of_concurrent_first_sign_ups_on_three_processes_exactly_one_is_admin(
    tmp_path: Path, store_url: str | None, spawn_server: Spawn
) -> None:
    servers = await _spawn_many(spawn_server, 3, tmp_path / "data", store_url)
    async with aiohttp.ClientSession() as http:

        async def sign_up(server: SpawnedServer, name: str) -> tuple[int, Any]:
            form = {"username": name, "password": ADMIN_PASSWORD}
            async with http.post(f"{server.http_url}/auth?type=register", json=form) as r:
                return r.status, await r.json()

        names = [f"user{i}" for i in range(12)]
        answers = await asyncio.gather(*(sign_up(servers[i % 3], name) for i, name in enumerate(names)))
    won = [name for name, (status, _) in zip(names, answers, strict=True) if status == 200]
    assert len(won) == 1, answers
    assert (
        sorted((status, body["error"]) for status, body in answers if status != 200)
        == [(401, "REGISTRATION_DISABLED")] * 11
    )
    async with grpc.aio.insecure_channel(servers[2].grpc_target) as channel:
        auth = auth_pb2_grpc.AuthServiceStub(channel)
        login = await auth.Login(auth_pb2.LoginRequest(username=won[0], password=ADMIN_PASSWORD))
        users = await auth.ListUsers(auth_pb2.ListUsersRequest(), metadata=_bearer(login.token))
    assert [(u.username, u.is_admin) for u in users.users] == [(won[0], True)]


async def test_the_log_in_throttle_is_shared(
    tmp_path: Path, store_url: str | None, spawn_server: Spawn
) -> None:
    config = tmp_path / "monotreme.yaml"
    config.write_text("auth:\n  max_failed_logins: 3\n")
    a, b = await _spawn_many(spawn_server, 2, tmp_path / "data", store_url, "--config", str(config))
    async with grpc.aio.insecure_channel(a.grpc_target) as channel:
        await register_admin(channel)
        auth = auth_pb2_grpc.AuthServiceStub(channel)
        for _ in range(3):
            error = await refused(auth.Login(auth_pb2.LoginRequest(username=ADMIN_USER, password="a guess")))
            assert error.code() == grpc.StatusCode.UNAUTHENTICATED
    # B counts A's failures: locked there too, even with the right password.
    async with grpc.aio.insecure_channel(b.grpc_target) as channel:
        auth = auth_pb2_grpc.AuthServiceStub(channel)
        error = await refused(auth.Login(auth_pb2.LoginRequest(username=ADMIN_USER, password=ADMIN_PASSWORD)))
    assert error.code() == grpc.StatusCode.RESOURCE_EXHAUSTED
    assert (error.details() or "").startswith("too many failed log-ins: try again in")


async def test_a_process_killed_mid_load_loses_nothing_it_acknowledged(
    tmp_path: Path, store_url: str | None, spawn_server: Spawn
) -> None:
    a, b = await _spawn_many(spawn_server, 2, tmp_path / "data", store_url)
    async with grpc.aio.insecure_channel(a.grpc_target) as channel:
        admin = await register_admin(channel)
    acknowledged: dict[str, list[int]] = {"a": [], "b": []}

    async def write_load(server: SpawnedServer, name: str) -> None:
        async with grpc.aio.insecure_channel(server.grpc_target) as channel:
            hub = hub_pb2_grpc.HubServiceStub(channel)
            for n in range(100_000):
                request = hub_pb2.ExecuteRequest(action="variable.set")
                request.args.update({f"{name}{n}": n})
                try:
                    answer = await hub.Execute(request, metadata=admin.metadata)
                except grpc.aio.AioRpcError:
                    return  # the process is gone: this write was not acknowledged
                assert list(answer.response.errors) == []
                acknowledged[name].append(n)

    loads = [asyncio.create_task(write_load(a, "a")), asyncio.create_task(write_load(b, "b"))]
    await eventually(lambda: len(acknowledged["a"]) >= 100)
    await a.kill()
    await loads[0]
    count_at_kill = len(acknowledged["b"])
    await eventually(lambda: len(acknowledged["b"]) >= count_at_kill + 20)  # B goes on
    loads[1].cancel()
    listed = await _execute(b.grpc_target, admin.token, "variable.list")
    stored = dict(listed.struct_value)
    for name, numbers in acknowledged.items():
        assert [n for n in numbers if stored.get(f"{name}{n}") != n] == [], name


async def eventually_serving(target: str, status: int) -> None:
    async with grpc.aio.insecure_channel(target) as channel:
        health = health_pb2_grpc.HealthStub(channel)
        for _ in range(100):
            if (await health.Check(health_pb2.HealthCheckRequest())).status == status:
                return
            await asyncio.sleep(0.1)
    pytest.fail(f"the gRPC health status did not become {status} within 10 s")


@pytest.fixture
def own_postgres() -> Iterator[services.Postgres]:
    """A PostgreSQL server of this test's own, to stop and start."""
    require(str(services.POSTGRES_BIN / "initdb"))
    with services.postgres() as server:
        yield server


async def test_a_store_that_goes_away_makes_calls_unavailable_until_it_is_back(
    tmp_path: Path, own_postgres: services.Postgres, spawn_server: Spawn, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("MONOTREME_API_TOKEN", "a static token")  # authenticates without the store
    server = await spawn_server(tmp_path / "data", "--store", own_postgres.database())
    async with grpc.aio.insecure_channel(server.grpc_target) as channel:
        admin = await register_admin(channel)
    await _execute(server.grpc_target, admin.token, "variable.set", kept=1)
    headers = {"Authorization": f"Bearer {admin.token}"}
    get = {"type": "request", "action": "variable.get", "args": {"name": "kept"}}
    async with aiohttp.ClientSession() as http:

        async def healthz() -> int:
            async with http.get(f"{server.http_url}/healthz") as r:
                return r.status

        own_postgres.stop()
        # Refused whether the credentials (a JWT) or the action need the store.
        for authorization in (headers["Authorization"], "Bearer a static token"):
            async with http.post(
                f"{server.http_url}/execute", json=get, headers={"Authorization": authorization}
            ) as r:
                status, body = r.status, await r.json()
            assert (status, body["error"], body["code"]) == (503, "STORE_UNAVAILABLE", 503)
            where = f"the store (PostgreSQL at 127.0.0.1:{own_postgres.port}/test_"
            assert body["message"].startswith(where), body
        async with grpc.aio.insecure_channel(server.grpc_target) as channel:
            error = await refused(
                hub_pb2_grpc.HubServiceStub(channel).Execute(
                    hub_pb2.ExecuteRequest(action="variable.list"), metadata=admin.metadata
                )
            )
        assert error.code() == grpc.StatusCode.UNAVAILABLE
        async with http.get(f"{server.http_url}/healthz") as r:
            assert (r.status, await r.json()) == (503, {"status": "unavailable"})
        # The gRPC health service (a remote gateway's /healthz asks it) follows within the watch's 2 s.
        await eventually_serving(server.grpc_target, health_pb2.HealthCheckResponse.NOT_SERVING)

        own_postgres.start()

        for _ in range(150):  # the hub's watch tries again every 5 s at most
            if await healthz() == 200:
                break
            await asyncio.sleep(0.2)
        else:
            pytest.fail("the hub was not ready again within 30 s")
        await eventually_serving(server.grpc_target, health_pb2.HealthCheckResponse.SERVING)
        async with http.post(f"{server.http_url}/execute", json=get, headers=headers) as r:
            assert (r.status, (await r.json())["response"]["output"]) == (200, {"kept": 1})


async def test_a_store_that_cannot_be_reached_or_named_stops_serve_with_a_line(tmp_path: Path) -> None:
    port = services.free_port()  # nothing listens there
    for store, error in (
        (
            f"postgresql://postgres:a-secret@127.0.0.1:{port}/hub",
            f"the store (PostgreSQL at 127.0.0.1:{port}/hub) is unreachable: connection failed:",
        ),
        ("mysql://127.0.0.1/hub", "store.url: expected a postgresql://... URL, not 'mysql'"),
    ):
        process = await asyncio.create_subprocess_exec(
            sys.executable,
            *("-m", "monotreme", "serve", "--data-dir", str(tmp_path), "--store", store),
            stdout=asyncio.subprocess.DEVNULL,
            stderr=asyncio.subprocess.PIPE,
        )
        _, err = await asyncio.wait_for(process.communicate(), 60)
        lines = err.decode().splitlines()
        assert (process.returncode, len(lines)) == (1, 1), lines
        assert lines[0].startswith(f"monotreme: error: {error}"), lines
        assert "a-secret" not in lines[0]
