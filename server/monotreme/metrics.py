"""The process's metrics, defined once, in prometheus_client's default registry
(which also holds its process collector: resident memory, open files, CPU).
Each is updated at one choke point: the method table (calls, latency and
open streams of both doors), the event bus, the hook runner, the scheduler,
web hooks and the log-in throttle. The HTTP door serves them at `GET /metrics`."""

from __future__ import annotations

from prometheus_client import Counter, Gauge, Histogram

RPC_CALLS = Counter(
    "monotreme_rpc_calls",
    "RPCs answered, by RPC, door (grpc or http) and outcome (OK or the status code's name)",
    ["rpc", "door", "outcome"],
)
RPC_SECONDS = Histogram(
    "monotreme_rpc_duration_seconds",
    "Time to answer a unary RPC, credentials checked included, by RPC and door",
    ["rpc", "door"],
)
STREAMS_OPEN = Gauge(
    "monotreme_streams_open",
    "Server streams open, by RPC and door (StreamEvents: the event subscribers)",
    ["rpc", "door"],
)
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
