"""The hub: the core's parts wired together, with one start and one close."""

from __future__ import annotations

from typing import Any

from monotreme.auth import Auth
from monotreme.auth_service import AuthService
from monotreme.automation import load_automation
from monotreme.bus import EventBus
from monotreme.config import Config
from monotreme.dispatcher import Dispatcher
from monotreme.hooks import HookRunner
from monotreme.hub_service import HubService
from monotreme.plugins.registry import ActionRegistry
from monotreme.rpc import MethodTable
from monotreme.store import Store
from monotreme.webhooks import Webhooks


class Hub:
    """Store, auth, event bus, actions, hooks and the RPC method table of one server."""

    def __init__(self, config: Config) -> None:
        self.config = config
        config.data_dir.mkdir(parents=True, exist_ok=True)
        self.store = Store(config.data_dir / "monotreme.db")
        self.auth = Auth(self.store, config.data_dir, config.auth)
        self.bus = EventBus(origin=config.server.device_id, queue_size=config.events.queue_size)
        self.actions = ActionRegistry(self, config)
        self.dispatcher = Dispatcher(self.actions, origin=config.server.device_id)
        self.hooks = HookRunner(self.dispatcher)
        self.bus.add_listener(self.hooks.on_event)
        self.webhooks = Webhooks(self.bus, self.hooks, config.webhooks.timeout)
        # Each procedure's definition, as `inspect.get_procedures` shows it.
        self.procedures: dict[str, dict[str, Any]] = {}
        try:
            load_automation(self)
        except BaseException:
            self.store.close()
            raise
        self.methods = MethodTable([HubService(self), AuthService(self)], self.auth.authenticate)
        self.ready = False

    async def start(self) -> None:
        """Starts the plugins; the hub serves calls once this returns."""
        await self.actions.start()
        self.ready = True

    async def close(self) -> None:
        """Stops the plugins, ends the event streams and closes the store."""
        self.ready = False
        await self.hooks.close()
        await self.actions.stop()
        self.bus.close()
        self.store.close()
