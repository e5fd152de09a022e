"""The bare frameworks Monotreme is measured against, doing the least the same
job needs: an aiohttp JSON echo answering Platypush's envelope (with orjson,
as Monotreme's gateway), and a grpc.aio unary echo of ExecuteRequest into
ExecuteResponse.

    python -m bench.baselines aiohttp|grpc PORT
"""

from __future__ import annotations

import asyncio
import sys
import time
import uuid

import grpc
import orjson
from aiohttp import web
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


async def serve_grpc(port: int) -> None:
    server = grpc.aio.server()
    handler = grpc.unary_unary_rpc_method_handler(
        _grpc_echo,
        request_deserializer=hub_pb2.ExecuteRequest.FromString,
        response_serializer=hub_pb2.ExecuteResponse.SerializeToString,
    )
    server.add_generic_rpc_handlers(
        [grpc.method_handlers_generic_handler("monotreme.v1.HubService", {"Execute": handler})]
    )
    server.add_insecure_port(f"127.0.0.1:{port}")
    await server.start()
    print("ready", flush=True)
    await server.wait_for_termination()


if __name__ == "__main__":
    kind, port = sys.argv[1], int(sys.argv[2])
    asyncio.run(serve_aiohttp(port) if kind == "aiohttp" else serve_grpc(port))
