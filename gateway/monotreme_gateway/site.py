"""Assembling and running the gateway: the Platypush adapters, the web UI,
then every annotated RPC's route; in front of an in-process method table (built by
`monotreme serve`) or, alone, in front of a remote hub."""

from __future__ import annotations

import asyncio
import functools
import logging
import os
import signal
from collections.abc import Callable
from typing import Any

from aiohttp import web
from aiohttp.http_exceptions import HttpProcessingError
from aiohttp.web_request import BaseRequest
from monotreme.services.execute import EXECUTE

from monotreme_gateway import ui
from monotreme_gateway.invoker import Invoker, RemoteInvoker
from monotreme_gateway.operations import HTTP_CONNECTIONS, metrics_handler, served
from monotreme_gateway.platypush import execute, webhooks, websockets
from monotreme_gateway.platypush.auth import AuthEndpoint
from monotreme_gateway.transcoder import codec
from monotreme_gateway.transcoder.errors import GatewayError
from monotreme_gateway.transcoder.handler import Transcoder

log = logging.getLogger("monotreme")
# Defaults of start_site (the hub's own come from its config).
HEADER_TIMEOUT = 10.0
MAX_CONNECTIONS = 1024


def create_app(invoker: Invoker, *, max_body_bytes: int, public_metrics: bool = False) -> web.Application:
    """The HTTP door; `public_metrics`: `/metrics` without credentials."""
    app = web.Application(client_max_size=max_body_bytes, middlewares=[served])
    app[websockets.MAX_BODY_BYTES] = max_body_bytes
    app.router.add_get("/ws/events", functools.partial(websockets.events, invoker))
    app.router.add_get("/ws/requests", functools.partial(websockets.requests, invoker))
    app.router.add_route("*", "/auth", AuthEndpoint(invoker).handle)
    app.router.add_route("*", "/hook/{name}", functools.partial(webhooks.hook, invoker))
    app.router.add_get("/metrics", metrics_handler(invoker, public=public_metrics))
    ui.add_routes(app)
    Transcoder(invoker).add_routes(app, adapters={EXECUTE: execute.handler(invoker)})
    return app


class _Protocol(web.RequestHandler):
    """aiohttp's connection handler, answering the requests it cannot parse
    with our JSON error body: aiohttp's own is text echoing the request's
    bytes, after an ERROR traceback in the log for the client's mistake.
    `closed` is called when the connection is lost."""

    def __init__(self, manager: web.Server, closed: Callable[[], None], **options: Any) -> None:
        super().__init__(manager, **options)
        self._closed = closed

    def connection_lost(self, exc: BaseException | None) -> None:
        super().connection_lost(exc)
        self._closed()

    def handle_error(
        self,
        request: BaseRequest,
        status: int = 500,
        exc: BaseException | None = None,
        message: str | None = None,
    ) -> web.StreamResponse:
        if request.writer.output_size > 0:  # as aiohttp: too late for an answer
            raise ConnectionError("the response has begun: no error answer can follow")
        if isinstance(exc, HttpProcessingError):
            error = GatewayError.malformed(exc)
            log.info("%s from %s", error.message, request.remote)
        elif status == 504:
            error = GatewayError(504, "DEADLINE_EXCEEDED", "the request took too long")
        else:
            log.error("internal error on %s %s", request.method, request.path, exc_info=exc)
            error = GatewayError(500, "INTERNAL", "internal error")
        response = error.response()
        response.force_close()
        return response


class _Refusal(asyncio.Protocol):
    """A connection over the cap: a 503 and the end of the connection, at once."""

    def __init__(self, answer: bytes) -> None:
        self._answer = answer

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        assert isinstance(transport, asyncio.Transport)
        transport.write(self._answer)
        # Half-close rather than close: closing with the request unread sends
        # a reset, which may destroy the answer before the client reads it.
        transport.write_eof()
        asyncio.get_running_loop().call_later(1.0, transport.close)

    def eof_received(self) -> None:
        return None  # the client is done: close


class _Site(web.BaseSite):
    """TCPSite's listening socket, served by `_Protocol`: a request's headers
    must arrive within `header_timeout` seconds of the connection or of the
    previous answer (aiohttp's keep-alive timer, which closes a connection
    still waiting for a request), and at most `max_connections` are open at
    once; over that, a connection is answered 503 and closed."""

    __slots__ = ("_header_timeout", "_host", "_max_connections", "_open", "_port", "_refusal", "_reuse_port")

    def __init__(
        self,
        runner: web.BaseRunner,
        host: str,
        port: int,
        *,
        header_timeout: float,
        max_connections: int,
        reuse_port: bool,
    ) -> None:
        super().__init__(runner)
        self._host, self._port, self._reuse_port = host, port, reuse_port
        self._header_timeout, self._max_connections = header_timeout, max_connections
        # Counted here: asyncio accepts a batch of connections before their
        # protocols see connection_made, so aiohttp's own count lags.
        self._open = 0
        refusal = GatewayError(
            503, "TOO_MANY_CONNECTIONS", f"the server is at its limit of {max_connections} connections"
        ).body()
        body = codec.dumps(refusal)
        self._refusal = (
            "HTTP/1.1 503 Service Unavailable\r\nContent-Type: application/json\r\n"
            f"Content-Length: {len(body)}\r\nRetry-After: 1\r\nConnection: close\r\n\r\n"
        ).encode() + body

    @property
    def name(self) -> str:
        return f"http://{self._host}:{self._port}"

    async def start(self) -> None:
        await super().start()
        loop = asyncio.get_running_loop()
        self._server = await loop.create_server(
            self._connection, self._host, self._port, backlog=self._backlog, reuse_port=self._reuse_port
        )

    def _connection(self) -> asyncio.Protocol:
        server = self._runner.server
        assert server is not None
        if self._open >= self._max_connections:
            log.warning("refused a connection: at the limit of %d connections", self._max_connections)
            return _Refusal(self._refusal)
        self._open += 1
        HTTP_CONNECTIONS.inc()
        # access_log=None: aiohttp's documented way to turn the access log off.
        return _Protocol(
            server,
            self._release,
            loop=asyncio.get_running_loop(),
            keepalive_timeout=self._header_timeout,
            access_log=None,
        )

    def _release(self) -> None:
        self._open -= 1
        HTTP_CONNECTIONS.dec()


async def start_site(
    app: web.Application,
    host: str,
    port: int,
    *,
    header_timeout: float = HEADER_TIMEOUT,
    max_connections: int = MAX_CONNECTIONS,
    reuse_port: bool = False,
) -> tuple[web.AppRunner, int]:
    """Listens on host:port (0 for any free port); answers the runner and the
    bound port, or raises OSError saying why not in a line. With `reuse_port`,
    processes of one user may listen on the same port (the kernel spreads
    connections among them)."""
    # A client that leaves ends its handler, as a gRPC client's cancel does:
    # else an event stream's would wait for the next event to notice.
    runner = web.AppRunner(app, handle_signals=False, handler_cancellation=True)
    await runner.setup()
    site = _Site(
        runner,
        host,
        port,
        header_timeout=header_timeout,
        max_connections=max_connections,
        reuse_port=reuse_port,
    )
    try:
        await site.start()
    except OSError as e:  # e.g. the port is taken: say so in a line
        await runner.cleanup()
        reason = os.strerror(e.errno) if e.errno else str(e)  # asyncio's strerror repeats the address
        raise OSError(f"cannot listen for HTTP on {host}:{port}: {reason}") from None
    bound = int(runner.addresses[0][1])
    log.info("HTTP listening on %s:%d", host, bound)
    return runner, bound


async def serve_remote(
    upstream: str, host: str, port: int, *, origin: str, max_body_bytes: int, public_metrics: bool = False
) -> None:
    """`monotreme gateway --upstream HOST:PORT`: runs until SIGTERM or SIGINT."""
    invoker = RemoteInvoker(upstream, origin=origin)
    app = create_app(invoker, max_body_bytes=max_body_bytes, public_metrics=public_metrics)
    runner, _ = await start_site(app, host, port)
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for signum in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(signum, stop.set)
    log.info("ready")
    await stop.wait()
    await invoker.close()  # ends the streams from the hub, which the runner would wait for
    await runner.cleanup()
