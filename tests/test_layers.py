"""The layers hold where a user feels them: `import monotreme` stays light, a
gateway in front of a remote hub loads no hub code, and the status table the
Python client reads is the gateway's."""

from __future__ import annotations

import json
import subprocess
import sys

import grpc
from monotreme_client import errors as client_errors
from monotreme_gateway.transcoder.errors import http_status

HEAVY = ["aiohttp", "argon2", "grpc", "sqlite3", "yaml", "monotreme.hub", "monotreme.automation"]


def loaded_after(code: str) -> set[str]:
    """The modules a fresh interpreter has loaded after running `code`."""
    script = f"{code}\nimport json, sys\nprint(json.dumps(sorted(sys.modules)))"
    out = subprocess.run([sys.executable, "-c", script], check=True, capture_output=True, text=True).stdout
    return set(json.loads(out))


def test_import_monotreme_loads_nothing_heavy() -> None:
    modules = loaded_after("import monotreme")
    assert [name for name in HEAVY if name in modules] == []
    assert {m for m in modules if m.startswith("monotreme.")} == set()


def test_the_scripting_api_resolves_on_first_use() -> None:
    modules = loaded_after("from monotreme import when, procedure")
    assert "monotreme.automation.scripting" in modules
    assert [name for name in ("aiohttp", "argon2", "sqlite3", "monotreme.hub") if name in modules] == []


def test_a_remote_gateway_loads_no_hub_code() -> None:
    modules = loaded_after(
        "from monotreme_gateway.invoker import RemoteInvoker\n"
        "from monotreme_gateway.site import create_app\n"
        "create_app(RemoteInvoker('127.0.0.1:1', origin='gw'), max_body_bytes=1024)"
    )
    hub_code = {"argon2", "sqlite3", "yaml", "monotreme.hub", "monotreme.config", "monotreme.store"}
    assert {
        m for m in modules if m in hub_code or m.startswith(("monotreme.identity", "monotreme.actions.d"))
    } == set()
    assert "monotreme.services.hub" not in modules and "monotreme.services.auth" not in modules


def test_the_client_maps_every_status_as_the_gateway_does() -> None:
    """One table: each gRPC code the client types, over HTTP, is the same class."""
    for cls in client_errors.MonotremeError.__subclasses__():
        if cls is client_errors.ActionFailed:
            continue
        code = cls.status.value[0]
        assert http_status(code) == cls.http_status, cls.__name__
        assert type(client_errors.from_http(cls.http_status, {"message": "m"})) is cls
    typed = {cls.status for cls in client_errors.MonotremeError.__subclasses__()}
    assert grpc.StatusCode.UNAUTHENTICATED in typed and grpc.StatusCode.DEADLINE_EXCEEDED in typed
