"""`Hub`: the ManagerApi for plain scripts, without asyncio.

    with Hub("http://hub.local:8008", token=TOKEN) as hub:
        hub.realtime("arrived", {"who": "alice"})
        print(hub.run("procedure.at_home"))

Calls run on an event loop in a background thread; each blocks until its
answer and raises what the async call raises. It offers every method of
ManagerApi (a test holds the two together); an Api's handlers run on that
background thread.
"""

from __future__ import annotations

import asyncio
import threading
from collections.abc import Callable, Coroutine, Sequence
from typing import Any, TypeVar

from monotreme_client.api import Api, ApiApp
from monotreme_client.manager import DEFAULT_URL, ManagerApi
from monotreme_client.proto.monotreme.v1 import Action, AuditRecord, Event, Token

T = TypeVar("T")


class Hub:
    def __init__(self, url: str = DEFAULT_URL, **options: Any) -> None:
        self._loop = asyncio.new_event_loop()
        self._thread = threading.Thread(target=self._loop.run_forever, name="monotreme-client", daemon=True)
        self._thread.start()
        self.api: ManagerApi = self._call(self._create(url, options))

    @staticmethod
    async def _create(url: str, options: dict[str, Any]) -> ManagerApi:
        return ManagerApi(url, **options)  # on the loop, where its streams will run

    def _call(self, coroutine: Coroutine[Any, Any, T]) -> T:
        return asyncio.run_coroutine_threadsafe(coroutine, self._loop).result()

    def _on_loop(self, function: Callable[[], T]) -> T:
        """Runs a plain method of the ManagerApi on its loop (Apis start their streams there)."""

        async def call() -> T:
            return function()

        return self._call(call())

    def __enter__(self) -> Hub:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def close(self) -> None:
        if self._loop.is_closed():
            return
        self._call(self.api.close())
        self._loop.call_soon_threadsafe(self._loop.stop)
        self._thread.join()
        self._loop.close()

    def get(self, uri: str) -> Any:
        return self._call(self.api.get(uri))

    def post(self, uri: str, body: Any = None) -> Any:
        return self._call(self.api.post(uri, body))

    def put(self, uri: str, body: Any = None) -> Any:
        return self._call(self.api.put(uri, body))

    def delete(self, uri: str) -> Any:
        return self._call(self.api.delete(uri))

    def realtime(self, event: str, data: Any = None) -> None:
        self._call(self.api.realtime(event, data))

    def publish(self, event_type: str, /, **args: Any) -> Event:
        return self._call(self.api.publish(event_type, **args))

    def get_api(self, uri: str, *, types: list[str] | None = None, args: dict[str, Any] | None = None) -> Api:
        return self._on_loop(lambda: self.api.get_api(uri, types=types, args=args))

    def get_api_app(self, app_id: str) -> ApiApp:
        return self._on_loop(lambda: self.api.get_api_app(app_id))

    def unregister_api(self, api: Api) -> None:
        self._on_loop(lambda: self.api.unregister_api(api))

    def execute(self, action: str, /, **args: Any) -> Any:
        return self._call(self.api.execute(action, **args))

    run = execute

    def actions(self, plugin: str = "") -> list[Action]:
        return self._call(self.api.actions(plugin))

    def get_local_url(self) -> str:
        return self._call(self.api.get_local_url())

    def get_owner_api_token(self) -> str:
        return self._call(self.api.get_owner_api_token())

    def create_token(
        self, name: str, expiry_days: float = 0, scopes: Sequence[str] = ()
    ) -> tuple[str, Token]:
        return self._call(self.api.create_token(name, expiry_days, scopes))

    def tokens(self) -> list[Token]:
        return self._call(self.api.tokens())

    def revoke_token(self, token_id: int) -> None:
        self._call(self.api.revoke_token(token_id))

    def audit_records(self, limit: int = 0, before: int = 0) -> list[AuditRecord]:
        return self._call(self.api.audit_records(limit, before))
