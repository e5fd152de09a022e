"""Procedures, YAML and Python, through the same Execute path as every action:
each construct, the context, discovery, failures named by step, load errors,
deadlines and auth."""

from __future__ import annotations

import logging
import textwrap
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Any

import aiohttp
import grpc
import pytest
from monotreme.config import Config
from monotreme.errors import ConfigError
from monotreme.hub import Hub
from monotreme.server import Server
from monotreme.v1 import hub_pb2, hub_pb2_grpc

from tests.conftest import Credentials
from tests.test_execute import as_json, execute, refused, request
from tests.test_webhooks import SCRIPTS

CONFIG = f"""
scripts_dir: {SCRIPTS}

procedure.greet(name):
  - action: utils.echo
    args:
      greeting: hello ${{name}}
      shout: "${{name.upper()}}!"
  - return: ${{greeting}}, ${{shout}}

procedure.last_output_is_the_answer:
  - action: utils.echo
    args: {{first: 1}}
  - action: utils.echo
    args:
      second: ${{first + 1}}
      previous: ${{output}}

procedure.classify(n):
  - if ${{n > 10}}:
      - return: big
  - elif ${{n > 5}}:
      - return: medium
  - else:
      - return: small

procedure.sum_until_too_big(items):
  - set:
      total: 0
  - for x in ${{items}}:
      - if ${{x < 0}}:
          - continue
      - if ${{x > 100}}:
          - break
      - set:
          total: ${{total + x}}
  - return: ${{total}}

procedure.countdown(n):
  - set:
      left: ${{n}}
      seen: []
  - while ${{left > 0}}:
      - set:
          seen: ${{seen + [left]}}
          left: ${{left - 1}}
  - return:
      seen: ${{seen}}
      as_text: "${{seen}}"
      json_in_text: '{{"n": ${{n}}}}'

procedure.fork_meets(items):
  - fork x in ${{items}}:
      - action: procedure.rendezvous
        args:
          group: fork
          n: ${{len(items)}}
  - return: all met

procedure.async.steps_meet:
  - action: procedure.rendezvous
    args: {{group: async, n: 2}}
  - action: procedure.rendezvous
    args: {{group: async, n: 2}}

procedure.sync.plain:
  - return

procedure.calls_python:
  - action: procedure.double
    args: {{n: 21}}
  - return: ${{output}}

procedure.fails_at_step_two:
  - action: utils.echo
  - action: nosuch.thing
  - action: utils.echo

procedure.nested_failure:
  - if ${{True}}:
      - action: procedure.fails_at_step_two

procedure.bad_expression:
  - return: ${{undefined_name + 1}}

procedure.uses_platypush_style:
  - action: procedure.platypush_style
  - return: never reached

procedure.slow:
  - action: utils.sleep
    args: {{seconds: 5}}
"""

MakeServer = Callable[..., Awaitable[Server]]


@pytest.fixture
async def server(make_server: MakeServer) -> Server:
    return await make_server(CONFIG)


async def output(stub: hub_pb2_grpc.HubServiceStub, admin: Credentials, action: str, **args: Any) -> Any:
    response = await execute(stub, admin, action, **args)
    assert response["errors"] == []
    return response["output"]


@pytest.mark.parametrize(
    ("action", "args", "expected"),
    [
        ("procedure.greet", {"name": "ada"}, "hello ada, ADA!"),
        ("procedure.last_output_is_the_answer", {}, {"second": 2, "previous": {"first": 1}}),
        ("procedure.classify", {"n": 11}, "big"),
        ("procedure.classify", {"n": 6}, "medium"),
        ("procedure.classify", {"n": 5}, "small"),
        ("procedure.sum_until_too_big", {"items": [1, -5, 2, 3, 500, 7]}, 6),
        (
            "procedure.countdown",
            {"n": 3},
            {"seen": [3, 2, 1], "as_text": [3, 2, 1], "json_in_text": {"n": 3}},
        ),
        ("procedure.fork_meets", {"items": ["a", "b", "c"]}, "all met"),
        ("procedure.steps_meet", {}, 2),
        ("procedure.plain", {}, {"success": True}),
        ("procedure.calls_python", {}, 42),
        ("procedure.double", {"n": 4}, 8),
    ],
)
async def test_each_construct(
    hub_stub: hub_pb2_grpc.HubServiceStub,
    admin: Credentials,
    action: str,
    args: dict[str, Any],
    expected: Any,
) -> None:
    assert await output(hub_stub, admin, action, **args) == expected


async def test_a_failing_step_fails_the_procedure_naming_the_step(
    hub_stub: hub_pb2_grpc.HubServiceStub, admin: Credentials
) -> None:
    failed = await execute(hub_stub, admin, "procedure.fails_at_step_two")
    assert failed == {
        "output": {"success": False},
        "errors": [
            "procedure.fails_at_step_two: step 2 (nosuch.thing): "
            "unknown action 'nosuch.thing': no plugin 'nosuch' is enabled"
        ],
    }
    nested = await execute(hub_stub, admin, "procedure.nested_failure")
    assert nested["errors"] == [
        "procedure.nested_failure: step 1.1 (procedure.fails_at_step_two): procedure.fails_at_step_two: "
        "step 2 (nosuch.thing): unknown action 'nosuch.thing': no plugin 'nosuch' is enabled"
    ]
    bad = await execute(hub_stub, admin, "procedure.bad_expression")
    assert bad["errors"] == [
        "procedure.bad_expression: step 1: ${undefined_name + 1}: "
        "NameError: name 'undefined_name' is not defined"
    ]


async def test_platypush_style_answers(hub_stub: hub_pb2_grpc.HubServiceStub, admin: Credentials) -> None:
    assert await execute(hub_stub, admin, "procedure.platypush_style") == {
        "output": {"lights": 2},
        "errors": ["the porch light is unreachable"],
    }
    assert await execute(hub_stub, admin, "procedure.json_text") == {"output": {"on": True}, "errors": []}
    assert (await execute(hub_stub, admin, "procedure.uses_platypush_style"))["errors"] == [
        "procedure.uses_platypush_style: step 1 (procedure.platypush_style): the porch light is unreachable"
    ]


async def test_unknown_procedures_and_bad_arguments_are_refused(
    hub_stub: hub_pb2_grpc.HubServiceStub, admin: Credentials
) -> None:
    missing = await refused(hub_stub, admin, "procedure.nope")
    assert missing.code() == grpc.StatusCode.NOT_FOUND
    assert missing.details() == "unknown procedure 'nope'"
    wrong = await refused(hub_stub, admin, "procedure.double", n="four")
    assert wrong.code() == grpc.StatusCode.INVALID_ARGUMENT
    assert wrong.details() == "procedure.double: argument 'n' must be an integer, got string"


async def test_procedures_need_credentials_and_keep_the_callers_deadline(
    hub_stub: hub_pb2_grpc.HubServiceStub, admin: Credentials
) -> None:
    with pytest.raises(grpc.aio.AioRpcError) as anonymous:
        await hub_stub.Execute(request("procedure.plain"))
    assert anonymous.value.code() == grpc.StatusCode.UNAUTHENTICATED
    with pytest.raises(grpc.aio.AioRpcError) as late:
        await hub_stub.Execute(request("procedure.slow"), metadata=admin.metadata, timeout=0.5)
    assert late.value.code() == grpc.StatusCode.DEADLINE_EXCEEDED


async def test_procedures_are_discoverable(
    server: Server, hub_stub: hub_pb2_grpc.HubServiceStub, admin: Credentials
) -> None:
    listed = await hub_stub.ListActions(
        hub_pb2.ListActionsRequest(plugin="procedure"), metadata=admin.metadata
    )
    by_name = {action.name: as_json(action) for action in listed.actions}
    assert {"procedure.greet", "procedure.steps_meet", "procedure.plain", "procedure.double"} <= set(by_name)
    assert by_name["procedure.greet"]["plugin"] == "procedure"
    assert [(p["name"], p["type"], p["required"]) for p in by_name["procedure.greet"]["parameters"]] == [
        ("name", "any", False)
    ]
    assert by_name["procedure.double"]["doc"] == "Twice a number, by way of another action."
    assert by_name["procedure.double"]["parameters"] == [
        {"name": "n", "type": "integer", "doc": "The number to double.", "required": True}
    ]
    procedures = await output(hub_stub, admin, "inspect.get_procedures")
    assert {f"procedure.{name}" for name in procedures} == set(by_name)
    assert procedures["greet"] == {
        "type": "config",
        "name": "greet",
        "args": ["name"],
        "actions": [
            {"action": "utils.echo", "args": {"greeting": "hello ${name}", "shout": "${name.upper()}!"}},
            {"return": "${greeting}, ${shout}"},
        ],
        "_async": False,
        "source": str(server.config.source),
    }
    assert procedures["steps_meet"]["_async"] is True
    double = procedures["double"]
    assert (double["type"], double["args"], double["module"]) == (
        "python",
        ["n"],
        "scripts.automation",
    )
    assert double["source"] == str(SCRIPTS / "automation.py")


async def test_procedures_over_http(gateway_url: str, admin: Credentials) -> None:
    async with (
        aiohttp.ClientSession() as session,
        session.post(
            f"{gateway_url}/execute",
            json={"type": "request", "action": "procedure.greet", "args": {"name": "bob"}},
            headers={"Authorization": f"Bearer {admin.token}"},
        ) as response,
    ):
        answer = await response.json()
    assert response.status == 200
    assert answer["response"] == {"output": "hello bob, BOB!", "errors": []}


@pytest.mark.parametrize(
    ("yaml", "message"),
    [
        (
            "procedure.p:\n  - iff ${x}:\n      - return\n",
            "procedure.p: step 1: unknown construct 'iff ${x}' (known: action, set, if ${...}, "
            "elif ${...}, else, for x in ${...}, fork x in ${...}, while ${...}, break, continue, return)",
        ),
        (
            "procedure.p:\n  - if ${x}:\n      - return: ${1 +}\n",
            "procedure.p: step 1.1: ${1 +} is not a valid expression: invalid syntax",
        ),
        (
            "procedure.p:\n  - else:\n      - return\n",
            "procedure.p: step 1: 'else' without an 'if' before it",
        ),
        (
            "procedure.p:\n  - action: utils.echo\n    arg: {}\n",
            "procedure.p: step 1: unknown key(s) arg beside 'action'",
        ),
        (
            "procedure.p:\n  - action: echo\n",
            "procedure.p: step 1: action must be 'plugin.action' or 'procedure.name', got 'echo'",
        ),
        (
            "procedure.p(a b):\n  - return\n",
            "procedure.p(a b): arguments: 'a b' is not a valid argument name",
        ),
        (
            "procedure.utils:\n  - return\nprocedure.sync.utils:\n  - return\n",
            "procedure.sync.utils: action procedure.utils is already registered",
        ),
        (
            "event.hook.h:\n  if: {type: CustomEvent, level: {$gtt: 1}}\n  then: []\n",
            "event.hook.h: if.level: unknown operator '$gtt' (known: $eq, $ne, $gt, $gte, $lt, $lte, $regex)",
        ),
        (
            "event.hook.h:\n  if: {type: CustomEvent}\n",
            "event.hook.h: hook: expected {if: {type: ..., <arg filters>}, then: [steps]}",
        ),
    ],
)
def test_mistakes_are_reported_at_load_with_file_entry_and_step(
    tmp_path: Path, yaml: str, message: str
) -> None:
    path = tmp_path / "config.yaml"
    path.write_text(yaml)
    with pytest.raises(ConfigError) as caught:
        Hub(Config.load(path, data_dir=tmp_path / "data"))
    assert str(caught.value) == f"{path}: {message}"


def test_a_broken_script_is_reported_with_its_file_and_line(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    scripts = tmp_path / "scripts"
    scripts.mkdir()
    (scripts / "broken.py").write_text(
        textwrap.dedent(
            """\
            from monotreme import when

            @when("CustomEvent")
            def f(event):
                pass

            1 / 0
            """
        )
    )
    (scripts / "fine.py").write_text(
        "from monotreme import procedure\n\n@procedure\ndef fine():\n    return 1\n"
    )
    path = tmp_path / "config.yaml"
    path.write_text("utils: {}\n")  # scripts/ beside the config is loaded by default
    message = f"{path}: scripts_dir: broken.py: line 7: ZeroDivisionError: division by zero"
    with caplog.at_level(logging.ERROR, logger="monotreme.automation.loader"):
        hub = Hub(Config.load(path, data_dir=tmp_path / "data"))
    try:
        assert [r.getMessage() for r in caplog.records] == [f"{message} (left out)"]
        assert "procedure.fine" in hub.actions.procedures  # the hub starts with the others
    finally:
        hub.store.close()
    path.write_text("strict: true\n")
    with pytest.raises(ConfigError) as caught:
        Hub(Config.load(path, data_dir=tmp_path / "data"))
    assert str(caught.value) == message
