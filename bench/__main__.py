"""Runs every benchmark and writes BENCHMARKS.md, results.json and the plots.

    python -m bench            # the full run (about ten minutes on two cores)
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


def _pairs(rounds: int, measure_base: Any, measure_ours: Any) -> dict[str, Any]:
    """Alternates baseline and Monotreme `rounds` times; medians and their ratio."""
    base, ours = [], []
    for _ in range(rounds):
        base.append(measure_base())
        ours.append(measure_ours())

    def median(loads: list[load.Load]) -> dict[str, float]:
        return {key: statistics.median(getattr(x, key) for x in loads) for key in ("rps", "p50_ms", "p99_ms")}

    b, o = median(base), median(ours)
    errors = sum(x.errors for x in base + ours)
    return {"baseline": b, "monotreme": o, "ratio": o["rps"] / b["rps"], "errors": errors}


def run(quick: bool) -> dict[str, Any]:
    seconds, rounds = (1, 1) if quick else (6, 3)
    concurrency = [4] if quick else [1, 4, 16, 64]
    subscribers = [1, 10] if quick else [1, 10, 100, 1000]
    results: dict[str, Any] = {"machine": _machine(), "quick": quick}
    with tempfile.TemporaryDirectory() as directory:
        work = Path(directory)
        starts = []
        for i in range(1 if quick else 3):
            server = procs.start_monotreme(work / f"start-{i}")
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
            results["fanout"] = {
                transport: {
                    n: asdict(fanout.run(hub, transport, n, rate=fanout.pace(n), seconds=seconds))
                    for n in subscribers
                }
                for transport in fanout.TRANSPORTS
            }
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
