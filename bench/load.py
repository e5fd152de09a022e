"""Load from outside the server's process: wrk for HTTP/1.1, h2load for gRPC
(HTTP/2 with the gRPC framing and headers). Each runs on one thread, leaving
the other core of this two-core machine to the server."""

from __future__ import annotations

import re
import shutil
import struct
import subprocess
import tempfile
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import grpc
from monotreme.v1 import hub_pb2, hub_pb2_grpc

# The no-op action both doors run, and the baselines echo.
ECHO: dict[str, Any] = {"type": "request", "action": "utils.echo", "args": {"hi": 1}}
ECHO_JSON = '{"type": "request", "action": "utils.echo", "args": {"hi": 1}}'


@dataclass(frozen=True)
class Load:
    """What a load run measured."""

    rps: float
    # Latency, milliseconds: p50 and p99 from wrk, the mean from h2load.
    p50_ms: float
    p99_ms: float
    errors: int


def _ms(value: str, unit: str) -> float:
    return float(value) * {"us": 0.001, "ms": 1.0, "s": 1000.0}[unit]


def wrk(url: str, headers: dict[str, str], connections: int, seconds: float) -> Load:
    """POSTs the echo request to `url` over `connections` keep-alive connections."""
    lines = [
        'wrk.method = "POST"',
        f"wrk.body = '{ECHO_JSON}'",
        'wrk.headers["Content-Type"] = "application/json"',
    ]
    lines += [f'wrk.headers["{name}"] = "{value}"' for name, value in headers.items()]
    with tempfile.NamedTemporaryFile("w", suffix=".lua") as script:
        script.write("\n".join(lines))
        script.flush()
        command = [_tool("wrk"), "-t1", f"-c{connections}", f"-d{max(1, round(seconds))}s", "--latency"]
        out = subprocess.run(
            [*command, "-s", script.name, url], capture_output=True, text=True, check=True
        ).stdout
    rps = float(re.search(r"Requests/sec:\s+([\d.]+)", out)[1])  # type: ignore[index]
    percentiles = {p: _ms(v, u) for p, v, u in re.findall(r"^\s+(\d+)%\s+([\d.]+)(us|ms|s)$", out, re.M)}
    errors = re.search(r"Non-2xx or 3xx responses: (\d+)", out)
    return Load(rps, percentiles["50"], percentiles["99"], int(errors[1]) if errors else 0)


def grpc_frame() -> bytes:
    """The echo request as one gRPC message frame."""
    message = hub_pb2.ExecuteRequest(type="request", action="utils.echo")
    message.args.update(ECHO["args"])
    body = message.SerializeToString()
    return b"\x00" + struct.pack(">I", len(body)) + body


def check_grpc(target: str, token: str) -> None:
    """One real call first: h2load counts HTTP statuses, not gRPC ones."""
    with grpc.insecure_channel(target) as channel:
        request = hub_pb2.ExecuteRequest.FromString(grpc_frame()[5:])
        answer = hub_pb2_grpc.HubServiceStub(channel).Execute(
            request, metadata=(("authorization", f"Bearer {token}"),), timeout=10
        )
    assert answer.response.output.struct_value["hi"] == 1, answer


def h2load(target: str, token: str, clients: int, seconds: float) -> Load:
    """Unary Execute calls over `clients` HTTP/2 connections, one call in flight on each."""
    with tempfile.TemporaryDirectory() as directory:
        frame = Path(directory) / "frame"
        frame.write_bytes(grpc_frame())
        out = subprocess.run(
            [_tool("h2load"), "-D", str(max(1, round(seconds))), "-c", str(clients), "-m", "1",
             "-d", str(frame),
             "-H", "content-type: application/grpc", "-H", "te: trailers",
             "-H", f"authorization: Bearer {token}", f"http://{target}/monotreme.v1.HubService/Execute"],
            capture_output=True, text=True, check=True,
        ).stdout  # fmt: skip
    rps = float(re.search(r"finished in [\d.]+\w*, ([\d.]+) req/s", out)[1])  # type: ignore[index]
    mean = re.search(r"time for request:\s+\S+\s+\S+\s+([\d.]+)(us|ms|s)", out)
    failed = re.search(r"(\d+) failed, (\d+) errored", out)
    mean_ms = _ms(mean[1], mean[2]) if mean else 0.0
    return Load(rps, mean_ms, mean_ms, int(failed[1]) + int(failed[2]) if failed else 0)


def _tool(name: str) -> str:
    path = shutil.which(name)
    if path is None:
        raise RuntimeError(f"{name} is not installed (Debian: apt-get install wrk nghttp2-client)")
    return path
