"""`monotreme serve --workers N`: N processes on the same ports, supervised,
sharing a Redis bus."""

from __future__ import annotations

import asyncio
import os
import re
import sys
from collections.abc import Awaitable, Callable
from pathlib import Path

import aiohttp
import grpc
import pytest

from tests.conftest import SpawnedServer, eventually, register_admin
from tests.services import Redis

Spawn = Callable[..., Awaitable[SpawnedServer]]


def worker_pids(server: SpawnedServer) -> list[int]:
    """The pids of the workers that have served, from the supervisor's log, in order."""
    pids: list[int] = []
    for line in server.log:
        if match := re.search(r"ready: \d+ workers \(pids ([\d, ]+)\)", line):
            pids = [int(p) for p in match[1].split(", ")]
        elif match := re.search(r"worker \d+ \(pid (\d+)\) exited", line):
            pids.remove(int(match[1]))
    return pids


def alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    return True


async def start_workers(spawn_server: Spawn, tmp_path: Path, redis: Redis, count: int) -> SpawnedServer:
    server = await spawn_server(tmp_path / "data", "--workers", str(count), "--bus", redis.url)
    await eventually(lambda: len(worker_pids(server)) == count, within=30)
    return server


async def echo(http: aiohttp.ClientSession, url: str, token: str, n: int) -> int:
    body = {"type": "request", "action": "utils.echo", "args": {"n": n}}
    # A new connection each time, so the kernel may pick either worker.
    headers = {"Authorization": f"Bearer {token}", "Connection": "close"}
    async with http.post(f"{url}/execute", json=body, headers=headers) as response:
        assert response.status == 200
        return int((await response.json())["response"]["output"]["n"])


async def test_workers_share_the_ports_and_a_dead_one_is_replaced(
    spawn_server: Spawn, tmp_path: Path, redis: Redis
) -> None:
    server = await start_workers(spawn_server, tmp_path, redis, 2)
    first, second = worker_pids(server)
    assert first != second and all(alive(p) for p in (first, second))
    async with aiohttp.ClientSession() as http:
        async with grpc.aio.insecure_channel(server.grpc_target) as channel:
            token = (await register_admin(channel)).token
        assert [await echo(http, server.http_url, token, n) for n in range(20)] == list(range(20))
        os.kill(first, 9)
        await eventually(
            lambda: any(f"(pid {first}) exited with -9; restarting" in line for line in server.log)
        )
        # The survivor serves meanwhile; the replacement joins it.
        assert [await echo(http, server.http_url, token, n) for n in range(5)] == list(range(5))
        await eventually(lambda: sum(": ready\n" in line for line in server.log) == 3, within=30)
        assert [await echo(http, server.http_url, token, n) for n in range(20)] == list(range(20))
    assert await server.stop() == 0
    assert not alive(second)


async def test_sigterm_stops_every_worker_and_sigkill_leaves_none_behind(
    spawn_server: Spawn, tmp_path: Path, redis: Redis
) -> None:
    server = await start_workers(spawn_server, tmp_path, redis, 2)
    pids = worker_pids(server)
    await server.kill()  # the supervisor, by SIGKILL: its workers follow it
    for pid in pids:
        await eventually(lambda pid=pid: not alive(pid), within=15)  # type: ignore[misc]


async def test_a_worker_that_cannot_start_stops_them_all(tmp_path: Path, redis: Redis) -> None:
    config = tmp_path / "config.yaml"
    config.write_text("no_such_plugin:\n  enabled: true\n")
    process = await asyncio.create_subprocess_exec(
        sys.executable, "-m", "monotreme", "serve", "--data-dir", str(tmp_path / "data"),
        "--config", str(config), "--strict", "--host", "127.0.0.1",
        "--grpc-port", "0", "--http-port", "0", "--workers", "2", "--bus", redis.url,
        stderr=asyncio.subprocess.PIPE,
    )  # fmt: skip
    _, err = await asyncio.wait_for(process.communicate(), 60)
    assert process.returncode == 1
    assert re.search(
        r"worker \d \(pid \d+\) exited with 1 before serving; stopped every worker", err.decode()
    )


@pytest.mark.parametrize("count", ["0", "-1"])
async def test_workers_must_be_at_least_one(tmp_path: Path, count: str) -> None:
    process = await asyncio.create_subprocess_exec(
        sys.executable, "-m", "monotreme", "serve", "--data-dir", str(tmp_path), "--workers", count,
        stderr=asyncio.subprocess.PIPE,
    )  # fmt: skip
    _, err = await process.communicate()
    assert (process.returncode, err.decode()) == (1, "monotreme: error: --workers: at least 1\n")


async def test_workers_need_a_shared_bus(tmp_path: Path) -> None:
    process = await asyncio.create_subprocess_exec(
        sys.executable, "-m", "monotreme", "serve", "--data-dir", str(tmp_path), "--workers", "2",
        stderr=asyncio.subprocess.PIPE,
    )  # fmt: skip
    _, err = await process.communicate()
    assert (process.returncode, err.decode()) == (
        1,
        "monotreme: error: --workers: the workers need a bus they share: --bus redis://HOST:PORT/DB\n",
    )
