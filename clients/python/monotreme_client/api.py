"""`Api`: the realtime events of one source, kept flowing across reconnects.

An Api holds one StreamEvents call, or, when its ManagerApi sets
`max_delay_ms`, one StreamEventBatches call, whose events it hands on one by
one as if they had come alone. When the connection drops or the server
restarts, it subscribes again after a backoff (0.1 s doubling to 5 s, with
jitter), resuming after the last event it received: the events published
while it was away come first, in order, with no duplicate; those the hub's
history no longer holds (after a restart of the embedded bus, at least one)
are counted in the next event's `missed`. Until its first event an Api has
no id to resume after, so a reconnect then gets live events only. A refusal
that retrying cannot fix (a bad or revoked token, a bad filter) ends it, and
iterators raise that error.
"""

from __future__ import annotations

import asyncio
import inspect
import logging
import random
from collections.abc import AsyncIterator, Awaitable, Callable
from typing import Any, TypeAlias

import grpc

from monotreme_client.errors import MonotremeError, from_rpc_error
from monotreme_client.events import Event
from monotreme_client.proto.monotreme.v1 import (
    StreamEventBatchesRequest,
    StreamEventBatchesResponse,
    StreamEventsRequest,
    StreamEventsResponse,
)
from monotreme_client.transport import Transport, method
from monotreme_client.values import to_struct

log = logging.getLogger("monotreme_client")

Handler = Callable[[Event], Awaitable[None] | None]

ANY_SOURCE = "*"
FIRST_BACKOFF, MAX_BACKOFF = 0.1, 5.0
# Events held until iterated; past this the oldest go first.
ITERATOR_BUFFER = 1000
_FATAL = {
    grpc.StatusCode.UNAUTHENTICATED,
    grpc.StatusCode.PERMISSION_DENIED,
    grpc.StatusCode.INVALID_ARGUMENT,
    grpc.StatusCode.UNIMPLEMENTED,
}
_STREAM_EVENTS = method("HubService", "StreamEvents")
_STREAM_EVENT_BATCHES = method("HubService", "StreamEventBatches")
_Call: TypeAlias = (
    grpc.aio.UnaryStreamCall[Any, StreamEventsResponse]
    | grpc.aio.UnaryStreamCall[Any, StreamEventBatchesResponse]
)


class Api:
    """Realtime events from one source (an event's `origin`; `"*"` for all).

    `api.on("arrived", handler)` calls the handler (sync or async) for each
    matching event; `async for event in api` receives every event since the Api was made
    (one iterator at a time; up to 1,000 wait for it, then the oldest go)."""

    def __init__(
        self,
        transport: Transport,
        uri: str,
        types: list[str],
        args: dict[str, Any],
        max_delay_ms: int | None = None,
    ) -> None:
        self.uri = uri
        self.error: MonotremeError | None = None
        self.reconnects = 0
        self._transport = transport
        self._request = StreamEventsRequest(
            types=types, origins=[] if uri == ANY_SOURCE else [uri], args=to_struct(args) if args else None
        )
        self._max_delay_ms = max_delay_ms
        self._handlers: dict[str, list[Handler]] = {}
        self._buffer: asyncio.Queue[Event | None] = asyncio.Queue(ITERATOR_BUFFER)
        self._tasks: set[asyncio.Task[None]] = set()
        self._subscribed = asyncio.Event()
        self._closed = False
        self._stream = asyncio.get_running_loop().create_task(self._run())

    def on(self, event: str, handler: Handler) -> Api:
        """Calls `handler(event)` for events named `event` (see Event.name)."""
        self._handlers.setdefault(event, []).append(handler)
        return self

    def off(self, event: str, handler: Handler | None = None) -> None:
        """Removes one handler, or every handler of `event`."""
        handlers = self._handlers.get(event, [])
        self._handlers[event] = [h for h in handlers if handler is not None and h is not handler]

    @property
    def is_subscribed(self) -> bool:
        """Whether the server holds this Api's subscription right now."""
        return self._subscribed.is_set() and not self._closed

    async def subscribed(self) -> None:
        """Waits until the server has this Api's subscription: events
        published from then on reach it. Raises the error that ended it."""
        await self._subscribed.wait()
        if self.error is not None:
            raise self.error

    def close(self) -> None:
        """Ends the stream and any handler still running; iterators finish."""
        if self._closed:
            return
        self._closed = True
        self._stream.cancel()
        for task in self._tasks:
            task.cancel()
        self._finish()

    async def wait_closed(self) -> None:
        await asyncio.gather(self._stream, *self._tasks, return_exceptions=True)

    async def __aiter__(self) -> AsyncIterator[Event]:
        """The events from the Api's creation on, in order; ends when it is
        closed, raising the error that ended it, if any."""
        while True:
            event = await self._buffer.get()
            if event is None:
                self._buffer.put_nowait(None)  # for the next iterator too
                break
            yield event
        if self.error is not None:
            raise self.error

    async def _run(self) -> None:
        backoff = FIRST_BACKOFF
        while True:
            call = self._open()
            try:
                # The server sends initial metadata once subscribed; a refusal
                # comes with it in one trailers-only answer.
                await call.initial_metadata()
                if not call.done():
                    self._subscribed.set()
                backoff = FIRST_BACKOFF
                async for response in call:
                    batch = (
                        response.events if isinstance(response, StreamEventBatchesResponse) else (response,)
                    )
                    for item in batch:
                        if self._closed:  # a handler closed it: nothing more, as between messages
                            break
                        event = Event.from_response(item)
                        self._request.after = event.id  # where the next subscription resumes
                        self._deliver(event)
            except grpc.aio.AioRpcError as e:
                if e.code() in _FATAL:
                    self.error = from_rpc_error(e)
                    log.error("event stream %r ended: %s", self.uri, self.error)
                    self._closed = True
                    self._finish()
                    return
                log.info("event stream %r lost (%s); reconnecting", self.uri, e.code().name)
            finally:
                call.cancel()
            if not self._closed:
                self._subscribed.clear()
            await asyncio.sleep(backoff * random.uniform(0.5, 1.0))
            backoff = min(backoff * 2, MAX_BACKOFF)
            self.reconnects += 1

    def _open(self) -> _Call:
        """A subscription resuming after the last event delivered."""
        if self._max_delay_ms is None:
            return self._transport.stream(_STREAM_EVENTS, self._request, StreamEventsResponse)
        request = StreamEventBatchesRequest(request=self._request, max_delay_ms=self._max_delay_ms)
        return self._transport.stream(_STREAM_EVENT_BATCHES, request, StreamEventBatchesResponse)

    def _deliver(self, event: Event) -> None:
        self._buffered(event)
        for name, handlers in self._handlers.items():
            if event.matches(name):
                for handler in handlers:
                    self._call(handler, event)

    def _call(self, handler: Handler, event: Event) -> None:
        """Runs one handler; its failure is logged and harms nothing else."""
        try:
            result = handler(event)
        except Exception:
            log.exception("handler %r failed on %s", handler, event.name)
            return
        if inspect.isawaitable(result):
            task = asyncio.ensure_future(self._awaited(handler, event, result))
            self._tasks.add(task)
            task.add_done_callback(self._tasks.discard)

    @staticmethod
    async def _awaited(handler: Handler, event: Event, result: Awaitable[None]) -> None:
        try:
            await result
        except Exception:
            log.exception("handler %r failed on %s", handler, event.name)

    def _finish(self) -> None:
        self._subscribed.set()  # wakes `subscribed()` waiters to see the end
        self._buffered(None)

    def _buffered(self, event: Event | None) -> None:
        if self._buffer.full():
            self._buffer.get_nowait()
        self._buffer.put_nowait(event)


class ApiApp(Api):
    """The realtime events one app publishes: what a ManagerApi created with
    that `app_id` sends with `realtime`."""

    @property
    def app_id(self) -> str:
        return self.uri
