"""Event fan-out: one publisher, many subscribers, over /ws/events or gRPC
StreamEvents. Subscribers live in processes of their own (this module's
`subscribe`, run as `python -m bench.fanout ...`); the publisher paces its
events from the harness's process and stamps each with its send time, and
every subscriber notes how long each event took to reach it.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import random
import statistics
import subprocess
import sys
import time
from collections.abc import Awaitable, Sequence
from dataclasses import dataclass
from typing import Any

import aiohttp
import grpc
import orjson
from monotreme.v1 import hub_pb2, hub_pb2_grpc

from bench.procs import Server

CUSTOM = "platypush.message.event.custom.CustomEvent"
# The publisher's pace: twice the 50,000/s target in deliveries, so that the
# pace is never what limits the measured rate; at most this many events a second.
PACE_DELIVERIES, PACE_EVENTS = 100_000, 1000
# The target's own pace: its p99 is the latency at this load, not under the
# doubled pace above, which a hub short of it would only queue up.
TARGET_DELIVERIES = 50_000


def pace(subscribers: int) -> float:
    """Events a second to publish to this many subscribers."""
    return min(PACE_EVENTS, PACE_DELIVERIES / subscribers)


# /ws/events; gRPC StreamEvents; StreamEventBatches.
TRANSPORTS = ("ws", "grpc", "grpc-batches")

# StreamEventBatches' max_delay_ms for the grpc-batches subscribers: fuller
# messages under load (without it a subscriber that keeps up gets one event a
# message), each event up to this much later. At 1,000 subscribers, 50 ms
# tripled deliveries/s against 0 without raising p99 (0, 20, 50 and 100 tried).
BATCH_DELAY_MS = 50

# Latencies each subscriber process reports at most (a random sample beyond).
_SAMPLE = 20_000


@dataclass(frozen=True)
class Fanout:
    subscribers: int
    published: int
    delivered: int
    missed: int
    # Deliveries per second, from the first publish to the last receipt.
    rate: float
    p50_ms: float
    p99_ms: float
    # The servers' resident memory with every subscriber connected, and the
    # share of one core they used while delivering (summed over the servers).
    rss_mb: float
    server_cpu: float


class _Tally:
    def __init__(self) -> None:
        self.received = 0
        self.missed = 0
        self.last = 0.0
        self.latencies: list[float] = []

    def note(self, sent: float, missed: int) -> None:
        now = time.time()
        self.received += 1
        self.missed += missed
        self.last = now
        self.latencies.append(now - sent)


async def _ws_subscriber(
    session: aiohttp.ClientSession, url: str, tally: _Tally, ready: asyncio.Event
) -> None:
    async with session.ws_connect(url, max_msg_size=0) as ws:
        ready.set()
        async for message in ws:
            frame = orjson.loads(message.data)
            args = frame["args"]["args"]
            if args.get("end"):
                return
            tally.note(args["sent"], frame.get("_missed", 0))


async def _grpc_subscriber(
    stub: hub_pb2_grpc.HubServiceStub, token: str, tally: _Tally, ready: asyncio.Event, batches: bool
) -> None:
    request = hub_pb2.StreamEventsRequest(types=["CustomEvent"])
    request.args.update({"subtype": "bench"})
    metadata = (("authorization", f"Bearer {token}"),)
    stream: Any = (
        stub.StreamEventBatches(
            hub_pb2.StreamEventBatchesRequest(request=request, max_delay_ms=BATCH_DELAY_MS), metadata=metadata
        )
        if batches
        else stub.StreamEvents(request, metadata=metadata)
    )
    await stream.wait_for_connection()
    ready.set()
    async for message in stream:
        for response in message.events if batches else (message,):
            args = response.event.args["args"]
            if args["end"]:
                return
            tally.note(args["sent"], response.missed)


async def _subscribe(transport: str, target: str, token: str, connections: int) -> dict[str, Any]:
    tally = _Tally()
    readies = [asyncio.Event() for _ in range(connections)]
    if transport == "ws":
        url = f"ws://{target}/ws/events?token={token}&type=CustomEvent&args.subtype=bench"
        async with aiohttp.ClientSession(connector=aiohttp.TCPConnector(limit=0)) as session:
            tasks = [asyncio.ensure_future(_ws_subscriber(session, url, tally, r)) for r in readies]
            await _run(tasks, readies)
    else:
        # Channels of up to 100 streams each, as a client library would multiplex them.
        channels = [grpc.aio.insecure_channel(target) for _ in range((connections + 99) // 100)]
        stubs = [hub_pb2_grpc.HubServiceStub(channels[i // 100]) for i in range(connections)]
        tasks = [
            asyncio.ensure_future(_grpc_subscriber(s, token, tally, r, transport == "grpc-batches"))
            for s, r in zip(stubs, readies, strict=True)
        ]
        await _run(tasks, readies)
        for channel in channels:
            await channel.close()
    latencies = tally.latencies
    if len(latencies) > _SAMPLE:
        latencies = random.sample(latencies, _SAMPLE)
    return {"received": tally.received, "missed": tally.missed, "last": tally.last, "latencies": latencies}


async def _run(tasks: Sequence[Awaitable[None]], readies: list[asyncio.Event]) -> None:
    await asyncio.wait_for(asyncio.gather(*(r.wait() for r in readies)), 60)
    print("ready", flush=True)
    await asyncio.wait_for(asyncio.gather(*tasks), 120)


async def _publish(target: str, token: str, rate: float, seconds: float) -> tuple[int, float]:
    """Publishes at `rate` events a second for `seconds`, then the end marker;
    answers how many and when the first went."""
    metadata = (("authorization", f"Bearer {token}"),)
    async with grpc.aio.insecure_channel(target) as channel:
        stub = hub_pb2_grpc.HubServiceStub(channel)

        async def send(args: dict[str, Any]) -> None:
            event = hub_pb2.Event()
            event.args.update({"type": CUSTOM, "subtype": "bench", "args": args})
            await stub.PublishEvent(hub_pb2.PublishEventRequest(event=event), metadata=metadata)

        count, started = int(rate * seconds), time.time()
        for seq in range(count):
            await send({"sent": time.time(), "seq": seq, "end": False})
            delay = started + (seq + 1) / rate - time.time()
            if delay > 0:
                await asyncio.sleep(delay)
        await send({"sent": time.time(), "seq": count, "end": True})
    return count, started


def run(
    servers: Sequence[Server],
    transport: str,
    subscribers: int,
    rate: float,
    seconds: float,
    processes: int = 2,
) -> Fanout:
    """Subscribers in `processes` processes (at least one per server), spread
    evenly over `servers`, then paced publishing to the first; the tallies."""
    token = servers[0].token
    # Every subscriber process talks to one server, so there are as many for each.
    processes = min(len(servers) * -(-processes // len(servers)), subscribers)
    shares = [subscribers // processes + (i < subscribers % processes) for i in range(processes)]
    targets = [_target(servers[i % len(servers)], transport) for i in range(processes)]
    children = [
        subprocess.Popen(
            [sys.executable, "-m", "bench.fanout", transport, target, token, str(share)],
            stdout=subprocess.PIPE,
            text=True,
        )
        for target, share in zip(targets, shares, strict=True)
    ]
    for child in children:
        assert child.stdout is not None
        if child.stdout.readline().strip() != "ready":
            raise RuntimeError("a subscriber process failed to connect")
    time.sleep(0.5)  # a websocket's subscription starts just after its handshake
    rss = sum(s.rss_mb() for s in servers)
    cpu = sum(s.cpu_seconds() for s in servers)
    published, started = asyncio.run(_publish(_target(servers[0], "grpc"), token, rate, seconds))
    results = []
    for child in children:
        out, _ = child.communicate(timeout=180)
        results.append(json.loads(out))
    cpu = sum(s.cpu_seconds() for s in servers) - cpu
    latencies = sorted(ms * 1000 for r in results for ms in r["latencies"])
    delivered = sum(r["received"] for r in results)
    last = max(r["last"] for r in results)
    return Fanout(
        subscribers=subscribers,
        published=published,
        delivered=delivered,
        missed=sum(r["missed"] for r in results),
        rate=delivered / max(last - started, 1e-9),
        p50_ms=statistics.median(latencies) if latencies else 0.0,
        p99_ms=latencies[int(len(latencies) * 0.99) - 1] if latencies else 0.0,
        rss_mb=rss,
        server_cpu=cpu / max(last - started, 1e-9),
    )


def _target(server: Server, transport: str) -> str:
    return f"127.0.0.1:{server.ports['HTTP' if transport == 'ws' else 'gRPC']}"


def main() -> None:
    parser = argparse.ArgumentParser(description="event subscribers for the fan-out benchmark")
    parser.add_argument("transport", choices=TRANSPORTS)
    parser.add_argument("target")
    parser.add_argument("token")
    parser.add_argument("connections", type=int)
    args = parser.parse_args()
    result = asyncio.run(_subscribe(args.transport, args.target, args.token, args.connections))
    print(json.dumps(result))


if __name__ == "__main__":
    main()
