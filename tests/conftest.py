"""Shared fixtures: real servers on ephemeral ports and real clients."""

from __future__ import annotations

import asyncio
import os
import re
import shutil
import signal
import sys
from collections.abc import AsyncIterator, Awaitable, Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path

import aiohttp
import grpc
import pytest
from monotreme.config import Config
from monotreme.server import Server
from monotreme.v1 import auth_pb2, auth_pb2_grpc, hub_pb2_grpc
from monotreme_gateway.invoker import RemoteInvoker
from monotreme_gateway.site import create_app, start_site

from tests import services

ADMIN_USER = "admin"
ADMIN_PASSWORD = "correct horse battery staple"


def require(tool: str) -> str:
    """The path of an external program the test needs; skips without it,
    or fails when MONOTREME_REQUIRE_SERVICES=1 (as in CI)."""
    path = shutil.which(tool)
    if path is None:
        reason = f"{tool} is not installed"
        if os.environ.get("MONOTREME_REQUIRE_SERVICES") == "1":
            pytest.fail(reason)
        pytest.skip(reason)
    return path


@pytest.fixture(scope="session")
def postgres() -> Iterator[services.Postgres]:
    """Debian's PostgreSQL 15, for this session of tests."""
    require(str(services.POSTGRES_BIN / "initdb"))
    with services.postgres() as server:
        yield server


@pytest.fixture(scope="session")
def redis_session() -> Iterator[services.Redis]:
    """Debian's redis-server, for this session of tests."""
    with services.redis(require("redis-server")) as server:
        yield server


@pytest.fixture
def redis(redis_session: services.Redis) -> services.Redis:
    """The session's Redis, emptied for this test."""
    redis_session.flush()
    return redis_session


@pytest.fixture
def own_redis() -> Iterator[services.Redis]:
    """A Redis of this test's own, which it may stop and start again."""
    with services.redis(require("redis-server")) as server:
        yield server


@pytest.fixture(params=["sqlite", "postgresql"])
def store_url(request: pytest.FixtureRequest) -> str | None:
    """Each store engine in turn: None for SQLite in the data dir, else a new PostgreSQL database's URL."""
    if request.param == "sqlite":
        return None
    server: services.Postgres = request.getfixturevalue("postgres")
    return server.database()


def write_config(tmp_path: Path, config_yaml: str) -> Path | None:
    if not config_yaml:
        return None
    path = tmp_path / f"config-{len(list(tmp_path.glob('config-*')))}.yaml"
    path.write_text(config_yaml)
    return path


async def eventually(condition: Callable[[], bool], within: float = 10.0) -> None:
    """Waits until `condition()` holds (state another task or process changes); fails after `within` s."""
    for _ in range(int(within / 0.02)):
        if condition():
            return
        await asyncio.sleep(0.02)
    pytest.fail(f"condition not met within {within} s")


async def start_server(tmp_path: Path, config_yaml: str = "", data_dir: Path | None = None) -> Server:
    config_path = write_config(tmp_path, config_yaml)
    config = Config.load(
        config_path, data_dir=data_dir or tmp_path / "data", host="127.0.0.1", grpc_port=0, http_port=0
    )
    server = Server(config)
    await server.start()
    return server


@pytest.fixture
async def make_server(tmp_path: Path) -> AsyncIterator[Callable[..., Awaitable[Server]]]:
    started: list[Server] = []

    async def make(config_yaml: str = "", data_dir: Path | None = None) -> Server:
        server = await start_server(tmp_path, config_yaml, data_dir)
        started.append(server)
        return server

    yield make
    for server in reversed(started):
        await server.stop()


@pytest.fixture
async def server(make_server: Callable[..., Awaitable[Server]]) -> Server:
    return await make_server()


@pytest.fixture
async def channel(server: Server) -> AsyncIterator[grpc.aio.Channel]:
    async with grpc.aio.insecure_channel(server.grpc_target) as channel:
        yield channel


@pytest.fixture
def hub_stub(channel: grpc.aio.Channel) -> hub_pb2_grpc.HubServiceStub:
    return hub_pb2_grpc.HubServiceStub(channel)


@pytest.fixture
def auth_stub(channel: grpc.aio.Channel) -> auth_pb2_grpc.AuthServiceStub:
    return auth_pb2_grpc.AuthServiceStub(channel)


@pytest.fixture(params=["in-process", "remote"])
async def gateway_url(request: pytest.FixtureRequest, server: Server) -> AsyncIterator[str]:
    """The HTTP door's base URL, both ways it runs: `monotreme serve`'s own
    (in-process invoker) and `monotreme gateway --upstream`'s (remote invoker)."""
    if request.param == "in-process":
        yield server.http_url
        return
    invoker = RemoteInvoker(server.grpc_target, origin=server.config.server.device_id)
    app = create_app(invoker, max_body_bytes=1 << 20)
    runner, port = await start_site(app, "127.0.0.1", 0)
    yield f"http://127.0.0.1:{port}"
    await runner.cleanup()
    await invoker.close()


@pytest.fixture
async def http() -> AsyncIterator[aiohttp.ClientSession]:
    async with aiohttp.ClientSession() as session:
        yield session


@dataclass(frozen=True)
class Credentials:
    username: str
    password: str
    token: str

    @property
    def metadata(self) -> tuple[tuple[str, str], ...]:
        return (("authorization", f"Bearer {self.token}"),)


async def register_admin(channel: grpc.aio.Channel) -> Credentials:
    """Registers the first user (an admin) on a fresh hub and logs in."""
    auth = auth_pb2_grpc.AuthServiceStub(channel)
    await auth.Register(auth_pb2.RegisterRequest(username=ADMIN_USER, password=ADMIN_PASSWORD))
    login = await auth.Login(auth_pb2.LoginRequest(username=ADMIN_USER, password=ADMIN_PASSWORD))
    return Credentials(ADMIN_USER, ADMIN_PASSWORD, login.token)


@pytest.fixture
async def admin(channel: grpc.aio.Channel) -> Credentials:
    return await register_admin(channel)


_LISTENING = re.compile(r"(gRPC|HTTP) listening on \S+:(\d+)")


@dataclass
class SpawnedServer:
    """`monotreme serve` in a subprocess, for restarts and kill -9."""

    process: asyncio.subprocess.Process
    ports: dict[str, int] = field(default_factory=dict)
    log: list[str] = field(default_factory=list)
    drain: asyncio.Task[None] | None = None

    @property
    def grpc_target(self) -> str:
        return f"127.0.0.1:{self.ports['gRPC']}"

    @property
    def http_url(self) -> str:
        return f"http://127.0.0.1:{self.ports['HTTP']}"

    async def stop(self) -> int:
        """SIGTERM, then the exit code."""
        if self.process.returncode is None:
            self.process.send_signal(signal.SIGTERM)
        return await asyncio.wait_for(self.process.wait(), 30)

    async def kill(self) -> None:
        if self.process.returncode is None:
            self.process.kill()
        await self.process.wait()


@pytest.fixture
async def spawn_server() -> AsyncIterator[Callable[..., Awaitable[SpawnedServer]]]:
    spawned: list[SpawnedServer] = []

    async def spawn(data_dir: Path, *args: str, open_files: int | None = None) -> SpawnedServer:
        """`open_files`: the server's soft limit on open files (`ulimit -n`)."""

        # prlimit sets `ulimit -n` rather than a preexec_fn: Python code run
        # between fork and exec, in a process running gRPC's threads, can start
        # gRPC's fork handlers in the child, which then dies of "epoll_wait
        # error: Bad file descriptor" once the fds are closed for exec.
        limit = ("prlimit", f"--nofile={open_files}:", "--") if open_files is not None else ()
        process = await asyncio.create_subprocess_exec(
            *limit,
            sys.executable,
            "-m",
            "monotreme",
            "serve",
            "--data-dir",
            str(data_dir),
            "--host",
            "127.0.0.1",
            "--grpc-port",
            "0",
            "--http-port",
            "0",
            *args,
            stdin=asyncio.subprocess.DEVNULL,
            stdout=asyncio.subprocess.DEVNULL,
            stderr=asyncio.subprocess.PIPE,
        )
        server = SpawnedServer(process)
        spawned.append(server)
        assert process.stderr is not None
        while True:
            line = (await asyncio.wait_for(process.stderr.readline(), 30)).decode()
            if not line:
                raise RuntimeError("server exited before it was ready:\n" + "".join(server.log))
            server.log.append(line)
            if match := _LISTENING.search(line):
                server.ports[match[1]] = int(match[2])
            if line.rstrip().endswith((": ready", '"message": "ready"}')):  # text or JSON lines
                break

        async def drain(stream: asyncio.StreamReader) -> None:
            while line := await stream.readline():
                server.log.append(line.decode())

        server.drain = asyncio.ensure_future(drain(process.stderr))
        return server

    yield spawn
    for server in spawned:
        await server.kill()
