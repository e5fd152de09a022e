"""Schedules: `cron.NAME` in the YAML and `@cron` in scripts fire at their
ticks; a run still going at the next tick is not started twice; a failing
job logs one line and goes on; each job runs now as `cron.NAME`."""

from __future__ import annotations

import logging
import sys
import textwrap
from collections.abc import Awaitable, Callable
from datetime import datetime
from pathlib import Path
from typing import Any

import pytest
from monotreme.config import Config
from monotreme.errors import ConfigError, FailedPrecondition
from monotreme.hub import Hub
from monotreme.server import Server

from tests.conftest import eventually

MakeServer = Callable[..., Awaitable[Server]]


def scripts(tmp_path: Path, **files: str) -> str:
    """A scripts directory with these modules; answers its `scripts_dir:` line."""
    directory = tmp_path / "scripts"
    directory.mkdir(exist_ok=True)
    for name, text in files.items():
        (directory / f"{name}.py").write_text(textwrap.dedent(text))
    return f"scripts_dir: {directory}\n"


def messages(caplog: pytest.LogCaptureFixture, start: str) -> list[str]:
    return [r.getMessage() for r in caplog.records if r.getMessage().startswith(start)]


async def test_a_yaml_job_fires_and_runs_now(make_server: MakeServer) -> None:
    server = await make_server(
        """
        cron.tick:
          cron_expression: '* * * * * *'
          actions:
            - action: utils.echo
              args: {job: tick}
            - return: ${job}
        """.replace("\n        ", "\n")
    )
    job = server.hub.schedules.jobs["tick"]
    await eventually(lambda: job.task is not None and job.task.done())
    assert job.task is not None and job.task.result() == "tick"
    # Run now, by name, as `procedure.NAME` runs a procedure.
    assert await server.hub.dispatcher.run("cron.tick", {}) == "tick"
    listed = await server.hub.dispatcher.run("inspect.get_cronjobs", {})
    assert listed["tick"]["type"] == "config"
    assert listed["tick"]["actions"][1] == {"return": "${job}"}
    assert datetime.fromisoformat(listed["tick"]["next_run"]) > datetime.now().astimezone()


async def test_a_run_still_going_is_not_started_twice(
    tmp_path: Path, make_server: MakeServer, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.WARNING, logger="monotreme.automation.schedules")
    server = await make_server(
        scripts(
            tmp_path,
            slow="""\
            import asyncio
            from monotreme import cron

            starts = []
            release = asyncio.Event()

            @cron("* * * * * *")
            async def hold():
                starts.append(1)
                await release.wait()
                release.clear()
            """,
        )
    )
    module: Any = sys.modules["scripts.slow"]
    job = server.hub.schedules.jobs["slow.hold"]
    await eventually(lambda: len(module.starts) == 1)
    skipped = "cron job slow.hold is still running at its next tick"
    await eventually(lambda: len(messages(caplog, skipped)) == 1)
    # Two more ticks pass while the first run goes on: still one run, one line.
    ticks = [job.next_run]
    for _ in range(2):
        await eventually(lambda: job.next_run != ticks[-1])
        ticks.append(job.next_run)
    assert (len(module.starts), len(messages(caplog, skipped))) == (1, 1)
    with pytest.raises(FailedPrecondition, match=r"cron job slow\.hold is running"):
        await server.hub.dispatcher.run("cron.slow.hold", {})
    module.release.set()
    await eventually(lambda: len(module.starts) == 2)


async def test_a_failing_job_logs_one_line_and_goes_on(
    tmp_path: Path, make_server: MakeServer, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.ERROR, logger="monotreme.automation.schedules")
    scripts_dir = scripts(
        tmp_path,
        failing="""\
        from platypush import cron

        @cron("* * * * * *")
        def boom():
            return 1 / 0
        """,
    )
    await make_server(
        scripts_dir + "cron.bad:\n  cron_expression: '* * * * * *'\n  actions:\n    - action: utils.nope\n"
    )
    failed = "cron job failing.boom failed: ZeroDivisionError: division by zero (failing.py, line 5)"
    await eventually(lambda: len(messages(caplog, failed)) >= 2)  # it failed, and ran again
    assert messages(caplog, "cron job bad failed: ")[0] == (
        "cron job bad failed: step 1 (utils.nope): unknown action 'utils.nope': "
        "plugin 'utils' has no such action"
    )
    assert all("\n" not in r.getMessage() and r.exc_info is None for r in caplog.records)


async def test_schedules_read_the_configured_time_zone(make_server: MakeServer) -> None:
    server = await make_server(
        "schedules: {timezone: Asia/Tokyo}\ncron.new_year:\n  cron_expression: '0 0 1 1 *'\n  actions: []\n"
    )
    job = (await server.hub.dispatcher.run("inspect.get_cronjobs", {}))["new_year"]
    assert job["next_run"].endswith("-01-01T00:00:00+09:00")
    assert job["running"] is False  # a tick missed before the start is not run


@pytest.mark.parametrize(
    ("yaml", "message"),
    [
        (
            "cron.x:\n  cron_expression: '* * *'\n  actions: []\n",
            "cron.x: cron_expression: '* * *' is not a cron expression (5 fields, or 6 with seconds as the "
            "sixth: '*/5 * * * *', '* * * * * */3')",
        ),
        ("cron.x:\n  actions: []\n", "cron.x: cron_expression: None is not a cron expression"),
        ("cron.x: [1]\n", "cron.x: job: expected {cron_expression: '...', actions: [steps]}"),
        ("schedules: {timezone: Mars/Olympus}\n", "schedules.timezone: unknown time zone 'Mars/Olympus'"),
    ],
)
def test_mistakes_in_schedules_name_file_and_key(tmp_path: Path, yaml: str, message: str) -> None:
    path = tmp_path / "config.yaml"
    path.write_text(yaml)
    with pytest.raises(ConfigError) as caught:
        Hub(Config.load(path, data_dir=tmp_path / "data"))
    assert str(caught.value).startswith(f"{path}: {message}")


def test_a_bad_expression_in_a_script_leaves_that_script_out(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    path = tmp_path / "config.yaml"
    path.write_text(
        scripts(tmp_path, late="from monotreme import cron\n\n\n@cron('25 * * *')\ndef f():\n    pass\n")
    )
    with caplog.at_level(logging.ERROR):
        hub = Hub(Config.load(path, data_dir=tmp_path / "data"))
    hub.store.close()
    assert messages(caplog, f"{path}: scripts_dir: late.py: line 4: ValueError: '25 * * *' is not a cron")
