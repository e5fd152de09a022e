"""Runs every benchmark and writes BENCHMARKS.md, results.json and the plots.

    python -m bench            # the full run (about sixteen minutes on two cores)
    python -m bench --quick    # a tiny load, to check that the harness works
    python -m bench --render   # BENCHMARKS.md again from bench-results/results.json

Each Monotreme figure is taken in the same run as its baseline, alternating
them round by round, and reported as a ratio of medians beside the absolute
numbers and the machine.
"""

from __future__ import annotations

import argparse
import json
import platform
import statistics
import tempfile
from collections.abc import Callable
from dataclasses import asdict
from importlib.metadata import version
from pathlib import Path
from typing import Any

from bench import fanout, load, procs, report, wsrequests

ROOT = Path(__file__).resolve().parent.parent


def _machine() -> dict[str, Any]:
    cpu = next(
        (line.split(":", 1)[1].strip() for line in Path("/proc/cpuinfo").read_text().splitlines()
         if line.startswith("model name")),
        platform.processor(),
    )  # fmt: skip
    import os

    return {
        "cpu": cpu,
        "cores": os.cpu_count(),
        "python": platform.python_version(),
        **{name: version(name) for name in ("aiohttp", "grpcio", "protobuf", "orjson")},
    }


def _rounds(rounds: int, measures: dict[str, Callable[[], load.Load]]) -> dict[str, Any]:
    """Takes every measure in turn, `rounds` times; the medians of each, and errors summed."""
    loads: dict[str, list[load.Load]] = {name: [] for name in measures}
    for _ in range(rounds):
        for name, measure in measures.items():
            loads[name].append(measure())
    medians: dict[str, Any] = {
        name: {key: statistics.median(getattr(x, key) for x in runs) for key in ("rps", "p50_ms", "p99_ms")}
        for name, runs in loads.items()
    }
    return {**medians, "errors": sum(x.errors for runs in loads.values() for x in runs)}


def _pairs(rounds: int, measure_base: Any, measure_ours: Any) -> dict[str, Any]:
    """Alternates baseline and Monotreme `rounds` times; medians and their ratio."""
    pair = _rounds(rounds, {"baseline": measure_base, "monotreme": measure_ours})
    return {**pair, "ratio": pair["monotreme"]["rps"] / pair["baseline"]["rps"]}


# The fan-out beside the bare frameworks (bench/baselines.py), at the most
# subscribers, alternating round by round. StreamEventBatches has no bare
# counterpart: batching is Monotreme's own work, measured against StreamEvents.
FANOUT_BASELINES = {"ws": "ws-fanout", "grpc": "grpc-fanout"}


def _fanout_pair(
    hub: procs.Server, transport: str, subscribers: int, seconds: float, rounds: int
) -> dict[str, Any]:
    """Monotreme's and the bare framework's fan-out, alternating `rounds`
    times: each side's run of median rate, and the ratio of those rates."""
    base = procs.start_baseline(FANOUT_BASELINES[transport])
    runs: dict[str, list[dict[str, Any]]] = {"baseline": [], "monotreme": []}
    try:
        for _ in range(rounds):
            for side, server in (("baseline", base), ("monotreme", hub)):
                f = fanout.run([server], transport, subscribers, fanout.pace(subscribers), seconds)
                runs[side].append(asdict(f))
    finally:
        base.stop()
    median = {side: sorted(r, key=lambda f: f["rate"])[len(r) // 2] for side, r in runs.items()}
    return {
        "subscribers": subscribers,
        "seconds": seconds,
        "rounds": rounds,
        **median,
        "ratio": median["monotreme"]["rate"] / median["baseline"]["rate"],
    }


# The scale-out: this many hub processes on one Redis bus, with the fan-out
# transports measured on each (gRPC StreamEvents is left out: it is the
# embedded table's slowest and would double the time); the latency the
# Redis bus adds, at a pace that queues nothing.
REDIS_PROCESSES = (1, 2, 4)
# StreamEvents too: its target may be met "with the processes the scale-out brings".
REDIS_TRANSPORTS = ("ws", "grpc", "grpc-batches")
LATENCY_SUBSCRIBERS, LATENCY_RATE = 10, 100.0


def _redis(
    work: Path,
    hub: procs.Server,
    http_base: str,
    seconds: float,
    rounds: int,
    embedded: dict[str, dict[str, Any]],
) -> dict[str, Any]:
    """Fan-out over 1, 2 and 4 processes on Redis, Redis's added latency and
    `/execute` on `serve --workers 2`, each beside the embedded bus (the
    fan-out table's `embedded` runs, with as many subscribers for as long) or
    one process in the same run; a note instead when redis-server is absent."""
    server = procs.start_redis(work)
    if server is None:
        return {"skipped": "redis-server is not installed (Debian: apt-get install redis-server)"}
    url = f"redis://127.0.0.1:{server.ports['Redis']}/0"
    subscribers, secs = embedded["ws"]["subscribers"], _many_seconds(seconds)
    try:
        scale: dict[str, dict[str, Any]] = {t: {"embedded": embedded[t]} for t in REDIS_TRANSPORTS}
        latency: dict[str, dict[str, Any]] = {
            t: {"embedded": asdict(fanout.run([hub], t, LATENCY_SUBSCRIBERS, LATENCY_RATE, seconds))}
            for t in REDIS_TRANSPORTS
        }
        # They share the data dir, and so one token.
        shared, token = work / "redis-hub", procs.account(work / "redis-hub")
        for count in REDIS_PROCESSES:
            # A fresh set each time: an idle process on the bus still reads every event.
            servers = [procs.start_monotreme(shared, "--bus", url, token=token) for _ in range(count)]
            try:
                for t in REDIS_TRANSPORTS:
                    scale[t][str(count)] = asdict(
                        fanout.run(servers, t, subscribers, fanout.pace(subscribers), secs)
                    )
                    if count == 1:
                        latency[t]["redis"] = asdict(
                            fanout.run(servers, t, LATENCY_SUBSCRIBERS, LATENCY_RATE, seconds)
                        )
            finally:
                for s in servers:
                    s.stop()
        workers = procs.start_monotreme(shared, "--bus", url, "--workers", "2", token=token)
        try:
            hub_url, workers_url = (f"http://127.0.0.1:{s.ports['HTTP']}/execute" for s in (hub, workers))
            execute = _rounds(
                rounds,
                {
                    "baseline": lambda: load.wrk(f"http://{http_base}/execute", {}, 16, seconds),
                    "one": lambda: load.wrk(hub_url, {"Authorization": f"Bearer {hub.token}"}, 16, seconds),
                    "workers": lambda: load.wrk(
                        workers_url, {"Authorization": f"Bearer {workers.token}"}, 16, seconds
                    ),
                },
            )
        finally:
            workers.stop()
    finally:
        server.stop()
    return {
        "subscribers": subscribers,
        "seconds": secs,
        "scale_out": scale,
        "latency": {"subscribers": LATENCY_SUBSCRIBERS, "rate": LATENCY_RATE, "runs": latency},
        "execute_workers": {**execute, "workers_to_one": execute["workers"]["rps"] / execute["one"]["rps"]},
    }


def _many_seconds(seconds: float) -> float:
    """Publishing at the most subscribers: half the rest's, since the
    deliveries (and the drain) are what take the time."""
    return max(1.0, seconds / 2)


def run(quick: bool) -> dict[str, Any]:
    seconds, rounds = (1, 1) if quick else (6, 3)
    concurrency = [4] if quick else [1, 4, 16, 64]
    subscribers = [1, 10] if quick else [1, 10, 100, 1000]
    results: dict[str, Any] = {"machine": _machine(), "quick": quick}
    with tempfile.TemporaryDirectory() as directory:
        work = Path(directory)
        starts = []
        # The first start, not counted, reads the code from disk into the page cache.
        for i in range(2 if quick else 6):
            server = procs.start_monotreme(work / f"start-{i}")
            if i:
                starts.append((server.startup, server.rss_mb()))
            server.stop()
        results["startup"] = {
            "seconds": statistics.median(s for s, _ in starts),
            "idle_rss_mb": statistics.median(m for _, m in starts),
        }
        hub = procs.start_monotreme(work / "hub")
        http_base, grpc_base = procs.start_baseline("aiohttp"), procs.start_baseline("grpc")
        try:
            hub_http, hub_grpc = f"127.0.0.1:{hub.ports['HTTP']}", f"127.0.0.1:{hub.ports['gRPC']}"
            base_http, base_grpc = (
                f"127.0.0.1:{http_base.ports['HTTP']}",
                f"127.0.0.1:{grpc_base.ports['gRPC']}",
            )
            auth = {"Authorization": f"Bearer {hub.token}"}
            load.check_grpc(hub_grpc, hub.token)
            load.check_grpc(base_grpc, hub.token)

            def http(connections: int, secs: float) -> dict[str, Any]:
                return _pairs(
                    rounds,
                    lambda: load.wrk(f"http://{base_http}/execute", {}, connections, secs),
                    lambda: load.wrk(f"http://{hub_http}/execute", auth, connections, secs),
                )

            def grpc(clients: int, secs: float) -> dict[str, Any]:
                return _pairs(
                    rounds,
                    lambda: load.h2load(base_grpc, hub.token, clients, secs),
                    lambda: load.h2load(hub_grpc, hub.token, clients, secs),
                )

            results["execute_http"] = http(16, seconds)
            results["execute_grpc"] = grpc(16, seconds)
            curve_seconds = max(1, seconds // 2)
            results["http_by_concurrency"] = {c: http(c, curve_seconds) for c in concurrency}
            results["grpc_by_concurrency"] = {c: grpc(c, curve_seconds) for c in concurrency}
            results["ws_requests"] = wsrequests.run(hub_http, hub.token, 64, seconds)
            results["fanout_pace"] = {"deliveries": fanout.PACE_DELIVERIES, "events": fanout.PACE_EVENTS}
            results["fanout_batch_delay_ms"] = fanout.BATCH_DELAY_MS
            top, many = subscribers[-1], _many_seconds(seconds)
            pairs = {t: _fanout_pair(hub, t, top, many, rounds) for t in FANOUT_BASELINES}
            results["fanout_baselines"] = pairs

            def fan(transport: str, n: int) -> dict[str, Any]:
                if transport in pairs and n == top:  # Monotreme's median run beside its baseline
                    median: dict[str, Any] = pairs[transport]["monotreme"]
                    return median
                secs = many if n == top else seconds
                return asdict(fanout.run([hub], transport, n, fanout.pace(n), secs))

            results["fanout"] = {t: {n: fan(t, n) for n in subscribers} for t in fanout.TRANSPORTS}
            target_pace = fanout.TARGET_DELIVERIES / top
            results["fanout_at_target"] = {
                t: asdict(fanout.run([hub], t, top, target_pace, many)) for t in fanout.TRANSPORTS
            }
            embedded = {t: results["fanout"][t][top] for t in REDIS_TRANSPORTS}
            results["redis"] = _redis(work, hub, base_http, seconds, rounds, embedded)
        finally:
            for server in (hub, http_base, grpc_base):
                server.stop()
    return results


def main() -> None:
    parser = argparse.ArgumentParser(prog="python -m bench", description=__doc__.split("\n")[0])
    parser.add_argument("--quick", action="store_true", help="a tiny load, to check the harness")
    parser.add_argument("--out", type=Path, default=ROOT, help="where BENCHMARKS.md and bench-results/ go")
    parser.add_argument(
        "--render", action="store_true", help="only write BENCHMARKS.md again from the last results.json"
    )
    args = parser.parse_args()
    out = args.out / "bench-results"
    if args.render:
        results = json.loads((out / "results.json").read_text())
    else:
        results = run(args.quick)
        out.mkdir(parents=True, exist_ok=True)
        (out / "results.json").write_text(json.dumps(results, indent=2))
    report.write(results, args.out / "BENCHMARKS.md", out)
    print(f"wrote {args.out / 'BENCHMARKS.md'}")


if __name__ == "__main__":
    main()
