"""Loads what the owner wrote: YAML procedures, event hooks and cron jobs from
the config, and the `@procedure`, `@when` and `@cron` functions of the
scripts in its scripts directory. A mistake in the config is a ConfigError
naming file, entry and step; a script that fails to load is logged with its
file and line and left out (a ConfigError in strict mode). The hub registers
what `load` answers."""

from __future__ import annotations

import dataclasses
import functools
import importlib
import importlib.machinery
import importlib.util
import inspect
import logging
import sys
import traceback
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from types import ModuleType
from typing import Any

from monotreme.actions.schema import ActionSpec, spec_from_function
from monotreme.automation import platypush_imports
from monotreme.automation.hooks import Hook, function_hook, yaml_hook
from monotreme.automation.procedures import RunAction, StepError, compile_procedure
from monotreme.automation.schedules import Job, function_job, yaml_job
from monotreme.automation.threads import defined_at, in_own_thread
from monotreme.config import Config
from monotreme.errors import ConfigError

log = logging.getLogger(__name__)
# The package scripts are loaded as, whatever their directory's name (Platypush's).
SCRIPTS_PACKAGE = "scripts"


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
    jobs: list[Job] = field(default_factory=list)


def load(config: Config, run_action: RunAction) -> Automation:
    """The config's procedures, hooks and cron jobs, then the scripts'; `run_action`
    is how YAML steps run their actions."""
    loaded = Automation()
    for key, raw in config.procedures.items():
        procedure = _compile(config, key, compile_procedure, key, raw)
        definition = {
            "type": "config",
            "name": procedure.name.removeprefix("procedure."),
            "args": list(procedure.parameters),
            "actions": raw,
            "_async": procedure.parallel,
            "source": str(config.origin(key)),
        }
        source = (config.origin(key) or Path("the config")).name
        loaded.procedures.append(LoadedProcedure(procedure.spec(run_action, source), definition, key))
    for key, raw in config.hooks.items():
        loaded.hooks.append(_compile(config, key, yaml_hook, key, raw, run_action))
    for key, raw in config.cronjobs.items():
        loaded.jobs.append(_compile(config, key, yaml_job, key, raw, run_action, config.origin(key)))
    if config.scripts_dir is None:
        return loaded
    if not config.scripts_dir.is_dir():
        raise ConfigError(
            config.origin("scripts_dir"), "scripts_dir", f"{config.scripts_dir} is not a directory"
        )
    with platypush_imports.installed(config):
        modules = _load_scripts(config)
    for module in modules:
        _add_functions(config, module, loaded)
    return loaded


def _compile(config: Config, key: str, compile: Callable[..., Any], *args: Any) -> Any:
    try:
        return compile(*args)
    except StepError as e:
        raise ConfigError(config.origin(key), f"{key}: {e.where}", e.reason) from None


def _add_functions(config: Config, module: ModuleType, loaded: Automation) -> None:
    """Adds the module's own marked functions (not ones it imported: those are added where defined)."""
    assert config.scripts_dir is not None
    where = f"scripts_dir: {_relative(config.scripts_dir, Path(module.__file__ or ''))}"
    # Platypush names a script's job `<module>.<function>`, the module relative to scripts_dir.
    prefix = module.__name__.removeprefix(SCRIPTS_PACKAGE).removeprefix(".")
    for attribute, value in vars(module).items():
        if not callable(value) or getattr(value, "__module__", None) != module.__name__:
            continue
        if name := getattr(value, "__monotreme_procedure__", None):
            spec = _script_procedure(f"procedure.{name}", value)
            definition = {
                "type": "python",
                "name": name,
                "args": [p.name for p in spec.params],
                **defined_at(value),
            }
            loaded.procedures.append(LoadedProcedure(spec, definition, where))
        for event_type, filters in getattr(value, "__monotreme_hooks__", ()):
            try:
                loaded.hooks.append(function_hook(value, event_type, filters))
            except ValueError as e:
                _report(config, ConfigError(config.source, where, str(e)))
        if hasattr(value, "__monotreme_cron__"):
            loaded.jobs.append(function_job(f"{prefix}.{attribute}" if prefix else attribute, value))


def _script_procedure(name: str, function: Callable[..., Any]) -> ActionSpec:
    spec = spec_from_function(name, function)
    if inspect.iscoroutinefunction(function):
        return spec

    return dataclasses.replace(spec, function=functools.partial(in_own_thread, function))


def _load_scripts(config: Config) -> list[ModuleType]:
    """Imports the scripts directory as the package `scripts`, then every module
    in it and its subdirectories, in path order, so that scripts import each
    other as `scripts.x`. One that fails is reported and left out."""
    directory = config.scripts_dir
    assert directory is not None
    for name in [n for n in sys.modules if n == SCRIPTS_PACKAGE or n.startswith(SCRIPTS_PACKAGE + ".")]:
        del sys.modules[name]  # another hub's, in this process
    init = directory / "__init__.py"
    spec = (
        importlib.util.spec_from_file_location(
            SCRIPTS_PACKAGE, init, submodule_search_locations=[str(directory)]
        )
        if init.is_file()
        else importlib.machinery.ModuleSpec(SCRIPTS_PACKAGE, None, is_package=True)
    )
    assert spec is not None
    spec.submodule_search_locations = [str(directory)]
    package = importlib.util.module_from_spec(spec)
    sys.modules[SCRIPTS_PACKAGE] = package  # kept even if its __init__ fails: the others may load
    modules = []
    for path in sorted(directory.rglob("*.py")):
        parts = path.relative_to(directory).with_suffix("").parts
        if parts[-1] == "__init__":
            parts = parts[:-1]
        if not all(part.isidentifier() for part in parts):
            continue  # not importable: a hidden or a dashed directory, say
        try:
            if parts:
                modules.append(importlib.import_module(".".join((SCRIPTS_PACKAGE, *parts))))
            elif spec.loader is not None:
                spec.loader.exec_module(package)
                modules.append(package)
        except Exception as e:
            where = f"scripts_dir: {_relative(directory, path)}"
            _report(config, ConfigError(config.source, where, _failure(directory, path, e)))
    return modules


def _failure(directory: Path, path: Path, error: Exception) -> str:
    """The error and where it arose: the deepest line in the scripts directory
    (`line 7: ...` in the script itself, `other.py, line 3: ...` in one it imported)."""
    frames = [(f.filename, f.lineno) for f in traceback.extract_tb(error.__traceback__)]
    if isinstance(error, SyntaxError) and error.filename:
        frames.append((error.filename, error.lineno))
    ours = [(Path(file), line) for file, line in frames if Path(file).is_relative_to(directory)]
    if not ours:
        return f"{type(error).__name__}: {error}"
    file, line = ours[-1]
    where = f"line {line}" if file == path else f"{_relative(directory, file)}, line {line}"
    return f"{where}: {type(error).__name__}: {error}"


def _relative(directory: Path, path: Path) -> str:
    return str(path.relative_to(directory)) if path.is_relative_to(directory) else str(path)


def _report(config: Config, error: ConfigError) -> None:
    """A script that cannot load stops start-up only in strict mode."""
    if config.strict:
        raise error
    log.error("%s (left out)", error)
