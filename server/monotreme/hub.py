"""The hub: the core's parts wired together, with one start and one close.

It knows no door and no RPC: the services are built on its parts, and the
doors on the services (see server.py, the composition root)."""

from __future__ import annotations

import asyncio
import json
import logging
from collections.abc import Awaitable, Callable
from typing import Any

from monotreme.actions.dispatcher import Dispatcher
from monotreme.actions.plugin import PluginContext
from monotreme.actions.registry import ActionRegistry, installed_plugins
from monotreme.actions.schema import ActionSpec
from monotreme.automation import loader
from monotreme.automation.hooks import Hook, HookRunner
from monotreme.automation.schedules import Job, Scheduler
from monotreme.automation.webhooks import Signatures, Webhooks
from monotreme.config import Config
from monotreme.errors import ConfigError, FailedPrecondition
from monotreme.events.bus import EventBus, LocalBus
from monotreme.events.redis import RedisBus
from monotreme.identity import Identity
from monotreme.identity.revocation import Key
from monotreme.plugins import builtin_plugins
from monotreme.store import open_store

# Seconds between checks of a remote store while it answers, and between
# tries while it does not (doubling from the first to the last).
_CHECK_EVERY = 2.0
_RETRY_FIRST = 0.25
_RETRY_LAST = 5.0

log = logging.getLogger(__name__)
# The action that reloads the config (Platypush's `application` plugin has
# its kind); admins only.
RELOAD = "application.reload"
_RELOAD_DOC = (
    "Reloads procedures, hooks, cron jobs, scripts and plugin settings from the config file, "
    "keeping connections and streams open; a config with a mistake leaves the running one in place."
)

# The bus topic of revoked tokens: every process drops them and ends their streams.
REVOKED = "revoked"


def bus_of(config: Config) -> EventBus:
    """The Redis bus when `bus.url` (or Platypush's `redis:`) names one, else the embedded bus."""
    if (url := config.bus.redis_url) is not None:
        log.info("event bus: Redis at %s", url.rpartition("@")[2])
        return RedisBus(config.server.device_id, config.events.queue_size, config.bus)
    return LocalBus(
        config.server.device_id,
        config.events.queue_size,
        config.events.history_size,
        config.events.history_seconds,
    )


def _key(message: str) -> Key:
    kind, value = json.loads(message)
    return (kind, value)


class Hub:
    """Store, identity, event bus, actions and automation of one hub."""

    def __init__(self, config: Config) -> None:
        self.config = config
        config.data_dir.mkdir(parents=True, exist_ok=True)
        self.store = open_store(config.store.url, config.data_dir)
        try:
            self.identity = Identity.open(self.store, config.data_dir, config.auth)
            self.bus = bus_of(config)
            revocations = self.identity.revocations
            revocations.tell_others(lambda key: self.bus.broadcast(REVOKED, json.dumps(key)))
            self.bus.on_broadcast(REVOKED, lambda message: revocations.revoked(_key(message), here=False))
            self._plugin_classes = [*builtin_plugins(), *installed_plugins()]
            self.actions = ActionRegistry(self._plugin_classes, config)
            self.dispatcher = Dispatcher(
                self.actions, origin=config.server.device_id, permissions=self.identity.permissions
            )
            self.hooks = HookRunner(self.dispatcher)
            self.bus.add_listener(self.hooks.on_event)
            self.webhooks = Webhooks(
                self.bus,
                self.hooks,
                config.webhooks.timeout,
                self.identity.credentials.is_credential,
                self._signatures(config),
            )
            self.schedules = Scheduler(self.dispatcher, config.schedules.timezone, self.bus.claim)
            self.hooks.hooks, self.schedules.jobs = self._automation(config, self.actions)
        except BaseException:
            self.store.close()
            raise
        self._reloading = asyncio.Lock()
        self._started = False
        self._watch: asyncio.Task[None] | None = None
        # Called with `ready` when the store's watch or the bus sees it change.
        self.readiness_listeners: list[Callable[[bool], Awaitable[None]]] = []
        self._telling: set[asyncio.Task[None]] = set()
        self.bus.watch_availability(lambda _: self._readiness_changed())

    @property
    def ready(self) -> bool:
        """Whether the hub serves calls: started, its store reachable and its bus able to publish."""
        return self._started and self.store.available and self.bus.available

    def _signatures(self, config: Config) -> Signatures:
        return Signatures(config.webhooks.secrets, config.webhooks.tolerance, self.store)

    def _automation(self, config: Config, actions: ActionRegistry) -> tuple[list[Hook], dict[str, Job]]:
        """Loads the config's and scripts' automation: registers its procedures
        and the actions `cron.NAME` and `application.reload` with `actions`,
        and answers its hooks and cron jobs; raises ConfigError."""
        automation = loader.load(config, self.dispatcher.run)
        for procedure in automation.procedures:
            try:
                actions.register(procedure.spec, procedure.definition)
            except ValueError as e:
                raise ConfigError(config.source, procedure.where, str(e)) from None
        jobs: dict[str, Job] = {}
        for job in automation.jobs:
            if job.name in jobs:
                raise ConfigError(
                    config.source, f"cron.{job.name}", f"cron job {job.name} is already defined"
                )
            jobs[job.name] = job
            actions.register(self.schedules.spec(job))
        actions.register(ActionSpec(RELOAD, _RELOAD_DOC, (), False, self._reload_action, admin_only=True))
        return automation.hooks, jobs

    async def reload(self) -> dict[str, Any]:
        """Reads the config file again and swaps in its procedures, hooks, cron
        jobs, scripts and plugin settings (plugins whose settings changed are
        made anew and restarted) without touching a connection or a stream.
        Answers what is loaded now; on a mistake, logs it and raises
        ConfigError, and the running config stays as it was."""
        async with self._reloading:
            try:
                config = self.config.reread()
                running = {
                    name: plugin
                    for name, plugin in self.actions.plugins.items()
                    if config.plugins.get(name) == self.config.plugins.get(name)
                }
                actions = ActionRegistry(self._plugin_classes, config, running)
                hooks, jobs = self._automation(config, actions)
                context = PluginContext(self.bus, self.store, config, self.actions, self.schedules)
                try:
                    await actions.start(context, running=running.values())
                except Exception as e:
                    raise ConfigError(config.source, "plugins", f"a plugin failed to start: {e}") from e
            except ConfigError as e:
                log.error("reload failed; the running config stays: %s", e)
                raise
            retired = [p for p in self.actions.plugins.values() if p not in actions.plugins.values()]
            self.actions.adopt(actions)
            self.hooks.hooks = hooks
            self.schedules.replace(jobs)
            self.webhooks.signatures = self._signatures(config)
            self.config = config
            for plugin in running.values():
                plugin.context = context
            await self.actions.stop(retired)
            loaded = {
                "procedures": sorted(self.actions.procedures),
                "hooks": [hook.name for hook in hooks],
                "cronjobs": sorted(jobs),
                "plugins": sorted(self.actions.plugins),
            }
            log.info(
                "reloaded %s: %d procedures, %d hooks, %d cron jobs; plugins restarted: %s",
                config.source or "the embedded defaults", len(loaded["procedures"]), len(hooks), len(jobs),
                ", ".join(sorted(p.name for p in retired)) or "none",
            )  # fmt: skip
            return loaded

    async def _reload_action(self) -> dict[str, Any]:
        try:
            return await self.reload()
        except ConfigError as e:
            raise FailedPrecondition(
                f"the config was not reloaded, the running one stays: {e}", reason="INVALID_CONFIG"
            ) from None

    async def start(self) -> None:
        """Starts the bus, the plugins, then the schedules; the hub serves calls once this returns."""
        await self.bus.start()
        await self.actions.start(
            PluginContext(self.bus, self.store, self.config, self.actions, self.schedules)
        )
        self.schedules.start()
        if self.store.remote:
            self._watch = asyncio.create_task(self._watch_store())
        self._started = True

    async def _watch_store(self) -> None:
        """Notices when the store's database goes away, and comes back: while
        it is away, calls that need it fail at once, and this tries it again,
        sooner at first."""
        delay, was_ready = _RETRY_FIRST, True
        while True:
            # Off the event loop: reaching a database that is gone takes a while.
            available = await asyncio.to_thread(self.store.check)
            if available != was_ready:
                was_ready = available
                await self._tell_readiness()
            if available:
                delay = _RETRY_FIRST
                await asyncio.sleep(_CHECK_EVERY)
            else:
                await asyncio.sleep(delay)
                delay = min(delay * 2, _RETRY_LAST)

    def _readiness_changed(self) -> None:
        if self._started:
            task = asyncio.ensure_future(self._tell_readiness())
            self._telling.add(task)
            task.add_done_callback(self._telling.discard)

    async def _tell_readiness(self) -> None:
        ready = self.ready
        for listener in self.readiness_listeners:
            await listener(ready)

    async def close(self) -> None:
        """Stops the schedules, hooks and plugins, ends the event streams and closes the store."""
        self._started = False
        if self._watch is not None:
            self._watch.cancel()
        await self.schedules.close()
        await self.hooks.close()
        await self.actions.stop()
        await self.bus.stop()
        self.store.close()
