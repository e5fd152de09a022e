"""The event bus and the gRPC event RPCs: publish, stream, filters, slow subscribers."""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable
from typing import Any

import grpc
import pytest
from google.protobuf import json_format, struct_pb2
from monotreme.bus import subset_matches
from monotreme.events import type_matches
from monotreme.server import Server
from monotreme.v1 import auth_pb2, auth_pb2_grpc, hub_pb2, hub_pb2_grpc

from tests.conftest import ADMIN_PASSWORD, ADMIN_USER, Credentials

CUSTOM_EVENT = "platypush.message.event.custom.CustomEvent"
WEBHOOK_EVENT = "platypush.message.event.http.hook.WebhookEvent"
MAKE_SERVER = Callable[..., Awaitable[Server]]


def struct(value: dict[str, Any]) -> struct_pb2.Struct:
    message = struct_pb2.Struct()
    message.update(value)
    return message


def event_request(args: dict[str, Any], **fields: Any) -> hub_pb2.PublishEventRequest:
    return hub_pb2.PublishEventRequest(event=hub_pb2.Event(args=struct(args), **fields))


def custom(subtype: str, **args: Any) -> hub_pb2.PublishEventRequest:
    return event_request({"type": CUSTOM_EVENT, "subtype": subtype, "args": args})


def args_of(response: hub_pb2.StreamEventsResponse) -> dict[str, Any]:
    return json_format.MessageToDict(response.event.args)


async def open_stream(
    stub: hub_pb2_grpc.HubServiceStub,
    admin: Credentials,
    types: list[str] | None = None,
    args: dict[str, Any] | None = None,
) -> Any:
    """A StreamEvents call that is subscribed (initial metadata received)."""
    request = hub_pb2.StreamEventsRequest(types=types or [], args=struct(args or {}))
    stream = stub.StreamEvents(request, metadata=admin.metadata)
    await stream.initial_metadata()
    return stream


async def next_message(stream: Any) -> hub_pb2.StreamEventsResponse:
    message = await asyncio.wait_for(stream.read(), 10)
    assert message is not grpc.aio.EOF
    assert isinstance(message, hub_pb2.StreamEventsResponse)
    return message


# --- PublishEvent ---------------------------------------------------------------


async def test_publish_answers_the_event_as_published(
    hub_stub: hub_pb2_grpc.HubServiceStub, admin: Credentials
) -> None:
    response = await hub_stub.PublishEvent(custom("door_opened", room="hall"), metadata=admin.metadata)
    event = response.event
    assert event.id
    assert event.origin
    assert event.timestamp > 0
    assert event.type == "event"
    as_dict = json_format.MessageToDict(event, always_print_fields_with_no_presence=True)
    assert set(as_dict) == {"id", "type", "origin", "target", "_timestamp", "args"}
    assert as_dict["type"] == "event"
    assert as_dict["id"] == event.id
    assert as_dict["origin"] == event.origin
    assert as_dict["target"] == ""
    assert as_dict["_timestamp"] == event.timestamp
    assert as_dict["args"] == {"type": CUSTOM_EVENT, "subtype": "door_opened", "args": {"room": "hall"}}


async def test_publish_keeps_a_given_id_and_origin(
    hub_stub: hub_pb2_grpc.HubServiceStub, admin: Credentials
) -> None:
    request = event_request({"type": CUSTOM_EVENT, "subtype": "x"}, id="my-id", origin="elsewhere")
    response = await hub_stub.PublishEvent(request, metadata=admin.metadata)
    assert (response.event.id, response.event.origin) == ("my-id", "elsewhere")


async def test_published_ids_are_unique(hub_stub: hub_pb2_grpc.HubServiceStub, admin: Credentials) -> None:
    ids = {(await hub_stub.PublishEvent(custom("x"), metadata=admin.metadata)).event.id for _ in range(5)}
    assert len(ids) == 5


@pytest.mark.parametrize("args", [{}, {"subtype": "no type"}, {"type": ""}])
async def test_publish_without_args_type_is_invalid(
    hub_stub: hub_pb2_grpc.HubServiceStub, admin: Credentials, args: dict[str, Any]
) -> None:
    with pytest.raises(grpc.aio.AioRpcError) as caught:
        await hub_stub.PublishEvent(event_request(args), metadata=admin.metadata)
    assert caught.value.code() == grpc.StatusCode.INVALID_ARGUMENT
    assert "args.type" in (caught.value.details() or "")


# --- Authentication -------------------------------------------------------------


async def test_publish_without_a_token_is_unauthenticated(
    hub_stub: hub_pb2_grpc.HubServiceStub, admin: Credentials
) -> None:
    with pytest.raises(grpc.aio.AioRpcError) as caught:
        await hub_stub.PublishEvent(custom("x"))
    assert caught.value.code() == grpc.StatusCode.UNAUTHENTICATED


async def test_stream_without_a_token_is_unauthenticated(
    hub_stub: hub_pb2_grpc.HubServiceStub, admin: Credentials
) -> None:
    stream = hub_stub.StreamEvents(hub_pb2.StreamEventsRequest())
    with pytest.raises(grpc.aio.AioRpcError) as caught:
        await asyncio.wait_for(stream.read(), 10)
    assert caught.value.code() == grpc.StatusCode.UNAUTHENTICATED


async def test_stream_with_a_bad_token_is_unauthenticated(
    hub_stub: hub_pb2_grpc.HubServiceStub, admin: Credentials
) -> None:
    stream = hub_stub.StreamEvents(
        hub_pb2.StreamEventsRequest(), metadata=(("authorization", "Bearer not-a-token"),)
    )
    with pytest.raises(grpc.aio.AioRpcError) as caught:
        await asyncio.wait_for(stream.read(), 10)
    assert caught.value.code() == grpc.StatusCode.UNAUTHENTICATED


# --- StreamEvents ---------------------------------------------------------------


async def test_stream_receives_events_in_publish_order(
    hub_stub: hub_pb2_grpc.HubServiceStub, admin: Credentials
) -> None:
    stream = await open_stream(hub_stub, admin)
    published = [
        (await hub_stub.PublishEvent(custom(f"e{n}", n=n), metadata=admin.metadata)).event for n in range(3)
    ]
    received = [await next_message(stream) for _ in range(3)]
    assert [m.event for m in received] == published
    assert [args_of(m)["subtype"] for m in received] == ["e0", "e1", "e2"]
    assert all(m.missed == 0 for m in received)
    stream.cancel()


@pytest.mark.parametrize(
    "types",
    [
        [CUSTOM_EVENT],
        ["CustomEvent"],
        ["platypush.events.custom.CustomEvent"],
        [WEBHOOK_EVENT, "CustomEvent"],
    ],
    ids=["full-name", "short-name", "alias", "one-of-several"],
)
async def test_stream_filters_by_type(
    hub_stub: hub_pb2_grpc.HubServiceStub, admin: Credentials, types: list[str]
) -> None:
    stream = await open_stream(hub_stub, admin, types=types)
    other = {"type": "platypush.message.event.variable.VariableEvent", "variables": {"x": 1}}
    await hub_stub.PublishEvent(event_request(other), metadata=admin.metadata)
    await hub_stub.PublishEvent(custom("wanted"), metadata=admin.metadata)
    message = await next_message(stream)
    assert args_of(message) == {"type": CUSTOM_EVENT, "subtype": "wanted", "args": {}}
    assert message.missed == 0
    stream.cancel()


async def test_stream_filter_by_short_name_of_another_type(
    hub_stub: hub_pb2_grpc.HubServiceStub, admin: Credentials
) -> None:
    stream = await open_stream(hub_stub, admin, types=["WebhookEvent"])
    await hub_stub.PublishEvent(custom("not a webhook"), metadata=admin.metadata)
    await hub_stub.PublishEvent(event_request({"type": WEBHOOK_EVENT, "hook": "h"}), metadata=admin.metadata)
    message = await next_message(stream)
    assert args_of(message) == {"type": WEBHOOK_EVENT, "hook": "h"}
    stream.cancel()


async def test_stream_filters_by_args_subset(
    hub_stub: hub_pb2_grpc.HubServiceStub, admin: Credentials
) -> None:
    stream = await open_stream(
        hub_stub, admin, args={"subtype": "door", "args": {"room": "hall"}}
    )
    # Wrong subtype; nested mismatch; nested key missing: none is delivered.
    await hub_stub.PublishEvent(custom("window", room="hall"), metadata=admin.metadata)
    await hub_stub.PublishEvent(custom("door", room="kitchen"), metadata=admin.metadata)
    await hub_stub.PublishEvent(custom("door", floor=1), metadata=admin.metadata)
    # Extra keys on the event, at any depth, still match.
    await hub_stub.PublishEvent(custom("door", room="hall", open=True), metadata=admin.metadata)
    message = await next_message(stream)
    assert args_of(message) == {
        "type": CUSTOM_EVENT,
        "subtype": "door",
        "args": {"room": "hall", "open": True},
    }
    assert message.missed == 0
    stream.cancel()


async def test_stream_filters_by_type_and_args_together(
    hub_stub: hub_pb2_grpc.HubServiceStub, admin: Credentials
) -> None:
    stream = await open_stream(hub_stub, admin, types=["WebhookEvent"], args={"hook": "h1"})
    await hub_stub.PublishEvent(
        event_request({"type": CUSTOM_EVENT, "hook": "h1"}), metadata=admin.metadata
    )
    await hub_stub.PublishEvent(
        event_request({"type": WEBHOOK_EVENT, "hook": "h2"}), metadata=admin.metadata
    )
    await hub_stub.PublishEvent(
        event_request({"type": WEBHOOK_EVENT, "hook": "h1"}), metadata=admin.metadata
    )
    message = await next_message(stream)
    assert args_of(message) == {"type": WEBHOOK_EVENT, "hook": "h1"}
    stream.cancel()


async def test_slow_subscriber_loses_the_oldest_and_is_told_how_many(make_server: MAKE_SERVER) -> None:
    server = await make_server("events:\n  queue_size: 8\n")
    async with grpc.aio.insecure_channel(server.grpc_target) as channel:
        auth = auth_pb2_grpc.AuthServiceStub(channel)
        await auth.Register(auth_pb2.RegisterRequest(username=ADMIN_USER, password=ADMIN_PASSWORD))
        login = await auth.Login(auth_pb2.LoginRequest(username=ADMIN_USER, password=ADMIN_PASSWORD))
        admin = Credentials(ADMIN_USER, ADMIN_PASSWORD, login.token)
        stub = hub_pb2_grpc.HubServiceStub(channel)

        slow = await open_stream(stub, admin)
        fast = await open_stream(stub, admin)
        fast_received: list[hub_pb2.StreamEventsResponse] = []
        for n in range(1, 51):
            await stub.PublishEvent(custom("seq", n=n), metadata=admin.metadata)
            fast_received.append(await next_message(fast))

        assert [args_of(m)["args"]["n"] for m in fast_received] == list(range(1, 51))
        assert all(m.missed == 0 for m in fast_received)

        slow_received = [await next_message(slow) for _ in range(8)]
        assert [args_of(m)["args"]["n"] for m in slow_received] == list(range(43, 51))
        assert [m.missed for m in slow_received] == [42] + [0] * 7
        slow.cancel()
        fast.cancel()


async def test_cancelled_stream_unsubscribes(
    server: Server, hub_stub: hub_pb2_grpc.HubServiceStub, admin: Credentials
) -> None:
    streams = [await open_stream(hub_stub, admin) for _ in range(2)]
    assert server.hub.bus.subscriber_count == 2
    for stream in streams:
        stream.cancel()
    for _ in range(100):
        if server.hub.bus.subscriber_count == 0:
            break
        await asyncio.sleep(0.05)
    assert server.hub.bus.subscriber_count == 0


async def test_many_concurrent_subscribers_all_receive_the_event(
    hub_stub: hub_pb2_grpc.HubServiceStub, admin: Credentials
) -> None:
    streams = await asyncio.gather(*(open_stream(hub_stub, admin) for _ in range(50)))
    published = (await hub_stub.PublishEvent(custom("broadcast"), metadata=admin.metadata)).event
    messages = await asyncio.gather(*(next_message(stream) for stream in streams))
    assert all(m.event == published for m in messages)
    assert all(m.missed == 0 for m in messages)
    for stream in streams:
        stream.cancel()


async def test_server_stop_ends_open_streams(make_server: MAKE_SERVER) -> None:
    server = await make_server()
    async with grpc.aio.insecure_channel(server.grpc_target) as channel:
        auth = auth_pb2_grpc.AuthServiceStub(channel)
        await auth.Register(auth_pb2.RegisterRequest(username=ADMIN_USER, password=ADMIN_PASSWORD))
        login = await auth.Login(auth_pb2.LoginRequest(username=ADMIN_USER, password=ADMIN_PASSWORD))
        admin = Credentials(ADMIN_USER, ADMIN_PASSWORD, login.token)
        stream = await open_stream(hub_pb2_grpc.HubServiceStub(channel), admin)
        await server.stop()
        assert await asyncio.wait_for(stream.read(), 10) is grpc.aio.EOF
        assert await stream.code() == grpc.StatusCode.OK


# --- Pure functions -------------------------------------------------------------


@pytest.mark.parametrize(
    ("expected", "actual", "matches"),
    [
        ({}, {}, True),
        ({}, {"a": 1}, True),
        ({"a": 1}, {"a": 1, "b": 2}, True),
        ({"a": 1}, {"a": 2}, False),
        ({"a": 1}, {"b": 1}, False),
        ({"a": 1}, {}, False),
        ({"a": {"b": 1}}, {"a": {"b": 1, "c": 2}}, True),
        ({"a": {"b": 1}}, {"a": {"b": 2}}, False),
        ({"a": {"b": 1}}, {"a": {"c": 1}}, False),
        ({"a": {"b": 1}}, {"a": 1}, False),
        ({"a": {"b": {"c": "x"}}}, {"a": {"b": {"c": "x", "d": "y"}, "e": 0}}, True),
        ({"a": {}}, {"a": {"anything": 1}}, True),
        ({"a": {}}, {"a": 1}, False),
        ({"a": [1, 2]}, {"a": [1, 2]}, True),
        ({"a": [1]}, {"a": [1, 2]}, False),
        ({"a": None}, {"a": None}, True),
        ({"a": None}, {}, False),
        ({"a": "1"}, {"a": 1}, False),
        ({"a": 1}, None, False),
        ("x", "x", True),
        ("x", "y", False),
    ],
)
def test_subset_matches(expected: Any, actual: Any, matches: bool) -> None:
    assert subset_matches(expected, actual) is matches


@pytest.mark.parametrize(
    ("pattern", "event_type", "matches"),
    [
        (CUSTOM_EVENT, CUSTOM_EVENT, True),
        ("CustomEvent", CUSTOM_EVENT, True),
        ("platypush.events.custom.CustomEvent", CUSTOM_EVENT, True),
        (CUSTOM_EVENT, "platypush.events.custom.CustomEvent", True),
        ("CustomEvent", "platypush.events.custom.CustomEvent", True),
        ("CustomEvent", "CustomEvent", True),
        (WEBHOOK_EVENT, CUSTOM_EVENT, False),
        ("WebhookEvent", CUSTOM_EVENT, False),
        ("customevent", CUSTOM_EVENT, False),
        ("Event", CUSTOM_EVENT, False),
        ("custom.CustomEvent", CUSTOM_EVENT, False),
        ("platypush.message.event.other.CustomEvent", CUSTOM_EVENT, False),
    ],
)
def test_type_matches(pattern: str, event_type: str, matches: bool) -> None:
    assert type_matches(pattern, event_type) is matches
