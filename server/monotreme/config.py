"""The YAML configuration, with embedded defaults for every setting.

Top-level keys: `server`, `store`, `auth`, `events`, `bus`, `webhooks`, `schedules`,
`logging` (the sections below), `data_dir`, `scripts_dir`, `strict`, Platypush-style
`procedure.NAME`, `event.hook.NAME` and `cron.NAME` entries, and any other key
names a plugin whose settings it holds (`shell: {enabled: true}`).

A Platypush config loads as Platypush reads it: `include:` (a file or a list,
relative to the including file; later keys win), `device_id`, `workdir` (the
data directory), `backend.http`'s `port` and `bind_address` (or
`listen_address`), `logging`, `scripts_dir` (relative to the current
directory, as Platypush resolves it); a section with `disabled: true` is left
out; `redis` (host, port, password, db) chooses the Redis bus when `bus.url`
is not given. `main.db` and other `backend.*` sections are ignored with a
warning. Mistakes are reported as `ConfigError` naming the file, the key and
the reason.
"""

from __future__ import annotations

import dataclasses
import logging
import os
import socket
import types
import typing
import zoneinfo
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any
from urllib.parse import quote

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
class StoreSettings:
    # Where users, tokens, variables... are kept: a `postgresql://` URL (which
    # several hub processes may share), else SQLite in the data dir.
    url: str | None = None


@dataclass(frozen=True)
class AuthSettings:
    # Lifetime of a log-in JWT when the caller does not ask for one.
    jwt_expiry_days: float = 30.0
    # Failed log-ins for one user at one address (or from one address) before
    # log-in is refused there...
    max_failed_logins: int = 5
    # ...for this long, doubling with each further failure...
    lockout_seconds: float = 30.0
    # ...up to this long; a count is also forgotten after this long without failures.
    max_lockout_seconds: float = 900.0
    # Shortest password accepted for a new user (1 accepts any, as Platypush does).
    min_password_length: int = 8
    # An owner token expires after this long unused (Homey: two weeks).
    owner_token_idle_days: float = 14.0


@dataclass(frozen=True)
class EventSettings:
    # Events queued per subscriber before its oldest are dropped (and counted).
    queue_size: int = 1024
    # The embedded bus's history, for streams that resume after an event id:
    # the newest `history_size` events, none older than `history_seconds`.
    history_size: int = 10_000
    history_seconds: float = 3600.0


EMBEDDED_BUS = "embedded"


@dataclass(frozen=True)
class BusSettings:
    # `redis://[:password@]host:port/db` for the Redis bus, which the hub's
    # processes share; `embedded` (or unset, without a Platypush `redis:`
    # section) for the in-process bus.
    url: str | None = None
    # Events the Redis stream keeps for resuming streams (approximately: Redis trims in blocks).
    max_len: int = 100_000
    # Seconds a crashed process's unacknowledged events wait before another process runs their hooks.
    claim_after: float = 30.0
    # The prefix of the Redis keys, so hubs can share one Redis.
    prefix: str = "monotreme"

    @property
    def redis_url(self) -> str | None:
        """The Redis bus's URL, or None for the embedded bus."""
        return None if self.url in (None, EMBEDDED_BUS) else self.url


@dataclass(frozen=True)
class WebhookSettings:
    # Seconds a `/hook/<name>` caller waits for its handler before a 504.
    timeout: float = 60.0
    # A secret per hook name: a call to `/hook/<name>` must carry
    # `X-Hub-Signature-256: sha256=<hex HMAC-SHA256 of its body>` (GitHub's,
    # Gitea's scheme), else 401. Hooks without one stay open.
    secrets: dict[str, str] = field(default_factory=dict)
    # Seconds a signed call's `X-Hub-Timestamp` (Unix time, covered by its
    # signature when sent) may differ from now; a body seen once within
    # that window is refused again. None: no check.
    tolerance: float | None = None


@dataclass(frozen=True)
class ScheduleSettings:
    # The IANA zone `cron.*` expressions are read in (`Europe/Rome`); the hub's own when unset.
    timezone: str | None = None


@dataclass(frozen=True)
class LoggingSettings:
    """Platypush's `logging` section: `logging.basicConfig`'s arguments."""

    level: str | int = "INFO"
    # A file to log to instead of standard error.
    filename: str | None = None
    format: str = "%(asctime)s %(levelname)s %(name)s: %(message)s"
    datefmt: str | None = None
    # Levels of single loggers, by name (`monotreme.access: WARNING`, `aiohttp: ERROR`).
    levels: dict[str, str] = field(default_factory=dict)
    # The access log (the logger `monotreme.access`): a line per HTTP request
    # and per gRPC call. Off unless asked for: on a busy hub it costs a
    # quarter to a half more CPU per call.
    access: bool = False

    def apply(self) -> None:
        """Makes these the process's logging settings (the composition root calls it)."""
        level = self.level.upper() if isinstance(self.level, str) else self.level
        filename = str(Path(self.filename).expanduser()) if self.filename else None
        if filename:
            Path(filename).parent.mkdir(parents=True, exist_ok=True)
        # `json`: one JSON object a line, which monotreme.logs formats.
        fmt = logging.BASIC_FORMAT if self.format == "json" else self.format
        try:
            logging.basicConfig(level=level, filename=filename, format=fmt, datefmt=self.datefmt, force=True)
        except ValueError as e:  # a format string logging cannot use
            raise ConfigError(None, "logging.format", str(e)) from None
        self.apply_levels()

    def apply_levels(self) -> None:
        """Sets the levels of the loggers named (again on a reload)."""
        for name, named_level in self.levels.items():
            logging.getLogger(name).setLevel(named_level.upper())


@dataclass(frozen=True)
class MetricsSettings:
    # `GET /metrics` without credentials (for a Prometheus that sends none).
    public: bool = False


_initialized: Config | None = None


@dataclass(frozen=True)
class Config:
    data_dir: Path = field(default_factory=default_data_dir)
    server: ServerSettings = field(default_factory=ServerSettings)
    store: StoreSettings = field(default_factory=StoreSettings)
    auth: AuthSettings = field(default_factory=AuthSettings)
    events: EventSettings = field(default_factory=EventSettings)
    bus: BusSettings = field(default_factory=BusSettings)
    webhooks: WebhookSettings = field(default_factory=WebhookSettings)
    schedules: ScheduleSettings = field(default_factory=ScheduleSettings)
    logging: LoggingSettings = field(default_factory=LoggingSettings)
    metrics: MetricsSettings = field(default_factory=MetricsSettings)
    # Where scripts are loaded from, as the package `scripts`; by default the
    # config file's `scripts/` when there is one.
    scripts_dir: Path | None = None
    # Mistakes that are otherwise warnings (a plugin that is not installed, a
    # script that fails to import) stop start-up.
    strict: bool = False
    # Settings per plugin name (every top-level key that is not a section).
    plugins: dict[str, dict[str, Any]] = field(default_factory=dict)
    # `procedure.*`, `event.hook.*` and `cron.*` entries, as written.
    procedures: dict[str, Any] = field(default_factory=dict)
    hooks: dict[str, Any] = field(default_factory=dict)
    cronjobs: dict[str, Any] = field(default_factory=dict)
    # Every top-level key as read, includes merged (Platypush's `Config.get`).
    raw: dict[str, Any] = field(default_factory=dict, repr=False)
    # The file this came from; None for the embedded defaults.
    source: Path | None = None
    # The file each top-level key came from, when `include:` brought it.
    origins: dict[str, Path] = field(default_factory=dict, repr=False)

    def origin(self, key: str) -> Path | None:
        """The file that holds `key`: an included one, or the config file."""
        return self.origins.get(key, self.source)

    @classmethod
    def load(cls, path: Path | None = None, **overrides: Any) -> Config:
        """Reads `path` and what it includes (or only the defaults), then applies
        `overrides` (`data_dir`, `strict`, `store_url`, `bus_url`, or any `server`
        setting such as `grpc_port`)."""
        raw: dict[str, Any] = {}
        origins: dict[str, Path] = {}
        if path is not None:
            path = path.resolve()
            _read(path, raw, origins, ())
        return _build(raw, path, origins, overrides)

    def reread(self) -> Config:
        """This config with what a reload changes read again from its file:
        procedures, hooks, cron jobs, scripts, plugin settings and web hook
        settings; the other sections (ports, auth, data dir...) stay as the
        server started with them."""
        fresh = Config.load(self.source)
        return dataclasses.replace(
            self,
            webhooks=fresh.webhooks,
            scripts_dir=fresh.scripts_dir,
            plugins=fresh.plugins,
            procedures=fresh.procedures,
            hooks=fresh.hooks,
            cronjobs=fresh.cronjobs,
            raw=fresh.raw,
            origins=fresh.origins,
        )

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
    "store": StoreSettings,
    "auth": AuthSettings,
    "events": EventSettings,
    "bus": BusSettings,
    "webhooks": WebhookSettings,
    "schedules": ScheduleSettings,
    "logging": LoggingSettings,
    "metrics": MetricsSettings,
}
# Overrides that are no `server` setting.
_NOT_SERVER = ("data_dir", "strict", "store_url", "bus_url")
# Top-level keys that are settings of their own, not plugins.
_SETTINGS = ("data_dir", "workdir", "scripts_dir", "strict", "device_id")
# Platypush's storage: Monotreme's store is its own.
_IGNORED = {"main.db": "ignored (the store is SQLite in the data directory, or store.url)"}


def _read(path: Path, raw: dict[str, Any], origins: dict[str, Path], chain: tuple[Path, ...]) -> None:
    """Adds `path`'s keys to `raw` in file order, an `include:` where it stands
    (Platypush's order: a later key wins); `chain` holds the including files."""
    if path in chain:
        cycle = " -> ".join(str(p) for p in (*chain[chain.index(path) :], path))
        raise ConfigError(chain[-1], "include", f"includes itself: {cycle}")
    try:
        loaded = yaml.safe_load(path.read_text()) or {}
    except OSError as e:
        reason = e.strerror or str(e)
        if chain:
            raise ConfigError(chain[-1], "include", f"{path}: {reason}") from None
        raise ConfigError(path, "(file)", reason) from None
    except yaml.YAMLError as e:
        raise ConfigError(path, "(file)", f"not valid YAML: {e}") from None
    if not isinstance(loaded, dict):
        raise ConfigError(path, "(file)", "must be a mapping of keys to settings")
    for key, value in loaded.items():
        if key == "include":
            files = [f for f in (value if isinstance(value, list) else [value]) if f]
            if not all(isinstance(f, str) for f in files):
                raise ConfigError(path, "include", "expected a file name or a list of them")
            for name in files:
                _read((path.parent / Path(name).expanduser()).resolve(), raw, origins, (*chain, path))
        elif not (isinstance(value, dict) and value.get("disabled")):
            raw[key] = value
            origins[key] = path


def _build(
    raw: dict[str, Any], source: Path | None, origins: dict[str, Path], overrides: dict[str, Any]
) -> Config:
    def where(key: str) -> Path | None:
        return origins.get(key, source)

    sections: dict[str, Any] = {}
    for name, kind in _SECTIONS.items():
        values = raw.get(name) or {}
        if not isinstance(values, dict):
            raise ConfigError(where(name), name, "must be a mapping")
        if name == "server":
            values = {
                **({"device_id": raw["device_id"]} if "device_id" in raw else {}),
                **_from_platypush_http(raw.get("backend.http"), where("backend.http")),
                **values,
                **{k: v for k, v in overrides.items() if k not in _NOT_SERVER and v is not None},
            }
        elif name == "bus":
            values = {
                **_from_platypush_redis(
                    raw.get("redis"), where("redis"), "url" in values or bool(overrides.get("bus_url"))
                ),
                **values,
                **({"url": overrides["bus_url"]} if overrides.get("bus_url") else {}),
            }
        elif name == "store" and overrides.get("store_url"):
            values = {**values, "url": overrides["store_url"]}
        sections[name] = _section(kind, values, where(name), name)
    _check_timezone(sections["schedules"].timezone, where("schedules"))
    _check_webhooks(sections["webhooks"], where("webhooks"))
    log_settings = sections["logging"]
    levels = [("logging.level", log_settings.level)]
    levels += [(f"logging.levels.{name}", level) for name, level in log_settings.levels.items()]
    for key, level in levels:
        if isinstance(level, str) and level.upper() not in logging.getLevelNamesMapping():
            raise ConfigError(where("logging"), key, f"unknown level {level!r} (e.g. INFO, DEBUG)")
    plugins: dict[str, dict[str, Any]] = {}
    entries: dict[str, dict[str, Any]] = {"procedure.": {}, "event.hook.": {}, "cron.": {}}
    for key, value in raw.items():
        if key in _SECTIONS or key in _SETTINGS:
            continue
        if prefix := next((p for p in entries if key.startswith(p)), None):
            entries[prefix][key] = value
        elif key in ("backend.http", "redis"):
            continue  # read as server and bus settings above
        elif key in _IGNORED or key.startswith("backend."):
            reason = _IGNORED.get(key, "ignored (Monotreme's doors are built in)")
            log.warning("%s: %s: %s", where(key), key, reason)
        elif value is None or isinstance(value, dict):
            plugins[key] = value or {}
        else:
            raise ConfigError(where(key), key, "plugin settings must be a mapping")
    strict = overrides.get("strict") or _coerce(bool, raw.get("strict", False), where("strict"), "strict")
    return Config(
        data_dir=_data_dir(raw, source, origins, overrides.get("data_dir")),
        scripts_dir=_scripts_dir(raw.get("scripts_dir"), source, where("scripts_dir")),
        strict=strict,
        plugins=plugins,
        procedures=entries["procedure."],
        hooks=entries["event.hook."],
        cronjobs=entries["cron."],
        raw=raw,
        source=source,
        origins={key: path for key, path in origins.items() if path != source},
        **sections,
    )


def _path(value: Any, source: Path | None, key: str) -> Path:
    if not isinstance(value, str | Path):
        raise ConfigError(source, key, "must be a path")
    return Path(value).expanduser()


def _data_dir(raw: dict[str, Any], source: Path | None, origins: dict[str, Path], override: Any) -> Path:
    """`--data-dir`, else `data_dir` (relative to its file), else Platypush's
    `workdir` (relative to the current directory, as there), else the default."""
    if override:
        return Path(override)
    if "data_dir" in raw and "workdir" in raw:
        raise ConfigError(source, "workdir", "data_dir names the data directory already: keep one")
    if "data_dir" in raw:
        where = origins.get("data_dir", source)
        base = where.parent if where else Path.cwd()
        return base / _path(raw["data_dir"], where, "data_dir")
    if "workdir" in raw:
        return _path(raw["workdir"], origins.get("workdir", source), "workdir").absolute()
    return default_data_dir()


def _scripts_dir(value: Any, source: Path | None, where: Path | None) -> Path | None:
    """As Platypush: `scripts_dir` relative to the current directory, else
    `<config dir>/scripts` when it exists."""
    if value is not None:
        return _path(value, where, "scripts_dir").absolute()
    default = source.parent / "scripts" if source else None
    return default if default and default.is_dir() else None


def _check_timezone(name: str | None, source: Path | None) -> None:
    if name is None:
        return
    try:
        zoneinfo.ZoneInfo(name)
    except (zoneinfo.ZoneInfoNotFoundError, ValueError):
        raise ConfigError(
            source, "schedules.timezone", f"unknown time zone {name!r} (e.g. Europe/Rome)"
        ) from None


def _check_webhooks(settings: WebhookSettings, source: Path | None) -> None:
    for name, secret in settings.secrets.items():
        if not secret:
            raise ConfigError(source, f"webhooks.secrets.{name}", "expected a non-empty secret")
    if settings.tolerance is not None and settings.tolerance <= 0:
        raise ConfigError(source, "webhooks.tolerance", "expected a number of seconds above 0")


def _from_platypush_http(section: Any, source: Path | None) -> dict[str, Any]:
    """A Platypush config's `backend.http: {port, bind_address}` as server settings;
    its other keys (web server tuning) are ignored, with one warning."""
    if section is None:
        return {}
    if not isinstance(section, dict):
        raise ConfigError(source, "backend.http", "must be a mapping")
    names = {"port": "http_port", "bind_address": "host", "listen_address": "host"}
    ignored = sorted(set(section) - set(names) - {"disabled"})
    if ignored:
        log.warning("%s: backend.http: ignored %s", source, ", ".join(ignored))
    return {names[key]: value for key, value in section.items() if key in names}


def _from_platypush_redis(section: Any, source: Path | None, named: bool) -> dict[str, Any]:
    """A Platypush config's `redis: {host, port, password, db}` as the bus's URL,
    unless one is `named` (`bus.url`, `--bus`)."""
    if section is None:
        return {}
    if not isinstance(section, dict):
        raise ConfigError(source, "redis", "must be a mapping")
    if named:
        log.warning("%s: redis: ignored (bus.url or --bus names the event bus)", source)
        return {}
    unknown = sorted(set(section) - {"host", "port", "password", "db", "username"})
    if unknown:
        log.warning("%s: redis: ignored %s", source, ", ".join(unknown))
    host = _coerce(str, section.get("host", "localhost"), source, "redis.host")
    port = _coerce(int, section.get("port", 6379), source, "redis.port")
    db = _coerce(int, section.get("db", 0), source, "redis.db")
    user = quote(str(section.get("username") or ""), safe="")
    password = quote(str(section.get("password") or ""), safe="")
    auth = f"{user}:{password}@" if password else ""
    return {"url": f"redis://{auth}{host}:{port}/{db}"}


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
    if typing.get_origin(hint) is dict:
        keys, values = typing.get_args(hint)
        if not isinstance(value, dict):
            raise ConfigError(source, key, f"expected a mapping, got {type(value).__name__} {value!r}")
        return {
            _coerce(keys, k, source, key): _coerce(values, v, source, f"{key}.{k}") for k, v in value.items()
        }
    allowed = typing.get_args(hint) if isinstance(hint, types.UnionType) else (hint,)
    if float in allowed and isinstance(value, int) and not isinstance(value, bool):
        return float(value)
    if any(isinstance(value, t) and not (isinstance(value, bool) and t is not bool) for t in allowed):
        return value
    names = " or ".join(getattr(t, "__name__", str(t)) for t in allowed)
    raise ConfigError(source, key, f"expected {names}, got {type(value).__name__} {value!r}")
