"""The servers under test, each in a process of its own: `monotreme serve` with
a user and an API token, the bare baselines, and a redis-server for the bus."""

from __future__ import annotations

import os
import re
import shutil
import signal
import socket
import subprocess
import sys
import threading
import time
from dataclasses import dataclass, field
from pathlib import Path

import redis

_LISTENING = re.compile(r"(gRPC|HTTP) listening on \S+:(\d+)")


@dataclass
class Server:
    process: subprocess.Popen[str]
    ports: dict[str, int] = field(default_factory=dict)
    # Seconds from the spawn to its "ready" line.
    startup: float = 0.0
    token: str = ""

    def rss_mb(self) -> float:
        """Resident memory, from /proc."""
        for line in Path(f"/proc/{self.process.pid}/status").read_text().splitlines():
            if line.startswith("VmRSS:"):
                return int(line.split()[1]) / 1024
        raise RuntimeError("no VmRSS")

    def cpu_seconds(self) -> float:
        """User and system CPU time so far, from /proc."""
        fields = Path(f"/proc/{self.process.pid}/stat").read_text().rsplit(")", 1)[1].split()
        return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")

    def stop(self) -> None:
        self.process.send_signal(signal.SIGTERM)
        try:
            self.process.wait(15)
        except subprocess.TimeoutExpired:
            self.process.kill()
            self.process.wait()


def _wait_ready(server: Server, ready: str) -> None:
    """Until a line of its output matches the regular expression `ready`."""
    assert server.process.stdout is not None
    started = time.monotonic()
    for line in server.process.stdout:
        if match := _LISTENING.search(line):
            server.ports[match[1]] = int(match[2])
        if re.search(ready, line.rstrip()):
            server.startup = time.monotonic() - started
            # Keep draining its output so it never blocks on a full pipe.
            threading.Thread(target=server.process.stdout.read, daemon=True).start()
            return
    raise RuntimeError(f"{server.process.args!r} exited before it was ready")


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def _monotreme(*args: str) -> str:
    command = [sys.executable, "-m", "monotreme", *args]
    done = subprocess.run(command, input="bench-password\n", capture_output=True, text=True)
    if done.returncode != 0:
        raise RuntimeError(f"{' '.join(command)} failed: {done.stderr.strip()}")
    return done.stdout


def account(data_dir: Path) -> str:
    """The user `bench` (added on a fresh data dir) and a new API token for it.
    One a second at most: the CLI names a token by the second it was made."""
    if not (data_dir / "monotreme.db").exists():
        _monotreme("user", "add", "bench", "--password-stdin", "--data-dir", str(data_dir))
    return _monotreme("token", "create", "--user", "bench", "--data-dir", str(data_dir)).strip()


def start_monotreme(data_dir: Path, *options: str, token: str | None = None) -> Server:
    """`monotreme serve` on `data_dir` with `options` (`--bus URL`, `--workers N`),
    and `token`, one `account` made, else a fresh account and token."""
    token = token or account(data_dir)
    process = subprocess.Popen(
        [sys.executable, "-m", "monotreme", "serve", "--data-dir", str(data_dir), "--host", "127.0.0.1",
         "--grpc-port", "0", "--http-port", "0", *options],
        stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True,
    )  # fmt: skip
    server = Server(process, token=token)
    # A supervisor (`--workers`) is ready once all its workers are.
    _wait_ready(server, r"ready: \d+ workers" if "--workers" in options else r": ready$")
    return server


def start_redis(directory: Path) -> Server | None:
    """Debian's redis-server on a free loopback port, its files in `directory`
    (no persistence); None when it is not installed."""
    binary = shutil.which("redis-server")
    if binary is None:
        return None
    port = free_port()
    process = subprocess.Popen(
        [binary, "--port", str(port), "--bind", "127.0.0.1", "--save", "", "--appendonly", "no",
         "--dir", str(directory)],
        stdout=subprocess.DEVNULL, text=True,
    )  # fmt: skip
    server = Server(process, ports={"Redis": port})
    started = time.monotonic()
    with redis.Redis(host="127.0.0.1", port=port) as client:
        while True:
            try:
                client.ping()
                break
            except redis.ConnectionError:
                if process.poll() is not None or time.monotonic() - started > 10:
                    server.stop()
                    raise RuntimeError(f"redis-server did not start on port {port}") from None
                time.sleep(0.02)
    server.startup = time.monotonic() - started
    return server


def start_baseline(kind: str) -> Server:
    """`aiohttp` or `grpc`, from bench/baselines.py."""
    port = free_port()
    process = subprocess.Popen(
        [sys.executable, "-m", "bench.baselines", kind, str(port)],
        stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True,
    )  # fmt: skip
    server = Server(process, ports={"HTTP" if kind == "aiohttp" else "gRPC": port})
    _wait_ready(server, "ready")
    return server
