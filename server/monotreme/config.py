"""The YAML configuration, with embedded defaults for every setting.

Top-level keys: `server`, `auth`, `events`, `webhooks` (the sections below), `scripts_dir`,
Platypush-style `procedure.NAME` and `event.hook.NAME` entries, and any other
key names a plugin whose settings it holds (`shell: {enabled: true}`). From a
Platypush config, `backend.http`'s `port` and `bind_address` are read as the
server's; other `backend.*` sections are ignored with a warning.
Mistakes are reported as `ConfigError` naming the file, the key and the reason.
"""

from __future__ import annotations

import dataclasses
import logging
import os
import socket
import types
import typing
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml

from monotreme.errors import ConfigError

log = logging.getLogger(__name__)


def default_data_dir() -> Path:
    """`$MONOTREME_DATA_DIR`, else the per-user data directory (XDG)."""
    if env := os.environ.get("MONOTREME_DATA_DIR"):
        return Path(env)
    base = os.environ.get("XDG_DATA_HOME") or Path.home() / ".local" / "share"
    return Path(base) / "monotreme"


@dataclass(frozen=True)
class ServerSettings:
    # 0.0.0.0 as in Platypush: phones on the LAN must reach the hub. Every
    # route but /hook/... and /healthz requires credentials.
    host: str = "0.0.0.0"
    grpc_port: int = 50051
    http_port: int = 8008
    # The `origin` of responses and events published here.
    device_id: str = field(default_factory=socket.gethostname)
    # Largest request body (HTTP) or message (gRPC) accepted, in bytes.
    max_body_bytes: int = 1 << 20
    # Seconds in-flight calls get to finish on SIGTERM/SIGINT.
    shutdown_grace: float = 10.0
    # Seconds an HTTP request's headers may take to arrive, from the
    # connection or the previous answer; then the connection is closed.
    header_timeout: float = 10.0
    # Open HTTP connections at most; more are answered 503 and closed.
    max_connections: int = 1024


@dataclass(frozen=True)
class AuthSettings:
    # Lifetime of a log-in JWT when the caller does not ask for one.
    jwt_expiry_days: float = 30.0
    # Failed log-ins for one user (or from one peer) before log-in is refused...
    max_failed_logins: int = 5
    # ...for this long, doubling with each further failure.
    lockout_seconds: float = 30.0
    # An owner token expires after this long unused (Homey: two weeks).
    owner_token_idle_days: float = 14.0


@dataclass(frozen=True)
class EventSettings:
    # Events queued per subscriber before its oldest are dropped (and counted).
    queue_size: int = 1024


@dataclass(frozen=True)
class WebhookSettings:
    # Seconds a `/hook/<name>` caller waits for its handler before a 504.
    timeout: float = 60.0


_initialized: Config | None = None


@dataclass(frozen=True)
class Config:
    data_dir: Path = field(default_factory=default_data_dir)
    server: ServerSettings = field(default_factory=ServerSettings)
    auth: AuthSettings = field(default_factory=AuthSettings)
    events: EventSettings = field(default_factory=EventSettings)
    webhooks: WebhookSettings = field(default_factory=WebhookSettings)
    # Where `*.py` scripts are loaded from; relative to the config file.
    scripts_dir: Path | None = None
    # Settings per plugin name (every top-level key that is not a section).
    plugins: dict[str, dict[str, Any]] = field(default_factory=dict)
    # `procedure.*` and `event.hook.*` entries, as written.
    procedures: dict[str, Any] = field(default_factory=dict)
    hooks: dict[str, Any] = field(default_factory=dict)
    # The file this came from; None for the embedded defaults.
    source: Path | None = None

    @classmethod
    def load(cls, path: Path | None = None, **overrides: Any) -> Config:
        """Reads `path` (or only the defaults), then applies `overrides`
        (`data_dir`, or any `server` setting such as `grpc_port`)."""
        raw: dict[str, Any] = {}
        if path is not None:
            try:
                loaded = yaml.safe_load(path.read_text()) or {}
            except OSError as e:
                raise ConfigError(path, "(file)", e.strerror or str(e)) from None
            except yaml.YAMLError as e:
                raise ConfigError(path, "(file)", f"not valid YAML: {e}") from None
            if not isinstance(loaded, dict):
                raise ConfigError(path, "(file)", "must be a mapping of keys to settings")
            raw = loaded
        return _build(raw, path, overrides)

    @classmethod
    def init(cls, path: str | Path | None = None) -> Config:
        """Loads the config that `run()` uses in this process when no server is
        running here (the embedded defaults until this is called)."""
        global _initialized
        _initialized = cls.load(Path(path).expanduser() if path is not None else None)
        return _initialized

    @classmethod
    def current(cls) -> Config:
        """The config `Config.init` loaded, else the embedded defaults."""
        return _initialized or cls.load()


_SECTIONS = {
    "server": ServerSettings,
    "auth": AuthSettings,
    "events": EventSettings,
    "webhooks": WebhookSettings,
}


def _build(raw: dict[str, Any], source: Path | None, overrides: dict[str, Any]) -> Config:
    sections: dict[str, Any] = {}
    for name, kind in _SECTIONS.items():
        values = raw.get(name) or {}
        if not isinstance(values, dict):
            raise ConfigError(source, name, "must be a mapping")
        if name == "server":
            values = {
                **_from_platypush_http(raw.get("backend.http"), source),
                **values,
                **{k: v for k, v in overrides.items() if k != "data_dir" and v is not None},
            }
        sections[name] = _section(kind, values, source, name)
    plugins: dict[str, dict[str, Any]] = {}
    procedures: dict[str, Any] = {}
    hooks: dict[str, Any] = {}
    for key, value in raw.items():
        if key in _SECTIONS or key in ("data_dir", "scripts_dir"):
            continue
        if key.startswith("backend."):
            if key != "backend.http":
                log.warning("%s: %s: ignored (Monotreme's doors are built in)", source, key)
        elif key.startswith("procedure."):
            procedures[key] = value
        elif key.startswith("event.hook."):
            hooks[key] = value
        elif value is None or isinstance(value, dict):
            plugins[key] = value or {}
        else:
            raise ConfigError(source, key, "plugin settings must be a mapping")
    base = source.parent if source else Path.cwd()
    data_dir = overrides.get("data_dir") or raw.get("data_dir")
    scripts_dir = raw.get("scripts_dir")
    for key, value in (("data_dir", data_dir), ("scripts_dir", scripts_dir)):
        if value is not None and not isinstance(value, str | Path):
            raise ConfigError(source, key, "must be a path")
    return Config(
        data_dir=(base / Path(data_dir).expanduser()) if data_dir else default_data_dir(),
        scripts_dir=(base / Path(scripts_dir).expanduser()) if scripts_dir else None,
        plugins=plugins,
        procedures=procedures,
        hooks=hooks,
        source=source,
        **sections,
    )


def _from_platypush_http(section: Any, source: Path | None) -> dict[str, Any]:
    """A Platypush config's `backend.http: {port, bind_address}` as server settings."""
    if section is None:
        return {}
    if not isinstance(section, dict):
        raise ConfigError(source, "backend.http", "must be a mapping")
    names = {"port": "http_port", "bind_address": "host"}
    ignored = sorted(set(section) - set(names))
    if ignored:
        log.warning("%s: backend.http: ignored %s", source, ", ".join(ignored))
    return {names[key]: value for key, value in section.items() if key in names}


def _section(kind: type[Any], values: dict[str, Any], source: Path | None, name: str) -> Any:
    hints = typing.get_type_hints(kind)
    fields = {f.name for f in dataclasses.fields(kind)}
    settings = {}
    for key, value in values.items():
        if key not in fields:
            raise ConfigError(
                source, f"{name}.{key}", f"unknown setting (known: {', '.join(sorted(fields))})"
            )
        settings[key] = _coerce(hints[key], value, source, f"{name}.{key}")
    return kind(**settings)


def _coerce(hint: Any, value: Any, source: Path | None, key: str) -> Any:
    allowed = typing.get_args(hint) if isinstance(hint, types.UnionType) else (hint,)
    if float in allowed and isinstance(value, int) and not isinstance(value, bool):
        return float(value)
    if any(isinstance(value, t) and not (isinstance(value, bool) and t is not bool) for t in allowed):
        return value
    names = " or ".join(getattr(t, "__name__", str(t)) for t in allowed)
    raise ConfigError(source, key, f"expected {names}, got {type(value).__name__} {value!r}")
