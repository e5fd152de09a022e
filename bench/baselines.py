"""The bare frameworks Monotreme is measured against, doing the least the same
job needs: an aiohttp JSON echo answering Platypush's envelope (with orjson,
as Monotreme's gateway), and a grpc.aio unary echo of ExecuteRequest into
ExecuteResponse; for the event fan-out, a grpc.aio StreamEvents and an
aiohttp /ws/events, each subscriber with a bounded queue that PublishEvent
fills (no authentication, no filter: the subscribers' are ignored).

    python -m bench.baselines aiohttp|grpc|grpc-fanout|ws-fanout PORT

The fan-out ones print their ports as Monotreme does ("gRPC listening on
…"): ws-fanout serves /ws/events on PORT and PublishEvent on a free port.
"""

from __future__ import annotations

import asyncio
import contextlib
import sys
import time
import uuid
from collections.abc import AsyncIterator, Callable, Coroutine, Iterator
from typing import Any

import grpc
import orjson
from aiohttp import WSMsgType, web
from google.protobuf import json_format
from monotreme.v1 import hub_pb2


async def _aiohttp_echo(request: web.Request) -> web.Response:
    body = orjson.loads(await request.read())
    envelope = {
        "id": body.get("id") or uuid.uuid4().hex,
        "type": "response",
        "target": body.get("origin", ""),
        "origin": "baseline",
        "_timestamp": time.time(),
        "response": {"output": body.get("args", {}), "errors": []},
    }
    return web.Response(body=orjson.dumps(envelope), content_type="application/json")


async def serve_aiohttp(port: int) -> None:
    app = web.Application()
    app.router.add_post("/execute", _aiohttp_echo)
    runner = web.AppRunner(app, access_log=None)
    await runner.setup()
    await web.TCPSite(runner, "127.0.0.1", port).start()
    print("ready", flush=True)
    await asyncio.Event().wait()


async def _grpc_echo(
    request: hub_pb2.ExecuteRequest, context: grpc.aio.ServicerContext
) -> hub_pb2.ExecuteResponse:
    response = hub_pb2.ExecuteResponse(
        id=request.id or uuid.uuid4().hex, type="response", origin="baseline", timestamp=time.time()
    )
    response.response.output.struct_value.CopyFrom(request.args)
    return response


async def _grpc_server(port: int, handlers: dict[str, grpc.RpcMethodHandler]) -> grpc.aio.Server:
    """HubService's `handlers` served on `port` (0: a free one), which it prints as Monotreme does."""
    server = grpc.aio.server()
    server.add_generic_rpc_handlers(
        [grpc.method_handlers_generic_handler("monotreme.v1.HubService", handlers)]
    )
    bound = server.add_insecure_port(f"127.0.0.1:{port}")
    await server.start()
    print(f"gRPC listening on 127.0.0.1:{bound}", flush=True)
    return server


async def serve_grpc(port: int) -> None:
    handler = grpc.unary_unary_rpc_method_handler(
        _grpc_echo,
        request_deserializer=hub_pb2.ExecuteRequest.FromString,
        response_serializer=hub_pb2.ExecuteResponse.SerializeToString,
    )
    server = await _grpc_server(port, {"Execute": handler})
    print("ready", flush=True)
    await server.wait_for_termination()


# Each subscriber's queue, as Monotreme's default `events.queue_size`.
QUEUE_SIZE = 1024


class _Fanout:
    """Subscribers' bounded queues; a full one drops its oldest."""

    def __init__(self) -> None:
        self.queues: set[asyncio.Queue[object]] = set()

    def put(self, item: object) -> None:
        for queue in self.queues:
            if queue.full():
                queue.get_nowait()
            queue.put_nowait(item)

    @contextlib.contextmanager
    def subscriber(self) -> Iterator[asyncio.Queue[object]]:
        queue: asyncio.Queue[object] = asyncio.Queue(QUEUE_SIZE)
        self.queues.add(queue)
        try:
            yield queue
        finally:
            self.queues.discard(queue)


def _published(request: hub_pb2.PublishEventRequest) -> hub_pb2.Event:
    event = hub_pb2.Event()
    event.CopyFrom(request.event)
    event.id, event.type, event.origin, event.timestamp = uuid.uuid4().hex, "event", "baseline", time.time()
    return event


def _publisher(fanout: _Fanout, item: Callable[[hub_pb2.Event], object]) -> grpc.RpcMethodHandler:
    async def publish(
        request: hub_pb2.PublishEventRequest, context: grpc.aio.ServicerContext
    ) -> hub_pb2.PublishEventResponse:
        event = _published(request)
        fanout.put(item(event))
        return hub_pb2.PublishEventResponse(event=event)

    return grpc.unary_unary_rpc_method_handler(
        publish,
        request_deserializer=hub_pb2.PublishEventRequest.FromString,
        response_serializer=hub_pb2.PublishEventResponse.SerializeToString,
    )


async def serve_grpc_fanout(port: int) -> None:
    fanout = _Fanout()

    async def stream(
        request: hub_pb2.StreamEventsRequest, context: grpc.aio.ServicerContext
    ) -> AsyncIterator[object]:
        with fanout.subscriber() as queue:
            await context.send_initial_metadata(())  # subscribed: the client's stream is ready
            while True:
                yield await queue.get()

    handlers = {
        # One shared response per event, serialized per subscriber as grpc does.
        "PublishEvent": _publisher(fanout, lambda event: hub_pb2.StreamEventsResponse(event=event)),
        "StreamEvents": grpc.unary_stream_rpc_method_handler(
            stream,
            request_deserializer=hub_pb2.StreamEventsRequest.FromString,
            response_serializer=hub_pb2.StreamEventsResponse.SerializeToString,
        ),
    }
    server = await _grpc_server(port, handlers)
    print("ready", flush=True)
    await server.wait_for_termination()


def _event_json(event: hub_pb2.Event) -> bytes:
    """Platypush's event envelope, encoded once for every socket."""
    return orjson.dumps(
        {
            "type": "event",
            "id": event.id,
            "origin": event.origin,
            "_timestamp": event.timestamp,
            "args": json_format.MessageToDict(event.args),
        }
    )


async def serve_ws_fanout(port: int) -> None:
    fanout = _Fanout()

    async def events(request: web.Request) -> web.WebSocketResponse:
        ws = web.WebSocketResponse()
        await ws.prepare(request)
        with fanout.subscriber() as queue:

            async def forward() -> None:
                while True:
                    data = await queue.get()
                    assert isinstance(data, bytes)
                    await ws.send_frame(data, WSMsgType.TEXT)

            sending = asyncio.ensure_future(forward())
            async for _ in ws:  # until the client closes
                pass
            sending.cancel()
        return ws

    app = web.Application()
    app.router.add_get("/ws/events", events)
    runner = web.AppRunner(app, access_log=None)
    await runner.setup()
    await web.TCPSite(runner, "127.0.0.1", port).start()
    print(f"HTTP listening on 127.0.0.1:{port}", flush=True)
    # The harness's publisher speaks gRPC PublishEvent.
    server = await _grpc_server(0, {"PublishEvent": _publisher(fanout, _event_json)})
    print("ready", flush=True)
    await server.wait_for_termination()


SERVERS: dict[str, Callable[[int], Coroutine[Any, Any, None]]] = {
    "aiohttp": serve_aiohttp,
    "grpc": serve_grpc,
    "grpc-fanout": serve_grpc_fanout,
    "ws-fanout": serve_ws_fanout,
}

if __name__ == "__main__":
    kind, port = sys.argv[1], int(sys.argv[2])
    asyncio.run(SERVERS[kind](port))
