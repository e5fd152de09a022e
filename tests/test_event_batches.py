"""StreamEventBatches: messages spliced from each event's shared bytes, and
`max_delay_ms`, which waits for more events to fill a message."""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable

import grpc
import pytest
from monotreme.events.bus import LocalBus
from monotreme.memo import Memo, spliced
from monotreme.server import Server
from monotreme.v1 import hub_pb2, hub_pb2_grpc

from tests.conftest import Credentials, register_admin
from tests.test_event_stream import custom_event, publish
from tests.test_resume import numbers

Batches = grpc.aio.UnaryStreamCall[hub_pb2.StreamEventBatchesRequest, hub_pb2.StreamEventBatchesResponse]


def response(missed: int = 0, **args: object) -> hub_pb2.StreamEventsResponse:
    event = custom_event(**args)
    event.id, event.origin = "0" * 32, "kitchen"
    return hub_pb2.StreamEventsResponse(event=event, missed=missed)


@pytest.mark.parametrize(
    "events",
    [
        [],
        [response()],
        [response(n=1), response(missed=3, n=2), response(missed=300, n=3)],
        [response(text="çà et là, 水, 🦆"), response(missed=1, text="")],
        # Lengths of one, two and three varint bytes.
        [response(blob="x" * 10), response(blob="y" * 200), response(blob="z" * 20_000)],
    ],
    ids=["empty", "one", "missed", "unicode", "lengths"],
)
def test_a_spliced_batch_is_the_bytes_protobuf_writes(events: list[hub_pb2.StreamEventsResponse]) -> None:
    expected = hub_pb2.StreamEventBatchesResponse(events=events)
    # Byte for byte: a map's (Struct's) order is protobuf's to choose unless deterministic.
    deterministic = spliced(1, lambda e: e.SerializeToString(deterministic=True))
    assert deterministic(events) == expected.SerializeToString(deterministic=True)
    # As the door encodes: the same message, and the memoized bytes the same again.
    encode = spliced(1, Memo(hub_pb2.StreamEventsResponse.SerializeToString))
    data = encode(events)
    assert hub_pb2.StreamEventBatchesResponse.FromString(data) == expected
    assert encode(events) == data


async def batches(stub: hub_pb2_grpc.HubServiceStub, admin: Credentials, **options: int | str) -> Batches:
    request = hub_pb2.StreamEventsRequest(types=["CustomEvent"], after=str(options.pop("after", "")))
    stream: Batches = stub.StreamEventBatches(
        hub_pb2.StreamEventBatchesRequest(request=request, **options), metadata=admin.metadata
    )
    await stream.wait_for_connection()
    return stream


async def read(stream: Batches, count: int) -> list[hub_pb2.StreamEventBatchesResponse]:
    return [await asyncio.wait_for(stream.read(), 10) for _ in range(count)]  # type: ignore[misc]


async def test_batches_over_grpc_carry_every_event_in_order_with_its_own_missed(
    make_server: Callable[..., Awaitable[Server]],
) -> None:
    server = await make_server("events:\n  history_size: 3\n")
    async with grpc.aio.insecure_channel(server.grpc_target) as channel:
        admin = await register_admin(channel)
        stub = hub_pb2_grpc.HubServiceStub(channel)
        published = [await publish(stub, admin, custom_event(n=n, text=f"é{n}")) for n in range(6)]
        # The history holds the last three: the two after the first that it lost are missed.
        stream = await batches(stub, admin, after=published[0].id, max_events=2, max_delay_ms=1000)
        messages = await read(stream, 2)
        stream.cancel()
    assert [numbers(list(m.events)) for m in messages] == [[3, 4], [5]]
    assert [e.missed for m in messages for e in m.events] == [2, 0, 0]
    events = [e.event for m in messages for e in m.events]
    assert events == published[3:]
    assert [e.args["args"]["text"] for e in events] == ["é3", "é4", "é5"]


async def test_a_lingering_message_goes_when_the_delay_ends_short_of_max_events(
    hub_stub: hub_pb2_grpc.HubServiceStub, admin: Credentials
) -> None:
    stream = await batches(hub_stub, admin, max_delay_ms=50)
    published = await publish(hub_stub, admin, custom_event(n=1))
    # 63 short of max_events: only the delay's end sends it.
    [message] = await read(stream, 1)
    stream.cancel()
    assert [e.event for e in message.events] == [published]
    assert [e.missed for e in message.events] == [0]


async def test_a_lingering_list_goes_as_soon_as_it_is_full_or_closed() -> None:
    bus = LocalBus("test", queue_size=100, history_size=100, history_seconds=60)
    async with bus.subscribe(hub_pb2.StreamEventsRequest()) as subscription:
        # A delay no test waits out: only a full list, or the end, sends.
        lists = subscription.batches(3, delay=3600)
        await bus.publish(custom_event(n=0))
        first = asyncio.ensure_future(anext(lists))
        await asyncio.sleep(0)  # lingering, with one event of three
        assert not first.done()
        for n in (1, 2, 3):
            await bus.publish(custom_event(n=n))
        assert numbers(await first) == [0, 1, 2]
        second = asyncio.ensure_future(anext(lists))
        await asyncio.sleep(0)
        assert not second.done()
        subscription.close()
        assert numbers(await second) == [3]
        with pytest.raises(StopAsyncIteration):
            await anext(lists)


async def test_a_max_delay_beyond_a_second_is_refused(
    hub_stub: hub_pb2_grpc.HubServiceStub, admin: Credentials
) -> None:
    stream = hub_stub.StreamEventBatches(
        hub_pb2.StreamEventBatchesRequest(max_delay_ms=1001), metadata=admin.metadata
    )
    with pytest.raises(grpc.aio.AioRpcError) as raised:
        await stream.read()
    assert (raised.value.code(), raised.value.details()) == (
        grpc.StatusCode.INVALID_ARGUMENT,
        "max_delay_ms: at most 1000 (0 to send at once)",
    )
