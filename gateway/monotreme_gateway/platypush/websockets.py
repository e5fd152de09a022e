"""`/ws/events` and `/ws/requests`: the Platypush websockets, as adapters over the RPCs.

Credentials come as the `Authorization` header (wscat `-H`) or `?token=`
(browsers cannot set headers). A socket whose credentials fail completes the
handshake and is closed with 1008 and the reason, so clients see why.
"""

from __future__ import annotations

import asyncio
import logging
from typing import Any

import orjson
from aiohttp import WSCloseCode, WSMsgType, web
from google.rpc import code_pb2
from monotreme.call import Call
from monotreme.errors import ServiceError
from monotreme.events.bus import SEND_TIMEOUT, check_id
from monotreme.ids import new_id
from monotreme.memo import Memo
from monotreme.v1 import auth_pb2, hub_pb2

from monotreme_gateway.invoker import Invoker
from monotreme_gateway.platypush.execute import execute
from monotreme_gateway.transcoder import codec
from monotreme_gateway.transcoder.errors import GatewayError
from monotreme_gateway.transcoder.metadata import call_of

log = logging.getLogger(__name__)
MAX_BODY_BYTES = web.AppKey("max_body_bytes", int)
# Requests one /ws/requests socket may have running at once; more get an error frame.
MAX_IN_FLIGHT = 64
# Seconds a /ws/requests request may run unless its frame says `"timeout"`;
# then it is answered with its envelope, errors filled.
REQUEST_TIMEOUT = 60.0
_GET_CURRENT_USER = "/monotreme.v1.AuthService/GetCurrentUser"
_STREAM_EVENTS = "/monotreme.v1.HubService/StreamEvents"
_WATCH_CREDENTIALS = "/monotreme.v1.AuthService/WatchCredentials"
_PUBLISH_EVENT = "/monotreme.v1.HubService/PublishEvent"


# The bus hands every subscriber the same response: one encoding serves them all.
_event_frame: Memo[hub_pb2.StreamEventsResponse, bytes] = Memo(lambda r: codec.dumps(codec.to_json(r.event)))


def error_frame(error: GatewayError | ServiceError, request_id: str | None = None) -> dict[str, Any]:
    body = (error if isinstance(error, GatewayError) else GatewayError.of(error)).body()
    frame = {"type": "error", **body}
    if request_id is not None:
        frame["id"] = request_id
    return frame


class Socket:
    """One accepted websocket: authenticated once, sends serialized and time-bounded."""

    def __init__(self, invoker: Invoker, request: web.Request) -> None:
        self.invoker = invoker
        self.call = Call()
        self.ws = web.WebSocketResponse(heartbeat=30.0, max_msg_size=request.app[MAX_BODY_BYTES])
        self._lock = asyncio.Lock()
        self._request = request

    async def open(self) -> bool:
        """Completes the handshake, then checks the credentials in the core."""
        await self.ws.prepare(self._request)
        rpc = self.invoker.methods[_GET_CURRENT_USER]
        try:
            self.call = call_of(self._request)  # refuses a session cookie from another origin
            await self.invoker.unary(rpc, auth_pb2.GetCurrentUserRequest(), self.call)
        except (GatewayError, ServiceError) as e:
            await self.refuse(e)
            return False
        return True

    async def refuse(self, error: GatewayError | ServiceError) -> None:
        await self.ws.close(code=WSCloseCode.POLICY_VIOLATION, message=error.message.encode()[:120])

    async def send(self, frame: dict[str, Any] | bytes) -> None:
        """Sends a frame (or its JSON, already encoded) as a text frame."""
        data = frame if isinstance(frame, bytes) else codec.dumps(frame)
        async with self._lock:
            transport = self._request.transport
            if (
                transport is not None
                and transport.get_write_buffer_size() <= transport.get_write_buffer_limits()[0]
            ):
                # Below the low-water mark writing is not paused, so the frame
                # goes at once: no timer to arm, which fan-out pays per frame.
                await self.ws.send_frame(data, WSMsgType.TEXT)
                return
            try:
                async with asyncio.timeout(SEND_TIMEOUT):
                    await self.ws.send_frame(data, WSMsgType.TEXT)
            except TimeoutError:
                log.warning("closing a websocket that stopped reading")
                if self._request.transport is not None:
                    self._request.transport.close()
                raise ConnectionResetError("the client stopped reading") from None

    async def frames(self) -> Any:
        """The client's frames as JSON; a bad frame gets an error frame and is skipped."""
        async for message in self.ws:
            if message.type != WSMsgType.TEXT:
                continue
            try:
                yield orjson.loads(message.data)
            except orjson.JSONDecodeError as e:
                await self.send(
                    error_frame(GatewayError(400, "MALFORMED_JSON", f"the frame is not valid JSON: {e}"))
                )


def _filters(request: web.Request) -> hub_pb2.StreamEventsRequest:
    """`?type=CustomEvent&type=...&origin=kitchen&args.subtype=foo` (values that
    parse as JSON are JSON) and `after=<event id>` to resume; a malformed id is
    InvalidArgument, answered before the handshake."""
    after = request.query.get("after", "")
    filters = hub_pb2.StreamEventsRequest(
        types=request.query.getall("type", []),
        origins=request.query.getall("origin", []),
        after=check_id(after, "after") if after else "",
    )
    args: dict[str, Any] = {}
    for key, value in request.query.items():
        if key.startswith("args."):
            try:
                args[key[5:]] = orjson.loads(value)
            except ValueError:
                args[key[5:]] = value
    filters.args.update(args)
    return filters


async def events(invoker: Invoker, request: web.Request) -> web.WebSocketResponse:
    """`/ws/events`: every event the caller may see out; the client's event frames published."""
    filters = _filters(request)
    socket = Socket(invoker, request)
    if not await socket.open():
        return socket.ws
    forward = asyncio.ensure_future(_forward_events(socket, filters))
    try:
        async for frame in socket.frames():
            await _publish(socket, frame)
    finally:
        forward.cancel()
    return socket.ws


async def _forward_events(socket: Socket, filters: hub_pb2.StreamEventsRequest) -> None:
    rpc = socket.invoker.methods[_STREAM_EVENTS]
    try:
        async for response in socket.invoker.stream(rpc, filters, socket.call):
            assert isinstance(response, hub_pb2.StreamEventsResponse)
            if not response.missed:
                await socket.send(_event_frame(response))  # encoded once for every socket
                continue
            frame = codec.to_json(response.event)
            frame["_missed"] = response.missed  # events this client lost by reading too slowly
            await socket.send(frame)
    except ServiceError as e:  # e.g. the token was revoked
        await socket.refuse(e)
    except ConnectionResetError:
        pass
    else:
        await socket.ws.close(code=WSCloseCode.GOING_AWAY, message=b"server shutting down")


async def _publish(socket: Socket, frame: Any) -> None:
    rpc = socket.invoker.methods[_PUBLISH_EVENT]
    try:
        if not isinstance(frame, dict):
            raise GatewayError(400, "INVALID_ARGUMENT", 'send {"type": "event", "args": {"type": ...}}')
        event = codec.from_json(frame, hub_pb2.Event)
        assert isinstance(event, hub_pb2.Event)
        await socket.invoker.unary(rpc, hub_pb2.PublishEventRequest(event=event), socket.call)
    except (GatewayError, ServiceError) as e:
        await socket.send(error_frame(e))


async def requests(invoker: Invoker, request: web.Request) -> web.WebSocketResponse:
    """`/ws/requests`: request frames in, response frames out by `id`, many in flight at once."""
    socket = Socket(invoker, request)
    if not await socket.open():
        return socket.ws
    running: set[asyncio.Task[None]] = set()
    watching = asyncio.Event()
    watch = asyncio.ensure_future(_close_when_credentials_end(socket, watching))
    try:
        # Requests are read once the hub watches the credentials: a
        # revocation from then on closes the socket, whatever it is doing.
        await watching.wait()
        async for frame in socket.frames():
            request_id = frame.get("id") if isinstance(frame, dict) else None
            if not isinstance(frame, dict) or not isinstance(request_id, str | None):
                await socket.send(error_frame(GatewayError(400, "INVALID_ARGUMENT", "send a request object")))
                continue
            frame["id"] = request_id or new_id()
            if len(running) >= MAX_IN_FLIGHT:
                too_many = GatewayError(
                    429, "TOO_MANY_REQUESTS", f"at most {MAX_IN_FLIGHT} requests in flight"
                )
                await socket.send(error_frame(too_many, frame["id"]))
                continue
            task = asyncio.ensure_future(_execute(socket, frame, running))
            running.add(task)
            task.add_done_callback(running.discard)
    finally:
        watch.cancel()
        for task in running:
            task.cancel()
    return socket.ws


async def _close_when_credentials_end(socket: Socket, watching: asyncio.Event) -> None:
    """Closes the socket with 1008 and the reason as soon as its token is
    revoked or expires, even while no request is running; `watching` is set
    once the hub watches (or the watch has ended)."""

    async def started() -> None:
        watching.set()

    call = socket.call._replace(on_stream_start=started)
    rpc = socket.invoker.methods[_WATCH_CREDENTIALS]
    try:
        async for _ in socket.invoker.stream(rpc, auth_pb2.WatchCredentialsRequest(), call):
            pass
    except ServiceError as e:
        await socket.refuse(e)
    finally:
        watching.set()


async def _execute(socket: Socket, frame: dict[str, Any], running: set[asyncio.Task[None]]) -> None:
    """Runs one request and sends its answer; it stops counting as in flight
    before the answer goes, so a client may send the next one on receipt.
    A request past its timeout is answered with its envelope, errors filled."""
    error: GatewayError | ServiceError | None = None
    answer: dict[str, Any]
    try:
        _, answer = await execute(socket.invoker, frame, socket.call, REQUEST_TIMEOUT)
    except (GatewayError, ServiceError) as e:
        error, answer = e, error_frame(e, frame["id"])
    running.discard(asyncio.current_task())
    try:
        await socket.send(answer)
        if isinstance(error, ServiceError) and error.code == code_pb2.UNAUTHENTICATED:
            await socket.refuse(error)  # revoked or expired meanwhile
    except ConnectionResetError:
        pass
