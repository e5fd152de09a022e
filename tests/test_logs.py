"""Logs as JSON lines, for log collectors: `--log-format json` or the config's
`logging: {format: json}`; each line an object with time, level, logger and message."""

from __future__ import annotations

import json
from collections.abc import Awaitable, Callable
from pathlib import Path

import aiohttp

from tests.conftest import SpawnedServer


def records(server: SpawnedServer) -> list[dict[str, str]]:
    return [json.loads(line) for line in server.log if line.strip()]


async def test_serve_logs_json_lines(
    tmp_path: Path, spawn_server: Callable[..., Awaitable[SpawnedServer]]
) -> None:
    server = await spawn_server(tmp_path / "data", "--log-format", "json", "--no-access-log")
    async with (
        aiohttp.ClientSession() as http,
        http.get(f"http://127.0.0.1:{server.ports['HTTP']}/healthz") as r,
    ):
        assert r.status == 200
    lines = records(server)
    assert {tuple(sorted(line)) for line in lines} == {("level", "logger", "message", "time")}
    assert {"logger": "monotreme", "level": "INFO", "message": "ready"} in [
        {key: line[key] for key in ("logger", "level", "message")} for line in lines
    ]
    assert all(line["time"].endswith("Z") and line["time"][10] == "T" for line in lines)


async def test_the_configs_logging_section_asks_for_json_too(
    tmp_path: Path, spawn_server: Callable[..., Awaitable[SpawnedServer]]
) -> None:
    config = tmp_path / "config.yaml"
    config.write_text("logging:\n  format: json\n  level: INFO\n")
    server = await spawn_server(tmp_path / "data", "--config", str(config))
    assert "ready" in [line["message"] for line in records(server)]
