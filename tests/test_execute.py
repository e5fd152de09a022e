"""Execute and ListActions over gRPC: every built-in action, the envelope and each error."""

from __future__ import annotations

import asyncio
import textwrap
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Any

import grpc
import pytest
from google.protobuf import json_format
from monotreme.errors import ConfigError
from monotreme.server import Server
from monotreme.v1 import hub_pb2, hub_pb2_grpc

from tests.conftest import Credentials, register_admin, start_server

MakeServer = Callable[..., Awaitable[Server]]


def request(action: str, **args: Any) -> hub_pb2.ExecuteRequest:
    message = hub_pb2.ExecuteRequest(type="request", action=action)
    message.args.update(args)
    return message


def as_json(message: Any) -> Any:
    return json_format.MessageToDict(message, always_print_fields_with_no_presence=True)


async def execute(stub: hub_pb2_grpc.HubServiceStub, admin: Credentials, action: str, **args: Any) -> Any:
    """The response's `response` part as JSON."""
    response = await stub.Execute(request(action, **args), metadata=admin.metadata)
    return as_json(response)["response"]


async def refused(
    stub: hub_pb2_grpc.HubServiceStub, admin: Credentials, action: str, **args: Any
) -> grpc.aio.AioRpcError:
    with pytest.raises(grpc.aio.AioRpcError) as caught:
        await stub.Execute(request(action, **args), metadata=admin.metadata)
    return caught.value


async def test_the_envelope_is_platypushs(
    server: Server, hub_stub: hub_pb2_grpc.HubServiceStub, admin: Credentials
) -> None:
    message = request("utils.sleep", seconds=0)
    message.id, message.origin = "724754df98968247a284557ce32f74bb", "phone"
    response = as_json(await hub_stub.Execute(message, metadata=admin.metadata))
    assert list(response) == ["id", "type", "target", "origin", "_timestamp", "response"]
    assert response["id"] == "724754df98968247a284557ce32f74bb"
    assert (response["type"], response["target"], response["origin"]) == (
        "response",
        "phone",
        server.config.server.device_id,
    )
    assert response["response"] == {"output": {"success": True}, "errors": []}
    generated = as_json(await hub_stub.Execute(request("utils.echo"), metadata=admin.metadata))
    assert len(generated["id"]) == 32


async def test_utils_echo_answers_its_arguments(
    hub_stub: hub_pb2_grpc.HubServiceStub, admin: Credentials
) -> None:
    args = {"text": "hi", "n": 3, "nested": {"list": [1, "a", None, True]}}
    assert await execute(hub_stub, admin, "utils.echo", **args) == {"output": args, "errors": []}


async def test_variables_persist_and_announce_changes(
    server: Server, hub_stub: hub_pb2_grpc.HubServiceStub, admin: Credentials
) -> None:
    assert await execute(hub_stub, admin, "variable.get", name="at_home") == {
        "output": {"at_home": None},
        "errors": [],
    }
    stream = hub_stub.StreamEvents(
        hub_pb2.StreamEventsRequest(types=["VariableEvent"]), metadata=admin.metadata
    )
    await stream.wait_for_connection()
    assert (await execute(hub_stub, admin, "variable.set", at_home=True, mode="night"))["output"] == {
        "at_home": True,
        "mode": "night",
    }
    event = as_json((await stream.read()).event)
    assert event["args"] == {
        "type": "platypush.message.event.variable.VariableEvent",
        "variables": {"at_home": True, "mode": "night"},
    }
    stream.cancel()
    assert (await execute(hub_stub, admin, "variable.get", name="mode"))["output"] == {"mode": "night"}
    assert (await execute(hub_stub, admin, "variable.list"))["output"] == {"at_home": True, "mode": "night"}
    assert (await execute(hub_stub, admin, "variable.unset", name="mode"))["output"] == {"removed": True}
    assert (await execute(hub_stub, admin, "variable.unset", name="mode"))["output"] == {"removed": False}
    assert server.hub.store.list_variables() == {"at_home": True}


async def test_event_trigger_publishes_a_custom_event(
    hub_stub: hub_pb2_grpc.HubServiceStub, admin: Credentials
) -> None:
    stream = hub_stub.StreamEvents(
        hub_pb2.StreamEventsRequest(types=["CustomEvent"]), metadata=admin.metadata
    )
    await stream.wait_for_connection()
    output = (await execute(hub_stub, admin, "event.trigger", subtype="arrived", args={"who": "alice"}))[
        "output"
    ]
    event = as_json((await stream.read()).event)
    stream.cancel()
    assert event["id"] == output["id"]
    assert event["args"] == {
        "type": "platypush.message.event.custom.CustomEvent",
        "subtype": "arrived",
        "args": {"who": "alice"},
    }


async def test_inspect_describes_plugins_actions_and_event_types(
    hub_stub: hub_pb2_grpc.HubServiceStub, admin: Credentials
) -> None:
    plugins = (await execute(hub_stub, admin, "inspect.get_all_plugins"))["output"]
    enabled = ["event", "file", "http", "http.request", "inspect", "logger", "utils", "variable"]
    assert sorted(plugins) == enabled  # shell is off by default
    assert await execute(hub_stub, admin, "inspect.get_enabled_plugins") == {"output": enabled, "errors": []}
    utils = plugins["utils"]
    assert (utils["name"], utils["type"], utils["args"]) == (
        "utils",
        "monotreme.plugins.utils.UtilsPlugin",
        {},
    )
    assert sorted(utils["actions"]) == ["echo", "sleep"]
    assert utils["actions"]["sleep"] == {
        "name": "sleep",
        "doc": "Waits, without blocking other calls.",
        "args": {
            "seconds": {
                "name": "seconds",
                "required": True,
                "doc": "How long to wait, in seconds.",
                "type": "number",
                "default": None,
            }
        },
        "has_varargs": False,
        "has_kwargs": False,
    }
    assert utils["actions"]["echo"]["has_kwargs"] is True
    actions = (await execute(hub_stub, admin, "inspect.get_actions", plugin="utils"))["output"]
    assert [a["name"] for a in actions] == ["utils.echo", "utils.sleep"]
    assert (await execute(hub_stub, admin, "inspect.get_procedures"))["output"] == {}
    assert (await execute(hub_stub, admin, "inspect.get_all_backends"))["output"] == {}
    events = (await execute(hub_stub, admin, "inspect.get_all_events"))["output"]
    custom = events["platypush.message.event.custom.CustomEvent"]
    assert custom["doc"] == "An event of the user's own: `subtype` and free-form `args`."
    assert sorted(custom["args"]) == ["args", "subtype"]


async def test_list_actions_returns_schemas_from_hints_and_docstrings(
    hub_stub: hub_pb2_grpc.HubServiceStub, admin: Credentials
) -> None:
    response = await hub_stub.ListActions(
        hub_pb2.ListActionsRequest(plugin="variable"), metadata=admin.metadata
    )
    get = as_json(response)["actions"][0]
    assert get == {
        "name": "variable.get",
        "plugin": "variable",
        "doc": "Reads a variable.",
        "parameters": [
            {"name": "name", "type": "string", "doc": "The variable's name.", "required": True},
            {
                "name": "default",
                "type": "any",
                "doc": "What to answer when it is not set.",
                "required": False,
                "default": None,
            },
        ],
        "admin_only": False,
    }
    everything = await hub_stub.ListActions(hub_pb2.ListActionsRequest(), metadata=admin.metadata)
    names = [a.name for a in everything.actions]
    assert names == sorted(names) and "utils.sleep" in names and "event.trigger" in names


@pytest.mark.parametrize(
    ("action", "message"),
    [
        ("lights.on", "unknown action 'lights.on': no plugin 'lights' is enabled"),
        ("utils.nope", "unknown action 'utils.nope': plugin 'utils' has no such action"),
        ("shell.exec", "unknown action 'shell.exec': no plugin 'shell' is enabled"),
        ("", "unknown action '': no plugin '' is enabled"),
    ],
)
async def test_unknown_actions_are_not_found(
    hub_stub: hub_pb2_grpc.HubServiceStub, admin: Credentials, action: str, message: str
) -> None:
    error = await refused(hub_stub, admin, action)
    assert (error.code(), error.details()) == (grpc.StatusCode.NOT_FOUND, message)


@pytest.mark.parametrize(
    ("args", "message"),
    [
        ({}, "utils.sleep: missing required argument 'seconds'"),
        ({"seconds": "soon"}, "utils.sleep: argument 'seconds' must be a number, got string"),
        ({"seconds": True}, "utils.sleep: argument 'seconds' must be a number, got boolean"),
        ({"seconds": 0, "extra": 1}, "utils.sleep: unexpected argument 'extra'"),
    ],
)
async def test_bad_arguments_are_invalid(
    hub_stub: hub_pb2_grpc.HubServiceStub, admin: Credentials, args: dict[str, Any], message: str
) -> None:
    error = await refused(hub_stub, admin, "utils.sleep", **args)
    assert (error.code(), error.details()) == (grpc.StatusCode.INVALID_ARGUMENT, message)


async def test_the_callers_deadline_is_honoured(
    hub_stub: hub_pb2_grpc.HubServiceStub, admin: Credentials
) -> None:
    with pytest.raises(grpc.aio.AioRpcError) as caught:
        await hub_stub.Execute(request("utils.sleep", seconds=30), metadata=admin.metadata, timeout=0.3)
    assert caught.value.code() == grpc.StatusCode.DEADLINE_EXCEEDED


async def test_shell_runs_commands_only_when_enabled(make_server: MakeServer) -> None:
    server = await make_server("shell:\n  enabled: true\n  timeout: 5\n")
    async with grpc.aio.insecure_channel(server.grpc_target) as channel:
        admin = await register_admin(channel)
        stub = hub_pb2_grpc.HubServiceStub(channel)
        assert await execute(stub, admin, "shell.exec", cmd="echo hello") == {
            "output": "hello\n",
            "errors": [],
        }
        # A failing command is the action's error, not the call's.
        failed = await execute(stub, admin, "shell.exec", cmd="echo oops >&2; exit 3")
        assert failed == {"output": {"success": False}, "errors": ["command exited with 3: oops"]}
        slow = await execute(stub, admin, "shell.exec", cmd="sleep 5", timeout=0.2)
        assert slow["errors"] == ["command timed out after 0.2 s"]


@pytest.mark.parametrize(
    ("yaml_text", "message"),
    [
        (
            "strict: true\nlights: {}\n",
            "strict: no such plugin: lights (installed: event, file, http, http.request, inspect, logger,"
            " shell, utils, variable)",
        ),
        ("shell:\n  enabled: maybe\n", "shell.enabled: expected true or false"),
        ("shell:\n  enabled: true\n  colour: red\n", "shell: unexpected argument 'colour'"),
        (
            "shell:\n  enabled: true\n  timeout: long\n",
            "shell: argument 'timeout' must be a number, got string",
        ),
        ("utils: 3\n", "utils: plugin settings must be a mapping"),
    ],
)
async def test_bad_plugin_settings_name_the_file_and_key(
    tmp_path: Path, yaml_text: str, message: str
) -> None:
    with pytest.raises(ConfigError) as caught:
        await start_server(tmp_path, yaml_text)
    assert str(caught.value).endswith(f".yaml: {message}")


async def test_fifty_concurrent_clients(server: Server, admin: Credentials) -> None:
    async def client(n: int) -> Any:
        async with grpc.aio.insecure_channel(server.grpc_target) as channel:
            stub = hub_pb2_grpc.HubServiceStub(channel)
            return [await execute(stub, admin, "utils.echo", client=n, call=i) for i in range(5)]

    results = await asyncio.gather(*(client(n) for n in range(50)))
    assert results == [
        [{"output": {"client": n, "call": i}, "errors": []} for i in range(5)] for n in range(50)
    ]


PLUGIN_SOURCE = '''
import asyncio
from monotreme.plugins import Plugin, action


class GreeterPlugin(Plugin):
    """Says hello."""

    name = "greeter"

    def __init__(self, greeting: str = "Hello") -> None:
        self.greeting = greeting

    @action
    def greet(self, who: str, times: int = 1) -> str:
        """Greets someone, from a worker thread.

        Args:
            who: Whom to greet.
            times: How many times.
        """
        return " ".join([f"{self.greeting}, {who}!"] * times)

    @action
    def fail(self) -> None:
        """Always raises."""
        raise ValueError("the greeter is broken")
'''


async def test_third_party_plugins_register_through_entry_points(
    tmp_path: Path, spawn_server: Callable[..., Any], monkeypatch: pytest.MonkeyPatch
) -> None:
    site = tmp_path / "site"
    (site / "greeter_plugin").mkdir(parents=True)
    (site / "greeter_plugin" / "__init__.py").write_text(textwrap.dedent(PLUGIN_SOURCE))
    dist = site / "greeter_plugin-1.0.dist-info"
    dist.mkdir()
    (dist / "METADATA").write_text("Metadata-Version: 2.1\nName: greeter-plugin\nVersion: 1.0\n")
    (dist / "entry_points.txt").write_text("[monotreme.plugins]\ngreeter = greeter_plugin:GreeterPlugin\n")
    config = tmp_path / "hub.yaml"
    config.write_text("greeter:\n  greeting: Ahoy\n")
    monkeypatch.setenv("PYTHONPATH", str(site))  # the server subprocess finds the plugin there
    spawned = await spawn_server(tmp_path / "data", "--config", str(config))
    async with grpc.aio.insecure_channel(spawned.grpc_target) as channel:
        admin = await register_admin(channel)
        stub = hub_pb2_grpc.HubServiceStub(channel)
        greeted = await execute(stub, admin, "greeter.greet", who="Bob", times=2.0)
        assert greeted == {"output": "Ahoy, Bob! Ahoy, Bob!", "errors": []}
        assert await execute(stub, admin, "greeter.fail") == {
            "output": {"success": False},
            "errors": ["the greeter is broken"],
        }
        error = await refused(stub, admin, "greeter.greet", who="Bob", times=1.5)
        assert error.details() == "greeter.greet: argument 'times' must be an integer, got number"
        described = await stub.ListActions(
            hub_pb2.ListActionsRequest(plugin="greeter"), metadata=admin.metadata
        )
        greet = as_json(described)["actions"][1]
        assert greet["doc"] == "Greets someone, from a worker thread."
        assert greet["parameters"] == [
            {"name": "who", "type": "string", "doc": "Whom to greet.", "required": True},
            {"name": "times", "type": "integer", "doc": "How many times.", "required": False, "default": 1.0},
        ]
