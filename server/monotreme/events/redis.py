"""The Redis bus: the hub's processes share one Redis Stream of events.

Publishing appends the event to the stream (`XADD`, trimmed to about
`bus.max_len` entries) with its number, counted by Redis in the same script,
so the stream is the history and ids are ordered across processes. Each
process then:

* reads the stream from its last entry (one `XREAD BLOCK` task) and fans the
  events out to its own subscribers, its own publishes included;
* runs the listeners (the hooks) through one consumer group, so each event's
  hooks run in one process: an entry is acknowledged once handed to them, and
  a crashed process's unacknowledged entries are claimed by another after
  `bus.claim_after` seconds;
* reads a control stream beside it for broadcasts (revoked tokens).

Ids: the entry's milliseconds and the event's number, 16 hex digits each; the
numbers say how many events a trimmed stream lost. While Redis is down,
publishing raises Unavailable and `available` is false; the readers retry with
backoff and resume from their last entry, so subscribers lose nothing the
stream still holds.
"""

from __future__ import annotations

import asyncio
import logging
import os
import uuid
from collections.abc import Awaitable, Callable
from contextlib import suppress
from typing import Any
from urllib.parse import urlsplit

from redis.asyncio import Redis
from redis.asyncio.retry import Retry
from redis.backoff import NoBackoff
from redis.exceptions import RedisError, ResponseError

from monotreme.config import BusSettings
from monotreme.errors import Unavailable
from monotreme.events.bus import EventBus, Routed
from monotreme.v1 import hub_pb2

log = logging.getLogger(__name__)

# Numbers the event and appends it, atomically: a later entry has a greater number.
_PUBLISH = """
local number = redis.call('INCR', KEYS[2])
local entry = redis.call('XADD', KEYS[1], 'MAXLEN', '~', ARGV[1], '*',
  'n', number, 'event', ARGV[2], 'hooks', ARGV[3])
return {entry, number}
"""
GROUP = "hooks"
# Broadcasts kept for a process that reconnects (approximately).
_CONTROL_LEN = 1000
# Entries read at once, and how long a read waits for one (ms).
_BATCH = 500
_BLOCK_MS = 1000
_MAX_BACKOFF = 5.0
# Seconds a resuming subscriber waits for this process's reader to reach its id.
_CATCH_UP = 1.0
_NO_ID = "0" * 32
# Seconds (at least) a consumer is idle with nothing pending before it is dropped from the group.
_FORGET_AFTER = 60.0
# Stream entries as redis-py reads them: (id, fields); no fields for one trimmed meanwhile.
Entries = list[tuple[bytes, dict[bytes, bytes] | None]]


def event_id(entry: str, number: int) -> str:
    """The event id of a stream entry `ms-seq` holding the event numbered `number`."""
    return f"{int(entry.partition('-')[0]):016x}{number:016x}"


def _text(value: bytes | str) -> str:
    return value.decode() if isinstance(value, bytes) else value


class RedisBus(EventBus):
    def __init__(self, origin: str, queue_size: int, settings: BusSettings) -> None:
        super().__init__(origin, queue_size)
        assert settings.redis_url is not None
        # No retries inside redis-py: a publish whose answer was lost would be
        # appended twice. The readers retry themselves, with backoff.
        self._redis = Redis.from_url(
            settings.redis_url, socket_connect_timeout=2.0, socket_timeout=5.0, retry=Retry(NoBackoff(), 0)
        )
        # host:port, for messages (never the password)
        self._where = urlsplit(settings.redis_url).netloc.rpartition("@")[2]
        self._settings = settings
        prefix = settings.prefix
        self._stream, self._counter = f"{prefix}:events", f"{prefix}:count"
        self._control, self._leases = f"{prefix}:control", f"{prefix}:lease:"
        # This process, among the group's consumers and the broadcasts' senders.
        self._me = f"{origin}:{os.getpid()}:{uuid.uuid4().hex[:8]}"
        self._publish = self._redis.register_script(_PUBLISH)
        # Where the fan-out reader is: the last entry of each stream it read.
        self._last: dict[str, str] = {}
        self._last_id = _NO_ID
        self._last_number = 0
        self._advanced = asyncio.Event()
        self._handlers: dict[str, Callable[[str], None]] = {}
        self._tasks: set[asyncio.Task[None]] = set()
        self._up = False
        self._availability_listeners: list[Callable[[bool], None]] = []
        self._outage = False
        self._stopping = False

    @property
    def available(self) -> bool:
        return self._up

    async def start(self) -> None:
        try:
            await self._position()
        except RedisError as e:  # the readers keep trying
            self._down(e)
        self._spawn(self._fan_out())
        self._spawn(self._run_listeners())

    async def stop(self) -> None:
        await super().stop()
        # The readers end after their current read; a task cancelled inside
        # redis-py's blocking read may never end, so none is waited on forever.
        self._stopping = True
        if self._tasks:
            await asyncio.wait(self._tasks, timeout=_BLOCK_MS / 1000 + 1)
        for task in self._tasks:
            task.cancel()
        if self._tasks:
            await asyncio.wait(self._tasks, timeout=1)
        await self._redis.aclose()

    def _spawn(self, work: Awaitable[None]) -> None:
        task = asyncio.ensure_future(work)
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)

    def watch_availability(self, listener: Callable[[bool], None]) -> None:
        self._availability_listeners.append(listener)

    def _down(self, error: Exception) -> None:
        if not self._outage:  # once an outage
            log.warning("event bus: Redis at %s is unavailable (%s); retrying", self._where, error)
        self._outage = True
        self._set_up(False)

    def _back(self) -> None:
        if self._outage:
            log.info("event bus: Redis at %s is back", self._where)
        self._outage = False
        self._set_up(True)

    def _set_up(self, up: bool) -> None:
        if up != self._up:
            self._up = up
            for listener in self._availability_listeners:
                listener(up)

    def _unavailable(self, error: RedisError) -> Unavailable:
        self._down(error)
        return Unavailable(
            f"the event bus is unavailable: Redis at {self._where}: {error}", reason="BUS_UNAVAILABLE"
        )

    async def _retrying(self, step: Callable[[], Awaitable[None]], *, once: bool = False) -> None:
        """Runs `step` until the bus stops (with `once`: until it succeeds),
        backing off while Redis is down."""
        delay = 0.0
        while not self._stopping:
            try:
                await step()
                if once:
                    return
                delay = 0.0
            except RedisError as e:
                self._down(e)
                # Pooled connections from before an outage would fail their next command.
                await self._redis.connection_pool.disconnect(inuse_connections=False)
                delay = min(_MAX_BACKOFF, delay * 2 or 0.1)
                await asyncio.sleep(delay)

    # Publishing and the history.

    async def publish(self, event: hub_pb2.Event, *, run_listeners: bool = True) -> hub_pb2.Event:
        published = self._stamp(event)
        payload = published.SerializeToString()
        try:
            entry, number = await self._publish(
                keys=[self._stream, self._counter],
                args=[self._settings.max_len, payload, int(run_listeners)],
            )
        except RedisError as e:
            raise self._unavailable(e) from None
        published.id = event_id(_text(entry), int(number))
        return published

    async def _since(self, after: str) -> tuple[int, list[Routed]]:
        start = f"{int(after[:16], 16)}-0"
        try:
            entries: Entries = await self._redis.xrange(self._stream, min=start)  # type: ignore[assignment]
        except RedisError as e:
            raise self._unavailable(e) from None
        backlog = [r for r in (self._routed(_text(i), f) for i, f in entries if f) if r.id > after]
        if not backlog:
            return 0, []  # nothing after it yet: the live events follow
        # Once this process's reader has delivered the newest of them, the
        # subscription holds as live what the backlog repeats (replay skips those).
        await self._catch_up(backlog[-1].id)
        number = int(after[16:], 16)
        return max(0, int(backlog[0].id[16:], 16) - 1 - number), backlog

    async def _catch_up(self, newest: str) -> None:
        """Waits (a second at most) until this process's reader has delivered `newest`."""
        deadline = asyncio.get_running_loop().time() + _CATCH_UP
        while self._last_id < newest and (left := deadline - asyncio.get_running_loop().time()) > 0:
            with suppress(TimeoutError):
                await asyncio.wait_for(self._advanced.wait(), left)

    @staticmethod
    def _routed(entry: str, fields: dict[bytes, bytes]) -> Routed:
        event = hub_pb2.Event.FromString(fields[b"event"])
        event.id = event_id(entry, int(fields[b"n"]))
        return Routed(event)

    # The fan-out reader.

    async def _position(self) -> None:
        """Starts the readers at the streams' newest entries, and the consumer group if none is."""
        for stream in (self._stream, self._control):
            newest: Entries = await self._redis.xrevrange(stream, count=1)  # type: ignore[assignment]
            self._last[stream] = _text(newest[0][0]) if newest else "0-0"
            if stream == self._stream and newest and newest[0][1]:
                self._last_number = int(newest[0][1][b"n"])
                self._last_id = event_id(self._last[stream], self._last_number)
        with suppress(ResponseError):  # BUSYGROUP: another process made it
            await self._redis.xgroup_create(self._stream, GROUP, id="$", mkstream=True)
        self._back()

    async def _fan_out(self) -> None:
        await self._retrying(self._read)

    async def _read(self) -> None:
        if not self._last:
            await self._position()
        answer: list[tuple[bytes, Entries]] = await self._redis.xread(  # type: ignore[assignment]
            dict(self._last),  # type: ignore[arg-type]
            count=_BATCH,
            block=_BLOCK_MS,
        )
        self._back()
        for name, entries in answer or ():
            stream = _text(name)
            for entry, fields in entries:
                self._last[stream] = _text(entry)
                if not fields:
                    continue
                if stream == self._stream:
                    self._deliver_entry(_text(entry), fields)
                else:
                    self._receive(fields)
        if answer:
            self._advanced.set()
            self._advanced = asyncio.Event()

    def _deliver_entry(self, entry: str, fields: dict[bytes, bytes]) -> None:
        routed = self._routed(entry, fields)
        number = int(fields[b"n"])
        if self._last_number and number > self._last_number + 1:
            # Trimmed before this process read them (it was cut off from Redis that long).
            for subscription in self._subscriptions:
                subscription.lost(number - self._last_number - 1)
        self._last_number, self._last_id = number, routed.id
        self._deliver(routed, run_listeners=False)

    # The listeners, once per event across processes.

    async def _run_listeners(self) -> None:
        state = {"pending": True, "claim_at": 0.0}

        async def step() -> None:
            try:
                await self._listen_once(state)
            except ResponseError as e:
                if "NOGROUP" not in str(e):
                    raise
                # Redis lost the group (flushed, restarted empty): make it again.
                await self._redis.xgroup_create(self._stream, GROUP, id="$", mkstream=True)
            except RedisError:
                state["pending"] = True  # what this consumer had unacknowledged, first
                raise

        await self._retrying(step)

    async def _listen_once(self, state: dict[str, Any]) -> None:
        loop = asyncio.get_running_loop()
        if loop.time() >= state["claim_at"]:
            claim_after = self._settings.claim_after
            state["claim_at"] = loop.time() + max(0.5, claim_after / 2)
            claimed: Any = await self._redis.xautoclaim(
                self._stream, GROUP, self._me, min_idle_time=int(claim_after * 1000), count=_BATCH
            )
            await self._hand_on(claimed[1])
            await self._forget_consumers(max(claim_after, _FORGET_AFTER))
        start = "0" if state["pending"] else ">"
        answer: Any = await self._redis.xreadgroup(
            GROUP, self._me, {self._stream: start}, count=_BATCH, block=_BLOCK_MS
        )
        entries = answer[0][1] if answer else []
        if state["pending"] and not entries:
            state["pending"] = False
        await self._hand_on(entries)

    async def _forget_consumers(self, idle: float) -> None:
        """Drops the consumers of processes gone (idle, nothing pending), so the
        group does not grow with every start. A live one is made again by its next read."""
        consumers: Any = await self._redis.xinfo_consumers(self._stream, GROUP)
        for consumer in consumers:
            name = _text(consumer["name"])
            if name != self._me and consumer["pending"] == 0 and consumer["idle"] > idle * 1000:
                await self._redis.xgroup_delconsumer(self._stream, GROUP, name)

    async def _hand_on(self, entries: Entries) -> None:
        """Runs the listeners for each entry (none when its publisher ran them),
        then acknowledges them."""
        for entry, fields in entries:
            if fields and fields.get(b"hooks") == b"1":  # no fields: trimmed meanwhile
                event = self._routed(_text(entry), fields).shared.event
                for listener in self._listeners:
                    listener(event)
        if entries:
            await self._redis.xack(self._stream, GROUP, *(entry for entry, _ in entries))

    # Coordination between processes.

    async def claim(self, name: str, seconds: float) -> bool:
        try:
            return bool(await self._redis.set(self._leases + name, self._me, nx=True, px=int(seconds * 1000)))
        except RedisError as e:
            raise self._unavailable(e) from None

    def broadcast(self, topic: str, message: str) -> None:
        fields = {"topic": topic, "message": message, "sender": self._me}

        async def send() -> None:
            await self._redis.xadd(self._control, fields, maxlen=_CONTROL_LEN, approximate=True)  # type: ignore[arg-type]

        # Retried until Redis takes it: a revocation must reach every process.
        self._spawn(self._retrying(send, once=True))

    def on_broadcast(self, topic: str, handler: Callable[[str], None]) -> None:
        self._handlers[topic] = handler

    def _receive(self, fields: dict[bytes, bytes]) -> None:
        if _text(fields[b"sender"]) == self._me:
            return  # done here already
        handler = self._handlers.get(_text(fields[b"topic"]))
        if handler is not None:
            handler(_text(fields[b"message"]))
