"""`monotreme-client`: the hub from a shell.

    monotreme-client run procedure.at_home who=alice
    monotreme-client events --type CustomEvent subtype=arrived
    monotreme-client publish arrived who=alice
    monotreme-client actions utils
    monotreme-client tokens list | tokens create NAME [--scope S]... | tokens revoke ID
    monotreme-client owner-token

Where and who: --url, --grpc and --token, or MONOTREME_URL, MONOTREME_GRPC
and MONOTREME_TOKEN. `key=value` values that parse as JSON are JSON
(`n=3`, `on=true`, `rgb=[1,2,3]`), anything else is a string. Output is
for reading; `--json` prints JSON instead (one object per line for events).
Exits 1 with the server's reason when it refuses a call.
"""

from __future__ import annotations

import argparse
import asyncio
import datetime
import json
import os
import sys
from typing import Any

import betterproto2

from monotreme_client.api import ANY_SOURCE
from monotreme_client.errors import MonotremeError
from monotreme_client.events import Event
from monotreme_client.manager import DEFAULT_URL, ManagerApi
from monotreme_client.proto.monotreme.v1 import Action, Token


def _pairs(items: list[str]) -> dict[str, Any]:
    pairs: dict[str, Any] = {}
    for item in items:
        key, sep, value = item.partition("=")
        if not sep or not key:
            raise SystemExit(f"monotreme-client: expected key=value, got {item!r}")
        try:
            pairs[key] = json.loads(value)
        except ValueError:
            pairs[key] = value
    return pairs


def _plain(message: betterproto2.Message) -> dict[str, Any]:
    """A message as the JSON API spells it (snake_case)."""
    return message.to_dict(casing=betterproto2.Casing.SNAKE, include_default_values=True)


def _json(value: Any) -> str:
    return json.dumps(value, ensure_ascii=False)


def _when(timestamp: float) -> str:
    if not timestamp:
        return "never"
    return datetime.datetime.fromtimestamp(timestamp).isoformat(sep=" ", timespec="seconds")


def _action_line(action: Action) -> str:
    params = ", ".join(f"{p.name}{'' if p.required else '?'}: {p.type or 'any'}" for p in action.parameters)
    doc = action.doc.strip().splitlines()[0] if action.doc.strip() else ""
    return f"{action.name}({params})" + (f"  {doc}" if doc else "")


def _token_line(token: Token) -> str:
    dates = f"created {_when(token.created_at)}  expires {_when(token.expires_at)}"
    scopes = f"  scopes {' '.join(token.scopes)}" if token.scopes else ""
    return f"{token.id:>4}  {token.name:<24} {token.kind:<8} {dates}{scopes}"


def _event_line(event: Event) -> str:
    time = datetime.datetime.fromtimestamp(event.timestamp).strftime("%H:%M:%S")
    missed = f"  ({event.missed} missed before this)" if event.missed else ""
    return f"{time} {event.origin} {event.name} {_json(event.args)}{missed}"


async def _run(args: argparse.Namespace, hub: ManagerApi) -> None:
    out = args.json
    if args.command == "run":
        output = await hub.execute(args.action, **_pairs(args.args))
        print(_json(output) if out or not isinstance(output, str) else output)
    elif args.command == "actions":
        actions = await hub.actions(args.plugin)
        print(_json([_plain(a) for a in actions]) if out else "\n".join(map(_action_line, actions)))
    elif args.command == "publish":
        await hub.realtime(args.name, _pairs(args.data))
    elif args.command == "events":
        api = hub.get_api(args.source, types=args.type, args=_pairs(args.filters))
        count = 0
        async for event in api:
            if out:
                fields = {"id": event.id, "type": event.type, "origin": event.origin}
                print(_json({**fields, "timestamp": event.timestamp, "args": event.args}), flush=True)
            else:
                print(_event_line(event), flush=True)
            count += 1
            if count == args.count:
                break
    elif args.command == "owner-token":
        print(await hub.get_owner_api_token())
    elif args.tokens == "list":
        tokens = await hub.tokens()
        print(_json([_plain(t) for t in tokens]) if out else "\n".join(map(_token_line, tokens)))
    elif args.tokens == "create":
        secret, token = await hub.create_token(args.name, args.expiry_days, args.scopes)
        print(_json({"token": secret, "info": _plain(token)}) if out else f"{secret}\n{_token_line(token)}")
    else:
        await hub.revoke_token(args.id)
        print(_json({"status": "ok"}) if out else f"revoked token {args.id}")


def _parser() -> argparse.ArgumentParser:
    env = os.environ.get
    parser = argparse.ArgumentParser(
        prog="monotreme-client", description=__doc__.split("\n\n")[0], epilog=__doc__.split("\n\n", 1)[1]
    )
    parser.formatter_class = argparse.RawDescriptionHelpFormatter
    parser.add_argument("--url", default=env("MONOTREME_URL", DEFAULT_URL), help="the hub's HTTP URL")
    parser.add_argument(
        "--grpc", default=env("MONOTREME_GRPC"), help="its gRPC host:port (default: port 50051)"
    )
    parser.add_argument("--token", default=env("MONOTREME_TOKEN"), help="an API token")
    parser.add_argument("--app-id", help="the origin of published events")
    parser.add_argument("--timeout", type=float, default=60.0, help="seconds per call (default 60)")
    parser.add_argument("--json", action="store_true", help="print JSON")
    commands = parser.add_subparsers(dest="command", required=True)
    run = commands.add_parser("run", help="run an action or procedure")
    run.add_argument("action", help="plugin.action or procedure.name")
    run.add_argument("args", nargs="*", metavar="key=value")
    actions = commands.add_parser("actions", help="list actions")
    actions.add_argument("plugin", nargs="?", default="", help="only this plugin's")
    publish = commands.add_parser("publish", help="publish a realtime event")
    publish.add_argument("name", help="the event's name (CustomEvent's subtype)")
    publish.add_argument("data", nargs="*", metavar="key=value")
    events = commands.add_parser("events", help="print events as they happen")
    events.add_argument("--type", action="append", default=[], help="only this type (repeatable)")
    events.add_argument("--source", default=ANY_SOURCE, help="only from this origin")
    events.add_argument("--count", type=int, default=0, help="stop after this many")
    events.add_argument("filters", nargs="*", metavar="key=value", help="only events with these args")
    commands.add_parser("owner-token", help="start an owner session and print its token")
    tokens = commands.add_parser("tokens", help="manage API tokens").add_subparsers(
        dest="tokens", required=True
    )
    tokens.add_parser("list", help="your tokens")
    create = tokens.add_parser("create", help="a new token; prints its secret once")
    create.add_argument("name")
    create.add_argument("--expiry-days", type=float, default=0, help="0: never")
    create.add_argument(
        "--scope",
        action="append",
        default=[],
        dest="scopes",
        help="what it may do, repeatable (execute:PATTERN, events:read, ...); default: all you may",
    )
    revoke = tokens.add_parser("revoke", help="revoke a token by id")
    revoke.add_argument("id", type=int)
    return parser


async def _main(args: argparse.Namespace) -> int:
    options = {"token": args.token, "grpc_target": args.grpc, "app_id": args.app_id, "timeout": args.timeout}
    async with ManagerApi(args.url, **options) as hub:
        try:
            await _run(args, hub)
        except MonotremeError as e:
            print(f"monotreme-client: {e}", file=sys.stderr)
            return 1
    return 0


def main(argv: list[str] | None = None) -> None:
    args = _parser().parse_args(argv)
    try:
        sys.exit(asyncio.run(_main(args)))
    except KeyboardInterrupt:
        sys.exit(130)
    except BrokenPipeError:
        # The reader left (`... | head`): no traceback, and none either when
        # Python flushes stdout at exit (the Python docs' recipe).
        os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
        sys.exit(1)
