"""The event bus: what every engine shares, and the embedded (in-process) one.

Publishing never waits for a subscriber: each subscriber has its own bounded
queue, drained by its own consumer (a stream, a websocket, a hook runner).

Slow subscribers: when a subscriber's queue is full, its OLDEST queued event
is dropped to make room, and the next message it receives carries `missed`,
the number of events it lost since its previous message. Newer state wins,
memory stays bounded, and nobody else waits. (Over a network the transport's
own buffers hold some events first, so a stalled client sees a few old ones,
then the gap with its `missed` count, then the newest.)

Resume: the bus gives every event an id that orders it (32 hex digits; a
later event has a greater id) and keeps a bounded history. A subscriber that
asks for the events `after` an id gets those still in the history first, in
order, then the live ones, with no duplicate and no gap; the events it can no
longer have are counted in its first message's `missed`. An engine (this
module's embedded bus, or Redis Streams) provides the history, the ids and
the delivery; subscriptions, filters and fan-out are shared here.
"""

from __future__ import annotations

import asyncio
import time
import weakref
from abc import ABC, abstractmethod
from collections import deque
from collections.abc import AsyncIterator, Callable, Iterable
from contextlib import asynccontextmanager
from typing import Any

import orjson

from monotreme import metrics
from monotreme.errors import InvalidArgument
from monotreme.events import filters
from monotreme.events.types import canonical_type, published_type, short_name
from monotreme.v1 import hub_pb2
from monotreme.values import from_struct

# Seconds a door waits for a subscriber's client to take a message (a stream
# write blocks once the client stops reading) before it ends the stream: a
# client that stalls must not hold its connection's memory forever. Both
# doors apply it, the gRPC stream and the websocket alike.
SEND_TIMEOUT = 10.0

ID_DIGITS = 32


def check_id(event_id: str, where: str) -> str:
    """An event id as a client sent it back (to resume after it), or InvalidArgument."""
    if len(event_id) != ID_DIGITS or not all(c in "0123456789abcdef" for c in event_id):
        raise InvalidArgument(
            f"{where}: '{event_id[:64]}' is not an event id of this hub ({ID_DIGITS} hex digits)"
        )
    return event_id


class Routed:
    """A published event as the bus routes it: its type names worked out once
    for every subscriber, its args converted only if someone filters on them.
    `shared` is one message for every subscriber, so each door encodes it once
    (see memo.py); nobody may change it."""

    __slots__ = ("_args", "shared", "short", "type")

    def __init__(self, event: hub_pb2.Event) -> None:
        self.shared = hub_pb2.StreamEventsResponse(event=event)
        self.type = event.args.fields["type"].string_value
        self.short = short_name(self.type)
        self._args: dict[str, Any] | None = None

    @property
    def id(self) -> str:
        return self.shared.event.id

    @property
    def args(self) -> dict[str, Any]:
        if self._args is None:
            self._args = from_struct(self.shared.event.args)
        return self._args


class Filter:
    """Which events a subscriber asks for: types, origins and args. The bus
    gives subscribers that ask alike one Filter and decides once per event
    for all of them (a thousand dashboards rarely ask a thousand ways)."""

    __slots__ = ("__weakref__", "_any_type", "_full_names", "_origins", "_short_names", "_test")

    def __init__(self, types: frozenset[str], origins: frozenset[str], args: dict[str, Any]) -> None:
        self._full_names = frozenset(n for n in types if "." in n)
        self._short_names = types - self._full_names
        self._any_type = not types
        self._origins = origins
        self._test = filters.predicate(args) if args else None

    def wants(self, routed: Routed) -> bool:
        return (
            (self._any_type or routed.type in self._full_names or routed.short in self._short_names)
            and (not self._origins or routed.shared.event.origin in self._origins)
            and (self._test is None or self._test(routed.args))
        )


class Subscription:
    """One subscriber's filter and bounded queue; an async iterator of StreamEventsResponse."""

    def __init__(self, wanted: Filter, queue_size: int, after: str = "") -> None:
        self.filter = wanted
        self._queue: deque[hub_pb2.StreamEventsResponse] = deque(maxlen=max(1, queue_size))
        self._missed = 0
        self._waiter: asyncio.Future[None] | None = None
        # Queued events that wake the consumer: more while a batch lingers.
        self._enough = 1
        # Resuming after this id: an engine still delivering older events (a
        # process behind the one the subscriber came from) does not repeat them.
        self.after = after
        self.closed = False

    def wants(self, routed: Routed) -> bool:
        return routed.id > self.after and self.filter.wants(routed)

    def offer(self, event: hub_pb2.StreamEventsResponse) -> None:
        if len(self._queue) == self._queue.maxlen:
            self._missed += 1  # the deque drops its oldest on append
            metrics.EVENTS_MISSED.inc()
        self._queue.append(event)
        self._wake()

    def lost(self, count: int) -> None:
        """Counts events the engine could not deliver (gone before it read them) in the next `missed`."""
        self._missed += count

    def replay(self, lost: int, backlog: Iterable[Routed]) -> None:
        """Puts the history a resuming subscriber asked for before the live
        events already queued, leaving out those it would see twice; `lost`
        events are gone from the history."""
        first_live = self._queue[0].event.id if self._queue else None
        earlier = [r.shared for r in backlog if (first_live is None or r.id < first_live) and self.wants(r)]
        if not earlier and not lost:
            return
        merged = [*earlier, *self._queue]
        keep = self._queue.maxlen or 1
        missed = lost + max(0, len(merged) - keep)
        self._missed += missed
        metrics.EVENTS_MISSED.inc(missed)
        self._queue.clear()
        self._queue.extend(merged[-keep:])
        self._wake()

    def close(self) -> None:
        self.closed = True
        self._wake()

    def _wake(self) -> None:
        if (len(self._queue) >= self._enough or self.closed) and self._waiter is not None:
            _release(self._waiter)

    def __aiter__(self) -> AsyncIterator[hub_pb2.StreamEventsResponse]:
        return self

    async def __anext__(self) -> hub_pb2.StreamEventsResponse:
        await self._wait()
        return self._take()

    async def batches(
        self, limit: int, delay: float = 0.0
    ) -> AsyncIterator[list[hub_pb2.StreamEventsResponse]]:
        """What the subscription streams, at most `limit` to a list: as many
        as have queued since the previous list (one, for a subscriber that
        keeps up). With a `delay`, once an event is queued, up to that many
        seconds more for `limit` to queue (a list goes at once when full or
        closed): fewer, fuller lists for a busy subscriber."""
        while True:
            try:
                await self._wait()
            except StopAsyncIteration:
                return
            if delay and len(self._queue) < limit and not self.closed:
                await self._linger(limit, delay)
            yield [self._take() for _ in range(min(limit, len(self._queue)))]

    async def _linger(self, limit: int, delay: float) -> None:
        """Until `limit` events are queued, the subscription closes or `delay` s pass."""
        loop = asyncio.get_running_loop()
        self._enough, self._waiter = limit, loop.create_future()
        # Offers do not wake the consumer meanwhile: one wake-up per list, not per event.
        timer = loop.call_later(delay, _release, self._waiter)
        try:
            await self._waiter
        finally:
            timer.cancel()
            self._enough, self._waiter = 1, None

    async def _wait(self) -> None:
        """Until an event is queued; StopAsyncIteration once closed and drained."""
        while not self._queue:
            if self.closed:
                raise StopAsyncIteration
            self._waiter = asyncio.get_running_loop().create_future()
            try:
                await self._waiter
            finally:
                self._waiter = None

    def _take(self) -> hub_pb2.StreamEventsResponse:
        shared = self._queue.popleft()
        if not self._missed:
            return shared
        missed, self._missed = self._missed, 0
        return hub_pb2.StreamEventsResponse(event=shared.event, missed=missed)


def _release(waiter: asyncio.Future[None]) -> None:
    if not waiter.done():
        waiter.set_result(None)


class EventBus(ABC):
    """Subscriptions, filters and fan-out; an engine subclass stores, orders
    and delivers events (`publish`, `_since`) and calls `_deliver` with every
    published event, its own and other processes', in order."""

    def __init__(self, origin: str, queue_size: int) -> None:
        self._origin = origin
        self._queue_size = queue_size
        self._subscriptions: set[Subscription] = set()
        # The filters subscribers use, kept while one does.
        self._filters: weakref.WeakValueDictionary[tuple[frozenset[str], frozenset[str], bytes], Filter] = (
            weakref.WeakValueDictionary()
        )
        self._listeners: list[Callable[[hub_pb2.Event], None]] = []
        self._ended = False

    @property
    def subscriber_count(self) -> int:
        return len(self._subscriptions)

    @property
    def available(self) -> bool:
        """Whether the engine can publish now (readiness): the embedded one always can."""
        return True

    @abstractmethod
    async def publish(self, event: hub_pb2.Event, *, run_listeners: bool = True) -> hub_pb2.Event:
        """Publishes the event and answers it as published (id, origin and
        timestamp filled). Listeners run once per event across the hub's
        processes, unless `run_listeners` is false (the publisher runs what
        it must itself). Raises InvalidArgument without `args.type`."""

    @abstractmethod
    async def _since(self, after: str) -> tuple[int, list[Routed]]:
        """How many events published after `after` the history no longer
        holds, and those it holds, oldest first."""

    async def start(self) -> None:  # noqa: B027 (the embedded bus has nothing to connect)
        """Connects the engine."""

    async def stop(self) -> None:
        """Ends every stream and disconnects the engine."""
        self.end_streams()

    def watch_availability(self, listener: Callable[[bool], None]) -> None:  # noqa: B027
        """Calls `listener` with `available` whenever it changes (the embedded bus's never does)."""

    async def claim(self, name: str, seconds: float) -> bool:
        """Whether this process is the one to do `name` (a schedule's tick): the
        first to claim it across the hub's processes, for `seconds`."""
        return True  # one process: always this one

    def broadcast(self, topic: str, message: str) -> None:  # noqa: B027 (one process: nobody to tell)
        """Hands `message` to the `on_broadcast` handler of every other process of the hub."""

    def on_broadcast(self, topic: str, handler: Callable[[str], None]) -> None:  # noqa: B027
        """Calls `handler` with each message another process broadcasts on `topic`."""

    def add_listener(self, listener: Callable[[hub_pb2.Event], None]) -> None:
        """Calls `listener` with every published event, once across the hub's
        processes, on the bus's path: it must only hand the event on (the hook
        runner starts tasks)."""
        self._listeners.append(listener)

    def _stamp(self, event: hub_pb2.Event) -> hub_pb2.Event:
        """A copy of the event as it will be published, without its id: the engine orders it."""
        event_type = event.args.fields["type"].string_value if "type" in event.args.fields else ""
        if not event_type:
            raise InvalidArgument(
                "event.args.type: required, the event's type (e.g. CustomEvent's full name)"
            )
        published = hub_pb2.Event()
        published.CopyFrom(event)
        published.type = "event"
        published.origin = published.origin or self._origin
        published.timestamp = time.time()
        metrics.EVENTS_PUBLISHED.inc()
        canonical = published_type(event_type)
        if canonical != event_type:
            published.args.fields["type"].string_value = canonical
        return published

    def _deliver(self, routed: Routed, run_listeners: bool) -> None:
        delivered = 0
        verdicts: dict[Filter, bool] = {}
        event_id = routed.id
        for subscription in self._subscriptions:
            wanted = verdicts.get(subscription.filter)
            if wanted is None:
                wanted = verdicts[subscription.filter] = subscription.filter.wants(routed)
            if wanted and event_id > subscription.after:
                subscription.offer(routed.shared)
                delivered += 1
        if delivered:  # one update per event, not per subscriber
            metrics.EVENTS_DELIVERED.inc(delivered)
        if run_listeners:
            for listener in self._listeners:
                listener(routed.shared.event)

    @asynccontextmanager
    async def subscribe(
        self, request: hub_pb2.StreamEventsRequest, queue_size: int | None = None
    ) -> AsyncIterator[Subscription]:
        """A subscription for the request's filters, removed when the block ends;
        with `request.after`, the history after that id comes first."""
        args = from_struct(request.args)
        try:
            filters.check(args, "args")
        except ValueError as e:
            raise InvalidArgument(str(e)) from None
        after = check_id(request.after, "after") if request.after else ""
        types = frozenset(canonical_type(t) for t in request.types)
        origins = frozenset(request.origins)
        key = (types, origins, orjson.dumps(args, option=orjson.OPT_SORT_KEYS))
        wanted = self._filters.get(key)
        if wanted is None:
            wanted = self._filters[key] = Filter(types, origins, args)
        subscription = Subscription(wanted, queue_size or self._queue_size, after)
        if self._ended:
            subscription.close()
        # Live events queue from here on, while the history is read.
        self._subscriptions.add(subscription)
        try:
            if after:
                subscription.replay(*await self._since(after))
            yield subscription
        finally:
            self._subscriptions.discard(subscription)

    def end_streams(self) -> None:
        """Ends every subscription (server shutdown); idempotent."""
        self._ended = True
        for subscription in self._subscriptions:
            subscription.close()


class LocalBus(EventBus):
    """The embedded engine: one process, its history in memory.

    Ids are this run's start (milliseconds) and the event's number in the run,
    16 hex digits each: ordered within a run and after every earlier run's."""

    def __init__(self, origin: str, queue_size: int, history_size: int, history_seconds: float) -> None:
        super().__init__(origin, queue_size)
        self._run = f"{time.time_ns() // 1_000_000:016x}"
        self._count = 0
        self._history: deque[tuple[float, Routed]] = deque(maxlen=max(1, history_size))
        self._history_seconds = history_seconds

    async def publish(self, event: hub_pb2.Event, *, run_listeners: bool = True) -> hub_pb2.Event:
        published = self._stamp(event)
        self._count += 1
        published.id = f"{self._run}{self._count:016x}"
        routed = Routed(published)
        now = time.monotonic()
        self._forget_before(now)
        self._history.append((now, routed))
        self._deliver(routed, run_listeners)
        return published

    def _forget_before(self, now: float) -> None:
        while self._history and self._history[0][0] < now - self._history_seconds:
            self._history.popleft()

    async def _since(self, after: str) -> tuple[int, list[Routed]]:
        self._forget_before(time.monotonic())
        run, number = after[:16], int(after[16:], 16)
        if run > self._run or (run == self._run and number >= self._count):
            return 0, []  # nothing after it yet
        backlog = [routed for _, routed in self._history if routed.id > after]
        # Event numbers count this run's events the history no longer holds;
        # an id of an earlier run lost at least one event with that run's history.
        first = int(backlog[0].id[16:], 16) if backlog else self._count + 1
        lost = first - 1 - number if run == self._run else first
        return lost, backlog
