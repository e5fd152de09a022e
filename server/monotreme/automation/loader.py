"""Loads what the owner wrote: YAML procedures and event hooks from the config,
and the `@procedure` and `@when` functions of the scripts in its scripts
directory. Every mistake is a ConfigError naming file, entry and step; the
hub registers what `load` answers."""

from __future__ import annotations

import dataclasses
import importlib.util
import inspect
import sys
import traceback
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from types import ModuleType
from typing import Any

from monotreme.actions.schema import ActionSpec, spec_from_function
from monotreme.automation.hooks import Hook, function_hook, yaml_hook
from monotreme.automation.procedures import RunAction, StepError, compile_procedure
from monotreme.automation.threads import in_own_thread
from monotreme.config import Config
from monotreme.errors import ConfigError


@dataclass(frozen=True)
class LoadedProcedure:
    spec: ActionSpec
    # As `inspect.get_procedures` shows it.
    definition: dict[str, Any]
    # The config entry or script it came from, for errors.
    where: str


@dataclass
class Automation:
    procedures: list[LoadedProcedure] = field(default_factory=list)
    hooks: list[Hook] = field(default_factory=list)


def load(config: Config, run_action: RunAction) -> Automation:
    """The config's procedures and hooks, then the scripts'; `run_action` is
    how YAML steps run their actions."""
    loaded = Automation()
    source = str(config.source.name) if config.source else "the config"
    for key, raw in config.procedures.items():
        try:
            procedure = compile_procedure(key, raw)
        except StepError as e:
            raise ConfigError(config.source, f"{key}: {e.where}", e.reason) from None
        definition = {
            "type": "config",
            "name": procedure.name.removeprefix("procedure."),
            "args": list(procedure.parameters),
            "actions": raw,
            "_async": procedure.parallel,
            "source": str(config.source),
        }
        loaded.procedures.append(LoadedProcedure(procedure.spec(run_action, source), definition, key))
    for key, raw in config.hooks.items():
        try:
            loaded.hooks.append(yaml_hook(key, raw, run_action))
        except StepError as e:
            raise ConfigError(config.source, f"{key}: {e.where}", e.reason) from None
    if config.scripts_dir is None:
        return loaded
    if not config.scripts_dir.is_dir():
        raise ConfigError(config.source, "scripts_dir", f"{config.scripts_dir} is not a directory")
    for module in _load_scripts(config.scripts_dir, config.source):
        where = f"scripts_dir: {Path(module.__file__ or '').name}"
        for value in vars(module).values():
            if not callable(value) or getattr(value, "__module__", None) != module.__name__:
                continue  # imported from elsewhere: registered there, if at all
            if name := getattr(value, "__monotreme_procedure__", None):
                spec = _script_procedure(f"procedure.{name}", value)
                definition = {
                    "type": "python",
                    "name": name,
                    "args": [p.name for p in spec.params],
                    "module": module.__name__,
                    "source": inspect.getsourcefile(value),
                    "line": inspect.getsourcelines(value)[1],
                }
                loaded.procedures.append(LoadedProcedure(spec, definition, where))
            for event_type, filters in getattr(value, "__monotreme_hooks__", ()):
                try:
                    loaded.hooks.append(function_hook(value, event_type, filters))
                except ValueError as e:
                    raise ConfigError(config.source, where, str(e)) from None
    return loaded


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
