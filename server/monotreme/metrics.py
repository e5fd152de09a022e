"""The process's metrics, defined once, in prometheus_client's default registry
(which also holds its process collector: resident memory, open files, CPU).
Each is updated at one choke point: the method table (calls, latency and
open streams of both doors), the event bus, the hook runner, the scheduler,
web hooks and the log-in throttle. The HTTP door serves them at `GET /metrics`."""

from __future__ import annotations

from bisect import bisect_left
from collections.abc import Iterator

from prometheus_client import REGISTRY, Counter, Histogram
from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily, HistogramMetricFamily
from prometheus_client.registry import Collector
from prometheus_client.utils import floatToGoString

# The finite bounds (Histogram.DEFAULT_BUCKETS ends with +Inf), and every
# bound as the exposition format prints it.
_BOUNDS = Histogram.DEFAULT_BUCKETS[:-1]
_LE: tuple[str, ...] = tuple(floatToGoString(b) for b in Histogram.DEFAULT_BUCKETS)  # type: ignore[no-untyped-call]


class RpcStats:
    """One RPC's calls at one door: how each ended, how long the unary ones
    took (Prometheus' default buckets), and how many of its streams are open.
    Plain counts, updated on the event loop's thread by the method table:
    prometheus_client's own metrics take a lock per update, some 5 µs a call."""

    __slots__ = ("buckets", "door", "outcomes", "rpc", "seconds", "streams")

    def __init__(self, rpc: str, door: str) -> None:
        self.rpc, self.door = rpc, door
        self.outcomes: dict[str, int] = {}
        # Calls by the first bucket bound they are within; the last: above them all.
        self.buckets = [0] * len(_LE)
        self.seconds = 0.0
        self.streams = 0

    def answered(self, outcome: str) -> None:
        self.outcomes[outcome] = self.outcomes.get(outcome, 0) + 1

    def took(self, seconds: float) -> None:
        self.buckets[bisect_left(_BOUNDS, seconds)] += 1
        self.seconds += seconds


class _Rpcs(Collector):
    """Every RpcStats, as Prometheus families when scraped."""

    def __init__(self) -> None:
        self.stats: dict[tuple[str, str], RpcStats] = {}

    def collect(self) -> Iterator[CounterMetricFamily | GaugeMetricFamily | HistogramMetricFamily]:
        labels = ["rpc", "door"]
        calls = CounterMetricFamily(
            "monotreme_rpc_calls",
            "RPCs answered, by RPC, door (grpc or http) and outcome (OK or the status code's name)",
            labels=[*labels, "outcome"],
        )
        durations = HistogramMetricFamily(
            "monotreme_rpc_duration_seconds",
            "Time to answer a unary RPC, credentials checked included, by RPC and door",
            labels=labels,
        )
        streams = GaugeMetricFamily(
            "monotreme_streams_open",
            "Server streams open, by RPC and door (StreamEvents: the event subscribers)",
            labels=labels,
        )
        for stats in list(self.stats.values()):
            for outcome, count in list(stats.outcomes.items()):
                calls.add_metric([stats.rpc, stats.door, outcome], count)
            if any(stats.buckets):
                cumulative, total = [], 0
                for le, count in zip(_LE, stats.buckets, strict=True):
                    total += count
                    cumulative.append((le, total))
                durations.add_metric([stats.rpc, stats.door], cumulative, stats.seconds)
            streams.add_metric([stats.rpc, stats.door], stats.streams)
        yield from (calls, durations, streams)


_RPCS = _Rpcs()
REGISTRY.register(_RPCS)


def rpc_stats(rpc: str, door: str) -> RpcStats:
    """The counts of `rpc` at `door`, made on first use."""
    stats = _RPCS.stats.get((rpc, door))
    if stats is None:
        stats = _RPCS.stats[(rpc, door)] = RpcStats(rpc, door)
    return stats


EVENTS_PUBLISHED = Counter("monotreme_events_published", "Events published through this process")
EVENTS_DELIVERED = Counter(
    "monotreme_events_delivered", "Events queued for subscribers: one per subscriber an event matches"
)
EVENTS_MISSED = Counter(
    "monotreme_events_missed",
    "Events subscribers lost: dropped from a slow one's full queue, or gone from the history it resumed from",
)
HOOK_RUNS = Counter(
    "monotreme_hook_runs",
    "Event hook runs, by hook and outcome (ok, failed, or dropped while too many were pending)",
    ["hook", "outcome"],
)
SCHEDULE_RUNS = Counter(
    "monotreme_schedule_runs", "Cron job runs, by job and outcome (ok or failed)", ["job", "outcome"]
)
WEBHOOK_CALLS = Counter(
    "monotreme_webhook_calls", "Calls of /hook/<name>, by HTTP status answered", ["status"]
)
LOGIN_FAILURES = Counter("monotreme_login_failures", "Log-ins refused for wrong credentials")
LOGIN_LOCKOUTS = Counter(
    "monotreme_login_lockouts",
    "Log-in locks set or lengthened, by what is locked (a user at an address, or an address)",
    ["kind"],
)
