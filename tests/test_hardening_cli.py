"""A newcomer's first hour with the commands (issue 13, items 16-18): a
mistake of the machine or the user is one clear line and a non-zero exit,
never a traceback; the start log says what a newcomer needs to know."""

from __future__ import annotations

import asyncio
import os
import socket
import sys
from collections.abc import Awaitable, Callable
from importlib.metadata import version
from pathlib import Path

import pytest
from monotreme.server import Server

from tests.conftest import Credentials, SpawnedServer


async def monotreme(*args: str, stdout: int = asyncio.subprocess.PIPE) -> tuple[int, str, str]:
    """Runs `monotreme ARGS` (stdin closed); answers the exit code, stdout and stderr."""
    process = await asyncio.create_subprocess_exec(
        sys.executable,
        "-m",
        *args,
        stdin=asyncio.subprocess.DEVNULL,
        stdout=stdout,
        stderr=asyncio.subprocess.PIPE,
    )
    out, err = await asyncio.wait_for(process.communicate(), 60)
    return process.returncode or 0, (out or b"").decode(), err.decode()


def one_line(stderr: str, expected: str) -> None:
    assert "Traceback" not in stderr and "never awaited" not in stderr, stderr
    assert stderr.strip().splitlines()[-1] == expected, stderr


async def test_a_taken_port_is_one_line_and_exit_1(
    tmp_path: Path, spawn_server: Callable[..., Awaitable[SpawnedServer]]
) -> None:
    first = await spawn_server(tmp_path / "first")
    grpc_port, http_port = first.ports["gRPC"], first.ports["HTTP"]
    serve = ("monotreme", "serve", "--host", "127.0.0.1", "--data-dir", str(tmp_path / "second"))
    code, _, stderr = await monotreme(*serve, "--grpc-port", str(grpc_port), "--http-port", "0")
    assert code == 1
    one_line(
        stderr, f"monotreme: error: cannot listen for gRPC on 127.0.0.1:{grpc_port}: Address already in use"
    )
    code, _, stderr = await monotreme(*serve, "--grpc-port", "0", "--http-port", str(http_port))
    assert code == 1
    one_line(
        stderr, f"monotreme: error: cannot listen for HTTP on 127.0.0.1:{http_port}: Address already in use"
    )
    assert "Event loop is closed" not in stderr


async def test_a_data_dir_that_cannot_be_used_is_one_line(tmp_path: Path) -> None:
    a_file = tmp_path / "a-file"
    a_file.write_text("")
    for data_dir, reason in (
        (a_file, "File exists"),
        (a_file / "below", "Not a directory"),
        (Path("/proc/self/fdinfo"), "No such file or directory"),  # a file system that takes no files
    ):
        for command in (
            ("serve", "--grpc-port", "0", "--http-port", "0"),
            ("token", "create", "--user", "x"),
        ):
            code, _, stderr = await monotreme("monotreme", *command, "--data-dir", str(data_dir))
            assert code == 1
            one_line(stderr, f"monotreme: error: the data dir {data_dir} is not usable: {reason}")


async def test_ctrl_d_at_the_password_prompt(tmp_path: Path) -> None:
    code, _, stderr = await monotreme("monotreme", "user", "add", "alice", "--data-dir", str(tmp_path))
    assert code == 1
    one_line(stderr, "monotreme: error: no password given")


async def test_version_and_the_data_dirs_default() -> None:
    code, stdout, _ = await monotreme("monotreme", "--version")
    assert (code, stdout) == (0, f"monotreme {version('monotreme')}\n")
    code, stdout, _ = await monotreme("monotreme", "serve", "--help")
    assert (
        "(default: $MONOTREME_DATA_DIR, else $XDG_DATA_HOME/monotreme, else ~/.local/share/monotreme)"
        in " ".join(stdout.split())
    )


async def test_the_start_log_tells_a_newcomer_what_to_do(
    tmp_path: Path, spawn_server: Callable[..., Awaitable[SpawnedServer]]
) -> None:
    examples = Path(__file__).parent.parent / "examples"
    server = await spawn_server(tmp_path / "data", "--config", str(examples / "config.yaml"))
    log = "".join(server.log)
    assert f"config: {examples / 'config.yaml'}\n" in log
    assert f"data dir: {tmp_path / 'data'}\n" in log
    assert (
        "loaded: plugins event, file, http, http.request, inspect, logger, utils, variable; "
        "2 procedures (procedure.at_home, procedure.leaving_home); 2 hooks; "
        f"scripts from {examples / 'scripts'}\n"
    ) in log
    assert (
        "no user yet: create the first (an admin) with "
        f"`monotreme user add NAME --data-dir {tmp_path / 'data'}` or at {server.http_url}/\n"
    ) in log


async def test_a_client_piped_into_head_exits_quietly(server: Server, admin: Credentials) -> None:
    reader, writer = os.pipe()
    os.close(reader)  # `| head` that has had its fill
    try:
        code, _, stderr = await monotreme(
            "monotreme_client",
            "--url",
            server.http_url,
            "--grpc",
            server.grpc_target,
            "--token",
            admin.token,
            "actions",
            stdout=writer,
        )
    finally:
        os.close(writer)
    assert code == 1
    assert stderr == ""


async def test_grpc_does_not_share_its_port(server: Server) -> None:
    # grpc's default SO_REUSEPORT lets a second listener bind the port and take half the calls.
    with socket.socket() as second:
        second.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEPORT, 1)
        with pytest.raises(OSError, match="Address already in use"):
            second.bind(("127.0.0.1", server.grpc_port))


async def test_ctrl_c_at_the_password_prompt(tmp_path: Path) -> None:
    process = await asyncio.create_subprocess_exec(
        sys.executable,
        "-c",
        "import os, signal, getpass\n"
        "getpass.getpass = lambda prompt='': os.kill(os.getpid(), signal.SIGINT)\n"
        "from monotreme.cli import main\n"
        f"main(['user', 'add', 'alice', '--data-dir', {str(tmp_path)!r}])",
        stdin=asyncio.subprocess.DEVNULL,
        stderr=asyncio.subprocess.PIPE,
    )
    _, stderr = await asyncio.wait_for(process.communicate(), 60)
    assert (process.returncode, stderr.decode()) == (130, "")


async def test_unnamed_tokens_made_within_a_second_do_not_collide(tmp_path: Path) -> None:
    data_dir = str(tmp_path / "data")
    process = await asyncio.create_subprocess_exec(
        sys.executable, "-m", "monotreme", "user", "add", "alice", "--password-stdin", "--data-dir", data_dir,
        stdin=asyncio.subprocess.PIPE, stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.PIPE,
    )  # fmt: skip
    await process.communicate(b"correct horse battery staple\n")
    assert process.returncode == 0
    # Together, so that they fall within one second.
    create = ("monotreme", "token", "create", "--user", "alice", "--data-dir", data_dir)
    made = await asyncio.gather(monotreme(*create), monotreme(*create))
    assert [code for code, _, _ in made] == [0, 0]
    first, second = (out.strip() for _, out, _ in made)
    assert first.startswith("mt_") and second.startswith("mt_") and first != second
