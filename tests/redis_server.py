"""Debian's redis-server on a free loopback port, for the Redis bus's tests.

`redis` is one server for the session, emptied before each test; `own_redis`
is a test's own, which it may stop and start again (same port, same data).
Both skip without redis-server, and fail with MONOTREME_REQUIRE_SERVICES=1.
"""

from __future__ import annotations

import socket
import subprocess
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
import redis as redis_client

from tests.conftest import require


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port: int = s.getsockname()[1]
        return port


class RedisServer:
    def __init__(self, directory: Path) -> None:
        self.binary = require("redis-server")
        self.directory = directory
        self.port = free_port()
        self.process: subprocess.Popen[bytes] | None = None

    @property
    def url(self) -> str:
        return f"redis://127.0.0.1:{self.port}/0"

    def client(self) -> redis_client.Redis:
        return redis_client.Redis(host="127.0.0.1", port=self.port)

    def start(self) -> None:
        # An append-only file and no snapshots: what was acknowledged survives a restart.
        self.process = subprocess.Popen(
            [self.binary, "--port", str(self.port), "--bind", "127.0.0.1", "--save", "",
             "--appendonly", "yes", "--dir", str(self.directory)],
            stdout=subprocess.DEVNULL,
        )  # fmt: skip
        with self.client() as client:
            for _ in range(500):
                try:
                    client.ping()
                    return
                except redis_client.ConnectionError:
                    time.sleep(0.02)
        raise RuntimeError(f"redis-server did not start on port {self.port}")

    def stop(self) -> None:
        """SIGTERM by PID: Redis writes its append-only file and exits."""
        if self.process is not None:
            self.process.terminate()
            self.process.wait(30)
            self.process = None

    def flush(self) -> None:
        with self.client() as client:
            client.flushall()


@pytest.fixture(scope="session")
def redis_session(tmp_path_factory: pytest.TempPathFactory) -> Iterator[RedisServer]:
    server = RedisServer(tmp_path_factory.mktemp("redis"))
    server.start()
    yield server
    server.stop()


@pytest.fixture
def redis(redis_session: RedisServer) -> RedisServer:
    redis_session.flush()
    return redis_session


@pytest.fixture
def own_redis(tmp_path: Path) -> Iterator[RedisServer]:
    directory = tmp_path / "redis"
    directory.mkdir()
    server = RedisServer(directory)
    server.start()
    yield server
    server.stop()
