"""A Platypush user moves in: their config directory (tests/platypush_home:
includes, plugins this hub does not have, cron jobs, scripts that import
`platypush` and each other, the seed's web hook) and Platypush's own test
config start with `monotreme serve --config`, driven with curl."""

from __future__ import annotations

import asyncio
import json
import logging
import sys
import textwrap
from collections.abc import Awaitable, Callable
from datetime import datetime
from pathlib import Path
from typing import Any

import grpc
import pytest
from monotreme.automation import platypush_imports
from monotreme.config import Config
from monotreme.errors import ConfigError
from monotreme.server import Server
from monotreme.v1 import hub_pb2

from tests.conftest import SpawnedServer, eventually, register_admin, require

HOME = Path(__file__).parent / "platypush_home"
UPSTREAM = Path(__file__).parent / "platypush_upstream"


async def curl(*args: str) -> tuple[int, str]:
    """Runs curl as a user would; answers (HTTP status, body)."""
    process = await asyncio.create_subprocess_exec(
        require("curl"), "-s", "-w", "\n%{http_code}", *args, stdout=asyncio.subprocess.PIPE
    )
    stdout, _ = await process.communicate()
    body, _, status = stdout.decode().rpartition("\n")
    return int(status), body


async def token_for(hub: SpawnedServer) -> str:
    async with grpc.aio.insecure_channel(hub.grpc_target) as channel:
        return (await register_admin(channel)).token


async def execute(hub: SpawnedServer, token: str, action: str, **args: Any) -> dict[str, Any]:
    """`/execute` as the seed's curl sends it; answers the whole envelope."""
    status, body = await curl(
        "-XPOST", "-H", f"Authorization: Bearer {token}", "-H", "Content-Type: application/json",
        "-d", json.dumps({"type": "request", "action": action, "args": args}), f"{hub.http_url}/execute",
    )  # fmt: skip
    assert status == 200, body
    envelope: dict[str, Any] = json.loads(body)
    return envelope


async def until(check: Callable[[], Awaitable[bool]], within: float = 15.0) -> None:
    """Waits until `check()` holds; fails after `within` s."""
    for _ in range(int(within / 0.2)):
        if await check():
            return
        await asyncio.sleep(0.2)
    pytest.fail(f"condition not met within {within} s")


async def test_a_platypush_config_directory_runs(
    tmp_path: Path, spawn_server: Callable[..., Awaitable[SpawnedServer]]
) -> None:
    # Its `redis:` section would choose the Redis bus at localhost:6379: this test keeps the embedded one.
    hub = await spawn_server(tmp_path / "data", "--config", str(HOME / "config.yaml"), "--bus", "embedded")
    log = "".join(hub.log)
    config = HOME / "config.yaml"
    for line in (
        f"{config}: backend.http: ignored disable_websocket",
        f"{config}: main.db: ignored (the store is SQLite in the data directory, or store.url)",
        f"{config}: redis: ignored (bus.url or --bus names the event bus)",
        # One warning for every plugin this hub does not have; camera.pi is disabled, as in Platypush.
        f"{config}: no such plugins: light.hue, music.mpd (installed: ",
        f"{config}: scripts_dir: broken.py: line 1: ModuleNotFoundError: No module named 'platypush.plugins'",
    ):
        assert log.count(line) == 1, line

    # The seed's web hook, verbatim, as its curl calls it.
    assert await curl(f"{hub.http_url}/hook/at_home") == (401, "Unauthorized")
    assert await curl("-H", "X-Token: abcdefabcdef", f"{hub.http_url}/hook/at_home") == (
        200,
        '{"status":"ok"}',
    )

    token = await token_for(hub)

    async def variable(name: str) -> Any:
        return (await execute(hub, token, "variable.get", name=name))["response"]["output"][name]

    # procedure.at_home (from an included file) ran for the web hook; the config's device_id answers.
    answer = await execute(hub, token, "variable.get", name="at_home")
    assert (answer["origin"], answer["response"]["output"]) == ("hall-pi", {"at_home": True})

    # A hook from a file included by an included file, and one from a script.
    await execute(hub, token, "event.trigger", subtype="arrived", args={"who": "alice"})
    await execute(hub, token, "event.trigger", subtype="ping", args={"by": "bob"})
    await until(lambda: variable("arrived"), 10)
    assert await variable("arrived") == "alice"
    await until(lambda: variable("pinged"), 10)

    # Scripts import each other as `scripts.x`; platypush.config.Config reads the hub's config.
    greeting = await execute(hub, token, "procedure.greet", name="ada")
    assert greeting["response"] == {"output": "hello ada from hall-pi", "errors": []}

    # Cron jobs from the YAML and from scripts, sync and async, fire on their own.
    await until(lambda: variable("yaml_cron_ran"))
    await until(lambda: variable("script_cron_ran"))
    jobs = (await execute(hub, token, "inspect.get_cronjobs"))["response"]["output"]
    assert sorted(jobs) == ["every_second", "jobs.ticks.async_tick", "jobs.ticks.every_two_seconds"]
    assert jobs["every_second"]["cron_expression"] == "* * * * * *"
    assert jobs["jobs.ticks.every_two_seconds"]["type"] == "python"
    assert datetime.fromisoformat(jobs["every_second"]["next_run"]).tzinfo is not None

    # A job runs now by name, as procedures do: cron.NAME.
    await execute(hub, token, "variable.unset", name="script_cron_ran")
    ran = await execute(hub, token, "cron.jobs.ticks.every_two_seconds")
    assert ran["response"]["errors"] == []
    assert await variable("script_cron_ran") is True

    unavailable = await execute(hub, token, "inspect.get_unavailable_plugins")
    assert unavailable["response"]["output"] == ["light.hue", "music.mpd"]
    assert await hub.stop() == 0


async def test_strict_refuses_what_is_otherwise_a_warning(
    tmp_path: Path, spawn_server: Callable[..., Awaitable[SpawnedServer]]
) -> None:
    with pytest.raises(RuntimeError, match="server exited before it was ready") as caught:
        await spawn_server(tmp_path / "data", "--config", str(HOME / "config.yaml"), "--strict")
    assert "monotreme: error: " in str(caught.value)
    assert "strict: no such plugins: light.hue, music.mpd" in str(caught.value)


async def test_platypush_own_test_config_starts_the_hub(
    tmp_path: Path, spawn_server: Callable[..., Awaitable[SpawnedServer]]
) -> None:
    hub = await spawn_server(tmp_path / "data", "--config", str(UPSTREAM / "config_test.yaml"))
    token = await token_for(hub)
    answer = await execute(hub, token, "inspect.get_procedures")
    assert answer["origin"] == "platypush-tests"
    assert answer["response"]["output"]["write_file"]["source"] == str(
        UPSTREAM / "include" / "test_procedure.yaml"
    )
    assert await hub.stop() == 0


def test_includes_nest_relative_to_their_file_and_a_later_key_wins(tmp_path: Path) -> None:
    (tmp_path / "a").mkdir()
    (tmp_path / "config.yaml").write_text("utils: {}\ninclude: a/one.yaml\nevents: {queue_size: 7}\n")
    (tmp_path / "a" / "one.yaml").write_text("include: [two.yaml]\nevents: {queue_size: 3}\nutils: {x: 1}\n")
    (tmp_path / "a" / "two.yaml").write_text("webhooks: {timeout: 5}\n")
    config = Config.load(tmp_path / "config.yaml", data_dir=tmp_path / "data")
    assert (config.events.queue_size, config.webhooks.timeout) == (7, 5.0)
    assert config.plugins["utils"] == {"x": 1}  # the include comes after the file's own key
    assert config.origin("webhooks") == tmp_path / "a" / "two.yaml"


def test_an_include_cycle_is_reported_with_its_chain(tmp_path: Path) -> None:
    (tmp_path / "config.yaml").write_text("include: one.yaml\n")
    (tmp_path / "one.yaml").write_text("include: [two.yaml]\n")
    (tmp_path / "two.yaml").write_text("include: one.yaml\n")
    with pytest.raises(ConfigError) as caught:
        Config.load(tmp_path / "config.yaml")
    one, two = tmp_path / "one.yaml", tmp_path / "two.yaml"
    assert str(caught.value) == f"{two}: include: includes itself: {one} -> {two} -> {one}"


def test_platypush_top_level_keys(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    monkeypatch.chdir(tmp_path)
    (tmp_path / "etc").mkdir()
    path = tmp_path / "etc" / "config.yaml"
    path.write_text(
        "device_id: den\nworkdir: state\nscripts_dir: code\nlogging: {level: DEBUG, filename: x.log}\n"
        "backend.http: {port: 9000, listen_address: 127.0.0.2}\n"
    )
    config = Config.load(path)
    # workdir and scripts_dir are relative to the current directory, as Platypush resolves them.
    assert (config.data_dir, config.scripts_dir) == (tmp_path / "state", tmp_path / "code")
    assert (config.server.device_id, config.server.http_port, config.server.host) == (
        "den",
        9000,
        "127.0.0.2",
    )
    assert (config.logging.level, config.logging.filename) == ("DEBUG", "x.log")
    # Command-line flags override the file.
    flags = Config.load(path, data_dir=tmp_path / "d", http_port=0, host="127.0.0.1")
    assert (flags.data_dir, flags.server.http_port, flags.server.host) == (tmp_path / "d", 0, "127.0.0.1")
    # Without scripts_dir: scripts/ beside the config, when there is one.
    path.write_text("utils: {}\n")
    assert Config.load(path).scripts_dir is None
    (tmp_path / "etc" / "scripts").mkdir()
    assert Config.load(path).scripts_dir == tmp_path / "etc" / "scripts"
    with caplog.at_level(logging.WARNING):
        path.write_text("workdir: a\ndata_dir: b\n")
        with pytest.raises(ConfigError, match="data_dir names the data directory already"):
            Config.load(path)


async def test_any_platypush_event_class_imports_and_matches_its_events(
    tmp_path: Path, make_server: Callable[..., Awaitable[Server]]
) -> None:
    (tmp_path / "scripts").mkdir()
    (tmp_path / "scripts" / "lights.py").write_text(
        textwrap.dedent(
            """\
            from platypush import hook
            from platypush.events.custom import CustomEvent as Aliased
            from platypush.message.event.custom import CustomEvent
            from platypush.message.event.light import LightStatusChangeEvent

            assert Aliased is CustomEvent
            seen = []


            @hook(LightStatusChangeEvent, on=True)
            def light_on(event):
                seen.append((type(event).__name__, event.on))
            """
        )
    )
    server = await make_server(f"scripts_dir: {tmp_path / 'scripts'}\n")
    assert not any(type(f).__module__ == platypush_imports.__name__ for f in sys.meta_path)
    module: Any = sys.modules["scripts.lights"]
    event = hub_pb2.Event(type="event")
    for on in (False, True):
        event.args.update({"type": "platypush.message.event.light.LightStatusChangeEvent", "on": on})
        await server.hub.bus.publish(event)
    await eventually(lambda: module.seen == [("LightStatusChangeEvent", True)])


async def test_the_real_platypush_wins_when_it_is_installed(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, make_server: Callable[..., Awaitable[Server]]
) -> None:
    (tmp_path / "site" / "platypush").mkdir(parents=True)
    (tmp_path / "site" / "platypush" / "__init__.py").write_text("REAL = True\n")
    monkeypatch.syspath_prepend(str(tmp_path / "site"))
    monkeypatch.delitem(sys.modules, "platypush", raising=False)  # and the real one, after the test
    (tmp_path / "scripts").mkdir()
    (tmp_path / "scripts" / "uses_real.py").write_text("import platypush\n\nREAL = platypush.REAL\n")
    await make_server(f"scripts_dir: {tmp_path / 'scripts'}\n")
    assert sys.modules["scripts.uses_real"].REAL is True
