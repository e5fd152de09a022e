"""Assembling and running the gateway: on the hub in-process, or alone in front of a remote server."""

from __future__ import annotations

import asyncio
import functools
import logging
import signal
import socket

from aiohttp import web
from monotreme.hub import Hub

from monotreme_gateway import ui, webhooks, websockets
from monotreme_gateway.app import Gateway, errors_middleware
from monotreme_gateway.auth import AuthEndpoint
from monotreme_gateway.invoker import InProcessInvoker, Invoker, RemoteInvoker

log = logging.getLogger("monotreme")


def create_app(invoker: Invoker, *, origin: str, max_body_bytes: int) -> web.Application:
    """The adapters first, then every annotated RPC's route."""
    gateway = Gateway(invoker, origin)
    app = web.Application(client_max_size=max_body_bytes, middlewares=[errors_middleware])
    app[websockets.MAX_BODY_BYTES] = max_body_bytes
    app.router.add_get("/ws/events", functools.partial(websockets.events, gateway))
    app.router.add_get("/ws/requests", functools.partial(websockets.requests, gateway))
    app.router.add_route("*", "/auth", AuthEndpoint(gateway).handle)
    app.router.add_route("*", "/hook/{name}", functools.partial(webhooks.hook, gateway))
    app.router.add_get("/healthz", gateway.healthz)
    app.router.add_get("/openapi.json", gateway.openapi)
    ui.add_routes(app)
    gateway.add_routes(app)
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


async def start_in_process(hub: Hub) -> tuple[web.AppRunner, int]:
    """The gateway on the hub's own method table: no network hop."""
    settings = hub.config.server
    app = create_app(InProcessInvoker(hub), origin=settings.device_id, max_body_bytes=settings.max_body_bytes)
    return await start_site(app, settings.host, settings.http_port)


async def serve_remote(upstream: str, host: str, port: int, max_body_bytes: int) -> None:
    """`monotreme gateway --upstream HOST:PORT`: runs until SIGTERM or SIGINT."""
    invoker = RemoteInvoker(upstream)
    app = create_app(invoker, origin=socket.gethostname(), max_body_bytes=max_body_bytes)
    runner, _ = await start_site(app, host, port)
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for signum in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(signum, stop.set)
    log.info("ready")
    await stop.wait()
    await runner.cleanup()
    await invoker.close()
