"""`monotreme serve --workers N`: N server processes sharing the hub's HTTP and
gRPC ports (SO_REUSEPORT: the kernel spreads connections over them) and its
Redis bus, supervised by this one: a worker that exits is started again, with
backoff while it keeps failing; SIGTERM or SIGINT stops them all gracefully.
"""

from __future__ import annotations

import asyncio
import logging
import signal
import sys
from collections.abc import Sequence

from monotreme.config import Config
from monotreme.grpc.server import check_free

log = logging.getLogger("monotreme.workers")

# A worker that ran this long before exiting starts again at once; one that
# failed sooner waits, doubling up to MAX_BACKOFF.
_HEALTHY_RUN = 10.0
_FIRST_BACKOFF = 0.5
_MAX_BACKOFF = 30.0


def refusal(config: Config, workers: int) -> str | None:
    """Why `workers` processes cannot serve this config, if they cannot."""
    if config.bus.redis_url is None:
        return "--workers needs a bus the processes share: --bus redis://HOST:PORT/DB (or bus.url)"
    settings = config.server
    if not settings.grpc_port or not settings.http_port:
        return "--workers needs fixed ports (the workers share them): not 0"
    for port, what in ((settings.grpc_port, "gRPC"), (settings.http_port, "HTTP")):
        try:
            check_free(settings.host, port, what)
        except OSError as e:
            return str(e)
    return None if workers >= 1 else "--workers must be 1 or more"


async def supervise(worker_args: Sequence[str], workers: int) -> None:
    """Runs `monotreme serve *worker_args` `workers` times until SIGTERM or SIGINT."""
    loop = asyncio.get_running_loop()
    stop = asyncio.Event()
    for signum in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(signum, stop.set)
    running: dict[int, asyncio.subprocess.Process] = {}

    async def keep(slot: int) -> None:
        delay = _FIRST_BACKOFF
        while not stop.is_set():
            process = await asyncio.create_subprocess_exec(
                sys.executable, "-m", "monotreme", "serve", *worker_args, stdin=asyncio.subprocess.DEVNULL
            )
            running[slot] = process
            log.info("worker %d started (pid %d)", slot, process.pid)
            started = loop.time()
            code = await process.wait()
            if stop.is_set():
                return
            delay = _FIRST_BACKOFF if loop.time() - started >= _HEALTHY_RUN else delay
            log.warning("worker %d (pid %d) exited with %d; starting it again in %.1f s",
                        slot, process.pid, code, delay)  # fmt: skip
            try:
                await asyncio.wait_for(stop.wait(), delay)
            except TimeoutError:
                delay = min(_MAX_BACKOFF, delay * 2)

    keepers = [asyncio.ensure_future(keep(slot)) for slot in range(1, workers + 1)]
    log.info("%d workers", workers)
    await stop.wait()
    log.info("stopping the workers")
    for process in running.values():
        if process.returncode is None:
            process.send_signal(signal.SIGTERM)
    await asyncio.gather(*keepers)
