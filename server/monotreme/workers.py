"""`monotreme serve --workers N`: N hub processes on the same HTTP and gRPC
ports, supervised. A composition root: it runs `monotreme serve` N times.

The kernel spreads connections among the workers (SO_REUSEPORT); they share
the store and the bus, so they behave as one hub. The supervisor holds the
ports (bound, never listening: a port given as 0 is chosen once for all),
restarts a worker that dies, forwards SIGHUP, and on SIGTERM or SIGINT stops
every worker gracefully. A worker that fails before it ever served (a broken
config, a port taken) stops them all: restarting it could not help.
"""

from __future__ import annotations

import asyncio
import logging
import os
import signal
import socket
import sys
from collections.abc import Sequence

log = logging.getLogger("monotreme.workers")

# Restarts of a worker that keeps dying wait this long, doubling up to MAX_BACKOFF.
BACKOFF = 1.0
MAX_BACKOFF = 30.0


def die_with_supervisor() -> None:
    """In a worker: ends it (SIGTERM) when its supervisor dies, even by
    SIGKILL, so no worker outlives it holding the ports (Linux only)."""
    import ctypes

    pr_set_pdeathsig = 1
    try:
        ctypes.CDLL(None, use_errno=True).prctl(pr_set_pdeathsig, signal.SIGTERM)
    except (OSError, AttributeError):  # not Linux: the supervisor's own stop must do
        return
    if os.getppid() == 1:  # it died before the call above
        os.kill(os.getpid(), signal.SIGTERM)


def hold_port(host: str, port: int) -> socket.socket:
    """A socket bound to host:port with SO_REUSEPORT, not listening: the port
    stays this hub's for its workers (which bind it the same way) and
    receives no connection itself. Raises OSError when the port is taken."""
    family, kind, proto, _, address = socket.getaddrinfo(host or None, port, type=socket.SOCK_STREAM)[0]
    held = socket.socket(family, kind, proto)
    held.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    held.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEPORT, 1)
    try:
        held.bind(address)
    except OSError:
        held.close()
        raise
    return held


class Supervisor:
    def __init__(self, command: Sequence[str], count: int) -> None:
        """`command` runs one worker, with `--worker-ready-fd` appended."""
        self._command = list(command)
        self._count = count
        self._workers: dict[int, asyncio.subprocess.Process] = {}  # slot -> process
        self._ready: set[int] = set()  # pids that have served
        self._stopping = False
        self._failed: str | None = None
        self._done = asyncio.Event()

    async def run(self) -> int:
        """Runs the workers until a signal stops them; the exit status."""
        loop = asyncio.get_running_loop()
        for signum in (signal.SIGTERM, signal.SIGINT):
            loop.add_signal_handler(signum, self.stop)
        loop.add_signal_handler(signal.SIGHUP, self._forward, signal.SIGHUP)
        read_end, write_end = os.pipe()
        reader = asyncio.StreamReader()
        await loop.connect_read_pipe(lambda: asyncio.StreamReaderProtocol(reader), os.fdopen(read_end, "rb"))
        readiness = asyncio.ensure_future(self._watch_ready(reader))
        try:
            await asyncio.gather(*(self._keep(slot, write_end) for slot in range(self._count)))
        finally:
            readiness.cancel()
            os.close(write_end)
        if self._failed:
            log.error("%s; stopped every worker", self._failed)
            return 1
        log.info("stopped")
        return 0

    def stop(self) -> None:
        if not self._stopping:
            self._stopping = True
            self._forward(signal.SIGTERM)

    def _forward(self, signum: int) -> None:
        for process in self._workers.values():
            if process.returncode is None:
                process.send_signal(signum)

    async def _watch_ready(self, reader: asyncio.StreamReader) -> None:
        while line := await reader.readline():
            self._ready.add(int(line))
            if len(self._ready) == self._count:
                pids = ", ".join(str(p.pid) for p in self._workers.values())
                log.info("ready: %d workers (pids %s)", self._count, pids)

    async def _keep(self, slot: int, ready_fd: int) -> None:
        """Runs the worker of one slot, again each time it dies, until stopped."""
        backoff = BACKOFF
        while not self._stopping:
            process = await asyncio.create_subprocess_exec(
                *self._command, "--worker-ready-fd", str(ready_fd), pass_fds=(ready_fd,)
            )
            self._workers[slot] = process
            started = asyncio.get_running_loop().time()
            status = await process.wait()
            if self._stopping:
                return
            if process.pid not in self._ready:
                self._failed = f"worker {slot + 1} (pid {process.pid}) exited with {status} before serving"
                self.stop()
                return
            log.warning(
                "worker %d (pid %d) exited with %d; restarting it in %.0f s",
                slot + 1,
                process.pid,
                status,
                backoff,
            )
            await asyncio.sleep(backoff)
            # A worker that had served a while died of something new: start over.
            ran = asyncio.get_running_loop().time() - started
            backoff = BACKOFF if ran > MAX_BACKOFF else min(backoff * 2, MAX_BACKOFF)


def worker_command(argv: Sequence[str], grpc_port: int, http_port: int) -> list[str]:
    """`monotreme serve` as this process was run, without `--workers`, on the chosen ports."""
    rest: list[str] = []
    skip = False
    for arg in argv:
        if skip:
            skip = False
        elif arg in ("--workers", "--grpc-port", "--http-port"):
            skip = True
        elif not arg.startswith(("--workers=", "--grpc-port=", "--http-port=")):
            rest.append(arg)
    return [
        sys.executable, "-m", "monotreme", *rest, "--grpc-port", str(grpc_port), "--http-port", str(http_port)
    ]  # fmt: skip
