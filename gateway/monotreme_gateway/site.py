"""Assembling and running the gateway: the Platypush adapters, the web UI,
then every annotated RPC's route; in front of an in-process method table (built by
`monotreme serve`) or, alone, in front of a remote hub."""

from __future__ import annotations

import asyncio
import functools
import logging
import signal

from aiohttp import web
from monotreme.services.execute import EXECUTE

from monotreme_gateway import ui
from monotreme_gateway.invoker import Invoker, RemoteInvoker
from monotreme_gateway.platypush import execute, webhooks, websockets
from monotreme_gateway.platypush.auth import AuthEndpoint
from monotreme_gateway.transcoder.errors import errors_middleware
from monotreme_gateway.transcoder.handler import Transcoder

log = logging.getLogger("monotreme")


def create_app(invoker: Invoker, *, max_body_bytes: int) -> web.Application:
    app = web.Application(client_max_size=max_body_bytes, middlewares=[errors_middleware])
    app[websockets.MAX_BODY_BYTES] = max_body_bytes
    app.router.add_get("/ws/events", functools.partial(websockets.events, invoker))
    app.router.add_get("/ws/requests", functools.partial(websockets.requests, invoker))
    app.router.add_route("*", "/auth", AuthEndpoint(invoker).handle)
    app.router.add_route("*", "/hook/{name}", functools.partial(webhooks.hook, invoker))
    ui.add_routes(app)
    Transcoder(invoker).add_routes(app, adapters={EXECUTE: execute.handler(invoker)})
    return app


async def start_site(app: web.Application, host: str, port: int) -> tuple[web.AppRunner, int]:
    """Listens on host:port (0 for any free port); answers the runner and the bound port."""
    runner = web.AppRunner(app, access_log=None, handle_signals=False)
    await runner.setup()
    site = web.TCPSite(runner, host, port)
    await site.start()
    bound = int(runner.addresses[0][1])
    log.info("HTTP listening on %s:%d", host, bound)
    return runner, bound


async def serve_remote(upstream: str, host: str, port: int, *, origin: str, max_body_bytes: int) -> None:
    """`monotreme gateway --upstream HOST:PORT`: runs until SIGTERM or SIGINT."""
    invoker = RemoteInvoker(upstream, origin=origin)
    runner, _ = await start_site(create_app(invoker, max_body_bytes=max_body_bytes), host, port)
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for signum in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(signum, stop.set)
    log.info("ready")
    await stop.wait()
    await runner.cleanup()
    await invoker.close()
