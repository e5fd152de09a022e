"""The TypeScript client (clients/js) run by Node against a real `monotreme serve`."""

from __future__ import annotations

import asyncio
import os
import sys
from collections.abc import Awaitable, Callable
from pathlib import Path

import grpc
import pytest

from tests.conftest import SpawnedServer, register_admin, require
from tests.test_client import CONFIG

JS = Path(__file__).resolve().parent.parent / "clients" / "js"


async def npm(*args: str, env: dict[str, str] | None = None) -> tuple[int, str]:
    # npm's scripts run `python` (and buf) by PATH: this interpreter's, even when
    # pytest runs from a venv that is not activated.
    env = dict(env or os.environ)
    env["PATH"] = f"{Path(sys.executable).parent}{os.pathsep}{env.get('PATH', '')}"
    process = await asyncio.create_subprocess_exec(
        require("npm"),
        *args,
        cwd=JS,
        env=env,
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.STDOUT,
    )
    out, _ = await asyncio.wait_for(process.communicate(), 240)
    assert process.returncode is not None
    return process.returncode, out.decode()


@pytest.mark.timeout(300)
async def test_the_typescript_client(
    tmp_path: Path, spawn_server: Callable[..., Awaitable[SpawnedServer]]
) -> None:
    require("node")
    config = tmp_path / "config.yaml"
    config.write_text(CONFIG)
    server = await spawn_server(tmp_path / "data", "--config", str(config))
    async with grpc.aio.insecure_channel(server.grpc_target) as channel:
        owner = await register_admin(channel)
    code, out = await npm("ci", "--no-audit", "--no-fund")
    assert code == 0, out
    env = {**os.environ, "MONOTREME_GRPC": f"http://{server.grpc_target}", "MONOTREME_TOKEN": owner.token}
    code, out = await npm("test", env=env)
    assert code == 0, out
    # node --test's summary: every test ran and passed.
    assert "# tests 14" in out and "# pass 14" in out and "# fail 0" in out, out
