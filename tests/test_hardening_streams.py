"""A gRPC event stream whose client stops reading is ended, as a websocket's
is (issue 13, item 14): it must not hold the server's memory forever."""

from __future__ import annotations

import logging

import grpc
import pytest
from monotreme.events.bus import SEND_TIMEOUT
from monotreme.server import Server
from monotreme.v1 import hub_pb2, hub_pb2_grpc

from tests.conftest import Credentials, eventually


async def test_a_grpc_stream_that_stops_reading_is_ended(
    server: Server,
    hub_stub: hub_pb2_grpc.HubServiceStub,
    admin: Credentials,
    caplog: pytest.LogCaptureFixture,
) -> None:
    # No BDP probing: the client's HTTP/2 window stays small, so the server's writes block soon.
    async with grpc.aio.insecure_channel(server.grpc_target, options=[("grpc.http2.bdp_probe", 0)]) as slow:
        stream = hub_pb2_grpc.HubServiceStub(slow).StreamEvents(
            hub_pb2.StreamEventsRequest(types=["Big"]), metadata=admin.metadata
        )
        await stream.initial_metadata()  # live; from here on the client reads nothing
        event = hub_pb2.Event()
        event.args.update({"type": "Big", "blob": "x" * 500_000})
        for _ in range(80):  # 40 MB: more than the socket buffers and windows hold
            await hub_stub.PublishEvent(hub_pb2.PublishEventRequest(event=event), metadata=admin.metadata)
        await eventually(lambda: server.hub.bus.subscriber_count == 0, within=4 * SEND_TIMEOUT)
        with pytest.raises(grpc.aio.AioRpcError) as ended:
            async for _ in stream:  # what the buffers held, then the status
                pass
    assert ended.value.code() == grpc.StatusCode.RESOURCE_EXHAUSTED
    assert ended.value.details() == f"the client stopped reading: it took no message for {SEND_TIMEOUT:.0f} s"
    warnings = [r.getMessage() for r in caplog.records if r.levelno >= logging.WARNING]
    assert [w.split(" (")[0] for w in warnings] == ["ending a stream whose client stopped reading"]
    assert not [r for r in caplog.records if r.exc_info]
