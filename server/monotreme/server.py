"""One server process: the hub behind its gRPC door and its HTTP door."""

from __future__ import annotations

import asyncio
import logging
import signal

from aiohttp import web
from monotreme_gateway.site import start_in_process

from monotreme import scripting
from monotreme.config import Config
from monotreme.grpc_server import GrpcServer
from monotreme.hub import Hub

log = logging.getLogger("monotreme")


class Server:
    """Starts and stops the hub and its doors; `serve()` runs until SIGTERM/SIGINT."""

    def __init__(self, config: Config) -> None:
        self.config = config
        self.hub = Hub(config)
        self._grpc: GrpcServer | None = None
        self._http: web.AppRunner | None = None
        self.grpc_port = 0
        self.http_port = 0

    @property
    def grpc_target(self) -> str:
        host = self.config.server.host
        return f"{'127.0.0.1' if host in ('0.0.0.0', '') else host}:{self.grpc_port}"

    @property
    def http_url(self) -> str:
        return f"http://{self.grpc_target.rsplit(':', 1)[0]}:{self.http_port}"

    async def start(self) -> None:
        settings = self.config.server
        await self.hub.start()
        scripting.serving(self.hub, active=True)
        # grpc.aio binds its server to the running loop: create it here, not in __init__.
        self._grpc = GrpcServer(self.hub.methods, max_message_bytes=settings.max_body_bytes)
        self.grpc_port = self._grpc.bind(settings.host, settings.grpc_port)
        await self._grpc.start()
        log.info("gRPC listening on %s:%d", settings.host, self.grpc_port)
        self._http, self.http_port = await start_in_process(self.hub)

    async def stop(self) -> None:
        """Ends event streams cleanly, lets in-flight calls finish, then closes the hub."""
        scripting.serving(self.hub, active=False)
        self.hub.bus.close()
        if self._http is not None:
            await self._http.shutdown()
            await self._http.cleanup()
        if self._grpc is not None:
            await self._grpc.stop(self.config.server.shutdown_grace)
        await self.hub.close()

    async def serve(self) -> None:
        """Runs until SIGTERM or SIGINT, then shuts down gracefully."""
        stop = asyncio.Event()
        loop = asyncio.get_running_loop()
        for signum in (signal.SIGTERM, signal.SIGINT):
            loop.add_signal_handler(signum, stop.set)
        await self.start()
        log.info("ready")
        await stop.wait()
        log.info("shutting down")
        await self.stop()
