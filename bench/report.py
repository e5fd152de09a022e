"""BENCHMARKS.md from a run's results: the targets, the tables, two plots, and
the analysis kept by hand in bench/ANALYSIS.md."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import matplotlib

matplotlib.use("Agg")  # files only, no screen
import matplotlib.pyplot as plt

ANALYSIS = Path(__file__).with_name("ANALYSIS.md")


def _check(ok: bool) -> str:
    return "met" if ok else "**not met**"


def _targets(r: dict[str, Any]) -> list[str]:
    http, grpc = r["execute_http"], r["execute_grpc"]
    top_ws = r["fanout"]["ws"][max(r["fanout"]["ws"])]
    top_grpc = r["fanout"]["grpc"][max(r["fanout"]["grpc"])]
    top_batches = r["fanout"]["grpc-batches"][max(r["fanout"]["grpc-batches"])]
    start = r["startup"]
    rows = [
        ("`/execute` ≥ 0.8 of the bare aiohttp echo", f"{http['ratio']:.2f}", http["ratio"] >= 0.8),
        ("gRPC `Execute` ≥ 0.8 of the bare grpc.aio echo", f"{grpc['ratio']:.2f}", grpc["ratio"] >= 0.8),
    ]
    pairs, at_target = r.get("fanout_baselines", {}), r.get("fanout_at_target", {})
    for name, transport, top in (
        ("/ws/events", "ws", top_ws),
        ("StreamEvents", "grpc", top_grpc),
        ("StreamEventBatches", "grpc-batches", top_batches),
    ):
        n, pair = top["subscribers"], pairs.get(transport)
        # Beside the rate, its ratio to the bare framework's in the same run.
        rate = f"{top['rate']:,.0f}/s" + (f" ({pair['ratio']:.2f} of bare)" if pair else "")
        rows.append((f"{n:,} subscribers ({name}): ≥ 50,000 events/s", rate, top["rate"] >= 50_000))
        # The latency at the target's pace, where it was measured (older runs: under the doubled pace).
        paced = at_target.get(transport, top)
        latency = f"{paced['p99_ms']:.0f} ms" + (
            f" at {paced['rate']:,.0f}/s" if transport in at_target else ""
        )
        rows.append((f"{n:,} subscribers ({name}): p99 < 100 ms", latency, paced["p99_ms"] < 100))
        rows += _scaled_out(r, name, transport)
    rows += [
        ("start-up to ready < 1 s", f"{start['seconds']:.2f} s", start["seconds"] < 1),
        ("idle memory < 80 MB", f"{start['idle_rss_mb']:.0f} MB", start["idle_rss_mb"] < 80),
    ]
    lines = ["| target | measured | |", "|---|---|---|"]
    lines += [f"| {name} | {value} | {_check(ok)} |" for name, value, ok in rows]
    return lines


def _scaled_out(r: dict[str, Any], name: str, transport: str) -> list[tuple[str, str, bool]]:
    """The fan-out target on several processes on Redis, where one process
    falls short: the run of most deliveries/s among them (the scale-out table)."""
    runs = r.get("redis", {}).get("scale_out", {}).get(transport, {})
    several = {key: f for key, f in runs.items() if key not in ("embedded", "1")}
    if not several or runs["embedded"]["rate"] >= 50_000:
        return []
    processes, best = max(several.items(), key=lambda item: item[1]["rate"])
    what = f"{best['subscribers']:,} subscribers ({name}, {processes} processes on Redis)"
    return [
        (f"{what}: ≥ 50,000 events/s", f"{best['rate']:,.0f}/s", best["rate"] >= 50_000),
        (f"{what}: p99 < 100 ms", f"{best['p99_ms']:.0f} ms", best["p99_ms"] < 100),
    ]


def _pair_table(title: str, pairs: dict[Any, dict[str, Any]], what: str) -> list[str]:
    lines = [f"| {what} | baseline req/s | Monotreme req/s | ratio | Monotreme p50 / p99 ms |",
             "|---|---|---|---|---|"]  # fmt: skip
    for key, pair in pairs.items():
        base, ours = pair["baseline"], pair["monotreme"]
        lines.append(
            f"| {key} | {base['rps']:,.0f} | {ours['rps']:,.0f} | {pair['ratio']:.2f} | "
            f"{ours['p50_ms']:.1f} / {ours['p99_ms']:.1f} |"
        )
    return [f"**{title}**", "", *lines]


def _fanout_table(r: dict[str, Any]) -> list[str]:
    lines = [
        "| transport | subscribers | events published | delivered | delivered/s | missed | "
        "p50 ms | p99 ms | server RSS MB | server CPU |",
        "|---|---|---|---|---|---|---|---|---|---|",
    ]
    for transport, runs in r["fanout"].items():
        for n, f in runs.items():
            lines.append(
                f"| {transport} | {n} | {f['published']:,} | {f['delivered']:,} | {f['rate']:,.0f} | "
                f"{f['missed']} | {f['p50_ms']:.1f} | {f['p99_ms']:.1f} | {f['rss_mb']:.0f} | "
                f"{f['server_cpu']:.0%} |"
            )
    return lines


def _fanout_baselines(pairs: dict[str, dict[str, Any]]) -> list[str]:
    """Monotreme's fan-out against the bare frameworks', alternating round by round."""
    if not pairs:
        return []
    first = next(iter(pairs.values()))
    names = {"ws": "/ws/events (bare aiohttp)", "grpc": "StreamEvents (bare grpc.aio)"}
    lines = [
        f"**Against the bare frameworks, {first['subscribers']:,} subscribers**: a bare aiohttp `/ws/events`",
        "and a bare grpc.aio `StreamEvents` (bench/baselines.py: a bounded queue per subscriber,",
        "filled by `PublishEvent`, no authentication, no filter), alternating with Monotreme for",
        f"{first['rounds']} round(s), {first['seconds']:g} s of publishing each; the runs of median rate",
        "(Monotreme's are the table's rows above).",
        "",
        "| transport | bare delivered/s | Monotreme delivered/s | ratio | bare p50 / p99 ms | "
        "Monotreme p50 / p99 ms |",
        "|---|---|---|---|---|---|",
    ]
    for transport, pair in pairs.items():
        base, ours = pair["baseline"], pair["monotreme"]
        lines.append(
            f"| {names.get(transport, transport)} | {base['rate']:,.0f} | {ours['rate']:,.0f} | "
            f"{pair['ratio']:.2f} | {base['p50_ms']:.1f} / {base['p99_ms']:.1f} | "
            f"{ours['p50_ms']:.1f} / {ours['p99_ms']:.1f} |"
        )
    return ["", *lines]


def _at_target(runs: dict[str, dict[str, Any]]) -> list[str]:
    """The most subscribers at the target's own pace: the latency at that load."""
    if not runs:
        return []
    n = next(iter(runs.values()))["subscribers"]
    lines = [
        "",
        f"**{n:,} subscribers at the target's pace** ({50_000 // n:,} events/s, 50,000 deliveries/s",
        "offered): the latency at that load, where the table above queues up the doubled pace.",
        "",
        "| transport | delivered/s | missed | p50 ms | p99 ms | server CPU |",
        "|---|---|---|---|---|---|",
    ]
    for t, f in runs.items():
        lines.append(
            f"| {t} | {f['rate']:,.0f} | {f['missed']} | {f['p50_ms']:.1f} | {f['p99_ms']:.1f} | "
            f"{f['server_cpu']:.0%} |"
        )
    return lines


def _redis(r: dict[str, Any]) -> list[str]:
    """The scale-out section: fan-out over processes on one Redis bus, the
    latency Redis adds, `/execute` on workers; or why it was skipped."""
    if "skipped" in r:
        return [f"*Skipped: {r['skipped']}.*"]
    n, lat, x = r["subscribers"], r["latency"], r["execute_workers"]
    lines = [
        f"**Fan-out, {n:,} subscribers** spread evenly over the processes (one subscriber process or more",
        f"for each), one publisher on the first; {r['seconds']:g} s of publishing at the pace above. The",
        "embedded bus is one process without Redis; the ratio is of deliveries/s against it. RSS and CPU",
        "are summed over the hub's processes (not counting redis-server).",
        "",
        "| transport | bus | processes | delivered/s | ratio | missed | p50 ms | p99 ms | RSS MB | CPU |",
        "|---|---|---|---|---|---|---|---|---|---|",
    ]
    for transport, runs in r["scale_out"].items():
        embedded = runs["embedded"]["rate"]
        for key, f in runs.items():
            bus, processes = ("embedded", "1") if key == "embedded" else ("Redis", key)
            lines.append(
                f"| {transport} | {bus} | {processes} | {f['rate']:,.0f} | {f['rate'] / embedded:.2f} | "
                f"{f['missed']} | {f['p50_ms']:.1f} | {f['p99_ms']:.1f} | {f['rss_mb']:.0f} | "
                f"{f['server_cpu']:.0%} |"
            )
    lines += [
        "",
        f"**Latency Redis adds**, publish to receipt: {lat['subscribers']} subscribers,",
        f"{lat['rate']:g} events/s, one process (grpc-batches' include its `max_delay_ms`).",
        "",
        "| transport | embedded p50 / p99 ms | Redis p50 / p99 ms | added p50 / p99 ms |",
        "|---|---|---|---|",
    ]
    for transport, pair in lat["runs"].items():
        e, o = pair["embedded"], pair["redis"]
        lines.append(
            f"| {transport} | {e['p50_ms']:.1f} / {e['p99_ms']:.1f} | "
            f"{o['p50_ms']:.1f} / {o['p99_ms']:.1f} | "
            f"{o['p50_ms'] - e['p50_ms']:+.1f} / {o['p99_ms'] - e['p99_ms']:+.1f} |"
        )
    lines += [
        "",
        "**HTTP `POST /execute`, 16 connections**: `serve --workers 2 --bus redis://…` against one",
        "process (`serve`, the embedded bus) and the bare aiohttp echo, alternating round by round.",
        "",
        "| server | req/s | p50 / p99 ms | ratio to baseline |",
        "|---|---|---|---|",
    ]
    names = {"baseline": "bare aiohttp", "one": "one process", "workers": "2 workers on Redis"}
    for key, name in names.items():
        m = x[key]
        lines.append(
            f"| {name} | {m['rps']:,.0f} | {m['p50_ms']:.1f} / {m['p99_ms']:.1f} | "
            f"{m['rps'] / x['baseline']['rps']:.2f} |"
        )
    ratio = x["workers_to_one"]
    lines += ["", f"2 workers against one process: ratio **{ratio:.2f}** ({x['errors']} errors)."]
    return lines


def _plots(r: dict[str, Any], out: Path) -> list[str]:
    figure, axes = plt.subplots(1, 2, figsize=(10, 4))
    for axis, key, title in ((axes[0], "http_by_concurrency", "HTTP /execute"),
                             (axes[1], "grpc_by_concurrency", "gRPC Execute")):  # fmt: skip
        levels = sorted(r[key], key=int)
        for side, label in (("baseline", "bare framework"), ("monotreme", "Monotreme")):
            axis.plot(
                [int(c) for c in levels], [r[key][c][side]["rps"] for c in levels], marker="o", label=label
            )
        axis.set(title=title, xlabel="concurrent connections", ylabel="requests/s", xscale="log")
        axis.legend()
    figure.tight_layout()
    figure.savefig(out / "throughput.png", dpi=100)
    plt.close(figure)
    figure, axis = plt.subplots(figsize=(6, 4))
    for transport, runs in r["fanout"].items():
        counts = sorted(runs, key=int)
        for stat in ("p50_ms", "p99_ms"):
            axis.plot([int(n) for n in counts], [runs[n][stat] for n in counts], marker="o",
                      label=f"{transport} {stat.split('_')[0]}")  # fmt: skip
    axis.set(title="Publish-to-receipt latency", xlabel="subscribers", ylabel="ms", xscale="log")
    axis.legend()
    figure.tight_layout()
    figure.savefig(out / "fanout-latency.png", dpi=100)
    plt.close(figure)
    return [
        f"![throughput against concurrency]({out.name}/throughput.png)",
        "",
        f"![latency against subscribers]({out.name}/fanout-latency.png)",
    ]


def write(r: dict[str, Any], path: Path, out: Path) -> None:
    m = r["machine"]
    ws = r["ws_requests"]
    lines = [
        "# Benchmarks",
        "",
        "Written by `python -m bench` (see bench/__main__.py); the analysis below the",
        "tables is bench/ANALYSIS.md. Load comes from separate processes (wrk and",
        "h2load on one thread each, Python subscriber processes); each Monotreme",
        "figure is taken in the same run as its baseline, alternating round by round,",
        "and the ratios are of medians.",
        "",
        f"Machine: {m['cpu']}, {m['cores']} cores; Python {m['python']}, aiohttp {m['aiohttp']}, "
        f"grpcio {m['grpcio']}, protobuf {m['protobuf']}, orjson {m['orjson']}."
        + (" **Quick run: tiny loads, for checking the harness only.**" if r["quick"] else ""),
        "",
        "## Targets",
        "",
        *_targets(r),
        "",
        "## Requests",
        "",
        "The no-op action `utils.echo`, authenticated with an API token, against",
        "bare echoes doing the least the same job needs (bench/baselines.py).",
        "",
        *_pair_table("HTTP `POST /execute`, 16 connections", {"16": r["execute_http"]}, "connections"),
        "",
        *_pair_table("gRPC `Execute`, 16 connections", {"16": r["execute_grpc"]}, "connections"),
        "",
        *_pair_table("HTTP by concurrency", r["http_by_concurrency"], "connections"),
        "",
        *_pair_table("gRPC by concurrency", r["grpc_by_concurrency"], "connections"),
        "",
        f"`/ws/requests`, one socket, 64 in flight: **{ws['rps']:,.0f} requests/s** "
        f"({ws['errors']:.0f} errors).",
        "",
        "## Event fan-out",
        "",
        f"One publisher (gRPC `PublishEvent`, paced at {r['fanout_pace']['deliveries']:,} deliveries/s or",
        f"{r['fanout_pace']['events']:,} events/s, whichever is fewer), subscribers in two processes.",
        f"`grpc-batches` subscribers ask for `max_delay_ms: {r.get('fanout_batch_delay_ms', 0)}`.",
        "At the most subscribers, half the publishing time (the deliveries and the drain take the time).",
        "",
        *_fanout_table(r),
        *_fanout_baselines(r.get("fanout_baselines", {})),
        *_at_target(r.get("fanout_at_target", {})),
        "",
        "## Scale-out on Redis",
        "",
        *_redis(r["redis"]),
        "",
        "## Start-up and memory",
        "",
        f"Start-up to ready: {r['startup']['seconds']:.2f} s; resident memory idle: "
        f"{r['startup']['idle_rss_mb']:.0f} MB (medians of five starts after one not counted;"
        " with subscribers: the fan-out table).",
        "",
        "## How costs grow",
        "",
        *_plots(r, out),
        "",
        ANALYSIS.read_text().strip(),
        "",
    ]
    path.write_text("\n".join(lines))
