"""Hooks and procedures that tests/test_webhooks.py and tests/test_automation.py
load as a scripts directory: one per web hook answer form, and helpers that let
the tests observe hooks and parallel steps."""

from __future__ import annotations

import asyncio
import time
from typing import Any

from monotreme import procedure, run, run_async, when
from monotreme.events import CustomEvent, Event, WebhookEvent


@when(WebhookEvent, hook="dict")
def answer_dict(event: WebhookEvent) -> dict[str, Any]:
    return {"method": event.method, "query": event.args["args"], "data": event.data}


@when(WebhookEvent, hook="list")
async def answer_list(event: WebhookEvent) -> list[int]:
    return [1, 2, 3]


@when(WebhookEvent, hook="text")
def answer_text(event: WebhookEvent) -> str:
    return "plain words"


@when(WebhookEvent, hook="created")
def answer_status(event: WebhookEvent) -> tuple[dict[str, bool], int]:
    return {"created": True}, 201


@when(WebhookEvent, hook="teapot")
def answer_headers(event: WebhookEvent) -> tuple[str, int, dict[str, str]]:
    return "short and stout", 418, {"X-Brewed": "yes"}


@when(WebhookEvent, hook="sent")
def answer_early(event: WebhookEvent) -> str:
    event.send_response(("sent early", 202))
    time.sleep(0.2)
    return "too late: the first answer wins"


@when(WebhookEvent, hook="fails")
def fail(event: WebhookEvent) -> None:
    raise ValueError("the garage door is jammed")


@when(WebhookEvent, hook="slow")
async def never_answer(event: WebhookEvent) -> None:
    await asyncio.sleep(30)


@when(WebhookEvent, hook="bad_status")
def bad_status(event: WebhookEvent) -> tuple[str, int]:
    return "x", 1000


@when(WebhookEvent, hook="double")
def double_it(event: WebhookEvent) -> dict[str, int]:
    return {"doubled": run("procedure.double", n=int(event.args["args"]["n"]))}


@procedure
def double(n: int) -> int:
    """Twice a number, by way of another action.

    :param n: The number to double.
    """
    output: dict[str, int] = run("utils.echo", n=n * 2)
    return output["n"]


_arrived: dict[str, int] = {}


@procedure
async def rendezvous(group: str, n: int) -> int:
    """Waits until `n` callers of `group` arrived: only parallel callers pass."""
    _arrived[group] = _arrived.get(group, 0) + 1
    for _ in range(250):
        if _arrived[group] >= n:
            return n
        await asyncio.sleep(0.02)
    raise TimeoutError(f"only {_arrived[group]} of {n} arrived at {group}")


_records: list[list[Any]] = []


@procedure
async def record(tag: str, value: Any = None) -> None:
    """Notes that something happened, for `procedure.records`."""
    _records.append([tag, value])


@procedure(name="records")
async def list_records() -> list[list[Any]]:
    """What `procedure.record` noted, in order."""
    return list(_records)


@when(CustomEvent, subtype="temperature", args={"value": {"$gte": 30}})
async def hot(event: CustomEvent) -> None:
    await run_async("procedure.record", tag="python_hot", value=event.args["args"]["value"])


@when("CustomEvent", subtype="boom")
def explode(event: CustomEvent) -> None:
    raise RuntimeError("the hook went boom")


@when(CustomEvent, subtype="boom")
def survive(event: CustomEvent) -> None:
    run("procedure.record", tag="survived")


_slow_finished = False


@when(CustomEvent, subtype="slow")
async def slow_hook(event: Event) -> None:
    global _slow_finished
    await asyncio.sleep(3)
    _slow_finished = True


@procedure
async def slow_finished() -> bool:
    """Whether the slow hook has finished."""
    return _slow_finished


@procedure
def platypush_style() -> tuple[dict[str, int], list[str]]:
    """Answers as Platypush plugins do: `(output, errors)`."""
    return {"lights": 2}, ["the porch light is unreachable"]


@procedure
def json_text() -> str:
    """Answers JSON in a string, as many Platypush plugins do."""
    return '{"on": true}'
