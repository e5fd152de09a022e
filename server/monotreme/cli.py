"""The `monotreme` command, a composition root: serve, run the gateway alone,
manage users and tokens. Each command imports only what it runs, so
`monotreme gateway` loads no part of the hub."""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import getpass
import logging
import os
import re
import resource
import socket
import sys
import tempfile
import time
from collections.abc import Iterator, Sequence
from pathlib import Path
from typing import TYPE_CHECKING

from monotreme import logs
from monotreme.errors import ConfigError, ServiceError

if TYPE_CHECKING:
    from monotreme.config import Config
    from monotreme.identity.accounts import Accounts

_DURATION = re.compile(r"^(\d+(?:\.\d+)?)([smhdw])$")
_SECONDS = {"s": 1, "m": 60, "h": 3600, "d": 86400, "w": 7 * 86400}


def duration_days(text: str) -> float | None:
    """`30d`, `12h`, `2w`, `90m`, `45s` → days; `never` → None."""
    if text == "never":
        return None
    match = _DURATION.match(text)
    if not match:
        raise argparse.ArgumentTypeError(f"invalid duration {text!r}: use e.g. 30d, 12h, 2w or never")
    return float(match[1]) * _SECONDS[match[2]] / 86400


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="monotreme", description="An automation hub's API, gRPC first.")
    parser.add_argument("--version", action="version", version=f"%(prog)s {_version()}")
    commands = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")

    def with_config(sub: argparse.ArgumentParser) -> argparse.ArgumentParser:
        sub.add_argument("--config", type=Path, help="YAML config file (default: embedded defaults)")
        sub.add_argument(
            "--data-dir",
            type=Path,
            help="where the database and secrets live (default: $MONOTREME_DATA_DIR, "
            "else $XDG_DATA_HOME/monotreme, else ~/.local/share/monotreme)",
        )
        sub.add_argument(
            "--store",
            metavar="URL",
            help="keep users, tokens and variables on PostgreSQL (postgresql://user@host/db), "
            "which several hub processes may share (default: store.url, else SQLite in the data dir)",
        )
        return sub

    serve = with_config(commands.add_parser("serve", help="run the hub (gRPC and HTTP)"))
    serve.add_argument("--host", help="address to listen on (default 0.0.0.0)")
    serve.add_argument("--grpc-port", type=int, help="gRPC port (default 50051; 0 for any free port)")
    serve.add_argument("--http-port", type=int, help="HTTP port (default 8008; 0 for any free port)")
    serve.add_argument(
        "--bus",
        metavar="URL",
        help="the event bus the hub's processes share: redis://HOST:PORT/DB, or embedded (the default)",
    )
    serve.add_argument(
        "--strict", action="store_true", help="refuse to start on a plugin not installed or a broken script"
    )
    serve.add_argument(
        "--log-format", choices=("text", "json"), help="json: one JSON object a line (default: text)"
    )
    serve.add_argument(
        "--workers",
        type=int,
        metavar="N",
        help="run N hub processes on the same ports, supervised (they share the store and the bus)",
    )
    # Set by `--workers` on the processes it starts: where to say "serving".
    serve.add_argument("--worker-ready-fd", type=int, help=argparse.SUPPRESS)
    serve.add_argument("--access-log", action="store_true", help="log a line per HTTP request and gRPC call")

    gateway = commands.add_parser("gateway", help="run the HTTP gateway alone, in front of a remote hub")
    gateway.add_argument("--upstream", required=True, metavar="HOST:PORT", help="the hub's gRPC address")
    gateway.add_argument("--host", default="0.0.0.0", help="address to listen on (default 0.0.0.0)")
    gateway.add_argument("--http-port", type=int, default=8008, help="HTTP port (default 8008)")
    gateway.add_argument("--max-body-bytes", type=int, default=1 << 20, help="largest body accepted")
    gateway.add_argument("--device-id", help="the `origin` of its answers (default: the host name)")
    gateway.add_argument(
        "--log-format", choices=("text", "json"), help="json: one JSON object a line (default: text)"
    )
    gateway.add_argument("--access-log", action="store_true", help="log a line per HTTP request")
    gateway.add_argument("--public-metrics", action="store_true", help="serve /metrics without credentials")

    user = commands.add_parser("user", help="manage users").add_subparsers(dest="action", required=True)
    add = with_config(user.add_parser("add", help="add a user (the first one is an admin)"))
    add.add_argument("username")
    add.add_argument("--password-stdin", action="store_true", help="read the password from standard input")
    add.add_argument("--admin", action="store_true", help="make the user an admin")

    token = commands.add_parser("token", help="manage API tokens").add_subparsers(
        dest="action", required=True
    )
    create = with_config(token.add_parser("create", help="create an API token and print it"))
    create.add_argument("--user", required=True, help="the user the token acts for")
    create.add_argument("--name", help="a name unique among the user's tokens (default: cli-<time>)")
    create.add_argument(
        "--expires",
        type=duration_days,
        default=None,
        metavar="DURATION",
        help="lifetime such as 30d, 12h or 2w (default: never)",
    )
    create.add_argument(
        "--scope",
        action="append",
        default=[],
        dest="scopes",
        metavar="SCOPE",
        help="what the token may do, repeatable: execute:PATTERN, events:read[:TYPE], "
        "events:publish[:TYPE], tokens, admin (default: everything the user may)",
    )
    for name, help_text in (
        ("backup", "write a consistent copy of the store and secrets, while the hub runs"),
        ("restore", "unpack a backup into an empty data dir"),
    ):
        archive = with_config(commands.add_parser(name, help=help_text))
        archive.add_argument("archive", type=Path, metavar="OUT" if name == "backup" else "IN")
    return parser


def _version() -> str:
    from importlib.metadata import PackageNotFoundError, version

    try:
        return version("monotreme")
    except PackageNotFoundError:  # run from a tree that is not installed
        return "unknown"


def _config(args: argparse.Namespace, **overrides: object) -> Config:
    """The config, with a data dir that exists and is writable (else one line and exit 1)."""
    from monotreme.config import Config

    config = Config.load(args.config, data_dir=args.data_dir, store_url=args.store, **overrides)
    try:
        config.data_dir.mkdir(parents=True, exist_ok=True)
        tempfile.TemporaryFile(dir=config.data_dir).close()
    except OSError as e:
        raise SystemExit(
            f"monotreme: error: the data dir {config.data_dir} is not usable: {e.strerror or e}"
        ) from None
    return config


# Files a process holds besides its HTTP connections: the store, gRPC's
# sockets and pipes, the event loop's own.
_OTHER_FILES = 256


def _make_room_for(connections: int) -> None:
    """Raises the soft limit on open files (often 1024) so that `connections`
    HTTP connections fit: past it, accept() fails and asyncio logs an error
    for every attempt, before the connection cap can refuse anything."""
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    needed = connections + _OTHER_FILES
    if soft == resource.RLIM_INFINITY or soft >= needed:
        return
    allowed = needed if hard == resource.RLIM_INFINITY else min(needed, hard)
    resource.setrlimit(resource.RLIMIT_NOFILE, (allowed, hard))
    if allowed < needed:
        logging.getLogger("monotreme").warning(
            "at most %d open files (ulimit -n): fewer than server.max_connections (%d) fit",
            allowed,
            connections,
        )


def _serve(args: argparse.Namespace) -> None:
    from monotreme.server import Server

    config = _config(
        args,
        host=args.host,
        grpc_port=args.grpc_port,
        http_port=args.http_port,
        strict=args.strict,
        bus_url=args.bus,
    )
    logs.configure(config.logging, json_lines=args.log_format == "json", access=args.access_log)
    if args.workers is not None:
        _supervise(config, args.workers, args.argv)
        return
    _make_room_for(config.server.max_connections)
    ready_fd = args.worker_ready_fd
    if ready_fd is not None:
        from monotreme.workers import die_with_supervisor

        die_with_supervisor()
    server = Server(config, reuse_port=ready_fd is not None)

    def ready() -> None:
        os.write(ready_fd, f"{os.getpid()}\n".encode())

    try:
        asyncio.run(server.serve(ready if ready_fd is not None else None))
    except OSError as e:  # a port taken, an address not of this host...
        raise SystemExit(f"monotreme: error: {e}") from None


def _supervise(config: Config, count: int, argv: list[str]) -> None:
    from monotreme.workers import Supervisor, hold_port, worker_command

    if count < 1:
        raise SystemExit("monotreme: error: --workers: at least 1")
    if count > 1 and config.bus.redis_url is None:
        # Each worker's embedded bus would be its own: events, hooks and schedules split N ways.
        raise SystemExit(
            "monotreme: error: --workers: the workers need a bus they share: --bus redis://HOST:PORT/DB"
        )
    settings = config.server
    try:
        held = [hold_port(settings.host, settings.grpc_port), hold_port(settings.host, settings.http_port)]
    except OSError as e:
        raise SystemExit(f"monotreme: error: cannot hold the ports: {e.strerror or e}") from None
    grpc_port, http_port = (int(s.getsockname()[1]) for s in held)
    try:
        status = asyncio.run(Supervisor(worker_command(argv, grpc_port, http_port), count).run())
    finally:
        for sock in held:
            sock.close()
    raise SystemExit(status)


def _gateway(args: argparse.Namespace) -> None:
    from monotreme_gateway.site import MAX_CONNECTIONS, serve_remote

    origin = args.device_id or socket.gethostname()
    _make_room_for(MAX_CONNECTIONS)
    try:
        asyncio.run(
            serve_remote(
                args.upstream,
                args.host,
                args.http_port,
                origin=origin,
                max_body_bytes=args.max_body_bytes,
                public_metrics=args.public_metrics,
            )
        )
    except OSError as e:
        raise SystemExit(f"monotreme: error: {e}") from None


def _read_password(from_stdin: bool) -> str:
    if from_stdin:
        return sys.stdin.readline().rstrip("\n")
    try:
        password = getpass.getpass("Password: ")
        repeated = getpass.getpass("Repeat password: ")
    except EOFError:  # Ctrl-D
        raise SystemExit("\nmonotreme: error: no password given") from None
    if password != repeated:
        raise SystemExit("monotreme: error: the passwords differ")
    return password


@contextlib.contextmanager
def _accounts(config: Config) -> Iterator[Accounts]:
    """The accounts of the hub whose data dir `config` names, without a server."""
    from monotreme.identity import Identity
    from monotreme.store import open_store

    store = open_store(config.store.url, config.data_dir)
    try:
        yield Identity.open(store, config.data_dir, config.auth).accounts
    finally:
        store.close()


def _user_add(args: argparse.Namespace) -> None:
    config = _config(args)
    password = _read_password(args.password_stdin)
    with _accounts(config) as accounts:
        user = asyncio.run(accounts.add_user(args.username, password, args.admin))
    print(f"added user {user.username}" + (" (admin)" if user.is_admin else ""))


def _token_create(args: argparse.Namespace) -> None:
    from monotreme.scopes import parse_scopes

    with _accounts(_config(args)) as accounts:
        # Unique without a name: two made within a second must not collide.
        name = args.name or f"cli-{int(time.time())}-{os.urandom(3).hex()}"
        secret, _ = accounts.create_token(args.user, name, args.expires, scopes=parse_scopes(args.scopes))
    print(secret)


def _backup(args: argparse.Namespace) -> None:
    from monotreme.backup import backup

    config = _config(args)
    files = backup(config.data_dir, args.archive, config.store.url)
    print(f"backed up {', '.join(files)} of {config.data_dir} to {args.archive}")


def _restore(args: argparse.Namespace) -> None:
    from monotreme.backup import restore

    config = _config(args)
    files = restore(args.archive, config.data_dir, config.store.url)
    print(f"restored {', '.join(files)} into {config.data_dir}")


def main(argv: Sequence[str] | None = None) -> None:
    args = _parser().parse_args(argv)
    args.argv = list(sys.argv[1:] if argv is None else argv)  # what `--workers` runs again
    logs.configure(
        json_lines=getattr(args, "log_format", None) == "json",
        access=getattr(args, "access_log", False),
    )
    commands = {"serve": _serve, "gateway": _gateway, "backup": _backup, "restore": _restore}
    run = {**commands, "add": _user_add, "create": _token_create}[
        getattr(args, "action", None) or args.command
    ]
    try:
        run(args)
    except (ConfigError, ServiceError) as e:
        raise SystemExit(f"monotreme: error: {e}") from None
    except KeyboardInterrupt:  # Ctrl-C at a prompt, or before serve handles signals
        raise SystemExit(130) from None
