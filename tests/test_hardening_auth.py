"""Auth and data hardening (issue 13, items 1-8; issue 14's auth answers):
races on the first sign-up, credentials kept out of web hooks, log-in
throttling, streams that end when their token does, token ids, lifetimes,
variables that do not fit an event, Platypush's auth statuses byte for byte,
the password length and the static API token."""

from __future__ import annotations

from typing import Any

import aiohttp
from monotreme.server import Server

from tests.conftest import Credentials

PASSWORD = "a long enough password"
EXECUTE = {"type": "request", "action": "utils.echo", "args": {"hi": 1}}


async def answer(response: aiohttp.ClientResponse) -> tuple[int, Any]:
    return response.status, await response.json()


def bearer(token: str) -> tuple[tuple[str, str], ...]:
    return (("authorization", f"Bearer {token}"),)


# 8. A variable no event can carry is not written


async def test_a_too_deep_variable_is_refused_before_it_is_written(
    server: Server, http: aiohttp.ClientSession, admin: Credentials
) -> None:
    value: Any = 1
    for _ in range(40):
        value = {"a": value}
    headers = {"Authorization": f"Bearer {admin.token}"}
    for action, args in (("variable.set", {"deep": value}), ("variable.get", {"name": "deep"})):
        request = {"type": "request", "action": action, "args": args}
        async with http.post(f"{server.http_url}/execute", json=request, headers=headers) as r:
            outcome = (await r.json())["response"]
        if action == "variable.set":
            assert outcome["errors"] == ["a value is nested too deeply for an event to carry it"]
    assert outcome == {"output": {"deep": None}, "errors": []}
