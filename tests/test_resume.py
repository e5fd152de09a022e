"""Resuming a stream after an event id: the history first, in order, then live
events, with no duplicate, no gap, and the lost ones counted in `missed`."""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable
from pathlib import Path

import grpc
import pytest
from monotreme.events.bus import LocalBus
from monotreme.server import Server
from monotreme.v1 import hub_pb2, hub_pb2_grpc

from tests.conftest import Credentials, register_admin, start_server
from tests.test_event_stream import custom_event, publish


def numbers(responses: list[hub_pb2.StreamEventsResponse]) -> list[int]:
    return [int(r.event.args.fields["args"].struct_value["n"]) for r in responses]


async def read(
    stream: grpc.aio.UnaryStreamCall[object, hub_pb2.StreamEventsResponse], count: int
) -> list[hub_pb2.StreamEventsResponse]:
    return [await asyncio.wait_for(stream.read(), 10) for _ in range(count)]  # type: ignore[misc]


async def test_a_stream_resumes_after_an_id_with_history_then_live_events(
    hub_stub: hub_pb2_grpc.HubServiceStub, admin: Credentials
) -> None:
    published = [await publish(hub_stub, admin, custom_event(n=n)) for n in range(5)]
    assert [p.id for p in published] == sorted(p.id for p in published)  # ids order events
    request = hub_pb2.StreamEventsRequest(types=["CustomEvent"], after=published[1].id)
    stream = hub_stub.StreamEvents(request, metadata=admin.metadata)
    replayed = await read(stream, 3)
    await publish(hub_stub, admin, custom_event(n=5))
    live = await read(stream, 1)
    assert numbers(replayed + live) == [2, 3, 4, 5]
    assert [r.event.id for r in replayed] == [p.id for p in published[2:]]
    assert [r.missed for r in replayed + live] == [0, 0, 0, 0]
    stream.cancel()


async def test_resuming_after_the_newest_id_gets_only_live_events(
    hub_stub: hub_pb2_grpc.HubServiceStub, admin: Credentials
) -> None:
    newest = await publish(hub_stub, admin, custom_event(n=0))
    request = hub_pb2.StreamEventsRequest(after=newest.id)
    stream = hub_stub.StreamEvents(request, metadata=admin.metadata)
    await stream.wait_for_connection()
    await publish(hub_stub, admin, custom_event(n=1))
    assert numbers(await read(stream, 1)) == [1]
    stream.cancel()


async def test_a_publishers_own_id_is_replaced_by_an_ordered_one(
    hub_stub: hub_pb2_grpc.HubServiceStub, admin: Credentials
) -> None:
    first = await publish(hub_stub, admin, custom_event(n=0))
    event = custom_event(n=1)
    event.id = "f" * 32
    second = await publish(hub_stub, admin, event)
    assert second.id != "f" * 32 and second.id > first.id and len(second.id) == 32


async def test_events_gone_from_the_history_are_counted_in_missed(
    make_server: Callable[..., Awaitable[Server]],
) -> None:
    server = await make_server("events:\n  history_size: 3\n")
    async with grpc.aio.insecure_channel(server.grpc_target) as channel:
        admin = await register_admin(channel)
        stub = hub_pb2_grpc.HubServiceStub(channel)
        published = [await publish(stub, admin, custom_event(n=n)) for n in range(6)]
        stream = stub.StreamEvents(
            hub_pb2.StreamEventsRequest(after=published[0].id), metadata=admin.metadata
        )
        replayed = await read(stream, 3)
        stream.cancel()
    # 1 and 2 were pushed out of a history of 3; 3, 4 and 5 are still there.
    assert numbers(replayed) == [3, 4, 5]
    assert [r.missed for r in replayed] == [2, 0, 0]


async def test_an_id_from_before_a_restart_says_events_were_lost(tmp_path: Path) -> None:
    first = await start_server(tmp_path, data_dir=tmp_path / "data")
    try:
        async with grpc.aio.insecure_channel(first.grpc_target) as channel:
            admin = await register_admin(channel)
            before = await publish(hub_pb2_grpc.HubServiceStub(channel), admin, custom_event(n=0))
    finally:
        await first.stop()
    second = await start_server(tmp_path, data_dir=tmp_path / "data")
    try:
        async with grpc.aio.insecure_channel(second.grpc_target) as channel:
            stub = hub_pb2_grpc.HubServiceStub(channel)
            after = await publish(stub, admin, custom_event(n=1))
            stream = stub.StreamEvents(hub_pb2.StreamEventsRequest(after=before.id), metadata=admin.metadata)
            [response] = await read(stream, 1)
            stream.cancel()
    finally:
        await second.stop()
    # The new run's event comes; what the old run published after `before` is
    # gone with its history, and the hub cannot know how much: at least one.
    assert (response.event.id, response.missed) == (after.id, 1)
    assert after.id > before.id


@pytest.mark.parametrize("after", ["nope", "g" * 32, "0" * 31])
async def test_a_malformed_id_is_invalid_argument(
    hub_stub: hub_pb2_grpc.HubServiceStub, admin: Credentials, after: str
) -> None:
    stream = hub_stub.StreamEvents(hub_pb2.StreamEventsRequest(after=after), metadata=admin.metadata)
    with pytest.raises(grpc.aio.AioRpcError) as raised:
        await stream.read()
    assert raised.value.code() == grpc.StatusCode.INVALID_ARGUMENT
    assert raised.value.details() == f"after: '{after}' is not an event id of this hub (32 hex digits)"


async def test_replay_applies_the_filters_and_the_bounded_queue() -> None:
    bus = LocalBus("test", queue_size=2, history_size=100, history_seconds=60)
    published = [await bus.publish(custom_event("odd" if n % 2 else "even", n=n)) for n in range(10)]
    request = hub_pb2.StreamEventsRequest(after=published[0].id)
    request.args.update({"subtype": "odd"})
    async with bus.subscribe(request) as subscription:
        received = [await anext(subscription) for _ in range(2)]
    # Odd events after 0: 1 3 5 7 9; a queue of 2 keeps the newest two and counts the rest.
    assert numbers(received) == [7, 9]
    assert [r.missed for r in received] == [3, 0]


async def test_live_events_queued_during_the_replay_are_not_repeated() -> None:
    bus = LocalBus("test", queue_size=100, history_size=100, history_seconds=60)
    published = [await bus.publish(custom_event(n=n)) for n in range(3)]
    async with bus.subscribe(hub_pb2.StreamEventsRequest(after=published[0].id)) as subscription:
        await bus.publish(custom_event(n=3))
        received = [await anext(subscription) for _ in range(3)]
    assert numbers(received) == [1, 2, 3]
    assert [r.missed for r in received] == [0, 0, 0]


async def test_batches_carry_what_queued_in_order_then_one_at_a_time(
    hub_stub: hub_pb2_grpc.HubServiceStub, admin: Credentials
) -> None:
    published = [await publish(hub_stub, admin, custom_event(n=n)) for n in range(5)]
    request = hub_pb2.StreamEventsRequest(types=["CustomEvent"], after=published[0].id)
    stream = hub_stub.StreamEventBatches(
        hub_pb2.StreamEventBatchesRequest(request=request), metadata=admin.metadata
    )
    first: hub_pb2.StreamEventBatchesResponse = await asyncio.wait_for(stream.read(), 10)  # type: ignore[assignment]
    await publish(hub_stub, admin, custom_event(n=5))
    second: hub_pb2.StreamEventBatchesResponse = await asyncio.wait_for(stream.read(), 10)  # type: ignore[assignment]
    stream.cancel()
    # The replayed history had queued before the stream's first write: one message.
    assert numbers(list(first.events)) == [1, 2, 3, 4]
    assert [e.event.id for e in first.events] == [p.id for p in published[1:]]
    assert numbers(list(second.events)) == [5]


async def test_batches_are_bounded_and_keep_missed_on_the_event_after_the_gap() -> None:
    bus = LocalBus("test", queue_size=100, history_size=200, history_seconds=60)
    published = [await bus.publish(custom_event(n=n)) for n in range(150)]
    async with bus.subscribe(hub_pb2.StreamEventsRequest(after=published[0].id)) as subscription:
        batches = subscription.batches(64)
        received = [await anext(batches) for _ in range(2)]
    # 149 after the first; a queue of 100 keeps the newest 100 and counts 49.
    assert [len(b) for b in received] == [64, 36]
    assert numbers(received[0] + received[1]) == list(range(50, 150))
    assert [r.missed for r in received[0][:2]] == [49, 0]


async def test_batches_hold_at_most_max_events(
    hub_stub: hub_pb2_grpc.HubServiceStub, admin: Credentials
) -> None:
    published = [await publish(hub_stub, admin, custom_event(n=n)) for n in range(5)]
    request = hub_pb2.StreamEventsRequest(types=["CustomEvent"], after=published[0].id)
    stream = hub_stub.StreamEventBatches(
        hub_pb2.StreamEventBatchesRequest(request=request, max_events=3), metadata=admin.metadata
    )
    batches = [await asyncio.wait_for(stream.read(), 10) for _ in range(2)]
    stream.cancel()
    assert [numbers(list(b.events)) for b in batches] == [[1, 2, 3], [4]]  # type: ignore[union-attr]
    too_many = hub_stub.StreamEventBatches(
        hub_pb2.StreamEventBatchesRequest(request=request, max_events=65), metadata=admin.metadata
    )
    with pytest.raises(grpc.aio.AioRpcError) as raised:
        await too_many.read()
    assert (raised.value.code(), raised.value.details()) == (
        grpc.StatusCode.INVALID_ARGUMENT,
        "max_events: at most 64 (0 for 64)",
    )
