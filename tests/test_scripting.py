"""The scripting API outside hooks: Monotreme as a library, with no server, as
the seed's "as a library" section uses it; and `run`/`run_async` in a process
that serves."""

from __future__ import annotations

import asyncio
import json
import os
import sys
import textwrap
from pathlib import Path

import pytest
from monotreme import run, run_async
from monotreme.server import Server

from tests.test_webhooks import EXAMPLES

LIBRARY_SCRIPT = textwrap.dedent(
    """\
    import json, sys

    from monotreme import run
    from monotreme.config import Config

    Config.init(sys.argv[1])
    print(json.dumps(run("procedure.at_home")))
    print(json.dumps(run("variable.get", name="at_home")))
    print(json.dumps(run("procedure.leaving_home", who="bob")))
    for action, args in (("nosuch.action", {}), ("utils.sleep", {"seconds": "soon"})):
        try:
            run(action, **args)
        except Exception as e:
            print(json.dumps([type(e).__name__, str(e)]))
    """
)


async def test_as_a_library_without_a_server(tmp_path: Path) -> None:
    script = tmp_path / "lights.py"
    script.write_text(LIBRARY_SCRIPT)
    process = await asyncio.create_subprocess_exec(
        sys.executable,
        str(script),
        str(EXAMPLES / "config.yaml"),
        env={**os.environ, "MONOTREME_DATA_DIR": str(tmp_path / "data")},
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.PIPE,
    )
    stdout, stderr = await asyncio.wait_for(process.communicate(), 60)
    assert process.returncode == 0, stderr.decode()
    assert [json.loads(line) for line in stdout.decode().splitlines()] == [
        {"success": True},
        {"at_home": True},
        "bob left",
        ["NotFound", "unknown action 'nosuch.action': no plugin 'nosuch' is enabled"],
        ["InvalidArgument", "utils.sleep: argument 'seconds' must be a number, got string"],
    ]
    assert (tmp_path / "data" / "monotreme.db").exists()  # the library hub used the config's store
    assert b"listening" not in stderr  # and opened no ports


async def test_run_from_a_thread_and_run_async_on_the_loop(server: Server) -> None:
    assert await run_async("utils.echo", on="loop") == {"on": "loop"}
    assert await asyncio.to_thread(run, "utils.echo", on="thread") == {"on": "thread"}
    with pytest.raises(RuntimeError, match=r"in async code use `await run_async\(...\)`"):
        run("utils.echo")
