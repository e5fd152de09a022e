"""`ManagerApi`: the hub from Python, in the style of Homey's ManagerApi.

    async with ManagerApi("http://hub.local:8008", token=TOKEN, app_id="kitchen") as hub:
        arrivals = hub.get_api_app("kitchen")
        arrivals.on("arrived", lambda event: print(event.data))
        await arrivals.subscribed()
        await hub.realtime("arrived", {"who": "alice"})
        print(await hub.run("procedure.at_home"))

Actions, events and tokens go over gRPC (typed messages, typed errors);
`get`/`post`/`put`/`delete` reach the REST surface under `/api` over HTTP.
"""

from __future__ import annotations

import socket
from collections.abc import Sequence
from typing import Any, TypeVar
from urllib.parse import urlsplit

import aiohttp

from monotreme_client.api import Api, ApiApp
from monotreme_client.errors import ActionFailed, Unavailable, from_http
from monotreme_client.events import CUSTOM_EVENT
from monotreme_client.proto.monotreme.v1 import (
    Action,
    AuditRecord,
    CreateTokenRequest,
    CreateTokenResponse,
    Event,
    ExecuteRequest,
    ExecuteResponse,
    GetOwnerTokenRequest,
    GetOwnerTokenResponse,
    ListActionsRequest,
    ListActionsResponse,
    ListAuditRecordsRequest,
    ListAuditRecordsResponse,
    ListTokensRequest,
    ListTokensResponse,
    PublishEventRequest,
    PublishEventResponse,
    RevokeTokenRequest,
    RevokeTokenResponse,
    Token,
)
from monotreme_client.transport import Transport, method
from monotreme_client.values import from_value, to_struct

A = TypeVar("A", bound=Api)

DEFAULT_URL = "http://127.0.0.1:8008"
DEFAULT_GRPC_PORT = 50051


class ManagerApi:
    """A connection to one hub.

    `url` is its HTTP door; `grpc_target` (`host:port`) its gRPC door, by
    default the same host on port 50051. `app_id` is the origin of the
    events this client publishes (by default `<hostname>-client`).
    `timeout` bounds each call, in seconds.

    `max_delay_ms` (0 to 1000) makes its Apis stream with StreamEventBatches:
    once an event is queued for one, the hub waits up to that long for more
    to send in the same message, fewer writes for a busy hub with many
    subscribers at the cost of events that much later. Handlers and iterators
    get the same events either way. None (the default) streams with
    StreamEvents; a value the hub refuses ends each Api with InvalidArgument."""

    def __init__(
        self,
        url: str = DEFAULT_URL,
        *,
        token: str | None = None,
        grpc_target: str | None = None,
        app_id: str | None = None,
        timeout: float = 60.0,
        max_delay_ms: int | None = None,
    ) -> None:
        parts = urlsplit(url)
        self.url = url.rstrip("/")
        self.app_id = app_id or f"{socket.gethostname()}-client"
        self._token = token
        self._timeout = timeout
        self._max_delay_ms = max_delay_ms
        self._transport = Transport(
            grpc_target or f"{parts.hostname or '127.0.0.1'}:{DEFAULT_GRPC_PORT}",
            token,
            timeout,
            tls=parts.scheme == "https",
        )
        self._http: aiohttp.ClientSession | None = None
        self._apis: set[Api] = set()

    async def __aenter__(self) -> ManagerApi:
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.close()

    async def close(self) -> None:
        """Ends every Api and closes the connections."""
        apis, self._apis = self._apis, set()
        for api in apis:
            api.close()
        for api in apis:
            await api.wait_closed()
        await self._transport.close()
        if self._http is not None:
            await self._http.close()
            self._http = None

    # The REST surface under /api, as Homey's get/post/put/delete.

    async def get(self, uri: str) -> Any:
        return await self._request("GET", uri)

    async def post(self, uri: str, body: Any = None) -> Any:
        return await self._request("POST", uri, body)

    async def put(self, uri: str, body: Any = None) -> Any:
        return await self._request("PUT", uri, body)

    async def delete(self, uri: str) -> Any:
        return await self._request("DELETE", uri)

    async def _request(self, verb: str, uri: str, body: Any = None) -> Any:
        if self._http is None:
            headers = {"Authorization": f"Bearer {self._token}"} if self._token else {}
            self._http = aiohttp.ClientSession(
                headers=headers, timeout=aiohttp.ClientTimeout(total=self._timeout)
            )
        url = f"{self.url}/api/{uri.lstrip('/')}"
        try:
            async with self._http.request(verb, url, json=body) as response:
                answer = await (
                    response.json() if response.content_type == "application/json" else response.text()
                )
        except aiohttp.ClientError as e:
            raise Unavailable(f"{verb} {url}: {e}") from None
        if response.status >= 400:
            raise from_http(response.status, answer)
        return answer

    # Events.

    async def realtime(self, event: str, data: Any = None) -> None:
        """Publishes `event` with `data` from this app: a CustomEvent with
        `subtype` `event` and `args` `data`, which `Api.on(event, ...)` and
        hooks on `CustomEvent` with that subtype receive."""
        await self.publish(CUSTOM_EVENT, subtype=event, args=data)

    async def publish(self, event_type: str, /, **args: Any) -> Event:
        """Publishes an event of any type; answers it as published (id, timestamp)."""
        request = PublishEventRequest(
            event=Event(origin=self.app_id, args=to_struct({"type": event_type, **args}))
        )
        response = await self._transport.unary(
            method("HubService", "PublishEvent"), request, PublishEventResponse
        )
        return response.event or Event()

    def get_api(self, uri: str, *, types: list[str] | None = None, args: dict[str, Any] | None = None) -> Api:
        """The realtime events from `uri`: an event's origin (the hub's device
        id for its own events, an app id for an app's), or `"*"` for all;
        optionally only of some `types` and with some `args`."""
        return self._register(Api(self._transport, uri, types or [], args or {}, self._max_delay_ms))

    def get_api_app(self, app_id: str) -> ApiApp:
        """The realtime events the app `app_id` publishes."""
        return self._register(ApiApp(self._transport, app_id, [], {}, self._max_delay_ms))

    def unregister_api(self, api: Api) -> None:
        """Ends the Api's stream."""
        self._apis.discard(api)
        api.close()

    def _register(self, api: A) -> A:
        self._apis.add(api)
        return api

    # Actions.

    async def execute(self, action: str, /, **args: Any) -> Any:
        """Runs an action (`plugin.action`) or procedure (`procedure.name`)
        and answers its output; raises ActionFailed with the errors it
        answered, or the typed error of a refused call."""
        request = ExecuteRequest(type="request", action=action, args=to_struct(args), origin=self.app_id)
        response = await self._transport.unary(method("HubService", "Execute"), request, ExecuteResponse)
        result = response.response
        if result is not None and result.errors:
            raise ActionFailed(action, list(result.errors))
        return from_value(result.output) if result is not None else None

    run = execute

    async def actions(self, plugin: str = "") -> list[Action]:
        """Every action (or one plugin's), with its parameters and docs."""
        request = ListActionsRequest(plugin=plugin)
        response = await self._transport.unary(
            method("HubService", "ListActions"), request, ListActionsResponse
        )
        return list(response.actions)

    # Access.

    async def get_local_url(self) -> str:
        """The hub's HTTP URL on the local network."""
        return self.url

    async def get_owner_api_token(self) -> str:
        """A new API token on behalf of the hub's owner (an admin), which
        lapses after two weeks without use."""
        request = GetOwnerTokenRequest()
        response = await self._transport.unary(
            method("AuthService", "GetOwnerToken"), request, GetOwnerTokenResponse
        )
        return response.token

    async def create_token(
        self, name: str, expiry_days: float = 0, scopes: Sequence[str] = ()
    ) -> tuple[str, Token]:
        """A new named API token: its secret (shown once) and its record.
        `scopes` limit what it may do (`execute:procedure.at_home`,
        `events:read`...); none: everything the user may."""
        request = CreateTokenRequest(name=name, expiry_days=expiry_days, scopes=list(scopes))
        response = await self._transport.unary(
            method("AuthService", "CreateToken"), request, CreateTokenResponse
        )
        return response.token, response.info or Token()

    async def tokens(self) -> list[Token]:
        """The caller's tokens (never their secrets)."""
        request = ListTokensRequest()
        response = await self._transport.unary(
            method("AuthService", "ListTokens"), request, ListTokensResponse
        )
        return list(response.tokens)

    async def revoke_token(self, token_id: int) -> None:
        request = RevokeTokenRequest(id=token_id)
        await self._transport.unary(method("AuthService", "RevokeToken"), request, RevokeTokenResponse)

    async def audit_records(self, limit: int = 0, before: int = 0) -> list[AuditRecord]:
        """The audit trail, newest first: `limit` records (the hub's default
        when 0), older than record `before` when given. Admins only."""
        request = ListAuditRecordsRequest(limit=limit, before=before)
        response = await self._transport.unary(
            method("AuthService", "ListAuditRecords"), request, ListAuditRecordsResponse
        )
        return list(response.records)
