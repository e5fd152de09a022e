"""The composition root: one server process, a hub behind its gRPC door and its
HTTP door. The only place that wires a hub to its services and doors."""

from __future__ import annotations

import asyncio
import contextlib
import logging
import signal
from collections.abc import Callable

from aiohttp import web
from monotreme_gateway.invoker import InProcessInvoker
from monotreme_gateway.site import create_app, start_site

from monotreme.actions.dispatcher import Running
from monotreme.automation import scripting
from monotreme.config import Config, default_data_dir
from monotreme.errors import ConfigError
from monotreme.grpc.server import GrpcServer
from monotreme.hub import Hub
from monotreme.services.auth import AuthService
from monotreme.services.hub import HubService
from monotreme.services.table import MethodTable

log = logging.getLogger("monotreme")


def services(hub: Hub) -> tuple[MethodTable, HubService]:
    """The method table over the hub's parts, and its HubService (whose Execute
    path the HTTP door calls in-process)."""
    identity = hub.identity
    hub_service = HubService(
        hub.dispatcher, hub.actions, hub.bus, hub.webhooks, identity.revocations, identity.permissions
    )
    auth_service = AuthService(identity)
    return MethodTable([hub_service, auth_service], identity.credentials.authenticate), hub_service


class Server:
    """Starts and stops the hub and its doors; `serve()` runs until SIGTERM/SIGINT."""

    def __init__(self, config: Config, *, reuse_port: bool = False) -> None:
        """`reuse_port`: listen beside the other worker processes of one hub (`serve --workers`)."""
        self.config = config
        self._reuse_port = reuse_port
        self.hub = Hub(config)
        self.methods, self._hub_service = services(self.hub)
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
        """Starts the hub and both doors; raises OSError (a port is taken...)
        after stopping what had started."""
        try:
            await self._start()
        except BaseException:
            await self.stop()
            raise

    async def _start(self) -> None:
        settings = self.config.server
        await self.hub.start()
        scripting.attach(Running(self.hub.dispatcher, None, asyncio.get_running_loop()))
        # grpc.aio binds its server to the running loop: create it here, not in __init__.
        self._grpc = GrpcServer(
            self.methods, max_message_bytes=settings.max_body_bytes, reuse_port=self._reuse_port
        )
        self.grpc_port = self._grpc.bind(settings.host, settings.grpc_port)
        await self._grpc.start()
        self.hub.readiness_listeners.append(self._grpc.serving)
        log.info("gRPC listening on %s:%d", settings.host, self.grpc_port)
        invoker = InProcessInvoker(
            self.methods, self._hub_service.outcome, origin=settings.device_id, ready=lambda: self.hub.ready
        )
        app = create_app(
            invoker, max_body_bytes=settings.max_body_bytes, public_metrics=self.config.metrics.public
        )
        self._http, self.http_port = await start_site(
            app,
            settings.host,
            settings.http_port,
            header_timeout=settings.header_timeout,
            max_connections=settings.max_connections,
            reuse_port=self._reuse_port,
        )

    def _log_start(self) -> None:
        """What a newcomer needs to know once the hub is up: what it read,
        where it keeps its data, what it loaded, and how to begin."""
        config, hub = self.config, self.hub
        log.info("config: %s", config.source or "none (the embedded defaults)")
        log.info("data dir: %s", config.data_dir)
        log.info("store: %s", hub.store.where)
        procedures = sorted(hub.actions.procedures)
        log.info(
            "loaded: plugins %s; %d procedures%s; %d hooks; scripts from %s",
            ", ".join(hub.actions.plugins),
            len(procedures),
            f" ({', '.join(procedures)})" if procedures else "",
            len(hub.hooks.hooks),
            config.scripts_dir or "nowhere (no scripts_dir)",
        )
        if not hub.identity.accounts.has_users():
            flags = "" if config.data_dir == default_data_dir() else f" --data-dir {config.data_dir}"
            if config.store.url:
                flags += " --store URL"  # not the URL: it may hold a password
            log.info(
                "no user yet: create the first (an admin) with `monotreme user add NAME%s` or at %s/",
                flags,
                self.http_url,
            )

    async def reload(self) -> None:
        """SIGHUP: the hub reloads its config (a mistake is logged and the running one stays)."""
        log.info("SIGHUP: reloading %s", self.config.source or "the embedded defaults")
        with contextlib.suppress(ConfigError):
            await self.hub.reload()

    async def stop(self) -> None:
        """Ends event streams cleanly, lets in-flight calls finish, then closes the hub."""
        scripting.attach(None)
        self.hub.bus.end_streams()
        if self._http is not None:
            await self._http.shutdown()
            await self._http.cleanup()
        if self._grpc is not None:
            await self._grpc.stop(self.config.server.shutdown_grace)
        await self.hub.close()

    async def serve(self, ready: Callable[[], None] | None = None) -> None:
        """Runs until SIGTERM or SIGINT, then shuts down gracefully; calls
        `ready` once it serves (a worker tells its supervisor)."""
        stop = asyncio.Event()
        loop = asyncio.get_running_loop()
        for signum in (signal.SIGTERM, signal.SIGINT):
            loop.add_signal_handler(signum, stop.set)
        reloads: set[asyncio.Task[object]] = set()

        def reload() -> None:
            task = loop.create_task(self.reload())
            reloads.add(task)
            task.add_done_callback(reloads.discard)

        await self.start()
        loop.add_signal_handler(signal.SIGHUP, reload)
        self._log_start()
        log.info("ready")
        if ready is not None:
            ready()
        await stop.wait()
        log.info("shutting down")
        await self.stop()
