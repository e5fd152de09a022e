"""Loads what the owner wrote into a hub: YAML procedures and event hooks from
the config, and the `@procedure` and `@when` functions of the scripts in its
scripts directory. Every mistake is a ConfigError naming file, entry and step."""

from __future__ import annotations

import dataclasses
import importlib.util
import inspect
import sys
import traceback
from collections.abc import Callable
from pathlib import Path
from types import ModuleType
from typing import TYPE_CHECKING, Any

from monotreme.config import ConfigError
from monotreme.hooks import function_hook, yaml_hook
from monotreme.plugins.schema import ActionSpec, spec_from_function
from monotreme.procedures import StepError, compile_procedure
from monotreme.threads import in_own_thread

if TYPE_CHECKING:
    from monotreme.hub import Hub


def load_automation(hub: Hub) -> None:
    config = hub.config
    source = str(config.source.name) if config.source else "the config"
    for key, raw in config.procedures.items():
        try:
            procedure = compile_procedure(key, raw)
        except StepError as e:
            raise ConfigError(config.source, f"{key}: {e.where}", e.reason) from None
        _register(hub, procedure.spec(hub.dispatcher.run, source), config.source, key)
        hub.procedures[procedure.name] = {
            "type": "config",
            "name": procedure.name.removeprefix("procedure."),
            "args": list(procedure.parameters),
            "actions": raw,
            "_async": procedure.parallel,
            "source": str(config.source),
        }
    for key, raw in config.hooks.items():
        try:
            hub.hooks.add(yaml_hook(key, raw, hub.dispatcher.run))
        except StepError as e:
            raise ConfigError(config.source, f"{key}: {e.where}", e.reason) from None
    if config.scripts_dir is None:
        return
    if not config.scripts_dir.is_dir():
        raise ConfigError(config.source, "scripts_dir", f"{config.scripts_dir} is not a directory")
    for module in _load_scripts(config.scripts_dir, config.source):
        where = f"scripts_dir: {Path(module.__file__ or '').name}"
        for value in vars(module).values():
            if not callable(value) or getattr(value, "__module__", None) != module.__name__:
                continue  # imported from elsewhere: registered there, if at all
            if name := getattr(value, "__monotreme_procedure__", None):
                spec = _script_procedure(f"procedure.{name}", value)
                _register(hub, spec, config.source, where)
                hub.procedures[spec.name] = {
                    "type": "python",
                    "name": name,
                    "args": [p.name for p in spec.params],
                    "module": module.__name__,
                    "source": inspect.getsourcefile(value),
                    "line": inspect.getsourcelines(value)[1],
                }
            for event_type, filters in getattr(value, "__monotreme_hooks__", ()):
                try:
                    hub.hooks.add(function_hook(value, event_type, filters))
                except ValueError as e:
                    raise ConfigError(config.source, where, str(e)) from None


def _register(hub: Hub, spec: ActionSpec, source: Path | None, where: str) -> None:
    try:
        hub.actions.register(spec)
    except ValueError as e:
        raise ConfigError(source, where, str(e)) from None


def _script_procedure(name: str, function: Callable[..., Any]) -> ActionSpec:
    spec = spec_from_function(name, function)
    if inspect.iscoroutinefunction(function):
        return spec

    async def blocking(**args: Any) -> Any:
        return await in_own_thread(function, **args)

    return dataclasses.replace(spec, function=blocking)


def _load_scripts(directory: Path, source: Path | None) -> list[ModuleType]:
    """Imports every `*.py` of `directory`, in name order."""
    modules = []
    for path in sorted(directory.glob("*.py")):
        name = f"monotreme_scripts.{path.stem}"
        spec = importlib.util.spec_from_file_location(name, path)
        assert spec is not None and spec.loader is not None
        module = importlib.util.module_from_spec(spec)
        sys.modules[name] = module
        try:
            spec.loader.exec_module(module)
        except Exception as e:
            sys.modules.pop(name, None)
            frames = [f for f in traceback.extract_tb(e.__traceback__) if f.filename == str(path)]
            line = f"line {frames[-1].lineno}: " if frames else ""
            raise ConfigError(source, f"scripts_dir: {path.name}", f"{line}{type(e).__name__}: {e}") from None
        modules.append(module)
    return modules
