"""`/openapi.json` and the streaming bridge: the REST surface as the contract describes it."""

from __future__ import annotations

import asyncio
import json

import aiohttp
from monotreme.server import Server

from tests.conftest import Credentials, eventually


async def test_openapi_document_comes_from_the_annotations(
    server: Server, http: aiohttp.ClientSession
) -> None:
    async with http.get(f"{server.http_url}/openapi.json") as response:
        assert response.status == 200
        document = await response.json()
    assert document["openapi"] == "3.0.3"
    operations = {
        (path, method): operation["operationId"]
        for path, methods in document["paths"].items()
        for method, operation in methods.items()
    }
    assert operations == {
        ("/execute", "post"): "HubService_Execute",
        ("/api/v1/events", "get"): "HubService_StreamEvents",
        ("/api/v1/events", "post"): "HubService_PublishEvent",
        ("/api/v1/actions", "get"): "HubService_ListActions",
        ("/api/v1/users", "post"): "AuthService_Register",
        ("/api/v1/users", "get"): "AuthService_ListUsers",
        ("/api/v1/audit", "get"): "AuthService_ListAuditRecords",
        ("/api/v1/login", "post"): "AuthService_Login",
        ("/api/v1/me", "get"): "AuthService_GetCurrentUser",
        ("/api/v1/tokens", "post"): "AuthService_CreateToken",
        ("/api/v1/tokens", "get"): "AuthService_ListTokens",
        ("/api/v1/tokens/{id}", "delete"): "AuthService_RevokeToken",
        ("/api/v1/tokens:revoke", "post"): "AuthService_RevokeToken",
        ("/api/v1/owner-token", "post"): "AuthService_GetOwnerToken",
        ("/api/v1/sessions", "post"): "AuthService_CreateSession",
        ("/tokens", "get"): "AuthService_ListTokens",
        ("/tokens", "delete"): "AuthService_RevokeToken",
    }
    schemas = document["components"]["schemas"]
    response_schema = schemas["monotreme.v1.ExecuteResponse"]["properties"]
    assert list(response_schema) == ["id", "type", "target", "origin", "_timestamp", "response"]
    assert response_schema["response"] == {"$ref": "#/components/schemas/monotreme.v1.ActionResult"}
    assert schemas["monotreme.v1.ActionResult"]["properties"]["errors"] == {
        "type": "array",
        "items": {"type": "string"},
    }
    revoke = document["paths"]["/api/v1/tokens/{id}"]["delete"]
    assert revoke["parameters"] == [
        {"name": "id", "in": "path", "required": True, "schema": {"type": "integer", "format": "int32"}}
    ]
    publish = document["paths"]["/api/v1/events"]["post"]["requestBody"]["content"]["application/json"]
    assert publish["schema"] == {"$ref": "#/components/schemas/monotreme.v1.Event"}
    actions = document["paths"]["/api/v1/actions"]["get"]["parameters"]
    assert actions == [{"name": "plugin", "in": "query", "schema": {"type": "string"}}]


async def test_event_stream_as_ndjson(
    server: Server, http: aiohttp.ClientSession, admin: Credentials
) -> None:
    url = f"{server.http_url}/api/v1/events"
    async with http.get(url, params={"types": "CustomEvent"}, headers={"X-Token": admin.token}) as response:
        assert (response.status, response.content_type) == (200, "application/x-ndjson")
        await eventually(lambda: server.hub.bus.subscriber_count == 1)
        event = {
            "type": "event",
            "args": {"type": "platypush.message.event.custom.CustomEvent", "subtype": "x"},
        }
        async with http.post(url, json=event, headers={"X-Token": admin.token}) as published:
            sent = (await published.json())["event"]
        line = json.loads(await asyncio.wait_for(response.content.readline(), 10))
    assert line == {"result": {"event": sent, "missed": 0}}


async def test_event_stream_errors_end_the_stream(
    server: Server, http: aiohttp.ClientSession, admin: Credentials
) -> None:
    sse = {"Accept": "text/event-stream"}
    async with http.get(f"{server.http_url}/api/v1/events", headers=sse) as refused:
        assert (refused.status, refused.content_type) == (401, "application/json")  # before streaming
    secret, token = server.hub.identity.accounts.create_token(admin.username, "sse")
    async with http.get(
        f"{server.http_url}/api/v1/events", headers={**sse, "Authorization": f"Bearer {secret}"}
    ) as response:
        assert response.content_type == "text/event-stream"
        async with http.delete(
            f"{server.http_url}/api/v1/tokens/{token.id}", headers={"Authorization": f"Bearer {admin.token}"}
        ) as revoked:
            assert revoked.status == 200
        body = await asyncio.wait_for(response.text(), 10)
    assert body.startswith("event: error\ndata: ")
    assert json.loads(body.split("data: ", 1)[1])["error"]["error"] == "TOKEN_REVOKED"
