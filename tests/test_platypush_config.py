"""A Platypush user's config file loads as it is: `backend.http`, procedures
with every construct, hooks with every operator and the `platypush.events` alias."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable
from pathlib import Path

import pytest
from monotreme.config import Config
from monotreme.server import Server
from monotreme.v1 import hub_pb2, hub_pb2_grpc

from tests.conftest import Credentials
from tests.test_event_stream import custom_event, publish
from tests.test_execute import execute

PLATYPUSH_CONFIG = """
backend.http:
  port: 18008
  bind_address: 127.0.0.1
backend.redis:
  redis_args: {host: localhost}

procedure.sync.lights_report(rooms, limit):
  - set:
      lit: []
      checked: 0
  - for room in ${rooms}:
      - set:
          checked: ${checked + 1}
      - if ${room == "attic"}:
          - continue
      - elif ${checked > limit}:
          - break
      - action: utils.echo
        args:
          room: ${room}
          state: "on"
      - if ${state == "on" and not errors}:
          - set:
              lit: ${lit + [output['room']]}
      - else:
          - return: unreachable
  - while ${checked > 0}:
      - set:
          checked: ${checked - 1}
  - fork room in ${lit}:
      - action: variable.set
        args:
          last_lit: ${room}
  - return:
      lit: ${lit}
      summary: "${len(lit)} of ${len(rooms)}"

procedure.async.both:
  - action: utils.echo
    args: {a: 1}
  - action: utils.echo
    args: {b: 2}

event.hook.on_motion:
  if:
    type: platypush.events.custom.CustomEvent
    subtype: motion
    args:
      room: {$regex: "^(hall|porch)$"}
      level: {$gte: 3, $lt: 10, $ne: 5}
      sensor: {kind: pir}
  then:
    action: event.trigger
    args:
      subtype: motion_seen
      args:
        where: ${args['room']}-${args['level']}
"""


def test_backend_http_is_read_and_other_backends_are_ignored(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    path = tmp_path / "config.yaml"
    path.write_text(PLATYPUSH_CONFIG)
    with caplog.at_level(logging.WARNING, logger="monotreme.config"):
        config = Config.load(path, data_dir=tmp_path / "data")
    assert (config.server.http_port, config.server.host) == (18008, "127.0.0.1")
    assert [r.getMessage() for r in caplog.records] == [
        f"{path}: backend.redis: ignored (Monotreme's doors are built in)"
    ]


async def test_a_platypush_config_runs_unchanged(
    hub_stub: hub_pb2_grpc.HubServiceStub, admin: Credentials
) -> None:
    rooms = ["hall", "attic", "porch", "den"]
    report = await execute(hub_stub, admin, "procedure.lights_report", rooms=rooms, limit=3)
    assert report == {"output": {"lit": ["hall", "porch"], "summary": "2 of 4"}, "errors": []}
    assert (await execute(hub_stub, admin, "procedure.both"))["errors"] == []

    request = hub_pb2.StreamEventsRequest(types=["CustomEvent"])
    request.args.update({"subtype": "motion_seen"})
    stream = hub_stub.StreamEvents(request, metadata=admin.metadata)
    first = asyncio.ensure_future(stream.read())
    await asyncio.sleep(0.2)
    # hall: level 5 ($ne); kitchen: not the $regex; attic: a humidity sensor; then two that match.
    for room, level, kind in (("hall", 5, "pir"), ("kitchen", 4, "pir"), ("attic", 4, "humidity"),
                              ("porch", 4, "pir"), ("hall", 9, "pir")):  # fmt: skip
        await publish(hub_stub, admin, custom_event("motion", room=room, level=level, sensor={"kind": kind}))
    seen = [(await asyncio.wait_for(first, 5)).event.args["args"]["where"]]
    while seen[-1] != "hall-9":
        seen.append((await asyncio.wait_for(stream.read(), 5)).event.args["args"]["where"])
    stream.cancel()
    assert sorted(seen) == ["hall-9", "porch-4"]


@pytest.fixture
async def server(make_server: Callable[..., Awaitable[Server]]) -> Server:
    return await make_server(PLATYPUSH_CONFIG)
