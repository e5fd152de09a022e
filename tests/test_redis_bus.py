"""The Redis bus: `monotreme serve --bus redis://...` processes sharing one
Redis and one store (the SQLite file of a data dir they share, or
PostgreSQL) behave as one hub. Real redis-server and PostgreSQL
(tests/services.py) and real `monotreme serve` subprocesses."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Any

import aiohttp
import grpc
import pytest
from grpc_health.v1 import health_pb2, health_pb2_grpc
from monotreme.config import BusSettings, Config
from monotreme.errors import ConfigError, Unavailable
from monotreme.events.redis import GROUP, RedisBus
from monotreme.v1 import auth_pb2, auth_pb2_grpc, hub_pb2, hub_pb2_grpc

from tests.conftest import Credentials, SpawnedServer, eventually, register_admin
from tests.services import Redis as RedisServer
from tests.test_event_stream import custom_event
from tests.test_resume import numbers

Spawn = Callable[..., Awaitable[SpawnedServer]]

# A hook that answers each ping with a pong carrying its number, and a job every 2 s.
CONFIG = """\
event.hook.pong:
  if: {type: CustomEvent, subtype: ping}
  then:
    - action: event.trigger
      args: {subtype: pong, args: {n: "${args['n']}"}}
cron.tick:
  cron_expression: '* * * * * */2'
  actions:
    - action: event.trigger
      args: {subtype: tick}
"""


def bus(url: str, **settings: Any) -> RedisBus:
    return RedisBus("test", 100, BusSettings(url=url, **settings))


@asynccontextmanager
async def started(*buses: RedisBus) -> AsyncIterator[None]:
    for b in buses:
        await b.start()
    try:
        yield
    finally:
        for b in buses:
            await b.stop()


async def take(stream: Any, count: int) -> list[hub_pb2.StreamEventsResponse]:
    return [await asyncio.wait_for(stream.read(), 20) for _ in range(count)]


async def publish_on(server: SpawnedServer, admin: Credentials, event: hub_pb2.Event) -> hub_pb2.Event:
    async with grpc.aio.insecure_channel(server.grpc_target) as channel:
        stub = hub_pb2_grpc.HubServiceStub(channel)
        response = await stub.PublishEvent(hub_pb2.PublishEventRequest(event=event), metadata=admin.metadata)
        return response.event


async def spawn_hubs(
    spawn: Spawn, tmp_path: Path, redis_url: str, count: int, *args: str, store_url: str | None = None
) -> list[SpawnedServer]:
    # One after another: the first makes the store, the others find it.
    store = ("--store", store_url) if store_url else ()
    return [await spawn(tmp_path / "data", "--bus", redis_url, *store, *args) for _ in range(count)]


async def until_health(server: SpawnedServer, expected: tuple[int, int]) -> None:
    """Waits until /healthz's status and the gRPC health service's are `expected`."""
    seen: tuple[int, int] | None = None
    for _ in range(200):
        async with grpc.aio.insecure_channel(server.grpc_target) as channel:
            answer = await health_pb2_grpc.HealthStub(channel).Check(health_pb2.HealthCheckRequest())
        async with aiohttp.ClientSession() as http, http.get(f"{server.http_url}/healthz") as response:
            seen = (response.status, answer.status)
        if seen == expected:
            return
        await asyncio.sleep(0.1)
    pytest.fail(f"health {seen}, not {expected}")


# Configuration.


def test_the_bus_is_embedded_unless_a_url_or_platypushs_redis_section_names_redis(tmp_path: Path) -> None:
    config = tmp_path / "config.yaml"
    assert Config.load().bus.redis_url is None
    config.write_text("redis: {host: cache.lan, port: 6380, password: 's3cr/t', db: 2}\n")
    assert Config.load(config).bus.redis_url == "redis://:s3cr%2Ft@cache.lan:6380/2"
    config.write_text("bus: {url: 'redis://localhost:6379/0', max_len: 500}\nredis: {host: cache.lan}\n")
    loaded = Config.load(config)
    assert (loaded.bus.redis_url, loaded.bus.max_len) == ("redis://localhost:6379/0", 500)
    assert Config.load(config, bus_url="embedded").bus.redis_url is None
    assert Config.load(config, bus_url="redis://other:1/3").bus.redis_url == "redis://other:1/3"
    config.write_text("bus: {uri: 'redis://localhost'}\n")
    with pytest.raises(ConfigError) as raised:
        Config.load(config)
    assert str(raised.value) == (
        f"{config}: bus.uri: unknown setting (known: claim_after, max_len, prefix, url)"
    )


# The engine on its own: the resume scenarios of test_resume.py, on Redis.


async def test_a_resumed_subscription_gets_the_history_then_live_events(redis: RedisServer) -> None:
    publisher, reader = bus(redis.url), bus(redis.url)
    async with started(publisher, reader):
        published = [await publisher.publish(custom_event(n=n)) for n in range(5)]
        assert [p.id for p in published] == sorted(p.id for p in published)
        async with reader.subscribe(hub_pb2.StreamEventsRequest(after=published[1].id)) as subscription:
            await publisher.publish(custom_event(n=5))
            received = [await asyncio.wait_for(anext(subscription), 10) for _ in range(4)]
    assert numbers(received) == [2, 3, 4, 5]
    assert [r.event.id for r in received[:3]] == [p.id for p in published[2:]]
    assert [r.missed for r in received] == [0, 0, 0, 0]


async def test_events_trimmed_from_the_stream_are_counted_in_missed(redis: RedisServer) -> None:
    publisher = bus(redis.url)  # not started: it only publishes
    published = [await publisher.publish(custom_event(n=n)) for n in range(6)]
    await publisher.stop()
    with redis.client() as client:
        client.xtrim("monotreme:events", maxlen=3, approximate=False)
    # A process that starts now resumes a subscriber from a stream that lost 1 and 2.
    reader = bus(redis.url)
    request = hub_pb2.StreamEventsRequest(after=published[0].id)
    async with started(reader), reader.subscribe(request) as subscription:
        received = [await asyncio.wait_for(anext(subscription), 10) for _ in range(3)]
    assert numbers(received) == [3, 4, 5]
    assert [r.missed for r in received] == [2, 0, 0]


async def test_replay_on_redis_applies_the_filters_and_the_bounded_queue(redis: RedisServer) -> None:
    publisher = RedisBus("test", 2, BusSettings(url=redis.url))
    async with started(publisher):
        published = [
            await publisher.publish(custom_event("odd" if n % 2 else "even", n=n)) for n in range(10)
        ]
        request = hub_pb2.StreamEventsRequest(after=published[0].id)
        request.args.update({"subtype": "odd"})
        async with publisher.subscribe(request) as subscription:
            received = [await asyncio.wait_for(anext(subscription), 10) for _ in range(2)]
    assert numbers(received) == [7, 9]
    assert [r.missed for r in received] == [3, 0]


async def test_listeners_run_once_across_buses_and_not_for_events_their_publisher_ran(
    redis: RedisServer,
) -> None:
    first, second = bus(redis.url), bus(redis.url)
    ran: list[tuple[str, int]] = []
    first.add_listener(lambda e: ran.append(("first", int(e.args["args"]["n"]))))
    second.add_listener(lambda e: ran.append(("second", int(e.args["args"]["n"]))))
    async with started(first, second):
        for n in range(6):
            await first.publish(custom_event(n=n), run_listeners=n != 3)
        await eventually(lambda: len(ran) == 5)
        await asyncio.sleep(0.5)  # nothing more comes
    assert sorted(n for _, n in ran) == [0, 1, 2, 4, 5]


async def test_a_dead_consumers_pending_events_are_claimed(redis: RedisServer) -> None:
    with redis.client() as client:
        client.xgroup_create("monotreme:events", GROUP, id="$", mkstream=True)
    publisher = bus(redis.url)  # not started: it only publishes
    async with started():
        await publisher.publish(custom_event(n=1))
        await publisher.publish(custom_event(n=2))
        await publisher.stop()
    # Another process's consumer took both and died before acknowledging them.
    with redis.client() as client:
        [[_, taken]] = client.xreadgroup(GROUP, "dead", {"monotreme:events": ">"})
    assert len(taken) == 2
    survivor = bus(redis.url, claim_after=0.2)
    ran: list[int] = []
    survivor.add_listener(lambda e: ran.append(int(e.args["args"]["n"])))
    async with started(survivor):
        await eventually(lambda: ran == [1, 2])
        with redis.client() as client:
            await eventually(lambda: client.xpending("monotreme:events", GROUP)["pending"] == 0)


async def test_publishing_while_redis_is_down_is_unavailable(own_redis: RedisServer) -> None:
    publisher = bus(own_redis.url)
    async with started(publisher):
        assert publisher.available
        own_redis.stop()
        with pytest.raises(Unavailable) as raised:
            await publisher.publish(custom_event(n=0))
        assert raised.value.reason == "BUS_UNAVAILABLE"
        assert raised.value.message.startswith(
            f"the event bus is unavailable: Redis at 127.0.0.1:{own_redis.port}: "
        )
        assert not publisher.available
        own_redis.start()
        await eventually(lambda: publisher.available)
        published = await publisher.publish(custom_event(n=1))
    assert published.args["args"]["n"] == 1


async def test_a_broadcast_sent_while_redis_is_down_arrives_once_it_is_back(
    own_redis: RedisServer,
) -> None:
    sender, receiver = bus(own_redis.url), bus(own_redis.url)
    heard: list[str] = []
    receiver.on_broadcast("revoked", heard.append)
    async with started(sender, receiver):
        own_redis.stop()
        sender.broadcast("revoked", "token:7")  # a revocation must reach every process
        await eventually(lambda: not sender.available)
        own_redis.start()
        await eventually(lambda: heard == ["token:7"], within=15)
        sender.broadcast("revoked", "jwt:abc")
        await eventually(lambda: heard == ["token:7", "jwt:abc"])


# Processes: `monotreme serve --bus redis://...`


async def test_processes_share_tokens_events_hooks_and_schedules(
    tmp_path: Path, redis: RedisServer, store_url: str | None, spawn_server: Spawn
) -> None:
    config = tmp_path / "config.yaml"
    config.write_text(CONFIG)
    hubs = await spawn_hubs(
        spawn_server, tmp_path, redis.url, 3, "--config", str(config), store_url=store_url
    )
    channels = [grpc.aio.insecure_channel(h.grpc_target) for h in hubs]
    try:
        admin = await register_admin(channels[0])
        stubs = [hub_pb2_grpc.HubServiceStub(c) for c in channels]
        # The token made on the first works on the others.
        for stub in stubs[1:]:
            await stub.ListActions(hub_pb2.ListActionsRequest(plugin="event"), metadata=admin.metadata)
        pings = [
            stub.StreamEvents(hub_pb2.StreamEventsRequest(args={"subtype": "ping"}), metadata=admin.metadata)
            for stub in stubs
        ]
        pongs = stubs[0].StreamEvents(
            hub_pb2.StreamEventsRequest(args={"subtype": "pong"}), metadata=admin.metadata
        )
        ticks = stubs[1].StreamEvents(
            hub_pb2.StreamEventsRequest(args={"subtype": "tick"}), metadata=admin.metadata
        )
        for stream in (*pings, pongs, ticks):
            await stream.wait_for_connection()
        await asyncio.sleep(0.5)  # the subscriptions are in place on their hubs
        published = []
        for n in range(12):  # round robin over the processes
            published.append(await publish_on(hubs[n % 3], admin, custom_event("ping", n=n)))
        # Every subscriber gets every event once, in the order of publication.
        for stream in pings:
            received = await take(stream, 12)
            assert numbers(received) == list(range(12))
            assert [r.event.id for r in received] == [p.id for p in published]
        # The hook ran once per event, in whichever process.
        answered = await take(pongs, 12)
        assert sorted(int(n) for n in numbers(answered)) == list(range(12))
        # The job fired once per tick: one event every 2 s, never two for one tick.
        tick_events = await take(ticks, 3)
        seconds = [round(r.event.timestamp / 2) for r in tick_events]
        assert len(set(seconds)) == 3, seconds
        for stream in (*pings, pongs, ticks):
            stream.cancel()
    finally:
        for channel in channels:
            await channel.close()


async def test_revoking_a_token_on_one_process_ends_its_streams_on_the_others(
    tmp_path: Path, redis: RedisServer, store_url: str | None, spawn_server: Spawn
) -> None:
    first, second = await spawn_hubs(spawn_server, tmp_path, redis.url, 2, store_url=store_url)
    async with (
        grpc.aio.insecure_channel(first.grpc_target) as one,
        grpc.aio.insecure_channel(second.grpc_target) as two,
    ):
        admin = await register_admin(one)
        auth = auth_pb2_grpc.AuthServiceStub(one)
        created = await auth.CreateToken(auth_pb2.CreateTokenRequest(name="phone"), metadata=admin.metadata)
        phone = (("authorization", f"Bearer {created.token}"),)
        stub = hub_pb2_grpc.HubServiceStub(two)
        # Cached on the second process by a call, then streaming there.
        await stub.ListActions(hub_pb2.ListActionsRequest(plugin="event"), metadata=phone)
        stream = stub.StreamEvents(hub_pb2.StreamEventsRequest(), metadata=phone)
        await stream.wait_for_connection()
        await auth.RevokeToken(auth_pb2.RevokeTokenRequest(id=created.info.id), metadata=admin.metadata)
        with pytest.raises(grpc.aio.AioRpcError) as ended:
            await asyncio.wait_for(stream.read(), 10)
        assert (ended.value.code(), ended.value.details()) == (
            grpc.StatusCode.UNAUTHENTICATED,
            "the token has been revoked",
        )
        with pytest.raises(grpc.aio.AioRpcError) as refused:
            await stub.ListActions(hub_pb2.ListActionsRequest(plugin="event"), metadata=phone)
        assert refused.value.code() == grpc.StatusCode.UNAUTHENTICATED


async def test_a_stream_resumes_after_an_id_across_a_restart_of_its_process(
    tmp_path: Path, redis: RedisServer, spawn_server: Spawn
) -> None:
    publisher, subscribed = await spawn_hubs(spawn_server, tmp_path, redis.url, 2)
    async with grpc.aio.insecure_channel(publisher.grpc_target) as channel:
        admin = await register_admin(channel)
    async with grpc.aio.insecure_channel(subscribed.grpc_target) as channel:
        stream = hub_pb2_grpc.HubServiceStub(channel).StreamEvents(
            hub_pb2.StreamEventsRequest(), metadata=admin.metadata
        )
        await stream.wait_for_connection()
        await asyncio.sleep(0.5)
        await publish_on(publisher, admin, custom_event(n=0))
        [last] = await take(stream, 1)
    assert await subscribed.stop() == 0
    for n in range(1, 4):  # while the subscriber's process is down
        await publish_on(publisher, admin, custom_event(n=n))
    [restarted] = await spawn_hubs(spawn_server, tmp_path, redis.url, 1)
    async with grpc.aio.insecure_channel(restarted.grpc_target) as channel:
        stream = hub_pb2_grpc.HubServiceStub(channel).StreamEvents(
            hub_pb2.StreamEventsRequest(after=last.event.id), metadata=admin.metadata
        )
        replayed = await take(stream, 3)
        await publish_on(publisher, admin, custom_event(n=4))
        live = await take(stream, 1)
        stream.cancel()
    assert numbers(replayed + live) == [1, 2, 3, 4]
    assert [r.missed for r in replayed + live] == [0, 0, 0, 0]


async def test_redis_restarted_mid_stream(
    tmp_path: Path, own_redis: RedisServer, spawn_server: Spawn
) -> None:
    publisher, subscribed = await spawn_hubs(spawn_server, tmp_path, own_redis.url, 2)
    async with grpc.aio.insecure_channel(publisher.grpc_target) as channel:
        admin = await register_admin(channel)
    async with grpc.aio.insecure_channel(subscribed.grpc_target) as channel:
        stream = hub_pb2_grpc.HubServiceStub(channel).StreamEvents(
            hub_pb2.StreamEventsRequest(), metadata=admin.metadata
        )
        await stream.wait_for_connection()
        await asyncio.sleep(0.5)
        await publish_on(publisher, admin, custom_event(n=0))
        assert numbers(await take(stream, 1)) == [0]
        own_redis.stop()
        # Publishing needs Redis: UNAVAILABLE with the reason; both processes say they are not ready.
        with pytest.raises(grpc.aio.AioRpcError) as refused:
            await publish_on(publisher, admin, custom_event(n=-1))
        assert refused.value.code() == grpc.StatusCode.UNAVAILABLE
        assert refused.value.details().startswith("the event bus is unavailable: Redis at 127.0.0.1:")
        for hub in (publisher, subscribed):
            await until_health(hub, (503, health_pb2.HealthCheckResponse.NOT_SERVING))
        own_redis.start()
        for hub in (publisher, subscribed):
            await until_health(hub, (200, health_pb2.HealthCheckResponse.SERVING))
        for n in range(1, 4):
            await publish_on(publisher, admin, custom_event(n=n))
        # The same stream goes on: everything after the outage, nothing twice.
        received = await take(stream, 3)
        stream.cancel()
    assert numbers(received) == [1, 2, 3]
    assert [r.missed for r in received] == [0, 0, 0]


async def test_a_process_killed_mid_load_loses_no_acknowledged_publish(
    tmp_path: Path, redis: RedisServer, store_url: str | None, spawn_server: Spawn
) -> None:
    victim, survivor = await spawn_hubs(spawn_server, tmp_path, redis.url, 2, store_url=store_url)
    async with grpc.aio.insecure_channel(survivor.grpc_target) as channel:
        admin = await register_admin(channel)
        stream = hub_pb2_grpc.HubServiceStub(channel).StreamEvents(
            hub_pb2.StreamEventsRequest(), metadata=admin.metadata
        )
        await stream.wait_for_connection()
        await asyncio.sleep(0.5)
        acknowledged: list[hub_pb2.Event] = []

        async def load() -> None:
            async with grpc.aio.insecure_channel(victim.grpc_target) as target:
                stub = hub_pb2_grpc.HubServiceStub(target)
                for n in range(10_000):
                    request = hub_pb2.PublishEventRequest(event=custom_event(n=n))
                    try:
                        response = await stub.PublishEvent(request, metadata=admin.metadata)
                    except grpc.aio.AioRpcError:
                        return  # the process died under this call: not acknowledged
                    acknowledged.append(response.event)

        loader = asyncio.ensure_future(load())
        await eventually(lambda: len(acknowledged) >= 50)
        await victim.kill()
        await asyncio.wait_for(loader, 30)
        received = await take(stream, len(acknowledged))
        stream.cancel()
    # Every acknowledged event reached the other process, in order; none was lost.
    assert [r.event.id for r in received] == [e.id for e in acknowledged]
