"""The flow a Platypush client walks, in-process and behind a remote gateway:
registration, sessions with CSRF, tokens by every route, every credential
form on /execute, token listing and revocation, and refused websockets."""

from __future__ import annotations

import base64
from collections.abc import AsyncIterator
from typing import Any

import aiohttp
import pytest
from aiohttp import WSMsgType

PASSWORD = "a long enough password"
EXECUTE = {"type": "request", "action": "utils.echo", "args": {"hi": 1}}


@pytest.fixture
async def browser() -> AsyncIterator[aiohttp.ClientSession]:
    """A client that keeps cookies, as a browser does (even for 127.0.0.1)."""
    async with aiohttp.ClientSession(cookie_jar=aiohttp.CookieJar(unsafe=True)) as session:
        yield session


async def answer(response: aiohttp.ClientResponse) -> tuple[int, Any]:
    return response.status, await response.json()


async def test_the_platypush_auth_flow(gateway_url: str, browser: aiohttp.ClientSession) -> None:
    url = gateway_url
    async with browser.post(f"{url}/execute", json=EXECUTE) as r:
        status, body = await answer(r)
    assert (status, body["code"], body["error"]) == (412, 412, "REGISTRATION_REQUIRED")

    # Register: a form, as the registration page sends it; the answer is a session.
    form = {"username": "ada", "password": PASSWORD, "confirm_password": PASSWORD, "remember": "on"}
    async with browser.post(f"{url}/auth?type=register", data={**form, "confirm_password": "typo"}) as r:
        assert (await answer(r))[1]["error"] == "PASSWORD_MISMATCH"
    async with browser.post(f"{url}/auth?type=register", data=form) as r:
        status, session = await answer(r)
        cookie = r.cookies["session_token"]
    assert status == 200
    assert list(session) == ["status", "user_id", "session_token", "csrf_token", "expires_at", "redirect"]
    assert (session["status"], session["user_id"], session["redirect"]) == ("ok", 1, "/")
    assert cookie.value == session["session_token"] and cookie["httponly"] and cookie["samesite"] == "Lax"
    async with browser.post(f"{url}/auth?type=register", data=form) as r:
        assert await answer(r) == (
            401,
            {"code": 401, "error": "REGISTRATION_DISABLED", "message": "Registrations are disabled"},
        )

    # The cookie authenticates; GET /auth gives the page back its CSRF token,
    # never the session's secret (the HttpOnly cookie keeps it from scripts).
    async with browser.get(f"{url}/auth") as r:
        assert await answer(r) == (200, {**session, "session_token": ""})

    # Log in again: a new session replaces the cookie.
    async with browser.post(f"{url}/auth?type=login", data={"username": "ada", "password": PASSWORD}) as r:
        status, login = await answer(r)
    assert status == 200 and login["session_token"] != session["session_token"]
    csrf = login["csrf_token"]

    # A token by session: only with the session's CSRF token.
    async with browser.post(f"{url}/auth", json={"name": "phone"}) as r:
        assert await answer(r) == (
            403,
            {
                "code": 403,
                "error": "INVALID_CSRF",
                "message": "Invalid CSRF token",
            },
        )
    async with browser.post(f"{url}/auth", json={"name": "phone"}, headers={"X-CSRF-Token": "forged"}) as r:
        assert (await answer(r))[1]["error"] == "INVALID_CSRF"
    async with browser.post(f"{url}/auth", json={"name": "phone"}, headers={"X-CSRF-Token": csrf}) as r:
        status, phone = await answer(r)
    assert status == 200 and list(phone) == ["token"] and phone["token"].startswith("mt_")

    # A request from another site's page carries the cookie too: refused.
    headers = {"X-CSRF-Token": csrf, "Origin": "http://evil.example"}
    async with browser.post(f"{url}/execute", json=EXECUTE, headers=headers) as r:
        assert (await answer(r))[1]["error"] == "CROSS_ORIGIN"
    async with browser.post(f"{url}/execute", json=EXECUTE, headers={"X-CSRF-Token": csrf}) as r:
        assert '"response":{"output":{"hi":1},"errors":[]}' in await r.text()  # 1, not 1.0

    async with aiohttp.ClientSession() as client:  # no cookies from here on
        # A token by credentials (the seed's curl), named or not; names are unique.
        credentials = {"username": "ada", "password": PASSWORD}
        async with client.post(f"{url}/auth", json={**credentials, "name": "tasker", "expiry_days": 30}) as r:
            status, tasker = await answer(r)
        assert status == 200
        async with client.post(f"{url}/auth", json={**credentials, "name": "tasker"}) as r:
            status, body = await answer(r)
        assert (status, body["error"]) == (400, "TOKEN_NAME_EXISTS")
        async with client.post(f"{url}/auth", json=credentials) as r:
            unnamed = (await answer(r))[1]["token"]
        async with client.post(f"{url}/auth?type=jwt", json=credentials) as r:
            jwt = (await answer(r))[1]["token"]
        async with client.post(f"{url}/auth", json={**credentials, "password": "wrong password"}) as r:
            assert await answer(r) == (
                401,
                {"code": 401, "error": "INVALID_CREDENTIALS", "message": "Invalid credentials"},
            )

        # Every credential form /execute accepts.
        basic = base64.b64encode(f"ada:{PASSWORD}".encode()).decode()
        for kwargs in (
            {"headers": {"Authorization": f"Bearer {tasker['token']}"}},
            {"headers": {"Authorization": f"Bearer {jwt}"}},
            {"headers": {"X-Token": unnamed}},
            {"params": {"token": phone["token"]}},
            {"headers": {"Authorization": f"Basic {basic}"}},
            {"headers": {"Authorization": f"Bearer {login['session_token']}"}},
        ):
            async with client.post(f"{url}/execute", json=EXECUTE, **kwargs) as r:
                assert (r.status, (await r.json())["response"]["output"]) == (200, {"hi": 1}), kwargs
        async with client.post(f"{url}/execute", json=EXECUTE) as r:
            assert (await answer(r))[1]["error"] == "MISSING_CREDENTIALS"

        # Listing shows names and dates, never secrets; sessions are not tokens.
        auth = {"Authorization": f"Bearer {tasker['token']}"}
        async with client.get(f"{url}/tokens", headers=auth) as r:
            status, listed = await answer(r)
        tokens = {t["name"]: t for t in listed["tokens"]}
        (unnamed_name,) = set(tokens) - {"tasker", "phone"}
        assert status == 200 and len(tokens) == 3 and unnamed_name.startswith("token-")
        assert not any(secret in str(listed) for secret in (tasker["token"], unnamed, phone["token"]))
        assert tokens["tasker"]["expires_at"] > tokens["tasker"]["created_at"] > 0
        assert tokens["phone"]["expires_at"] == 0  # never

        # Revocation: by id, by the token itself, and by DELETE /auth with the token.
        async with client.delete(
            f"{url}/tokens", json={"token_id": tokens["phone"]["id"]}, headers=auth
        ) as r:
            assert await answer(r) == (200, {"status": "ok"})
        async with client.delete(f"{url}/tokens", json={"token": unnamed}, headers=auth) as r:
            assert await answer(r) == (200, {"status": "ok"})
        async with client.delete(f"{url}/auth", json={"token": jwt}) as r:
            assert await answer(r) == (200, {"status": "ok"})
        for token in (phone["token"], unnamed, jwt):
            async with client.post(f"{url}/execute", json=EXECUTE, headers={"X-Token": token}) as r:
                assert r.status == 401

        # A websocket whose credentials fail is closed with 1008 and the reason.
        ws_url = url.replace("http", "ws", 1)
        async with client.ws_connect(f"{ws_url}/ws/events?token={phone['token']}") as ws:
            closed = await ws.receive(timeout=10)
        assert (closed.type, ws.close_code, closed.extra) == (
            WSMsgType.CLOSE,
            1008,
            "invalid or revoked token",
        )

    # A session cookie from another site's page cannot open a socket either.
    async with browser.ws_connect(f"{ws_url}/ws/events", headers={"Origin": "http://evil.example"}) as ws:
        closed = await ws.receive(timeout=10)
    assert (ws.close_code, closed.extra) == (
        1008,
        "a session is not accepted from http://evil.example",
    )

    # Nor can it log the browser into an account of its choosing (login CSRF).
    async with (
        aiohttp.ClientSession() as stranger,
        stranger.post(
            f"{url}/auth?type=login",
            data={"username": "ada", "password": PASSWORD},
            headers={"Origin": "http://evil.example"},
        ) as r,
    ):
        assert await answer(r) == (
            403,
            {
                "code": 403,
                "error": "CROSS_ORIGIN",
                "message": "a session is not accepted from http://evil.example",
            },
        )
        assert "session_token" not in r.cookies

    # Log out: the session ends and its cookie goes.
    async with browser.delete(f"{url}/auth") as r:
        assert await answer(r) == (200, {"status": "ok", "redirect": "/"})
    async with browser.get(f"{url}/auth") as r:
        assert (await answer(r))[1]["error"] == "MISSING_CREDENTIALS"
    async with browser.delete(f"{url}/auth") as r:
        assert await answer(r) == (
            401,
            {"code": 401, "error": "INVALID_CREDENTIALS", "message": "Invalid session"},
        )
    async with aiohttp.ClientSession() as client:
        headers = {"Authorization": f"Bearer {login['session_token']}"}
        async with client.post(f"{url}/execute", json=EXECUTE, headers=headers) as r:
            assert (await answer(r))[1]["error"] == "INVALID_TOKEN"
