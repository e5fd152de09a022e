"""Schedules: `cron.NAME` entries of the config and `@cron` functions of scripts,
fired at the times their cron expressions name, as Platypush's cron does.

    cron.water_plants:
      cron_expression: '0 7 * * *'     # 5 fields, or 6 with seconds as the sixth:
      actions:                         # '* * * * * */3' is every 3 seconds
        - action: switch.on
          args: {device: pump}

One task on the hub's loop sleeps until the next due job. Each run is a task
of its own: a run still going at its job's next tick is not started twice
(the skipped ticks are logged once per run); ticks missed while the hub was
down or its loop was held up are not replayed; a failing run logs one line
naming its job. Every job is also the action `cron.NAME`, which runs it now.

With several hub processes (the Redis bus) each tick runs in one of them:
the first to `claim` it (a lease in Redis); a tick nobody can claim while
Redis is down is skipped with a warning.
"""

from __future__ import annotations

import asyncio
import logging
import traceback
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from datetime import datetime, tzinfo
from pathlib import Path
from typing import Any, TypeVar
from zoneinfo import ZoneInfo

from croniter import croniter
from dateutil import tz

from monotreme import metrics
from monotreme.actions.dispatcher import Dispatcher
from monotreme.actions.schema import ActionSpec
from monotreme.automation.procedures import Procedure, RunAction, StepError, compile_steps
from monotreme.automation.threads import call_script, defined_at
from monotreme.call import current_call
from monotreme.errors import FailedPrecondition, ServiceError

log = logging.getLogger(__name__)
F = TypeVar("F", bound=Callable[..., Any])
# The longest sleep between two looks at the clock: a wall clock set forward
# or back (NTP, a resumed laptop) is noticed within this many seconds.
MAX_SLEEP = 30.0
# Seconds a process's claim on a tick holds: longer than the hosts' clocks disagree.
TICK_LEASE = 60.0


def check_expression(expression: Any) -> str:
    """The expression if croniter reads it, else ValueError saying why."""
    if not isinstance(expression, str) or not croniter.is_valid(expression):
        raise ValueError(
            f"{expression!r} is not a cron expression (5 fields, or 6 with seconds as the sixth: "
            "'*/5 * * * *', '* * * * * */3')"
        )
    return expression


def cron(expression: str) -> Callable[[F], F]:
    """Runs the function at the times `expression` names (sync functions on a
    thread of their own, async ones on the hub's loop). The job is named
    `<module>.<function>` after its script, as in Platypush."""
    check_expression(expression)

    def mark(function: F) -> F:
        function.__monotreme_cron__ = expression  # type: ignore[attr-defined]
        return function

    return mark


@dataclass
class Job:
    name: str
    expression: str
    run: Callable[[], Awaitable[Any]]
    # How `inspect.get_cronjobs` describes where it comes from.
    definition: dict[str, Any]
    next_run: datetime | None = None
    task: asyncio.Task[Any] | None = None
    # A skipped tick of the current run was logged.
    overlapped: bool = False


def yaml_job(key: str, raw: Any, run_action: RunAction, source: Path | None) -> Job:
    """`cron.NAME: {cron_expression: ..., actions: [steps]}`; StepError names what is wrong."""
    name = key.removeprefix("cron.")
    if not isinstance(raw, dict) or set(raw) - {"cron_expression", "actions"} or "actions" not in raw:
        raise StepError("job", "expected {cron_expression: '...', actions: [steps]}")
    try:
        expression = check_expression(raw.get("cron_expression"))
    except ValueError as e:
        raise StepError("cron_expression", str(e)) from None
    procedure = Procedure(key, (), compile_steps(raw["actions"], "step"), False)

    async def run() -> Any:
        return await procedure(run_action, {})

    definition = {"type": "config", "actions": raw["actions"], "source": str(source)}
    return Job(name, expression, run, definition)


def function_job(name: str, function: Callable[..., Any]) -> Job:
    """A script's `@cron` function, sync (on a thread of its own) or async."""

    async def run() -> Any:
        return await call_script(function)

    definition = {"type": "python", **defined_at(function)}
    return Job(name, function.__monotreme_cron__, run, definition)  # type: ignore[attr-defined]


def _failure(error: BaseException) -> str:
    """One line: a step's own message, or the error and where in the script it arose."""
    if isinstance(error, StepError):
        return error.reason
    frames = traceback.extract_tb(error.__traceback__)
    where = f" ({Path(frames[-1].filename).name}, line {frames[-1].lineno})" if frames else ""
    return f"{type(error).__name__}: {error}{where}"


@dataclass
class Scheduler:
    dispatcher: Dispatcher
    # An IANA zone name; the hub's local zone (as the system sets it) when None.
    timezone: str | None = None
    # Whether this process runs a tick (`claim(name, seconds)`, see EventBus.claim); all of them when None.
    claim: Callable[[str, float], Awaitable[bool]] | None = None
    jobs: dict[str, Job] = field(default_factory=dict)
    _loop_task: asyncio.Task[None] | None = None
    _started: bool = False
    # Every run going, those of jobs a reload removed included.
    _runs: set[asyncio.Task[Any]] = field(default_factory=set)

    @property
    def _zone(self) -> tzinfo:
        return ZoneInfo(self.timezone) if self.timezone else tz.tzlocal()

    def _next(self, job: Job, after: datetime) -> datetime:
        next_run: datetime = croniter(job.expression, after).get_next(datetime)
        return next_run

    def replace(self, jobs: dict[str, Job]) -> None:
        """These jobs instead (a reload): a run going on goes on, and one of a
        job that stays keeps the job from starting again until it ends."""
        for name, job in jobs.items():
            if (old := self.jobs.get(name)) is not None:
                job.task = old.task
        self.jobs = jobs
        if self._started:
            if self._loop_task is not None:
                self._loop_task.cancel()
                self._loop_task = None
            self.start()

    def spec(self, job: Job) -> ActionSpec:
        """The action `cron.NAME`, running the job of that name now."""

        async def run_now() -> Any:
            return await self.run_now(job.name)

        doc = f"Runs the cron job {job.name} now (it also runs at '{job.expression}')."
        return ActionSpec(f"cron.{job.name}", doc, (), False, run_now)

    def describe(self) -> dict[str, dict[str, Any]]:
        """Every job with its expression, next fire time (ISO 8601, in the
        schedules' zone) and whether a run is going."""
        now = datetime.now(self._zone)
        return {
            name: {
                "name": name,
                "cron_expression": job.expression,
                "next_run": (job.next_run or self._next(job, now)).isoformat(),
                "running": job.task is not None and not job.task.done(),
                **job.definition,
            }
            for name, job in sorted(self.jobs.items())
        }

    async def run_now(self, name: str) -> Any:
        """Runs a job now and answers its output; refused while a run is going."""
        job = self.jobs[name]
        if job.task is not None and not job.task.done():
            raise FailedPrecondition(f"cron job {name} is running", reason="CRON_JOB_RUNNING")
        # Shielded: a caller that stops waiting does not stop the run.
        return await asyncio.shield(self._start(job))

    def start(self) -> None:
        self._started = True
        if self.jobs:
            log.info("%d cron job(s): %s", len(self.jobs), ", ".join(sorted(self.jobs)))
            self._loop_task = asyncio.get_running_loop().create_task(self._fire_when_due())

    async def close(self) -> None:
        """Stops the schedule and cancels the runs still going."""
        tasks = [*self._runs, *([self._loop_task] if self._loop_task is not None else [])]
        for task in tasks:
            task.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)

    async def _fire_when_due(self) -> None:
        zone = self._zone
        now = datetime.now(zone)
        for job in self.jobs.values():
            job.next_run = self._next(job, now)
        while True:
            now = datetime.now(zone)
            for job in self.jobs.values():
                assert job.next_run is not None
                if job.next_run <= now:
                    self._tick(job, job.next_run)
                    # From now, not from the tick: missed ticks are not replayed.
                    job.next_run = self._next(job, now)
            wake = min(job.next_run for job in self.jobs.values() if job.next_run is not None)
            await asyncio.sleep(min(MAX_SLEEP, max(0.0, (wake - datetime.now(zone)).total_seconds())))

    def _tick(self, job: Job, tick: datetime) -> None:
        if job.task is not None and not job.task.done():
            if not job.overlapped:
                log.warning(
                    "cron job %s is still running at its next tick: skipping ticks until it ends", job.name
                )
                job.overlapped = True
            return
        self._start(job, tick)

    def _start(self, job: Job, tick: datetime | None = None) -> asyncio.Task[Any]:
        """Runs the job now (`run_now`), or at its `tick` if this process claims it."""
        job.task = asyncio.get_running_loop().create_task(self._run(job, tick), name=f"cron.{job.name}")
        self._runs.add(job.task)
        job.task.add_done_callback(self._runs.discard)
        job.task.add_done_callback(lambda task: self._report(job, task))
        return job.task

    async def _run(self, job: Job, tick: datetime | None) -> Any:
        self.dispatcher.enter(None)  # a job runs for no caller
        current_call.set(None)  # nor do its log lines carry the context of a call
        try:
            if tick is not None and not await self._claimed(job, tick):
                return None
            return await job.run()
        finally:
            job.overlapped = False

    async def _claimed(self, job: Job, tick: datetime) -> bool:
        if self.claim is None:
            return True
        try:
            return await self.claim(f"cron.{job.name}@{tick.timestamp():.3f}", TICK_LEASE)
        except ServiceError as e:
            log.warning("cron job %s: skipped its tick at %s: %s", job.name, tick.isoformat(), e.message)
            return False

    @staticmethod
    def _report(job: Job, task: asyncio.Task[Any]) -> None:
        if task.cancelled():
            return
        if (error := task.exception()) is not None:
            metrics.SCHEDULE_RUNS.labels(job.name, "failed").inc()
            log.error("cron job %s failed: %s", job.name, _failure(error))
        else:
            metrics.SCHEDULE_RUNS.labels(job.name, "ok").inc()
