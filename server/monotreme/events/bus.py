"""The in-process event bus.

Publishing never waits for a subscriber: each subscriber has its own bounded
queue, drained by its own consumer (a stream, a websocket, a hook runner).

Slow subscribers: when a subscriber's queue is full, its OLDEST queued event
is dropped to make room, and the next message it receives carries `missed`,
the number of events it lost since its previous message. Newer state wins,
memory stays bounded, and nobody else waits. (Over a network the transport's
own buffers hold some events first, so a stalled client sees a few old ones,
then the gap with its `missed` count, then the newest.) Call `publish` on
the event loop.
"""

from __future__ import annotations

import asyncio
import time
from collections import deque
from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager
from typing import Any

from monotreme.errors import InvalidArgument
from monotreme.events import filters
from monotreme.events.types import canonical_type, published_type, short_name
from monotreme.ids import new_id
from monotreme.v1 import hub_pb2
from monotreme.values import from_struct

# Seconds a door waits for a subscriber's client to take a message (a stream
# write blocks once the client stops reading) before it ends the stream: a
# client that stalls must not hold its connection's memory forever. Both
# doors apply it, the gRPC stream and the websocket alike.
SEND_TIMEOUT = 10.0


class Subscription:
    """One subscriber's filter and bounded queue; an async iterator of StreamEventsResponse."""

    def __init__(self, types: list[str], origins: list[str], args: dict[str, Any], queue_size: int) -> None:
        names = [canonical_type(t) for t in types]
        self._full_names = frozenset(n for n in names if "." in n)
        self._short_names = frozenset(n for n in names if "." not in n)
        self._any_type = not names
        self._origins = frozenset(origins)
        self.test = filters.predicate(args) if args else None
        self._queue: deque[hub_pb2.StreamEventsResponse] = deque(maxlen=max(1, queue_size))
        self._missed = 0
        self._waiter: asyncio.Future[None] | None = None
        self.closed = False

    def matches(self, event_type: str, short: str, origin: str) -> bool:
        return (self._any_type or event_type in self._full_names or short in self._short_names) and (
            not self._origins or origin in self._origins
        )

    def offer(self, event: hub_pb2.StreamEventsResponse) -> None:
        if len(self._queue) == self._queue.maxlen:
            self._missed += 1  # the deque drops its oldest on append
        self._queue.append(event)
        self._wake()

    def close(self) -> None:
        self.closed = True
        self._wake()

    def _wake(self) -> None:
        if self._waiter is not None and not self._waiter.done():
            self._waiter.set_result(None)

    def __aiter__(self) -> AsyncIterator[hub_pb2.StreamEventsResponse]:
        return self

    async def __anext__(self) -> hub_pb2.StreamEventsResponse:
        while not self._queue:
            if self.closed:
                raise StopAsyncIteration
            self._waiter = asyncio.get_running_loop().create_future()
            try:
                await self._waiter
            finally:
                self._waiter = None
        shared = self._queue.popleft()
        if not self._missed:
            return shared
        missed, self._missed = self._missed, 0
        return hub_pb2.StreamEventsResponse(event=shared.event, missed=missed)


class EventBus:
    def __init__(self, origin: str, queue_size: int) -> None:
        self._origin = origin
        self._queue_size = queue_size
        self._subscriptions: set[Subscription] = set()
        self._listeners: list[Callable[[hub_pb2.Event], None]] = []
        self._closed = False

    @property
    def subscriber_count(self) -> int:
        return len(self._subscriptions)

    def publish(self, event: hub_pb2.Event) -> hub_pb2.Event:
        """Fills id, origin and timestamp, fans the event out and answers it as published."""
        event_type = event.args.fields["type"].string_value if "type" in event.args.fields else ""
        if not event_type:
            raise InvalidArgument(
                "event.args.type: required, the event's type (e.g. CustomEvent's full name)"
            )
        published = hub_pb2.Event()
        published.CopyFrom(event)
        published.type = "event"
        published.id = published.id or new_id()
        published.origin = published.origin or self._origin
        published.timestamp = time.time()
        canonical, short = published_type(event_type), short_name(event_type)
        if canonical != event_type:
            published.args.fields["type"].string_value = canonical
        # One message for every subscriber, so each door encodes it once
        # (see memo.py); nobody may change it.
        shared = hub_pb2.StreamEventsResponse(event=published)
        args: dict[str, Any] | None = None
        for subscription in self._subscriptions:
            if not subscription.matches(canonical, short, published.origin):
                continue
            if subscription.test is not None:
                if args is None:  # converted once, and only when someone filters on args
                    args = from_struct(published.args)
                if not subscription.test(args):
                    continue
            subscription.offer(shared)
        for listener in self._listeners:
            listener(published)
        return published

    def add_listener(self, listener: Callable[[hub_pb2.Event], None]) -> None:
        """Calls `listener` with every published event, on the publisher's path:
        it must only hand the event on (the hook runner starts tasks)."""
        self._listeners.append(listener)

    @asynccontextmanager
    async def subscribe(
        self, request: hub_pb2.StreamEventsRequest, queue_size: int | None = None
    ) -> AsyncIterator[Subscription]:
        """A subscription for the request's filters, removed when the block ends."""
        args = from_struct(request.args)
        try:
            filters.check(args, "args")
        except ValueError as e:
            raise InvalidArgument(str(e)) from None
        subscription = Subscription(
            list(request.types), list(request.origins), args, queue_size or self._queue_size
        )
        if self._closed:
            subscription.close()
        self._subscriptions.add(subscription)
        try:
            yield subscription
        finally:
            self._subscriptions.discard(subscription)

    def close(self) -> None:
        """Ends every subscription (server shutdown); idempotent."""
        self._closed = True
        for subscription in self._subscriptions:
            subscription.close()
