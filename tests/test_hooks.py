"""Event hooks, YAML and Python: type and argument filters with every operator,
and hooks that fail or take their time without holding anyone else up."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable
from typing import Any

import pytest
from monotreme.events.filters import predicate
from monotreme.server import Server
from monotreme.v1 import hub_pb2, hub_pb2_grpc

from tests.conftest import Credentials
from tests.test_event_stream import custom_event, publish
from tests.test_execute import execute
from tests.test_webhooks import SCRIPTS


def recorder(name: str, condition: str) -> str:
    """A YAML hook noting the value of each matching reading, its `then` a single step."""
    return f"""
event.hook.{name}:
  if: {condition}
  then:
    action: procedure.record
    args:
      tag: {name}
      value: ${{args['value']}}
"""


READING = "type: CustomEvent, subtype: reading"
CONFIG = f"scripts_dir: {SCRIPTS}\n" + "".join(
    [
        recorder("gt", f"{{{READING}, args: {{value: {{$gt: 20}}}}}}"),
        recorder("range", f"{{{READING}, args: {{value: {{$gte: 10, $lt: 20}}}}}}"),
        recorder("eq", f"{{{READING}, args: {{value: {{$eq: 15}}}}}}"),
        recorder("ne", f"{{{READING}, args: {{value: {{$ne: 15}}}}}}"),
        recorder("lte", f"{{{READING}, args: {{value: {{$lte: 10}}}}}}"),
        recorder(
            "regex",
            "{type: CustomEvent, subtype: {$regex: '^read'}, args: {room: {$regex: '^(hall|porch)$'}}}",
        ),
        recorder("nested", "{type: platypush.events.custom.CustomEvent, args: {sensor: {kind: temp}}}"),
        recorder("sentinel", "{type: CustomEvent, subtype: sentinel}"),
        recorder("slow_companion", "{type: CustomEvent, subtype: slow}"),
    ]
)


@pytest.fixture
async def server(make_server: Callable[..., Awaitable[Server]]) -> Server:
    return await make_server(CONFIG)


async def records_once_sentinel_seen(
    stub: hub_pb2_grpc.HubServiceStub, admin: Credentials
) -> dict[str, list[Any]]:
    """Publishes a sentinel after the events under test and waits for its hook:
    the hooks of the earlier events were started before it."""
    await publish(stub, admin, custom_event("sentinel", value="end"))
    for _ in range(250):
        records = (await execute(stub, admin, "procedure.records"))["output"]
        if ["sentinel", "end"] in records:
            break
        await asyncio.sleep(0.02)
    by_tag: dict[str, list[Any]] = {}
    for tag, value in records:
        by_tag.setdefault(tag, []).append(value)
    return {tag: sorted(values, key=str) for tag, values in by_tag.items()}


async def test_yaml_hooks_filter_with_every_operator(
    hub_stub: hub_pb2_grpc.HubServiceStub, admin: Credentials
) -> None:
    readings = [
        (5, "hall", "temp"),
        (10, "kitchen", "humidity"),
        (15, "porch", "temp"),
        (25, "kitchen", "temp"),
    ]
    for value, room, kind in readings:
        await publish(
            hub_stub, admin, custom_event("reading", value=value, room=room, sensor={"kind": kind, "id": 1})
        )
    assert await records_once_sentinel_seen(hub_stub, admin) == {
        "gt": [25],
        "range": [10, 15],
        "eq": [15],
        "ne": [10, 25, 5],  # sorted as text
        "lte": [10, 5],
        "regex": [15, 5],
        "nested": [15, 25, 5],
        "sentinel": ["end"],
    }


async def test_python_hooks_filter_and_may_be_async(
    hub_stub: hub_pb2_grpc.HubServiceStub, admin: Credentials
) -> None:
    for value in (25, 35, 30):
        await publish(hub_stub, admin, custom_event("temperature", value=value))
    records = await records_once_sentinel_seen(hub_stub, admin)
    assert records["python_hot"] == [30, 35]


async def test_a_failing_hook_is_logged_by_name_and_spares_the_others(
    hub_stub: hub_pb2_grpc.HubServiceStub, admin: Credentials, caplog: pytest.LogCaptureFixture
) -> None:
    with caplog.at_level(logging.ERROR, logger="monotreme.automation.hooks"):
        await publish(hub_stub, admin, custom_event("boom"))
        records = await records_once_sentinel_seen(hub_stub, admin)
    assert records["survived"] == [None]
    failures = [r for r in caplog.records if r.name == "monotreme.automation.hooks"]
    assert [r.getMessage() for r in failures] == [
        "hook scripts.automation.explode failed on CustomEvent: the hook went boom"
    ]


async def test_a_slow_hook_holds_up_neither_the_publisher_nor_streams_nor_other_hooks(
    hub_stub: hub_pb2_grpc.HubServiceStub, admin: Credentials
) -> None:
    stream = hub_stub.StreamEvents(
        hub_pb2.StreamEventsRequest(types=["CustomEvent"]), metadata=admin.metadata
    )
    reading = asyncio.ensure_future(stream.read())
    await asyncio.sleep(0.2)
    await publish(hub_stub, admin, custom_event("slow", value="companion"))
    received = await asyncio.wait_for(reading, 2)
    records = await records_once_sentinel_seen(hub_stub, admin)
    finished = (await execute(hub_stub, admin, "procedure.slow_finished"))["output"]
    stream.cancel()
    assert received.event.args["subtype"] == "slow"
    assert records["slow_companion"] == ["companion"]
    assert finished is False  # the slow hook (3 s) was still running all along


def test_filters_match_values_subsets_and_operators() -> None:
    event = {"value": 15, "room": "hall", "sensor": {"kind": "temp", "id": 1}}
    assert predicate({})(event)
    assert predicate({"room": "hall", "sensor": {"kind": "temp"}})(event)
    assert predicate({"value": {"$gt": 10, "$lte": 15}})(event)
    assert predicate({"room": {"$regex": "^ha"}, "value": {"$ne": 16}})(event)
    assert not predicate({"value": {"$gt": 15}})(event)
    assert not predicate({"value": {"$gt": "a"}})(event)  # not comparable: no match, no error
    assert not predicate({"room": {"$regex": "^x"}})(event)
    assert not predicate({"value": {"$regex": "1"}})(event)  # a regex matches text only
    assert not predicate({"missing": {"$ne": 1}})(event)
    assert not predicate({"sensor": {"kind": "humidity"}})(event)
    assert predicate({"sensor": {"$eq": {"kind": "temp", "id": 1}}})(event)
