"""Permissions (issue 17), over gRPC and HTTP (in-process and remote): roles,
scoped tokens, signed web hooks and the audit trail."""

from __future__ import annotations

import asyncio
import hashlib
import hmac
import json
import sqlite3
import sys
import time
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Any

import aiohttp
import grpc
import pytest
from aiohttp import WSMsgType
from google.protobuf import json_format
from monotreme.call import Principal
from monotreme.config import Config
from monotreme.errors import ConfigError, InvalidArgument
from monotreme.scopes import covers, may_read, may_run, parse_scopes
from monotreme.server import Server
from monotreme.services.status import STATUS_DETAILS_KEY, error_of
from monotreme.store.base import MIGRATIONS
from monotreme.store.sqlite import SqliteStore
from monotreme.v1 import auth_pb2, auth_pb2_grpc, hub_pb2, hub_pb2_grpc

from tests.conftest import Credentials, eventually
from tests.test_execute import request

CUSTOM = "platypush.message.event.custom.CustomEvent"
SECRET = "It's a Secret to Everybody"
CONFIG = f"""
shell:
  enabled: true
webhooks:
  timeout: 5
  tolerance: 300
  secrets:
    github: "{SECRET}"
procedure.at_home:
  - action: variable.set
    args:
      home: true
  - action: shell.exec
    args:
      cmd: echo welcome
"""
BOB_PASSWORD = "bob's own long password"


@pytest.fixture
async def server(make_server: Callable[..., Awaitable[Server]]) -> Server:
    return await make_server(CONFIG)


@pytest.fixture
async def bob(channel: grpc.aio.Channel, admin: Credentials) -> Credentials:
    """A user who is no admin, logged in."""
    auth = auth_pb2_grpc.AuthServiceStub(channel)
    await auth.Register(
        auth_pb2.RegisterRequest(username="bob", password=BOB_PASSWORD), metadata=admin.metadata
    )
    login = await auth.Login(auth_pb2.LoginRequest(username="bob", password=BOB_PASSWORD))
    return Credentials("bob", BOB_PASSWORD, login.token)


def bearer(token: str) -> tuple[tuple[str, str], ...]:
    return (("authorization", f"Bearer {token}"),)


async def create_token(channel: grpc.aio.Channel, who: Credentials, name: str, *scopes: str) -> str:
    auth = auth_pb2_grpc.AuthServiceStub(channel)
    answer = await auth.CreateToken(
        auth_pb2.CreateTokenRequest(name=name, scopes=scopes), metadata=who.metadata
    )
    assert list(answer.info.scopes) == list(scopes)
    return answer.token


def refusal(error: grpc.aio.AioRpcError) -> tuple[grpc.StatusCode, str, str]:
    """(code, reason, message) of a refused call."""
    details = dict(error.trailing_metadata() or ())[STATUS_DETAILS_KEY]
    assert isinstance(details, bytes)
    return error.code(), error_of(error.code().value[0], "", details).reason, error.details() or ""


async def grpc_refusal(call: Awaitable[Any]) -> tuple[grpc.StatusCode, str, str]:
    with pytest.raises(grpc.aio.AioRpcError) as caught:
        await call
    return refusal(caught.value)


async def output(stub: hub_pb2_grpc.HubServiceStub, token: str, action: str, **args: Any) -> Any:
    answer = await stub.Execute(request(action, **args), metadata=bearer(token))
    assert list(answer.response.errors) == []
    return json_format.MessageToDict(answer.response)["output"]


async def post_execute(url: str, token: str, action: str, **args: Any) -> tuple[int, Any]:
    body = {"type": "request", "action": action, "args": args}
    headers = {"Authorization": f"Bearer {token}"}
    async with aiohttp.ClientSession() as http, http.post(f"{url}/execute", json=body, headers=headers) as r:
        return r.status, await r.json()


async def get_json(url: str, token: str) -> tuple[int, Any]:
    async with (
        aiohttp.ClientSession() as http,
        http.get(url, headers={"Authorization": f"Bearer {token}"}) as r,
    ):
        return r.status, await r.json()


def error(status: int, reason: str, message: str) -> dict[str, Any]:
    return {"code": status, "error": reason, "message": message}


ADMINS_ONLY = "shell.exec is for admins only"
NO_SHELL = "running shell.exec: the token lacks the scope 'execute:shell.exec'"


# Roles


async def test_a_user_is_refused_an_admin_only_action_over_grpc(
    hub_stub: hub_pb2_grpc.HubServiceStub, admin: Credentials, bob: Credentials
) -> None:
    refused = await grpc_refusal(hub_stub.Execute(request("shell.exec", cmd="id -un"), metadata=bob.metadata))
    assert refused == (grpc.StatusCode.PERMISSION_DENIED, "ADMIN_REQUIRED", ADMINS_ONLY)
    assert (await output(hub_stub, admin.token, "shell.exec", cmd="echo admin")) == "admin\n"
    # A procedure an admin wrote runs its steps as the hub, for anyone.
    assert (await output(hub_stub, bob.token, "procedure.at_home")) == "welcome\n"
    # Users see only what they may run; admins see what is for them alone.
    listed = await hub_stub.ListActions(hub_pb2.ListActionsRequest(), metadata=bob.metadata)
    names = [a.name for a in listed.actions]
    assert "variable.get" in names and "procedure.at_home" in names
    assert not [n for n in names if n.startswith(("shell.", "http."))]
    everything = await hub_stub.ListActions(
        hub_pb2.ListActionsRequest(plugin="shell"), metadata=admin.metadata
    )
    assert [(a.name, a.admin_only) for a in everything.actions] == [("shell.exec", True)]
    inspected = await output(hub_stub, bob.token, "inspect.get_actions")
    assert [a["name"] for a in inspected] == names
    plugins = await output(hub_stub, bob.token, "inspect.get_all_plugins")
    assert plugins["shell"]["actions"] == {} and "get" in plugins["variable"]["actions"]


async def test_a_user_is_refused_an_admin_only_action_over_http(
    gateway_url: str, hub_stub: hub_pb2_grpc.HubServiceStub, bob: Credentials
) -> None:
    status, body = await post_execute(gateway_url, bob.token, "shell.exec", cmd="id -un")
    assert (status, body) == (403, error(403, "ADMIN_REQUIRED", ADMINS_ONLY))
    status, body = await post_execute(gateway_url, bob.token, "procedure.at_home")
    assert (status, body["response"]) == (200, {"output": "welcome\n", "errors": []})
    status, body = await get_json(f"{gateway_url}/api/v1/actions?plugin=shell", bob.token)
    assert (status, body) == (200, {"actions": []})
    ws_url = gateway_url.replace("http", "ws", 1)
    async with (
        aiohttp.ClientSession() as http,
        http.ws_connect(f"{ws_url}/ws/requests?token={bob.token}") as ws,
    ):
        await ws.send_json({"id": "1", "type": "request", "action": "shell.exec", "args": {"cmd": "id"}})
        frame = await ws.receive_json(timeout=10)
    assert frame == {"type": "error", **error(403, "ADMIN_REQUIRED", ADMINS_ONLY), "id": "1"}


async def test_admin_only_rpcs_refuse_users_on_both_doors(
    gateway_url: str, channel: grpc.aio.Channel, bob: Credentials
) -> None:
    auth = auth_pb2_grpc.AuthServiceStub(channel)
    refused = await grpc_refusal(
        auth.ListAuditRecords(auth_pb2.ListAuditRecordsRequest(), metadata=bob.metadata)
    )
    assert refused == (
        grpc.StatusCode.PERMISSION_DENIED,
        "ADMIN_REQUIRED",
        "only an admin may read the audit trail",
    )
    status, body = await get_json(f"{gateway_url}/api/v1/users", bob.token)
    assert (status, body) == (403, error(403, "ADMIN_REQUIRED", "only an admin may list users"))


# Scoped tokens


async def test_a_token_scoped_to_two_actions_runs_them_and_nothing_else_over_grpc(
    channel: grpc.aio.Channel, hub_stub: hub_pb2_grpc.HubServiceStub, admin: Credentials
) -> None:
    # An admin's token: the scopes, not the role, hold it back.
    phone = await create_token(channel, admin, "phone", "execute:procedure.at_home", "execute:variable.get")
    assert (await output(hub_stub, phone, "procedure.at_home")) == "welcome\n"  # its steps run as the hub
    assert (await output(hub_stub, phone, "variable.get", name="home")) == {"home": True}
    refused = await grpc_refusal(hub_stub.Execute(request("shell.exec", cmd="id"), metadata=bearer(phone)))
    assert refused == (grpc.StatusCode.PERMISSION_DENIED, "MISSING_SCOPE", NO_SHELL)
    for action in ("variable.set", "no.such_action"):  # what it may not run, known or not
        refused = await grpc_refusal(hub_stub.Execute(request(action), metadata=bearer(phone)))
        assert refused[:2] == (grpc.StatusCode.PERMISSION_DENIED, "MISSING_SCOPE")
        assert refused[2] == f"running {action}: the token lacks the scope 'execute:{action}'"
    listed = await hub_stub.ListActions(hub_pb2.ListActionsRequest(), metadata=bearer(phone))
    assert [a.name for a in listed.actions] == ["procedure.at_home", "variable.get"]
    auth = auth_pb2_grpc.AuthServiceStub(channel)
    for call, message in (
        (
            auth.ListUsers(auth_pb2.ListUsersRequest(), metadata=bearer(phone)),
            "to list users: the token lacks the scope 'admin'",
        ),
        (
            auth.ListTokens(auth_pb2.ListTokensRequest(), metadata=bearer(phone)),
            "listing tokens: the token lacks the scope 'tokens'",
        ),
        (
            hub_stub.PublishEvent(
                hub_pb2.PublishEventRequest(
                    event=hub_pb2.Event(
                        args=json_format.ParseDict({"type": "CustomEvent"}, hub_pb2.Event().args)
                    )
                ),
                metadata=bearer(phone),
            ),
            f"publishing {CUSTOM}: the token lacks the scope 'events:publish:CustomEvent'",
        ),
    ):
        assert await grpc_refusal(call) == (grpc.StatusCode.PERMISSION_DENIED, "MISSING_SCOPE", message)
    stream = hub_stub.StreamEvents(hub_pb2.StreamEventsRequest(), metadata=bearer(phone))
    assert await grpc_refusal(stream.read()) == (
        grpc.StatusCode.PERMISSION_DENIED,
        "MISSING_SCOPE",
        "streaming events: the token lacks the scope 'events:read'",
    )


async def test_a_token_scoped_to_two_actions_runs_them_and_nothing_else_over_http(
    gateway_url: str, channel: grpc.aio.Channel, admin: Credentials
) -> None:
    phone = await create_token(channel, admin, "phone", "execute:procedure.at_home", "execute:variable.get")
    status, body = await post_execute(gateway_url, phone, "procedure.at_home")
    assert (status, body["response"]) == (200, {"output": "welcome\n", "errors": []})
    status, body = await post_execute(gateway_url, phone, "shell.exec", cmd="id")
    assert (status, body) == (403, error(403, "MISSING_SCOPE", NO_SHELL))
    status, body = await get_json(f"{gateway_url}/api/v1/actions", phone)
    assert (status, [a["name"] for a in body["actions"]]) == (200, ["procedure.at_home", "variable.get"])
    ws_url = gateway_url.replace("http", "ws", 1)
    async with aiohttp.ClientSession() as http:
        async with http.ws_connect(f"{ws_url}/ws/requests?token={phone}") as ws:
            await ws.send_json({"id": "1", "type": "request", "action": "shell.exec", "args": {"cmd": "id"}})
            assert await ws.receive_json(timeout=10) == {
                "type": "error",
                **error(403, "MISSING_SCOPE", NO_SHELL),
                "id": "1",
            }
            await ws.send_json(
                {"id": "2", "type": "request", "action": "variable.get", "args": {"name": "x"}}
            )
            answer = await ws.receive_json(timeout=10)
            assert (answer["id"], answer["response"]) == ("2", {"output": {"x": None}, "errors": []})
        async with http.ws_connect(f"{ws_url}/ws/events?token={phone}") as ws:
            message = await asyncio.wait_for(ws.receive(), 10)
    assert (message.type, message.data, message.extra) == (
        WSMsgType.CLOSE,
        1008,
        "streaming events: the token lacks the scope 'events:read'",
    )


def custom(subtype: str, event_type: str = "CustomEvent") -> hub_pb2.Event:
    return hub_pb2.Event(
        args=json_format.ParseDict({"type": event_type, "subtype": subtype}, hub_pb2.Event().args)
    )


async def test_a_read_only_events_token_streams_but_cannot_publish_over_grpc(
    server: Server, channel: grpc.aio.Channel, hub_stub: hub_pb2_grpc.HubServiceStub, admin: Credentials
) -> None:
    reader = await create_token(channel, admin, "reader", "events:read")
    custom_only = await create_token(
        channel, admin, "custom", "events:read:CustomEvent", "events:publish:Custom*"
    )
    everything = hub_stub.StreamEvents(hub_pb2.StreamEventsRequest(), metadata=bearer(reader))
    customs = hub_stub.StreamEvents(hub_pb2.StreamEventsRequest(), metadata=bearer(custom_only))
    batches = hub_stub.StreamEventBatches(hub_pb2.StreamEventsRequest(), metadata=bearer(custom_only))
    for stream in (everything, customs, batches):
        await stream.initial_metadata()
    await hub_stub.PublishEvent(
        hub_pb2.PublishEventRequest(event=custom("x", "my.Thing")), metadata=admin.metadata
    )
    await hub_stub.PublishEvent(
        hub_pb2.PublishEventRequest(event=custom("first")), metadata=bearer(custom_only)
    )
    seen = [(await asyncio.wait_for(everything.read(), 10)).event.args["type"] for _ in range(2)]
    assert seen == ["my.Thing", CUSTOM]
    first = (await asyncio.wait_for(customs.read(), 10)).event.args
    assert (first["type"], first["subtype"]) == (CUSTOM, "first")  # my.Thing was not for it
    # Batched, the same: what it may not read is left out of each batch.
    batch = await asyncio.wait_for(batches.read(), 10)
    assert [(e.event.args["type"], e.event.args["subtype"]) for e in batch.events] == [(CUSTOM, "first")]
    batches.cancel()
    phone = await create_token(channel, admin, "phone", "execute:procedure.at_home")
    refused = await grpc_refusal(
        hub_stub.StreamEventBatches(hub_pb2.StreamEventsRequest(), metadata=bearer(phone)).read()
    )
    assert refused[1:] == ("MISSING_SCOPE", "streaming events: the token lacks the scope 'events:read'")
    refused = await grpc_refusal(
        hub_stub.PublishEvent(hub_pb2.PublishEventRequest(event=custom("no")), metadata=bearer(reader))
    )
    message = f"publishing {CUSTOM}: the token lacks the scope 'events:publish:CustomEvent'"
    assert refused == (grpc.StatusCode.PERMISSION_DENIED, "MISSING_SCOPE", message)
    refused = await grpc_refusal(
        hub_stub.PublishEvent(
            hub_pb2.PublishEventRequest(event=custom("no", "my.Thing")), metadata=bearer(custom_only)
        )
    )
    assert refused[1:] == (
        "MISSING_SCOPE",
        "publishing my.Thing: the token lacks the scope 'events:publish:Thing'",
    )
    everything.cancel()
    customs.cancel()


async def test_a_read_only_events_token_streams_but_cannot_publish_over_http(
    gateway_url: str,
    server: Server,
    channel: grpc.aio.Channel,
    hub_stub: hub_pb2_grpc.HubServiceStub,
    admin: Credentials,
) -> None:
    reader = await create_token(channel, admin, "reader", "events:read")
    ws_url = gateway_url.replace("http", "ws", 1)
    message = f"publishing {CUSTOM}: the token lacks the scope 'events:publish:CustomEvent'"
    async with aiohttp.ClientSession() as http, http.ws_connect(f"{ws_url}/ws/events?token={reader}") as ws:
        await eventually(lambda: server.hub.bus.subscriber_count == 1)
        await ws.send_json({"type": "event", "args": {"type": "CustomEvent", "subtype": "mine"}})
        assert await ws.receive_json(timeout=10) == {"type": "error", **error(403, "MISSING_SCOPE", message)}
        await hub_stub.PublishEvent(
            hub_pb2.PublishEventRequest(event=custom("theirs")), metadata=admin.metadata
        )
        event = await ws.receive_json(timeout=10)
        assert event["args"] == {"type": CUSTOM, "subtype": "theirs"}
        async with http.post(
            f"{gateway_url}/api/v1/events",
            json={"args": {"type": "CustomEvent"}},
            headers={"Authorization": f"Bearer {reader}"},
        ) as response:
            assert (response.status, await response.json()) == (403, error(403, "MISSING_SCOPE", message))


async def test_a_token_without_the_tokens_scope_cannot_list_tokens(
    gateway_url: str, channel: grpc.aio.Channel, admin: Credentials
) -> None:
    phone = await create_token(channel, admin, "phone", "execute:procedure.at_home")
    manager = await create_token(channel, admin, "manager", "tokens")
    auth = auth_pb2_grpc.AuthServiceStub(channel)
    message = "listing tokens: the token lacks the scope 'tokens'"
    refused = await grpc_refusal(auth.ListTokens(auth_pb2.ListTokensRequest(), metadata=bearer(phone)))
    assert refused == (grpc.StatusCode.PERMISSION_DENIED, "MISSING_SCOPE", message)
    for path in ("/api/v1/tokens", "/tokens"):
        assert await get_json(f"{gateway_url}{path}", phone) == (403, error(403, "MISSING_SCOPE", message))
    # Lists show each token's scopes, on both doors.
    expected = [("manager", ["tokens"]), ("phone", ["execute:procedure.at_home"])]
    listed = await auth.ListTokens(auth_pb2.ListTokensRequest(), metadata=bearer(manager))
    assert [(t.name, list(t.scopes)) for t in listed.tokens] == expected
    status, body = await get_json(f"{gateway_url}/api/v1/tokens", manager)
    assert (status, [(t["name"], t.get("scopes", [])) for t in body["tokens"]]) == (200, expected)
    status, body = await get_json(f"{gateway_url}/api/v1/tokens", admin.token)
    assert [(t["name"], t.get("scopes", [])) for t in body["tokens"]] == expected


async def test_a_scoped_token_makes_no_token_mightier_than_itself(
    gateway_url: str, channel: grpc.aio.Channel, hub_stub: hub_pb2_grpc.HubServiceStub, admin: Credentials
) -> None:
    manager = await create_token(channel, admin, "manager", "tokens", "execute:variable.*")
    auth = auth_pb2_grpc.AuthServiceStub(channel)
    narrower = await auth.CreateToken(
        auth_pb2.CreateTokenRequest(name="get", scopes=["execute:variable.get"]), metadata=bearer(manager)
    )
    assert list(narrower.info.scopes) == ["execute:variable.get"]
    inherited = await auth.CreateToken(auth_pb2.CreateTokenRequest(name="same"), metadata=bearer(manager))
    assert list(inherited.info.scopes) == ["tokens", "execute:variable.*"]
    message = "creating a token with it: the token lacks the scope 'execute:shell.exec'"
    refused = await grpc_refusal(
        auth.CreateToken(
            auth_pb2.CreateTokenRequest(name="x", scopes=["execute:shell.exec"]), metadata=bearer(manager)
        )
    )
    assert refused == (grpc.StatusCode.PERMISSION_DENIED, "MISSING_SCOPE", message)
    async with (
        aiohttp.ClientSession() as http,
        http.post(
            f"{gateway_url}/api/v1/tokens",
            json={"name": "y", "scopes": ["admin"]},
            headers={"Authorization": f"Bearer {manager}"},
        ) as response,
    ):
        body = await response.json()
    assert (response.status, body) == (
        403,
        error(403, "MISSING_SCOPE", "creating a token with it: the token lacks the scope 'admin'"),
    )
    # Any token may revoke itself (DELETE /auth), `tokens` or not.
    async with (
        aiohttp.ClientSession() as http,
        http.delete(f"{gateway_url}/auth", json={"token": narrower.token}) as response,
    ):
        assert (response.status, await response.json()) == (200, {"status": "ok"})
    refused = await grpc_refusal(
        hub_stub.Execute(request("variable.get", name="x"), metadata=bearer(narrower.token))
    )
    assert refused[:2] == (grpc.StatusCode.UNAUTHENTICATED, "INVALID_TOKEN")


async def test_scopes_are_checked_when_a_token_is_created(
    gateway_url: str, channel: grpc.aio.Channel, admin: Credentials
) -> None:
    auth = auth_pb2_grpc.AuthServiceStub(channel)
    refused = await grpc_refusal(
        auth.CreateToken(
            auth_pb2.CreateTokenRequest(name="x", scopes=["events:read", "read:all"]), metadata=admin.metadata
        )
    )
    assert refused[:2] == (grpc.StatusCode.INVALID_ARGUMENT, "INVALID_SCOPE")
    assert refused[2].startswith("unknown scope 'read:all': use execute:<pattern>, ")
    async with aiohttp.ClientSession() as http:
        async with http.post(
            f"{gateway_url}/api/v1/tokens",
            json={"name": "x", "scopes": ["execute:"]},
            headers={"Authorization": f"Bearer {admin.token}"},
        ) as response:
            body = await response.json()
        assert (response.status, body["error"]) == (400, "INVALID_SCOPE")
        assert body["message"].startswith("unknown scope 'execute:'")
        # Platypush's /auth with credentials, as a phone app asks for its token.
        credentials = {"username": admin.username, "password": admin.password, "name": "phone"}
        async with http.post(
            f"{gateway_url}/auth?type=token", json={**credentials, "scopes": ["execute:procedure.at_home"]}
        ) as response:
            token = (await response.json())["token"]
    status, body = await post_execute(gateway_url, token, "variable.get", name="x")
    assert (status, body["error"]) == (403, "MISSING_SCOPE")
    listed = await auth.ListTokens(auth_pb2.ListTokensRequest(), metadata=admin.metadata)
    assert [(t.name, list(t.scopes)) for t in listed.tokens] == [("phone", ["execute:procedure.at_home"])]


async def monotreme_cli(*args: str) -> tuple[int, str, str]:
    """`monotreme ARGS` as a user runs it: (exit code, stdout, stderr)."""
    process = await asyncio.create_subprocess_exec(
        sys.executable,
        "-m",
        "monotreme",
        *args,
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.PIPE,
    )
    out, err = await process.communicate()
    assert process.returncode is not None
    return process.returncode, out.decode(), err.decode()


async def test_the_cli_creates_scoped_tokens(
    server: Server, hub_stub: hub_pb2_grpc.HubServiceStub, admin: Credentials
) -> None:
    data_dir = str(server.config.data_dir)
    code, out, _ = await monotreme_cli(
        "token", "create", "--data-dir", data_dir, "--user", "admin", "--name", "cli",
        "--scope", "execute:variable.get",
    )  # fmt: skip
    assert code == 0
    token = out.strip()
    assert (await output(hub_stub, token, "variable.get", name="x")) == {"x": None}
    refused = await grpc_refusal(hub_stub.Execute(request("variable.set", x=1), metadata=bearer(token)))
    assert refused[1] == "MISSING_SCOPE"
    code, _, err = await monotreme_cli(
        "token", "create", "--data-dir", data_dir, "--user", "admin", "--scope", "everything"
    )
    assert code == 1 and err.startswith("monotreme: error: unknown scope 'everything'")


# Signed web hooks


def signature(body: bytes, timestamp: str | None = None) -> str:
    signed = body if timestamp is None else f"{timestamp}.".encode() + body
    return "sha256=" + hmac.new(SECRET.encode(), signed, hashlib.sha256).hexdigest()


BODY = json.dumps({"ref": "refs/heads/main", "after": "0123abcd"}).encode()


async def hook(url: str, body: bytes, headers: dict[str, str]) -> tuple[int, Any]:
    async with aiohttp.ClientSession() as http, http.post(url, data=body, headers=headers) as response:
        return response.status, await response.json()


async def test_a_signed_hook_serves_only_calls_signed_with_its_secret_over_http(
    gateway_url: str, channel: grpc.aio.Channel, hub_stub: hub_pb2_grpc.HubServiceStub, admin: Credentials
) -> None:
    events = hub_stub.StreamEvents(
        hub_pb2.StreamEventsRequest(types=["WebhookEvent"]), metadata=admin.metadata
    )
    await events.initial_metadata()
    url = f"{gateway_url}/hook/github"
    changed = BODY.replace(b"main", b"evil")
    for headers, body, reason in (
        ({}, BODY, "MISSING_SIGNATURE"),
        ({"X-Hub-Signature-256": "sha256=" + "0" * 64}, BODY, "INVALID_SIGNATURE"),
        (
            {"X-Hub-Signature-256": signature(BODY)},
            changed,
            "INVALID_SIGNATURE",
        ),  # the body changed after signing
        ({"X-Hub-Signature-256": signature(BODY).upper()}, BODY, "INVALID_SIGNATURE"),
    ):
        status, answer = await hook(url, body, headers)
        assert (status, answer["code"], answer["error"]) == (401, 401, reason)
    assert (await hook(url, BODY, {}))[1]["message"] == "the hook requires X-Hub-Signature-256"
    status, answer = await hook(
        url, BODY, {"x-hub-signature-256": signature(BODY), "Content-Type": "application/json"}
    )
    assert (status, answer["status"], answer["data"]) == (200, "ok", json.loads(BODY))
    # No handler ever saw the refused calls: the first event is the signed one.
    event = (await asyncio.wait_for(events.read(), 10)).event.args
    assert event["data"]["after"] == "0123abcd" and event["headers"]["X-Hub-Signature-256"] == signature(BODY)
    events.cancel()
    # A hook without a secret stays open.
    status, answer = await hook(f"{gateway_url}/hook/open", b"{}", {})
    assert (status, answer["hook"]) == (200, "open")


async def test_a_signed_hook_refuses_stale_and_replayed_timestamps(gateway_url: str) -> None:
    url = f"{gateway_url}/hook/github"
    now = str(int(time.time()))
    signed = {"X-Hub-Signature-256": signature(BODY, now), "X-Hub-Timestamp": now}
    assert (await hook(url, BODY, signed))[0] == 200
    status, answer = await hook(url, BODY, signed)
    assert (status, answer) == (401, error(401, "REPLAYED", "this signed call was received already"))
    stale = str(int(time.time()) - 301)
    status, answer = await hook(
        url, BODY, {"X-Hub-Signature-256": signature(BODY, stale), "X-Hub-Timestamp": stale}
    )
    assert (status, answer) == (
        401,
        error(401, "STALE_TIMESTAMP", "X-Hub-Timestamp is more than 300 s from now"),
    )
    # The timestamp is signed: a fresh one on an old signature does not pass.
    later = str(int(now) + 1)
    status, answer = await hook(url, BODY, {**signed, "X-Hub-Timestamp": later})
    assert (status, answer["error"]) == (401, "INVALID_SIGNATURE")


async def test_a_replay_to_another_process_of_the_hub_is_refused_too(
    tmp_path: Path, make_server: Callable[..., Awaitable[Server]]
) -> None:
    first = await make_server(CONFIG, data_dir=tmp_path / "shared")
    second = await make_server(CONFIG, data_dir=tmp_path / "shared")  # as `serve --workers 2` runs
    now = str(int(time.time()))
    headers = {"X-Hub-Signature-256": signature(BODY, now), "X-Hub-Timestamp": now}
    assert (await hook(f"{first.http_url}/hook/github", BODY, headers))[0] == 200
    status, answer = await hook(f"{second.http_url}/hook/github", BODY, headers)
    assert (status, answer["error"]) == (401, "REPLAYED")


async def test_reload_is_for_admins_and_rotates_hook_secrets(
    server: Server, hub_stub: hub_pb2_grpc.HubServiceStub, admin: Credentials, bob: Credentials
) -> None:
    refused = await grpc_refusal(hub_stub.Execute(request("application.reload"), metadata=bob.metadata))
    assert refused == (
        grpc.StatusCode.PERMISSION_DENIED,
        "ADMIN_REQUIRED",
        "application.reload is for admins only",
    )
    assert server.config.source is not None
    server.config.source.write_text(CONFIG.replace(SECRET, "rotated"))
    await output(hub_stub, admin.token, "application.reload")
    url = f"{server.http_url}/hook/github"
    assert (await hook(url, BODY, {"X-Hub-Signature-256": signature(BODY)}))[0] == 401
    rotated = "sha256=" + hmac.new(b"rotated", BODY, hashlib.sha256).hexdigest()
    assert (await hook(url, BODY, {"X-Hub-Signature-256": rotated}))[0] == 200


async def test_a_signed_hook_over_grpc(hub_stub: hub_pb2_grpc.HubServiceStub) -> None:
    def call(body: bytes, headers: dict[str, str]) -> hub_pb2.CallWebhookRequest:
        return hub_pb2.CallWebhookRequest(hook="github", method="POST", headers=headers, body=body)

    right = await hub_stub.CallWebhook(call(BODY, {"X-Hub-Signature-256": signature(BODY)}))
    assert (right.status, json.loads(right.body)["data"]) == (200, json.loads(BODY))
    for body, headers, reason in (
        (BODY, {"X-Hub-Signature-256": signature(b"other")}, "INVALID_SIGNATURE"),
        (BODY, {}, "MISSING_SIGNATURE"),
        (BODY + b" ", {"X-Hub-Signature-256": signature(BODY)}, "INVALID_SIGNATURE"),
    ):
        answer = await hub_stub.CallWebhook(call(body, headers))
        assert (answer.status, json.loads(answer.body)["error"]) == (401, reason)


@pytest.mark.parametrize(
    ("webhooks", "key", "reason"),
    [
        ("secrets: [a]", "webhooks.secrets", "expected a mapping, got list ['a']"),
        ("secrets: {github: 1}", "webhooks.secrets.github", "expected str, got int 1"),
        ("secrets: {github: ''}", "webhooks.secrets.github", "expected a non-empty secret"),
        ("tolerance: 0", "webhooks.tolerance", "expected a number of seconds above 0"),
    ],
)
def test_webhook_settings_are_checked(tmp_path: Path, webhooks: str, key: str, reason: str) -> None:
    path = tmp_path / "config.yaml"
    path.write_text(f"webhooks:\n  {webhooks}\n")
    with pytest.raises(ConfigError) as caught:
        Config.load(path)
    assert str(caught.value).startswith(f"{path}: {key}: {reason}")


# The audit trail


async def test_the_audit_trail_records_each_kind_of_event(
    gateway_url: str,
    channel: grpc.aio.Channel,
    hub_stub: hub_pb2_grpc.HubServiceStub,
    admin: Credentials,
    bob: Credentials,
) -> None:
    auth = auth_pb2_grpc.AuthServiceStub(channel)
    with pytest.raises(grpc.aio.AioRpcError):
        await auth.Login(auth_pb2.LoginRequest(username="bob", password="not bob's password"))
    phone = await auth.CreateToken(
        auth_pb2.CreateTokenRequest(name="phone", scopes=["execute:procedure.at_home"]), metadata=bob.metadata
    )
    with pytest.raises(grpc.aio.AioRpcError):
        await hub_stub.Execute(request("variable.get", name="x"), metadata=bearer(phone.token))
    await auth.RevokeToken(auth_pb2.RevokeTokenRequest(id=phone.info.id), metadata=bob.metadata)
    answer = await auth.ListAuditRecords(auth_pb2.ListAuditRecordsRequest(), metadata=admin.metadata)
    records = [(r.kind, r.username, r.detail) for r in reversed(answer.records)]
    phone_token = f"api token 'phone' (id {phone.info.id}) of bob"
    assert records == [
        ("user_added", "admin", "added an admin 'admin'"),
        ("login", "admin", "logged in for a JWT"),
        ("user_added", "admin", "added a user 'bob'"),
        ("login", "bob", "logged in for a JWT"),
        ("login_failed", "bob", "invalid credentials"),
        ("token_created", "bob", f"{phone_token} with scopes execute:procedure.at_home"),
        ("denied", "bob", "running variable.get: the token lacks the scope 'execute:variable.get'"),
        ("token_revoked", "bob", phone_token),
    ]
    assert all(r.peer.startswith("ipv4:127.0.0.1:") for r in answer.records)  # gRPC's callers
    assert [r.id for r in answer.records] == sorted((r.id for r in answer.records), reverse=True)
    older = await auth.ListAuditRecords(
        auth_pb2.ListAuditRecordsRequest(limit=2, before=answer.records[1].id), metadata=admin.metadata
    )
    assert [r.id for r in older.records] == [r.id for r in answer.records[2:4]]
    # The same over HTTP, with what the HTTP door saw as the caller's address.
    status, _ = await post_execute(gateway_url, bob.token, "shell.exec", cmd="id")
    assert status == 403
    status, body = await get_json(f"{gateway_url}/api/v1/audit?limit=1", admin.token)
    assert status == 200 and list(body) == ["records"] and len(body["records"]) == 1
    last = body["records"][0]
    assert (last["kind"], last["username"], last["detail"]) == ("denied", "bob", ADMINS_ONLY)
    assert last["peer"].startswith(("127.0.0.1", "ipv4:127.0.0.1:"))  # in-process, or the remote gateway


def test_tokens_made_before_scopes_keep_every_right(tmp_path: Path) -> None:
    # A file as version 4 left it, with a token: after migration 5 it has no scopes.
    path = tmp_path / "v4.db"
    with sqlite3.connect(path) as db:
        db.executescript("".join(step.sqlite for step in MIGRATIONS[:4]) + "PRAGMA user_version = 4;")
        db.execute("INSERT INTO users VALUES (1, 'ada', 'hash', 1, 0)")
        db.execute(
            "INSERT INTO tokens (user_id, name, kind, secret_hash, created_at)"
            " VALUES (1, 'old', 'api', 'h', 0)"
        )
    store = SqliteStore(path)
    try:
        assert [(t.name, t.scopes) for t in store.tokens(1)] == [("old", ())]
        assert store.add_token(1, "new", "api", "h2", None, scopes=("tokens",)).scopes == ("tokens",)
        store.add_audit_record(1.0, "denied", "ada", "x", "", keep=10)
        assert [(r.kind, r.detail) for r in store.audit_records(10)] == [("denied", "x")]
    finally:
        store.close()


def principal(*scopes: str, is_admin: bool = False) -> Principal:
    return Principal(1, "ada", is_admin, "api", token_id=1, scopes=scopes)


@pytest.mark.parametrize(
    ("scopes", "action", "admin_only", "allowed"),
    [
        ((), "variable.get", False, True),
        ((), "shell.exec", True, False),
        (("admin",), "variable.get", False, True),
        (("execute:variable.*",), "variable.get", False, True),
        (("execute:variable.*",), "variable", False, False),
        (("execute:procedure.at_home",), "procedure.at_home_too", False, False),
        (("events:read", "tokens"), "variable.get", False, False),
    ],
)
def test_who_may_run_what(scopes: tuple[str, ...], action: str, admin_only: bool, allowed: bool) -> None:
    assert may_run(principal(*scopes), action, admin_only) is allowed


def test_an_admins_scopes_hold_it_back_too() -> None:
    assert may_run(principal(is_admin=True), "shell.exec", True)
    assert may_run(principal("execute:shell.*", is_admin=True), "shell.exec", True)
    assert not may_run(principal("execute:variable.*", is_admin=True), "shell.exec", True)


@pytest.mark.parametrize(
    ("scopes", "event_type", "allowed"),
    [
        (("events:read",), CUSTOM, True),
        (("events:read:CustomEvent",), CUSTOM, True),
        (("events:read:platypush.message.event.custom.*",), CUSTOM, True),
        (("events:read:Custom",), CUSTOM, False),
        (("events:publish",), CUSTOM, False),
        ((), "anything", True),
    ],
)
def test_who_may_read_what(scopes: tuple[str, ...], event_type: str, allowed: bool) -> None:
    assert may_read(principal(*scopes), event_type) is allowed


@pytest.mark.parametrize(
    ("held", "asked", "covered"),
    [
        (("events:read",), "events:read:CustomEvent", True),
        (("events:read:CustomEvent",), "events:read", False),
        (("execute:variable.*",), "execute:variable.get", True),
        (("execute:variable.*",), "execute:variable.g*", True),
        (("execute:variable.*",), "execute:variables", False),
        (("execute:v?riable.*",), "execute:variable.get", False),  # only plain prefixes widen
        (("execute:*",), "execute:shell.exec", True),
        (("tokens",), "admin", False),
        (("admin",), "admin", True),
    ],
)
def test_a_token_passes_on_only_what_it_holds(held: tuple[str, ...], asked: str, covered: bool) -> None:
    assert covers(principal(*held), asked) is covered


@pytest.mark.parametrize(
    "scope", ["", "execute", "execute:", "events:write", "events:read:a b", "Admin", "x" * 300]
)
def test_unknown_scopes_are_named(scope: str) -> None:
    with pytest.raises(InvalidArgument) as caught:
        parse_scopes(["tokens", scope])
    assert caught.value.reason == "INVALID_SCOPE"
    assert caught.value.message.startswith(f"unknown scope {scope!r}: ")
