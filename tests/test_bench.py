"""The benchmark harness, once on a tiny load: it runs end to end and writes
well-formed results. No timing is asserted here; BENCHMARKS.md holds the numbers."""

from __future__ import annotations

import asyncio
import json
import os
import shutil
import sys
from pathlib import Path

import pytest

from tests.conftest import require

ROOT = Path(__file__).parent.parent


# About two minutes on a busy two-core machine, half of it the Redis part's
# processes (seven hubs and a supervisor started, twelve fan-out runs).
@pytest.mark.timeout(360)
async def test_the_harness_runs_on_a_tiny_load(tmp_path: Path) -> None:
    require("wrk")
    require("h2load")
    process = await asyncio.create_subprocess_exec(
        sys.executable, "-m", "bench", "--quick", "--out", str(tmp_path),
        cwd=ROOT, stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.STDOUT,
    )  # fmt: skip
    output, _ = await asyncio.wait_for(process.communicate(), 330)
    assert process.returncode == 0, output.decode()
    results = json.loads((tmp_path / "bench-results" / "results.json").read_text())

    assert results["startup"]["seconds"] > 0 and results["startup"]["idle_rss_mb"] > 0
    for pairs in (
        {"16": results["execute_http"]},
        {"16": results["execute_grpc"]},
        results["http_by_concurrency"],
        results["grpc_by_concurrency"],
    ):
        assert pairs
        for pair in pairs.values():
            assert pair["errors"] == 0
            assert pair["baseline"]["rps"] > 0 and pair["monotreme"]["rps"] > 0
            assert pair["ratio"] == pair["monotreme"]["rps"] / pair["baseline"]["rps"]
    assert results["ws_requests"]["rps"] > 0 and results["ws_requests"]["errors"] == 0
    for transport in ("ws", "grpc", "grpc-batches"):
        runs = results["fanout"][transport]
        assert sorted(runs, key=int) == ["1", "10"]
        for count, run in runs.items():
            assert_every_event_delivered(run, int(count))

    report = (tmp_path / "BENCHMARKS.md").read_text()
    for heading in (
        "## Targets",
        "## Requests",
        "## Event fan-out",
        "## Scale-out on Redis",
        "## Start-up and memory",
        "## Analysis",
    ):
        assert heading in report
    redis = results["redis"]
    if shutil.which("redis-server") is None:
        # The harness notes the skip; CI, which has every service, must not.
        assert os.environ.get("MONOTREME_REQUIRE_SERVICES") != "1", "redis-server is not installed"
        assert redis == {"skipped": "redis-server is not installed (Debian: apt-get install redis-server)"}
        assert "*Skipped: redis-server is not installed" in report
    else:
        assert (redis["subscribers"], redis["seconds"]) == (10, 1)
        for transport in ("ws", "grpc-batches"):
            runs = redis["scale_out"][transport]
            assert list(runs) == ["embedded", "1", "2", "4"]
            for run in runs.values():
                assert_every_event_delivered(run, 10)
            latency = redis["latency"]["runs"][transport]
            assert list(latency) == ["embedded", "redis"]
            for run in latency.values():
                assert_every_event_delivered(run, 10)
        execute = redis["execute_workers"]
        assert execute["errors"] == 0
        assert all(execute[side]["rps"] > 0 for side in ("baseline", "one", "workers"))
        assert execute["workers_to_one"] == execute["workers"]["rps"] / execute["one"]["rps"]
        assert "| ws | Redis | 4 |" in report and "| 2 workers on Redis |" in report
    for plot in ("throughput.png", "fanout-latency.png"):
        assert (tmp_path / "bench-results" / plot).read_bytes().startswith(b"\x89PNG")


def assert_every_event_delivered(run: dict[str, float], subscribers: int) -> None:
    """A light load: every subscriber gets every event."""
    assert run["subscribers"] == subscribers
    assert run["published"] > 0 and run["missed"] == 0
    assert run["delivered"] == run["published"] * subscribers
    assert 0 < run["p50_ms"] <= run["p99_ms"] and run["rss_mb"] > 0
