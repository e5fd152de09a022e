"""Auth and data hardening (issue 13, items 1-8; issue 14's auth answers):
races on the first sign-up, credentials kept out of web hooks, log-in
throttling, streams that end when their token does, token ids, lifetimes,
variables that do not fit an event, Platypush's auth statuses byte for byte,
the password length and the static API token."""

from __future__ import annotations

import asyncio
import base64
import json
import sqlite3
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Any

import aiohttp
import grpc
import pytest
from google.protobuf import json_format
from monotreme.config import AuthSettings
from monotreme.errors import ResourceExhausted
from monotreme.identity.throttle import Throttle
from monotreme.server import Server
from monotreme.store import open_store
from monotreme.store.base import MIGRATIONS
from monotreme.store.sqlite import SqliteStore
from monotreme.v1 import auth_pb2, auth_pb2_grpc, hub_pb2, hub_pb2_grpc

from tests.conftest import ADMIN_PASSWORD, ADMIN_USER, Credentials, register_admin
from tests.test_auth import refused

PASSWORD = "a long enough password"
EXECUTE = {"type": "request", "action": "utils.echo", "args": {"hi": 1}}


async def answer(response: aiohttp.ClientResponse) -> tuple[int, Any]:
    return response.status, await response.json()


def bearer(token: str) -> tuple[tuple[str, str], ...]:
    return (("authorization", f"Bearer {token}"),)


# 1. The first sign-up is one atomic step


async def test_concurrent_first_sign_ups_over_grpc_make_one_admin(
    auth_stub: auth_pb2_grpc.AuthServiceStub,
) -> None:
    calls = [
        auth_stub.Register(auth_pb2.RegisterRequest(username=f"u{i}", password=PASSWORD)) for i in range(20)
    ]
    results = await asyncio.gather(*calls, return_exceptions=True)
    winners = [r for r in results if isinstance(r, auth_pb2.RegisterResponse)]
    losers = [r for r in results if isinstance(r, grpc.aio.AioRpcError)]
    assert len(winners) == 1 and winners[0].user.is_admin and len(losers) == 19
    assert {(e.code(), e.details()) for e in losers} == {
        (grpc.StatusCode.UNAUTHENTICATED, "Registrations are disabled")
    }


@pytest.mark.parametrize("path", ["/api/v1/users", "/auth?type=register"])
async def test_concurrent_first_sign_ups_over_http_make_one_admin(
    gateway_url: str, http: aiohttp.ClientSession, path: str
) -> None:
    async def sign_up(i: int) -> tuple[int, Any]:
        body = {"username": f"u{i}", "password": PASSWORD}
        async with http.post(f"{gateway_url}{path}", json=body) as r:
            return await answer(r)

    answers = await asyncio.gather(*(sign_up(i) for i in range(20)))
    assert sorted(status for status, _ in answers) == [200] + [401] * 19
    assert {json.dumps(body) for status, body in answers if status == 401} == {
        json.dumps({"code": 401, "error": "REGISTRATION_DISABLED", "message": "Registrations are disabled"})
    }


# 2. Web hooks never pass this hub's credentials on


async def test_web_hooks_drop_this_hubs_credentials(
    gateway_url: str, http: aiohttp.ClientSession, hub_stub: hub_pb2_grpc.HubServiceStub, admin: Credentials
) -> None:
    stream = hub_stub.StreamEvents(
        hub_pb2.StreamEventsRequest(types=["WebhookEvent"]), metadata=admin.metadata
    )
    await stream.wait_for_connection()
    headers = {
        "Authorization": f"Bearer {admin.token}",
        "Cookie": "session_token=mt_a-session",
        "X-Token": admin.token,
        "X-Other": "kept",
    }
    async with http.get(
        f"{gateway_url}/hook/nobody", params={"token": admin.token, "a": "1"}, headers=headers
    ) as r:
        status, body = await answer(r)
    event = json_format.MessageToDict((await asyncio.wait_for(stream.read(), 10)).event.args)
    stream.cancel()
    assert status == 200
    for fields in (body, event):
        assert fields["args"] == {"a": "1"}
        assert fields["headers"]["X-Other"] == "kept"
        assert not {"Authorization", "Cookie", "X-Token"} & set(fields["headers"])
        assert admin.token not in json.dumps(fields)

    # A hook's own secret is no credential of this hub: its handler gets it.
    async with http.get(f"{gateway_url}/hook/nobody", headers={"X-Token": "the hook's secret"}) as r:
        assert (await r.json())["headers"]["X-Token"] == "the hook's secret"


# 3. Log-in throttling


async def test_concurrent_guesses_are_counted_before_they_are_checked(
    server: Server, http: aiohttp.ClientSession, admin: Credentials
) -> None:
    wrong = {"username": ADMIN_USER, "password": "a wrong password"}

    async def guess() -> tuple[int, Any]:
        async with http.post(f"{server.http_url}/auth?type=jwt", json=wrong) as r:
            return await answer(r)

    answers = await asyncio.gather(*(guess() for _ in range(100)))
    checked = [body for status, body in answers if status == 401]
    assert checked == [{"code": 401, "error": "INVALID_CREDENTIALS", "message": "Invalid credentials"}] * 5
    assert {(status, body["error"]) for status, body in answers if status != 401} == {
        (429, "TOO_MANY_ATTEMPTS")
    }

    # The owner, at an address that has not failed, logs in.
    right = {"username": ADMIN_USER, "password": ADMIN_PASSWORD}
    connector = aiohttp.TCPConnector(local_addr=("127.0.0.2", 0))
    async with (
        aiohttp.ClientSession(connector=connector) as elsewhere,
        elsewhere.post(f"{server.http_url}/auth?type=jwt", json=right) as r,
    ):
        assert r.status == 200 and (await r.json())["token"]
    async with http.post(f"{server.http_url}/auth?type=jwt", json=right) as r:
        assert (r.status, (await r.json())["error"]) == (429, "TOO_MANY_ATTEMPTS")


async def test_right_passwords_sent_together_all_get_through(
    server: Server, http: aiohttp.ClientSession, admin: Credentials
) -> None:
    basic = {"Authorization": "Basic " + base64.b64encode(f"{ADMIN_USER}:{ADMIN_PASSWORD}".encode()).decode()}

    async def call() -> int:
        async with http.post(f"{server.http_url}/execute", json=EXECUTE, headers=basic) as r:
            return r.status

    assert await asyncio.gather(*(call() for _ in range(20))) == [200] * 20


async def test_lockouts_are_capped_per_address_and_bounded(tmp_path: Path, store_url: str | None) -> None:
    store = open_store(store_url, tmp_path)
    settings = AuthSettings(max_failed_logins=2, lockout_seconds=1000, max_lockout_seconds=120)
    throttle = Throttle(settings, store, capacity=100)
    for _ in range(2):
        throttle.settle(await throttle.attempt("alice", "ipv4:10.0.0.1:5000"), failed=True)
    with pytest.raises(ResourceExhausted) as locked:
        await throttle.attempt("alice", "ipv4:10.0.0.1:5001")
    assert locked.value.message == "too many failed log-ins: try again in 120 s"  # not 1000
    throttle.settle(await throttle.attempt("alice", "ipv6:[::1]:5000"), failed=False)  # another address may

    # Made-up names from many addresses: the store keeps the latest only,
    # pruned every capacity // 10 failures (here the 1000th is the last).
    for i in range(998):
        attempt = await throttle.attempt(f"made-up-{i}", f"172.16.{i >> 8}.{i & 255}")
        throttle.settle(attempt, failed=True)
    assert len(throttle) == 100
    store.close()


# 4. A token's expiry ends its streams at once


async def test_streams_end_when_their_token_expires(
    gateway_url: str,
    auth_stub: auth_pb2_grpc.AuthServiceStub,
    hub_stub: hub_pb2_grpc.HubServiceStub,
    admin: Credentials,
) -> None:
    # Long enough to open the streams first, even on a loaded machine.
    soon = 3 / 86400
    login = auth_pb2.LoginRequest(username=ADMIN_USER, password=ADMIN_PASSWORD, expiry_days=soon)
    jwt = (await auth_stub.Login(login)).token

    def short_lived(name: str) -> Awaitable[auth_pb2.CreateTokenResponse]:
        return auth_stub.CreateToken(  # type: ignore[no-any-return]
            auth_pb2.CreateTokenRequest(name=name, expiry_days=soon), metadata=admin.metadata
        )

    token = (await short_lived("grpc")).token
    streams = [hub_stub.StreamEvents(hub_pb2.StreamEventsRequest(), metadata=bearer(t)) for t in (jwt, token)]
    for stream in streams:
        await stream.wait_for_connection()
    for stream in streams:
        error = await refused(asyncio.wait_for(stream.read(), 30))
        assert (error.code(), error.details()) == (grpc.StatusCode.UNAUTHENTICATED, "the token has expired")

    # /ws/events rides on the same stream, whichever invoker carries it.
    token = (await short_lived("websocket")).token
    async with aiohttp.ClientSession() as client:
        ws_url = gateway_url.replace("http", "ws", 1)
        async with client.ws_connect(f"{ws_url}/ws/events?token={token}") as ws:
            closed = await ws.receive(timeout=30)
    assert (ws.close_code, closed.extra) == (1008, "the token has expired")

    # An idle /ws/requests socket closes too, with no request running.
    token = (await short_lived("requests")).token
    async with aiohttp.ClientSession() as client:
        ws_url = gateway_url.replace("http", "ws", 1)
        async with client.ws_connect(f"{ws_url}/ws/requests?token={token}") as ws:
            closed = await ws.receive(timeout=30)
    assert (closed.type, closed.data, closed.extra) == (
        aiohttp.WSMsgType.CLOSE,
        1008,
        "the token has expired",
    )

    # So does the NDJSON stream: its last line says why it ended.
    token = (await short_lived("ndjson")).token
    async with (
        asyncio.timeout(30),
        aiohttp.ClientSession() as client,
        client.get(f"{gateway_url}/api/v1/events", headers={"X-Token": token}) as r,
    ):
        lines = [line async for line in r.content]
    assert json.loads(lines[-1]) == {
        "error": {"code": 401, "error": "TOKEN_EXPIRED", "message": "the token has expired"}
    }


async def test_revoking_a_token_closes_its_idle_request_socket(
    gateway_url: str, auth_stub: auth_pb2_grpc.AuthServiceStub, admin: Credentials
) -> None:
    created = await auth_stub.CreateToken(auth_pb2.CreateTokenRequest(name="phone"), metadata=admin.metadata)
    async with aiohttp.ClientSession() as client:
        ws_url = gateway_url.replace("http", "ws", 1)
        async with client.ws_connect(f"{ws_url}/ws/requests?token={created.token}") as ws:
            await ws.send_json({"type": "request", "id": "1", "action": "utils.echo", "args": {"n": 1}})
            answer = await ws.receive_json(timeout=10)
            assert answer["response"] == {"output": {"n": 1}, "errors": []}
            revoke = auth_pb2.RevokeTokenRequest(id=created.info.id)
            await auth_stub.RevokeToken(revoke, metadata=admin.metadata)
            closed = await ws.receive(timeout=10)
    assert (closed.type, closed.data, closed.extra) == (
        aiohttp.WSMsgType.CLOSE,
        1008,
        "the token has been revoked",
    )


# 6. Token ids are never reused


async def test_token_ids_are_never_reused(
    auth_stub: auth_pb2_grpc.AuthServiceStub, admin: Credentials
) -> None:
    async def create(name: str) -> int:
        request = auth_pb2.CreateTokenRequest(name=name)
        return (await auth_stub.CreateToken(request, metadata=admin.metadata)).info.id

    first, last = await create("first"), await create("last")
    await auth_stub.RevokeToken(auth_pb2.RevokeTokenRequest(id=last), metadata=admin.metadata)
    assert await create("next") == last + 1 > first


def test_the_migration_keeps_tokens_and_their_ids(tmp_path: Path) -> None:
    # A file as version 2 left it: token 2 is the newest.
    path = tmp_path / "v2.db"
    with sqlite3.connect(path) as db:
        db.executescript("".join(step.sqlite for step in MIGRATIONS[:2]) + "PRAGMA user_version = 2;")
        db.execute("INSERT INTO users VALUES (1, 'ada', 'hash', 1, 0)")
        db.executemany(
            "INSERT INTO tokens (id, user_id, name, kind, secret_hash, created_at)"
            " VALUES (?, 1, ?, 'api', ?, 0)",
            [(1, "one", "h1"), (2, "two", "h2")],
        )
    store = SqliteStore(path)
    try:
        assert [(t.id, t.name) for t in store.tokens(1)] == [(2, "two"), (1, "one")]
        store.delete_token(2)
        assert store.add_token(1, "three", "api", "h3", None).id == 3
    finally:
        store.close()


# 7. Lifetimes that are no number of days

BAD_EXPIRY = ["nan", "inf", 1e308, True, -1]


@pytest.mark.parametrize("expiry_days", BAD_EXPIRY)
async def test_bad_lifetimes_are_refused_over_http(
    gateway_url: str, http: aiohttp.ClientSession, admin: Credentials, expiry_days: Any
) -> None:
    credentials = {"username": ADMIN_USER, "password": ADMIN_PASSWORD}
    for path, body, headers in (
        ("/auth?type=token", {**credentials, "name": "t"}, {}),
        ("/auth?type=jwt", credentials, {}),
        ("/api/v1/tokens", {"name": "t"}, {"Authorization": f"Bearer {admin.token}"}),
    ):
        async with http.post(
            f"{gateway_url}{path}", json={**body, "expiry_days": expiry_days}, headers=headers
        ) as r:
            status, refusal = await answer(r)
        assert (status, refusal["code"], refusal["error"]) == (400, 400, "INVALID_ARGUMENT"), path
        assert "expiry_days" in refusal["message"]


@pytest.mark.parametrize("expiry_days", [float("nan"), float("inf"), 1e308, -1.0])
async def test_bad_lifetimes_are_refused_over_grpc(
    auth_stub: auth_pb2_grpc.AuthServiceStub, admin: Credentials, expiry_days: float
) -> None:
    login = auth_pb2.LoginRequest(username=ADMIN_USER, password=ADMIN_PASSWORD, expiry_days=expiry_days)
    create = auth_pb2.CreateTokenRequest(name="t", expiry_days=expiry_days)
    for call in (auth_stub.Login(login), auth_stub.CreateToken(create, metadata=admin.metadata)):
        error = await refused(call)
        assert error.code() == grpc.StatusCode.INVALID_ARGUMENT and "expiry_days" in (error.details() or "")


# 8. A variable no event can carry is not written


async def test_a_too_deep_variable_is_refused_before_it_is_written(
    server: Server, http: aiohttp.ClientSession, admin: Credentials
) -> None:
    value: Any = 1
    for _ in range(31):  # {"deep": value} is as deep as HTTP accepts; the event nests it two deeper
        value = {"a": value}
    headers = {"Authorization": f"Bearer {admin.token}"}
    for action, args in (("variable.set", {"deep": value}), ("variable.get", {"name": "deep"})):
        request = {"type": "request", "action": action, "args": args}
        async with http.post(f"{server.http_url}/execute", json=request, headers=headers) as r:
            outcome = (await r.json())["response"]
        if action == "variable.set":
            assert outcome["errors"] == [
                "a value cannot be carried by an event: nested too deeply (limit 32)"
            ]
    assert outcome == {"output": {"deep": None}, "errors": []}


# Issue 14: Platypush's auth answers, byte for byte


def platypush(code: int, error: str, message: str) -> bytes:
    return json.dumps({"code": code, "error": error, "message": message}, separators=(",", ":")).encode()


async def test_every_auth_failure_answers_as_platypush_does(gateway_url: str) -> None:
    async def exchange(method: str, path: str, **kwargs: Any) -> tuple[int, bytes]:
        # A fresh client each time: no cookie leaks from one case into the next.
        async with (
            aiohttp.ClientSession(cookie_jar=aiohttp.CookieJar(unsafe=True)) as client,
            client.request(method, f"{gateway_url}{path}", **kwargs) as r,
        ):
            return r.status, await r.read()

    form = {"username": "ada", "password": PASSWORD, "confirm_password": PASSWORD}
    before_any_user: list[tuple[int, bytes, str, str, dict[str, Any]]] = [
        (412, platypush(412, "REGISTRATION_REQUIRED", "Please create a user first"), "POST", "/execute",
         {"json": EXECUTE}),
        (400, platypush(400, "MISSING_USERNAME", "Missing username"), "POST", "/auth?type=register",
         {"data": {**form, "username": ""}}),
        (400, platypush(400, "MISSING_PASSWORD", "Missing password"), "POST", "/auth?type=register",
         {"data": {**form, "password": ""}}),
        (400, platypush(400, "PASSWORD_MISMATCH", "Password mismatch"), "POST", "/auth?type=register",
         {"data": {**form, "confirm_password": "typo"}}),
    ]  # fmt: skip
    for status, body, method, path, kwargs in before_any_user:
        assert await exchange(method, path, **kwargs) == (status, body), (path, kwargs)

    async with aiohttp.ClientSession(cookie_jar=aiohttp.CookieJar(unsafe=True)) as browser:
        async with browser.post(f"{gateway_url}/auth?type=register", data=form) as r:
            session = await r.json()
        async with browser.post(
            f"{gateway_url}/auth", json={"name": "x"}, headers={"X-CSRF-Token": "forged"}
        ) as r:
            assert (r.status, await r.read()) == (403, platypush(403, "INVALID_CSRF", "Invalid CSRF token"))
        async with browser.post(
            f"{gateway_url}/auth", json={"name": "x"}, headers={"X-CSRF-Token": session["csrf_token"]}
        ) as r:
            assert r.status == 200

    credentials = {"username": "ada", "password": PASSWORD}
    after: list[tuple[int, bytes, str, str, dict[str, Any]]] = [
        (400, platypush(400, "INVALID_AUTH_TYPE", "Invalid authentication type"), "POST", "/auth?type=magic",
         {"json": credentials}),
        (401, platypush(401, "INVALID_CREDENTIALS", "Invalid credentials"), "POST", "/auth",
         {"json": {**credentials, "password": "wrong password"}}),
        (401, platypush(401, "INVALID_JWT_TOKEN", "Invalid JWT token"), "POST", "/execute",
         {"json": EXECUTE, "headers": {"Authorization": "Bearer not.a.jwt"}}),
        (401, platypush(401, "INVALID_CREDENTIALS", "Invalid session"), "GET", "/auth",
         {"cookies": {"session_token": "mt_no-such-session"}}),
        (401, platypush(401, "INVALID_CREDENTIALS", "Invalid session"), "DELETE", "/auth", {"json": {}}),
        (401, platypush(401, "REGISTRATION_DISABLED", "Registrations are disabled"), "POST",
         "/auth?type=register", {"data": {**form, "username": "eve"}}),
        (400, platypush(400, "TOKEN_NAME_EXISTS", "A token with this name already exists"), "POST", "/auth",
         {"json": {**credentials, "name": "x"}}),
    ]  # fmt: skip
    for status, body, method, path, kwargs in after:
        assert await exchange(method, path, **kwargs) == (status, body), (path, kwargs)


async def test_the_shortest_password_is_a_setting(make_server: Callable[..., Awaitable[Server]]) -> None:
    default, relaxed = await make_server(), await make_server("auth:\n  min_password_length: 1\n")
    async with aiohttp.ClientSession() as http:
        async with http.post(
            f"{default.http_url}/api/v1/users", json={"username": "ada", "password": "short"}
        ) as r:
            assert await answer(r) == (
                400,
                {"code": 400, "error": "INVALID_PASSWORD", "message": "password: at least 8 characters"},
            )
        async with http.post(
            f"{relaxed.http_url}/api/v1/users", json={"username": "ada", "password": "x"}
        ) as r:
            assert r.status == 200


# Issue 14: a static API token for headless deployments

STATIC = "a-static-token-from-the-environment"


@pytest.mark.parametrize("variable", ["MONOTREME_API_TOKEN", "PLATYPUSH_API_TOKEN"])
async def test_the_static_token_is_an_admins_before_and_after_the_first_user(
    make_server: Callable[..., Awaitable[Server]], monkeypatch: pytest.MonkeyPatch, variable: str
) -> None:
    monkeypatch.delenv("MONOTREME_API_TOKEN", raising=False)
    monkeypatch.delenv("PLATYPUSH_API_TOKEN", raising=False)
    monkeypatch.setenv(variable, STATIC)
    server = await make_server()

    async def check(channel: grpc.aio.Channel, http: aiohttp.ClientSession) -> None:
        me = await auth_pb2_grpc.AuthServiceStub(channel).GetCurrentUser(
            auth_pb2.GetCurrentUserRequest(), metadata=bearer(STATIC)
        )
        assert (me.user.username, me.user.is_admin) == ("api-token", True)
        for headers in ({"X-Token": STATIC}, {"Authorization": f"Bearer {STATIC}"}):
            async with http.post(f"{server.http_url}/execute", json=EXECUTE, headers=headers) as r:
                assert (r.status, (await r.json())["response"]["output"]) == (200, {"hi": 1})
        async with http.post(
            f"{server.http_url}/execute", json=EXECUTE, headers={"X-Token": STATIC + "x"}
        ) as r:
            assert r.status in (401, 412)

    async with grpc.aio.insecure_channel(server.grpc_target) as channel, aiohttp.ClientSession() as http:
        await check(channel, http)
        await register_admin(channel)
        await check(channel, http)
        listed = await auth_pb2_grpc.AuthServiceStub(channel).ListTokens(
            auth_pb2.ListTokensRequest(), metadata=bearer(STATIC)
        )
        assert list(listed.tokens) == []  # never stored
