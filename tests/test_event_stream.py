"""PublishEvent and StreamEvents: the event shape, filters, ordering and slow subscribers."""

from __future__ import annotations

import asyncio
import itertools
from collections.abc import Awaitable, Callable
from typing import Any

import grpc
import pytest
from google.protobuf import json_format
from monotreme.events.bus import LocalBus
from monotreme.events.filters import predicate
from monotreme.events.types import type_matches
from monotreme.server import Server
from monotreme.v1 import hub_pb2, hub_pb2_grpc

from tests.conftest import Credentials, eventually, register_admin

CUSTOM = "platypush.message.event.custom.CustomEvent"


def custom_event(subtype: str = "foo", **args: Any) -> hub_pb2.Event:
    event = hub_pb2.Event(type="event")
    event.args.update({"type": CUSTOM, "subtype": subtype, "args": args})
    return event


def as_json(message: Any) -> Any:
    return json_format.MessageToDict(message, always_print_fields_with_no_presence=True)


async def publish(
    stub: hub_pb2_grpc.HubServiceStub, admin: Credentials, event: hub_pb2.Event
) -> hub_pb2.Event:
    response = await stub.PublishEvent(hub_pb2.PublishEventRequest(event=event), metadata=admin.metadata)
    return response.event


async def subscribe(
    stub: hub_pb2_grpc.HubServiceStub, admin: Credentials, **filters: Any
) -> grpc.aio.UnaryStreamCall[hub_pb2.StreamEventsRequest, hub_pb2.StreamEventsResponse]:
    request = hub_pb2.StreamEventsRequest(types=filters.pop("types", []))
    request.args.update(filters.pop("args", {}))
    stream = stub.StreamEvents(request, metadata=admin.metadata)
    await stream.wait_for_connection()  # the server answers once the subscription is live
    return stream


async def test_published_events_have_platypushs_shape(
    server: Server, hub_stub: hub_pb2_grpc.HubServiceStub, admin: Credentials
) -> None:
    published = as_json(await publish(hub_stub, admin, custom_event("foo", bar="baz")))
    assert sorted(published) == sorted(["id", "type", "origin", "target", "_timestamp", "args"])
    assert len(published["id"]) == 32
    assert (published["type"], published["origin"], published["target"]) == (
        "event",
        server.config.server.device_id,
        "",
    )
    assert published["args"] == {"type": CUSTOM, "subtype": "foo", "args": {"bar": "baz"}}


async def test_events_are_published_under_their_full_type_name(
    hub_stub: hub_pb2_grpc.HubServiceStub, admin: Credentials
) -> None:
    """`CustomEvent` and `platypush.events.custom.CustomEvent` are published as
    the full name, so subscribers filtering on it see every one; an unknown
    short name stays as written."""
    stream = await subscribe(hub_stub, admin, types=[CUSTOM])
    for written in ("CustomEvent", "platypush.events.custom.CustomEvent", CUSTOM):
        event = hub_pb2.Event()
        event.args.update({"type": written, "subtype": written})
        assert (await publish(hub_stub, admin, event)).args["type"] == CUSTOM
    received = [(await stream.read()).event.args for _ in range(3)]
    assert [(a["type"], a["subtype"]) for a in received] == [
        (CUSTOM, "CustomEvent"),
        (CUSTOM, "platypush.events.custom.CustomEvent"),
        (CUSTOM, CUSTOM),
    ]
    stream.cancel()
    unknown = hub_pb2.Event()
    unknown.args.update({"type": "DoorbellRang"})
    assert (await publish(hub_stub, admin, unknown)).args["type"] == "DoorbellRang"


async def test_stream_delivers_events_in_publish_order(
    hub_stub: hub_pb2_grpc.HubServiceStub, admin: Credentials
) -> None:
    stream = await subscribe(hub_stub, admin)
    sent = [await publish(hub_stub, admin, custom_event(n=i)) for i in range(3)]
    received = [await stream.read() for _ in range(3)]
    stream.cancel()
    assert [r.event for r in received] == sent
    assert [r.missed for r in received] == [0, 0, 0]


@pytest.mark.parametrize(
    "filters",
    [
        {"types": [CUSTOM]},
        {"types": ["CustomEvent"]},
        {"types": ["platypush.events.custom.CustomEvent"]},
        {"args": {"subtype": "arrived"}},
        {"args": {"args": {"who": {"name": "alice"}}}},
        {"types": ["VariableEvent", "CustomEvent"], "args": {"subtype": "arrived"}},
    ],
)
async def test_server_side_filters(
    hub_stub: hub_pb2_grpc.HubServiceStub, admin: Credentials, filters: dict[str, Any]
) -> None:
    stream = await subscribe(hub_stub, admin, **filters)
    other = hub_pb2.Event()
    other.args.update({"type": "platypush.message.event.other.OtherEvent", "subtype": "other"})
    await publish(hub_stub, admin, other)
    await publish(hub_stub, admin, custom_event("left", who={"name": "bob"}))
    wanted = await publish(hub_stub, admin, custom_event("arrived", who={"name": "alice", "phone": "pixel"}))
    if not filters.get("args"):
        assert (await stream.read()).event.args.fields["subtype"].string_value == "left"
    assert (await stream.read()).event == wanted
    stream.cancel()


async def test_subscribers_that_filter_alike_and_apart_each_get_their_own_events(
    hub_stub: hub_pb2_grpc.HubServiceStub, admin: Credentials
) -> None:
    # Two ask alike (the bus decides once per event for both; the args' key
    # order does not matter), one for another subtype, one for every type.
    alike = [
        await subscribe(hub_stub, admin, types=["CustomEvent"], args={"subtype": "a", "args": {"n": 1}}),
        await subscribe(hub_stub, admin, types=["CustomEvent"], args={"args": {"n": 1}, "subtype": "a"}),
    ]
    apart = await subscribe(hub_stub, admin, types=["CustomEvent"], args={"subtype": "b"})
    everything = await subscribe(hub_stub, admin)
    sent = [
        await publish(hub_stub, admin, custom_event(subtype, n=n))
        for subtype, n in (("a", 1), ("b", 1), ("a", 2), ("a", 1))
    ]
    for stream in alike:
        assert [(await stream.read()).event for _ in range(2)] == [sent[0], sent[3]]
    assert (await apart.read()).event == sent[1]
    assert [(await everything.read()).event for _ in range(4)] == sent
    for stream in (*alike, apart, everything):
        stream.cancel()


async def test_events_need_a_type(hub_stub: hub_pb2_grpc.HubServiceStub, admin: Credentials) -> None:
    for event in (hub_pb2.Event(), custom_event()):
        if event.args.fields:
            event.args.fields["type"].string_value = ""
        with pytest.raises(grpc.aio.AioRpcError) as caught:
            await publish(hub_stub, admin, event)
        assert caught.value.code() == grpc.StatusCode.INVALID_ARGUMENT
        assert caught.value.details().startswith("event.args.type: required")


async def test_events_need_credentials(hub_stub: hub_pb2_grpc.HubServiceStub, admin: Credentials) -> None:
    with pytest.raises(grpc.aio.AioRpcError) as caught:
        await hub_stub.PublishEvent(hub_pb2.PublishEventRequest(event=custom_event()))
    assert caught.value.code() == grpc.StatusCode.UNAUTHENTICATED
    stream = hub_stub.StreamEvents(hub_pb2.StreamEventsRequest())
    with pytest.raises(grpc.aio.AioRpcError) as caught:
        await stream.read()
    assert caught.value.code() == grpc.StatusCode.UNAUTHENTICATED


async def test_a_slow_subscriber_loses_its_oldest_events_and_is_told(
    make_server: Callable[..., Awaitable[Server]],
) -> None:
    server = await make_server("events:\n  queue_size: 8\n")
    total, padding = 600, "x" * 16_384  # ~10 MB: more than the transport buffers hold
    async with grpc.aio.insecure_channel(server.grpc_target) as channel:
        admin = await register_admin(channel)
        stub = hub_pb2_grpc.HubServiceStub(channel)
        slow = await subscribe(stub, admin)
        fast = await subscribe(stub, admin)
        fast_numbers = []
        for i in range(total):
            await publish(stub, admin, custom_event(n=i, padding=padding))
            received = await fast.read()  # the fast one keeps up, whatever the slow one does
            assert received.missed == 0
            fast_numbers.append(int(received.event.args.fields["args"].struct_value["n"]))
        slow_received = [await slow.read()]
        while slow_received[-1].event.args.fields["args"].struct_value["n"] != total - 1:
            slow_received.append(await slow.read())
        slow.cancel()
        fast.cancel()
    assert fast_numbers == list(range(total))
    numbers = [int(r.event.args.fields["args"].struct_value["n"]) for r in slow_received]
    assert numbers == sorted(numbers)
    # Every event reached the slow subscriber or was counted as missed, at the gap.
    assert sum(r.missed for r in slow_received) == total - len(numbers) > 0
    for before, after in itertools.pairwise(slow_received):
        n_before = before.event.args.fields["args"].struct_value["n"]
        n_after = after.event.args.fields["args"].struct_value["n"]
        assert n_after - n_before - 1 == after.missed


async def test_bus_drops_the_oldest_when_a_queue_is_full() -> None:
    bus = LocalBus("test", queue_size=8, history_size=100, history_seconds=60)
    async with bus.subscribe(hub_pb2.StreamEventsRequest()) as subscription:
        for i in range(50):
            await bus.publish(custom_event(n=i))
        received = [await anext(subscription) for _ in range(8)]
    assert [int(r.event.args.fields["args"].struct_value["n"]) for r in received] == list(range(42, 50))
    assert [r.missed for r in received] == [42, 0, 0, 0, 0, 0, 0, 0]
    assert bus.subscriber_count == 0


async def test_cancelled_streams_unsubscribe(
    server: Server, hub_stub: hub_pb2_grpc.HubServiceStub, admin: Credentials
) -> None:
    streams = [await subscribe(hub_stub, admin) for _ in range(3)]
    assert server.hub.bus.subscriber_count == 3
    for stream in streams:
        stream.cancel()
    await eventually(lambda: server.hub.bus.subscriber_count == 0)


async def test_fifty_subscribers_all_receive_an_event(
    hub_stub: hub_pb2_grpc.HubServiceStub, admin: Credentials
) -> None:
    streams = [await subscribe(hub_stub, admin) for _ in range(50)]
    sent = await publish(hub_stub, admin, custom_event("broadcast"))
    received = await asyncio.gather(*(stream.read() for stream in streams))
    for stream in streams:
        stream.cancel()
    assert [r.event for r in received] == [sent] * 50


def test_subset_matching() -> None:
    assert predicate({})({"a": 1})
    assert predicate({"a": 1})({"a": 1, "b": 2})
    assert predicate({"a": {"b": 1}})({"a": {"b": 1, "c": 2}})
    assert not predicate({"a": {"b": 1}})({"a": {"c": 2}})
    assert not predicate({"a": 1})({"b": 1})
    assert not predicate({"a": [1]})({"a": [1, 2]})
    assert not predicate({"a": {"b": 1}})({"a": 1})


def test_type_matching() -> None:
    assert type_matches(CUSTOM, CUSTOM)
    assert type_matches("CustomEvent", CUSTOM)
    assert type_matches("platypush.events.custom.CustomEvent", CUSTOM)
    assert type_matches(CUSTOM, "platypush.events.custom.CustomEvent")
    assert not type_matches("Custom", CUSTOM)
    assert not type_matches("other.CustomEvent", CUSTOM)
