"""The plugins Platypush configs use most that need no hardware: `file`
(confined to its roots), `http` (against a local server on 127.0.0.1 only)
and `logger`, each through the real server."""

from __future__ import annotations

import asyncio
import logging
import os
from collections.abc import AsyncIterator, Awaitable, Callable
from pathlib import Path
from typing import Any

import aiohttp
import grpc
import pytest
from aiohttp import web
from monotreme.server import Server
from monotreme.v1 import hub_pb2_grpc

from tests.conftest import Credentials, register_admin
from tests.test_execute import execute

MakeServer = Callable[..., Awaitable[Server]]
# The output of an action that failed, beside its errors.
FAILED = {"success": False}


@pytest.fixture
def roots(tmp_path: Path) -> tuple[Path, Path]:
    first, second = tmp_path / "root", tmp_path / "second root"
    first.mkdir()
    second.mkdir()
    return first, second


@pytest.fixture
def outside(tmp_path: Path) -> Path:
    """A directory beside the roots, holding a file no action may reach."""
    directory = tmp_path / "outside"
    directory.mkdir()
    (directory / "secret.txt").write_text("keep out")
    return directory


@pytest.fixture
async def remote() -> AsyncIterator[str]:
    """A web server on 127.0.0.1 for the `http` actions to call."""

    async def echo(request: web.Request) -> web.Response:
        return web.json_response(
            {
                "method": request.method,
                "query": dict(request.query),
                "headers": {k: v for k, v in request.headers.items() if k in ("X-Hi", "Authorization")},
                "body": await request.text(),
                "cookies": dict(request.cookies),
            }
        )

    async def text(request: web.Request) -> web.Response:
        return web.Response(text="plain words")

    async def missing(request: web.Request) -> web.Response:
        return web.Response(status=404, text="nothing here")

    async def big(request: web.Request) -> web.Response:
        return web.Response(body=b"x" * 5000)

    async def streamed(request: web.Request) -> web.StreamResponse:
        # No Content-Length: the limit must hold while reading.
        response = web.StreamResponse()
        await response.prepare(request)
        for _ in range(10):
            await response.write(b"y" * 500)
        return response

    async def slow(request: web.Request) -> web.Response:
        await asyncio.sleep(5)
        return web.Response(text="late")

    async def envelope(request: web.Request) -> web.Response:
        return web.json_response(
            {"type": "response", "response": {"output": {"on": True}, "errors": ["bulb 2 is offline"]}}
        )

    async def cookie(request: web.Request) -> web.Response:
        response = web.Response(text="set")
        response.set_cookie("session", "abc")
        return response

    async def blob(request: web.Request) -> web.Response:
        return web.Response(body=bytes(range(256)) * 4, content_type="application/octet-stream")

    app = web.Application()
    app.router.add_route("*", "/echo", echo)
    for path, handler in [
        ("/text", text),
        ("/missing", missing),
        ("/big", big),
        ("/streamed", streamed),
        ("/slow", slow),
        ("/envelope", envelope),
        ("/cookie", cookie),
        ("/blob", blob),
    ]:
        app.router.add_get(path, handler)
    runner = web.AppRunner(app)
    await runner.setup()
    site = web.TCPSite(runner, "127.0.0.1", 0)
    await site.start()
    port = runner.addresses[0][1]
    yield f"http://127.0.0.1:{port}"
    await runner.cleanup()


@pytest.fixture
async def server(make_server: MakeServer, roots: tuple[Path, Path]) -> Server:
    first, second = roots
    return await make_server(
        f"""
file:
  roots: ["{first}", "{second}"]
http:
  timeout: 2
  max_response_bytes: 4000
  max_download_bytes: 2000
"""
    )


Run = Callable[..., Awaitable[Any]]


@pytest.fixture
def run(hub_stub: hub_pb2_grpc.HubServiceStub, admin: Credentials) -> Run:
    """Executes an action over gRPC; answers the response's `output` and `errors`."""

    async def run(action: str, **args: Any) -> Any:
        response = await execute(hub_stub, admin, action, **args)
        return response["output"], response["errors"]

    return run


async def test_file_actions_with_platypushs_argument_names(run: Run, roots: tuple[Path, Path]) -> None:
    first, second = roots
    assert await run("file.write", file="notes.txt", content="one\n") == ({"success": True}, [])
    await run("file.append", file=str(first / "notes.txt"), content="two\n")
    await run("file.append", file="notes.txt", content={"three": 3})  # not text: as JSON
    notes = 'one\ntwo\n{"three": 3}'
    assert await run("file.read", file="notes.txt") == (notes, [])
    assert (first / "notes.txt").read_text() == notes
    assert await run("file.getsize", file="notes.txt") == (len(notes), [])

    await run("file.mkdir", directory="a/b/c")
    assert (first / "a/b/c").is_dir()
    await run("file.touch", file=str(second / "empty"))
    assert (second / "empty").read_bytes() == b""
    await run("file.copy", source="notes.txt", target=str(second))  # into a directory
    await run("file.copy", source="notes.txt", target="a/copy.txt")
    await run("file.rename", file="a/copy.txt", name="a/b/moved.txt")
    assert (second / "notes.txt").read_text() == (first / "a/b/moved.txt").read_text()
    assert not (first / "a/copy.txt").exists()

    entries, errors = await run("file.list")
    assert errors == []
    assert [(e["type"], e["name"]) for e in entries] == [("directory", "a"), ("file", "notes.txt")]
    assert set(entries[1]) == {
        "type", "path", "name", "size", "last_modified", "created", "permissions", "owner", "group",
    }  # fmt: skip
    assert (entries[1]["path"], entries[1]["size"]) == (str(first / "notes.txt"), len(notes))
    assert entries[1]["permissions"].startswith("-rw")
    by_size, _ = await run("file.list", path=str(second), sort="size", reverse=True)
    assert [e["name"] for e in by_size] == ["notes.txt", "empty"]
    one, _ = await run("file.list", path="notes.txt")  # a file: itself
    assert [(e["type"], e["path"]) for e in one] == [("file", str(first / "notes.txt"))]

    _, errors = await run("file.rmdir", directory="a")
    assert "not empty" in errors[0]
    await run("file.rmdir", directory="a", recursive=True)
    assert not (first / "a").exists()


async def test_a_path_outside_the_roots_is_refused_by_name(
    run: Run, roots: tuple[Path, Path], outside: Path
) -> None:
    first, second = roots
    secret = outside / "secret.txt"
    (first / "link").symlink_to(secret)
    (first / "door").symlink_to(outside, target_is_directory=True)
    allowed = f"'{first}', '{second}'"
    escaping = f"{first}/../outside/secret.txt"
    cases = [
        ("file.read", {"file": str(secret)}, str(secret)),
        ("file.read", {"file": "../outside/secret.txt"}, "../outside/secret.txt"),  # `..`
        ("file.getsize", {"file": escaping}, escaping),
        ("file.read", {"file": "link"}, "link"),  # a symlink to a file outside
        ("file.write", {"file": "door/secret.txt", "content": "x"}, "door/secret.txt"),  # to a directory
        ("file.copy", {"source": "link", "target": "copy"}, "link"),
        ("file.copy", {"source": str(secret), "target": "copy"}, str(secret)),
        ("file.rename", {"file": str(secret), "name": "mine"}, str(secret)),
        ("file.list", {"path": str(outside)}, str(outside)),
    ]
    for action, args, given in cases:
        real = (first / given).resolve()
        named = f"'{given}'" if str(real) == given else f"'{given}' (resolves to '{real}')"
        assert await run(action, **args) == (
            FAILED,
            [f"{named} is outside the file plugin's roots: {allowed}"],
        )
    assert await run("file.rmdir", directory=str(first), recursive=True) == (
        FAILED,
        [f"'{first}' is one of the file plugin's roots"],
    )
    assert secret.read_text() == "keep out"
    assert os.listdir(outside) == ["secret.txt"]
    assert first.is_dir()


async def test_the_default_root_is_a_directory_in_the_data_dir_not_the_data_dir(
    make_server: MakeServer, tmp_path: Path
) -> None:
    data = tmp_path / "data"
    hub = await make_server()
    async with grpc.aio.insecure_channel(hub.grpc_target) as channel:
        owner = await register_admin(channel)
        stub = hub_pb2_grpc.HubServiceStub(channel)
        written = await execute(stub, owner, "file.write", file="hello.txt", content="hi")
        assert written["errors"] == []
        assert (data / "files" / "hello.txt").read_text() == "hi"
        # The hub's own database and signing key lie outside.
        refused = await execute(stub, owner, "file.read", file="../jwt.secret")
        assert refused["errors"] == [
            f"'../jwt.secret' (resolves to '{data / 'jwt.secret'}') is outside the file plugin's roots:"
            f" '{data / 'files'}'"
        ]


async def test_file_actions_answer_over_http_in_platypushs_envelope(
    server: Server, admin: Credentials, roots: tuple[Path, Path], http: aiohttp.ClientSession
) -> None:
    (roots[0] / "greeting.txt").write_text("hello")
    request = {"type": "request", "action": "file.read", "args": {"file": "greeting.txt"}}
    async with http.post(
        f"{server.http_url}/execute", json=request, headers={"Authorization": f"Bearer {admin.token}"}
    ) as response:
        assert response.status == 200
        answer = await response.json()
    assert answer["response"] == {"output": "hello", "errors": []}


async def test_http_requests_answer_json_or_text(run: Run, remote: str) -> None:
    assert await run("http.get", url=f"{remote}/text") == ("plain words", [])
    output, errors = await run(
        "http.get", url=f"{remote}/echo?a=1", params={"b": "2"}, headers={"X-Hi": "there"}, output="json"
    )
    assert errors == []
    assert output["method"] == "GET"
    assert output["query"] == {"a": "1", "b": "2"}
    assert output["headers"] == {"X-Hi": "there"}
    output, _ = await run("http.post", url=f"{remote}/echo", json={"on": True})
    assert (output["method"], output["body"]) == ("POST", '{"on": true}')
    output, _ = await run("http.put", url=f"{remote}/echo", data={"level": "3"})
    assert (output["method"], output["body"]) == ("PUT", "level=3")
    output, _ = await run("http.delete", url=f"{remote}/echo", data="raw text")
    assert (output["method"], output["body"]) == ("DELETE", "raw text")
    output, _ = await run("http.options", url=f"{remote}/echo", username="alice", password="pw")
    assert (output["method"], output["headers"]) == ("OPTIONS", {"Authorization": "Basic YWxpY2U6cHc="})
    assert await run("http.head", url=f"{remote}/echo") == ("", [])
    # The name Platypush gave the plugin until 0.99.
    assert await run("http.request.get", url=f"{remote}/text") == ("plain words", [])


async def test_another_hubs_envelope_answers_its_output_and_errors(run: Run, remote: str) -> None:
    assert await run("http.get", url=f"{remote}/envelope") == ({"on": True}, ["bulb 2 is offline"])


async def test_http_failures_are_errors_with_the_url(run: Run, remote: str) -> None:
    assert await run("http.get", url=f"{remote}/missing") == (
        FAILED,
        [f"404 Client Error: Not Found for url: {remote}/missing"],
    )
    too_big = "the answer is larger than 4000 bytes"
    assert await run("http.get", url=f"{remote}/big") == (FAILED, [f"{remote}/big: {too_big}"])
    assert await run("http.get", url=f"{remote}/streamed") == (FAILED, [f"{remote}/streamed: {too_big}"])
    assert await run("http.get", url=f"{remote}/slow", timeout=0.2) == (
        FAILED,
        [f"GET {remote}/slow: no complete answer within 0.2 s"],
    )
    output, errors = await run("http.get", url="http://127.0.0.1:1/")
    assert output == FAILED
    assert errors[0].startswith("GET http://127.0.0.1:1/: Cannot connect to host 127.0.0.1:1")


async def test_no_cookie_outlives_its_request(run: Run, remote: str) -> None:
    await run("http.get", url=f"{remote}/cookie")
    output, _ = await run("http.get", url=f"{remote}/echo")
    assert output["cookies"] == {}


async def test_download_writes_within_the_file_roots(
    run: Run, remote: str, roots: tuple[Path, Path], outside: Path
) -> None:
    first, _ = roots
    assert await run("http.download", url=f"{remote}/blob", path="blob.bin") == ({"success": True}, [])
    assert (first / "blob.bin").read_bytes() == bytes(range(256)) * 4
    target = outside / "blob.bin"
    assert await run("http.download", url=f"{remote}/blob", path=str(target)) == (
        FAILED,
        [f"'{target}' is outside the file plugin's roots: '{first}', '{roots[1]}'"],
    )
    # Over max_download_bytes: no file, not even a partial one.
    assert await run("http.download", url=f"{remote}/streamed", path="big.bin") == (
        FAILED,
        [f"{remote}/streamed: the answer is larger than 2000 bytes"],
    )
    assert os.listdir(first) == ["blob.bin"]
    assert not target.exists()


async def test_logger_actions_log_under_the_plugins_logger(
    run: Run, caplog: pytest.LogCaptureFixture
) -> None:
    with caplog.at_level(logging.DEBUG, logger="monotreme.plugins.logger"):
        await run("logger.debug", msg="checking")
        await run("logger.info", msg="lights on")
        await run("logger.warning", msg={"battery": 9})
        await run("logger.error", msg="100% wrong")
        await run("logger.exception", exception="it broke")
    lines = [(r.levelname, r.getMessage()) for r in caplog.records if r.name == "monotreme.plugins.logger"]
    assert lines == [
        ("DEBUG", "checking"),
        ("INFO", "lights on"),
        ("WARNING", "{'battery': 9}"),
        ("ERROR", "100% wrong"),
        ("ERROR", "it broke"),
    ]
