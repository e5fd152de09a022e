"""Load from clients that hold the HTTP door (issue 13, item 13): half-sent
requests are cut off after `server.header_timeout`, connections over
`server.max_connections` get a clear 503, and a repeated refusal is logged
once with its count."""

from __future__ import annotations

import asyncio
import json
import logging
from collections.abc import Awaitable, Callable
from pathlib import Path

import aiohttp
from monotreme.logs import RepeatFilter

from tests.conftest import SpawnedServer

HALF_SENT = 1100
LIMIT = 1024


async def half_sent(port: int) -> bytes:
    """Sends a request's first header lines and never the rest; answers what
    the server sends until it closes the connection."""
    reader, writer = await asyncio.open_connection("127.0.0.1", port)
    writer.write(b"GET /healthz HTTP/1.1\r\nHost: 127.0.0.1\r\n")
    try:
        return await asyncio.wait_for(reader.read(), 60)
    finally:
        writer.close()


async def test_half_sent_requests_are_cut_off_and_the_excess_refused(
    tmp_path: Path, spawn_server: Callable[..., Awaitable[SpawnedServer]]
) -> None:
    config = tmp_path / "config.yaml"
    config.write_text(f"server:\n  header_timeout: 3\n  max_connections: {LIMIT}\n")
    # As many machines have it: without more room, accept() fails before the cap refuses.
    server = await spawn_server(tmp_path / "data", "--config", str(config), open_files=1024)
    answers = await asyncio.gather(*(half_sent(server.ports["HTTP"]) for _ in range(HALF_SENT)))
    refused = [answer for answer in answers if answer]
    assert len(refused) == HALF_SENT - LIMIT  # the others were closed, unanswered, after 3 s
    head, _, body = refused[0].partition(b"\r\n\r\n")
    assert head.startswith(b"HTTP/1.1 503 ")
    assert json.loads(body) == {
        "code": 503,
        "error": "TOO_MANY_CONNECTIONS",
        "message": f"the server is at its limit of {LIMIT} connections",
    }
    async with aiohttp.ClientSession() as http, http.get(f"{server.http_url}/healthz") as response:
        assert response.status == 200
    assert await server.stop() == 0
    log = "".join(server.log)
    assert log.count("refused a connection") == 1, log  # one line, not one per connection
    assert "Traceback" not in log


def test_a_repeated_message_is_let_through_once_then_with_its_count() -> None:
    kept = RepeatFilter(window=3600)

    def record(message: str) -> logging.LogRecord:
        return logging.LogRecord("asyncio", logging.ERROR, __file__, 1, message, None, None)

    assert kept.filter(record("socket.accept() out of system resource"))
    assert not any(kept.filter(record("socket.accept() out of system resource")) for _ in range(5000))
    assert kept.filter(record("another message"))
    kept = RepeatFilter(window=0)
    assert all(kept.filter(record("socket.accept() out of system resource")) for _ in range(3))
    held = RepeatFilter(window=3600)
    held.filter(record("x"))
    held.filter(record("x"))
    held._window = 0  # the window has passed
    again = record("x")
    assert held.filter(again)
    assert again.getMessage().startswith("x (repeated 1 times in ")
