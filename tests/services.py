"""Real services for the tests, Debian's own, each on a free loopback port in
a temporary directory, stopped by PID at the end: PostgreSQL and Redis. A
test skips when one is not installed, or fails when
MONOTREME_REQUIRE_SERVICES=1 (as in CI)."""

from __future__ import annotations

import contextlib
import itertools
import os
import pwd
import shutil
import signal
import socket
import subprocess
import tempfile
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path

import psycopg
import redis as redis_client

POSTGRES_BIN = Path("/usr/lib/postgresql/15/bin")


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def _as_owner(owner: str | None, *command: str) -> list[str]:
    """`command` run as `owner` (PostgreSQL refuses to run as root), or as is."""
    return ["runuser", "-u", owner, "--", *command] if owner else list(command)


@dataclass
class Postgres:
    """A PostgreSQL server of the tests' own; `database()` gives each test a fresh one."""

    directory: Path
    port: int
    owner: str | None
    pid: int = 0
    _names: Iterator[int] = field(default_factory=itertools.count)

    @property
    def data(self) -> Path:
        return self.directory / "data"

    def url(self, database: str = "postgres") -> str:
        return f"postgresql://postgres@127.0.0.1:{self.port}/{database}"

    def start(self) -> None:
        options = f"-p {self.port} -k {self.directory} -c listen_addresses=127.0.0.1 -c fsync=off"
        subprocess.run(
            _as_owner(
                self.owner,
                *(str(POSTGRES_BIN / "pg_ctl"), "-D", str(self.data), "-o", options),
                *("-l", str(self.directory / "log"), "-w", "-t", "60", "start"),
            ),
            check=True,
            stdout=subprocess.DEVNULL,
        )
        self.pid = int((self.data / "postmaster.pid").read_text().split()[0])

    def stop(self) -> None:
        """Fast shutdown (SIGINT to the postmaster, by its PID): sessions end, data stays."""
        if not self.pid:
            return
        os.kill(self.pid, signal.SIGINT)
        deadline = time.monotonic() + 60
        while (self.data / "postmaster.pid").exists() and time.monotonic() < deadline:
            time.sleep(0.05)
        self.pid = 0

    def database(self) -> str:
        """A new, empty database's URL."""
        name = f"test_{os.getpid()}_{next(self._names)}"
        with psycopg.connect(self.url(), autocommit=True) as connection:
            connection.execute(f"CREATE DATABASE {name}".encode())
        return self.url(name)


@contextlib.contextmanager
def postgres() -> Iterator[Postgres]:
    """A PostgreSQL server on a free loopback port, run by the `postgres` user
    when we are root, in a temporary directory removed at the end."""
    owner = "postgres" if os.geteuid() == 0 else None
    directory = Path(tempfile.mkdtemp(prefix="monotreme-postgres-"))
    try:
        if owner:
            account = pwd.getpwnam(owner)
            os.chown(directory, account.pw_uid, account.pw_gid)
        subprocess.run(
            _as_owner(
                owner,
                *(str(POSTGRES_BIN / "initdb"), "-D", str(directory / "data")),
                *("-A", "trust", "-U", "postgres", "--no-sync"),
            ),
            check=True,
            stdout=subprocess.DEVNULL,
        )
        server = Postgres(directory, free_port(), owner)
        server.start()
        try:
            yield server
        finally:
            server.stop()
    finally:
        shutil.rmtree(directory, ignore_errors=True)


class Redis:
    """A redis-server of the tests' own, which a test may stop and start again
    (same port, same data): an append-only file and no snapshots, so what
    Redis acknowledged survives a restart."""

    def __init__(self, binary: str, directory: Path) -> None:
        self.binary = binary
        self.directory = directory
        self.port = free_port()
        self.process: subprocess.Popen[bytes] | None = None

    @property
    def url(self) -> str:
        return f"redis://127.0.0.1:{self.port}/0"

    def client(self) -> redis_client.Redis:
        return redis_client.Redis(host="127.0.0.1", port=self.port)

    def start(self) -> None:
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


@contextlib.contextmanager
def redis(binary: str) -> Iterator[Redis]:
    """A redis-server on a free loopback port, in a temporary directory removed at the end."""
    directory = Path(tempfile.mkdtemp(prefix="monotreme-redis-"))
    server = Redis(binary, directory)
    try:
        server.start()
        yield server
    finally:
        server.stop()
        shutil.rmtree(directory, ignore_errors=True)
