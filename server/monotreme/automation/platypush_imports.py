"""`import platypush` for scripts written for Platypush, while they load.

When the real `platypush` package is not importable, a `sys.meta_path`
finder answers its modules with Monotreme's equivalents:

    platypush                      run, when, hook, procedure, cron, Config, Event
    platypush.config               Config (Platypush's `get`, `get_device_id`, `get_workdir`)
    platypush.cron                 cron
    platypush.procedure            procedure
    platypush.event.hook           hook, when
    platypush.utils                run
    platypush.message.event.X      event classes by their Platypush names, e.g.
    platypush.events.X             custom.CustomEvent, http.hook.WebhookEvent

An event class Monotreme does not define (`light.LightStatusChangeEvent`)
is made on first import, so hooks on it load and match events of that type.
Nothing is installed as a top-level `platypush` package: that would shadow
the real one. The finder is active only while the hub loads scripts; the
modules it made stay in `sys.modules` so that imports inside functions work.
"""

from __future__ import annotations

import contextlib
import importlib.abc
import importlib.machinery
import importlib.util
import sys
from collections.abc import Callable, Iterator, Sequence
from types import ModuleType
from typing import Any

from monotreme.automation import scripting
from monotreme.automation.schedules import cron
from monotreme.config import Config
from monotreme.events.types import Event, canonical_type

ROOT = "platypush"
_EVENT_PACKAGES = ("platypush.message.event", "platypush.events")
# Marks the modules made here, to tell them from the real package's.
_MARK = "__monotreme_platypush__"


def procedure(name_or_function: str | Callable[..., Any] | None = None) -> Any:
    """Platypush's `@procedure`, `@procedure()` and `@procedure("name")`."""
    if callable(name_or_function):
        return scripting.procedure(name_or_function)
    return scripting.procedure(name=name_or_function)


def run(action: str, /, **args: Any) -> Any:
    """`platypush.run`: runs an action on the hub that loaded the script."""
    context = scripting.current()
    if context is None:
        raise RuntimeError(
            f"run({action!r}): the hub is not running yet (call run() from a hook, a procedure or a job)"
        )
    return scripting.run_in(context, action, args)


def _config_class(config: Config) -> type:
    class PlatypushConfig:
        """Platypush's `Config`, answering from the hub's config."""

        @staticmethod
        def get(key: str | None = None, default: Any = None) -> Any:
            values = {
                **config.raw,
                "device_id": config.server.device_id,
                "workdir": str(config.data_dir),
                "scripts_dir": str(config.scripts_dir) if config.scripts_dir else None,
            }
            return values if key is None else values.get(key, default)

        @staticmethod
        def get_device_id() -> str:
            return config.server.device_id

        @staticmethod
        def get_workdir() -> str:
            return str(config.data_dir)

    PlatypushConfig.__name__ = PlatypushConfig.__qualname__ = "Config"
    return PlatypushConfig


def event_class(type_name: str) -> type[Event]:
    """The class of a Platypush event type, made (once) when Monotreme has none."""
    type_name = canonical_type(type_name)
    known = {cls.event_type: cls for cls in Event.__subclasses__()}
    if type_name in known:
        return known[type_name]
    module, _, name = type_name.rpartition(".")
    made: type[Event] = type(name, (Event,), {"event_type": type_name, "__module__": module})
    return made


class _EventModule(ModuleType):
    """`platypush.message.event.<path>`: any `...Event` class name is an event type."""

    def __getattr__(self, name: str) -> Any:
        if name[:1].isupper() and name.endswith("Event"):
            return event_class(f"{self.__name__}.{name}")
        raise AttributeError(f"module {self.__name__!r} has no attribute {name!r}")


class _Finder(importlib.abc.MetaPathFinder, importlib.abc.Loader):
    def __init__(self, config: Config) -> None:
        when, platypush_config = scripting.when, _config_class(config)
        self.modules: dict[str, dict[str, Any]] = {
            ROOT: {
                "run": run,
                "when": when,
                "hook": when,
                "procedure": procedure,
                "cron": cron,
                "Config": platypush_config,
                "Event": Event,
            },
            f"{ROOT}.config": {"Config": platypush_config},
            f"{ROOT}.cron": {"cron": cron},
            f"{ROOT}.procedure": {"procedure": procedure},
            f"{ROOT}.event": {},
            f"{ROOT}.event.hook": {"hook": when, "when": when},
            f"{ROOT}.utils": {"run": run},
            f"{ROOT}.message": {},
        }

    def find_spec(
        self, fullname: str, path: Sequence[str] | None, target: ModuleType | None = None
    ) -> importlib.machinery.ModuleSpec | None:
        if fullname in self.modules or fullname.startswith(_EVENT_PACKAGES):
            return importlib.machinery.ModuleSpec(fullname, self, is_package=True)
        return None

    def create_module(self, spec: importlib.machinery.ModuleSpec) -> ModuleType:
        if spec.name.startswith(_EVENT_PACKAGES):
            return _EventModule(spec.name)
        return ModuleType(spec.name)

    def exec_module(self, module: ModuleType) -> None:
        vars(module).update(self.modules.get(module.__name__, {}), **{_MARK: True})
        if module.__name__ in _EVENT_PACKAGES:
            module.Event = Event  # type: ignore[attr-defined]


@contextlib.contextmanager
def installed(config: Config) -> Iterator[None]:
    """Answers `import platypush...` while the block runs, unless Platypush is installed."""
    for name in [n for n, m in sys.modules.items() if n.split(".")[0] == ROOT and getattr(m, _MARK, False)]:
        del sys.modules[name]  # made for another hub of this process, with its config
    if importlib.util.find_spec(ROOT) is not None:
        yield
        return
    finder = _Finder(config)
    sys.meta_path.insert(0, finder)
    try:
        yield
    finally:
        sys.meta_path.remove(finder)
