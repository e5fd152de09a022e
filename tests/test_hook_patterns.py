"""Hook conditions with `${name}` placeholders: the event's value read as a
phrase, as Platypush reads a spoken one, binding the names for the hook."""

from __future__ import annotations

import asyncio
import textwrap
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Any

import pytest
from monotreme.config import Config
from monotreme.errors import ConfigError
from monotreme.events.filters import Phrase, binder, predicate
from monotreme.hub import Hub
from monotreme.server import Server
from monotreme.v1 import hub_pb2, hub_pb2_grpc

from tests.conftest import Credentials
from tests.test_event_stream import custom_event, publish
from tests.test_execute import execute

SPEECH = "platypush.message.event.assistant.SpeechRecognizedEvent"
CONFIG = """
event.hook.lights_on:
  if:
    type: platypush.message.event.assistant.SpeechRecognizedEvent
    phrase: "turn on the ${room} lights"
  then:
    - action: variable.set
      args:
        lit: ${room}
        heard: ${phrase}

event.hook.play:
  if:
    type: CustomEvent
    subtype: voice
    args: {text: "play ${song} by ${artist}"}
  then:
    - action: variable.set
      args: {playing: "${song} / ${artist}"}
"""
SCRIPT = """
from monotreme import run, when


@when("SpeechRecognizedEvent", phrase="set the ${thing} to ${level}")
def set_level(event, thing, level):
    run("variable.set", level_set=f"{thing}={level}")


@when("SpeechRecognizedEvent", phrase="say ${words}")
async def say(event, **bound):
    from monotreme import run_async

    await run_async("variable.set", said=bound)
"""


def speech(phrase: str) -> hub_pb2.Event:
    event = hub_pb2.Event(type="event")
    event.args.update({"type": SPEECH, "phrase": phrase})
    return event


@pytest.fixture
async def server(make_server: Callable[..., Awaitable[Server]], tmp_path: Path) -> Server:
    scripts = tmp_path / "scripts"
    scripts.mkdir()
    (scripts / "voice.py").write_text(SCRIPT)
    return await make_server(f"scripts_dir: {scripts}\n{CONFIG}")


async def variable(stub: hub_pb2_grpc.HubServiceStub, admin: Credentials, name: str) -> Any:
    """The variable once a hook has set it (fails after 5 s)."""
    for _ in range(250):
        value = (await execute(stub, admin, "variable.get", name=name))["output"][name]
        if value is not None:
            return value
        await asyncio.sleep(0.02)
    pytest.fail(f"no hook set {name}")


async def test_a_yaml_hook_binds_the_words_its_placeholder_matched(
    hub_stub: hub_pb2_grpc.HubServiceStub, admin: Credentials
) -> None:
    await publish(hub_stub, admin, speech("Hey, turn ON the Living  Room lights, please."))
    assert await variable(hub_stub, admin, "lit") == "living room"
    # The event's own args stay in the context beside what the phrase bound.
    assert await variable(hub_stub, admin, "heard") == "Hey, turn ON the Living  Room lights, please."


async def test_placeholders_in_nested_args_bind_too(
    hub_stub: hub_pb2_grpc.HubServiceStub, admin: Credentials
) -> None:
    await publish(hub_stub, admin, custom_event("other", text="play yesterday by the beatles"))
    await publish(hub_stub, admin, custom_event("voice", text="play yesterday by the beatles"))
    assert await variable(hub_stub, admin, "playing") == "yesterday / the beatles"


async def test_a_phrase_that_does_not_match_runs_nothing(
    hub_stub: hub_pb2_grpc.HubServiceStub, admin: Credentials
) -> None:
    await publish(hub_stub, admin, speech("turn off the kitchen lights"))
    await publish(hub_stub, admin, speech("turn on the hall lights"))
    # Hooks run in event order here: had the first matched, `lit` would have been kitchen first.
    assert await variable(hub_stub, admin, "lit") == "hall"


async def test_script_hooks_get_the_names_as_keyword_arguments(
    hub_stub: hub_pb2_grpc.HubServiceStub, admin: Credentials
) -> None:
    await publish(hub_stub, admin, speech("set the thermostat to 21 degrees"))
    assert await variable(hub_stub, admin, "level_set") == "thermostat=21 degrees"
    await publish(hub_stub, admin, speech("say hello world"))
    assert await variable(hub_stub, admin, "said") == {"words": "hello world"}


@pytest.mark.parametrize(
    ("value", "bound"),
    [
        ("turn on the kitchen lights", {"room": "kitchen"}),
        ("TURN   on the\tKitchen lights", {"room": "kitchen"}),  # case and whitespace
        ("ok google, turn on the kitchen lights now", {"room": "kitchen"}),  # within a longer phrase
        ("turn on all the kitchen lights", {"room": "kitchen"}),  # words between the condition's
        ("turn on the living room lights", {"room": "living room"}),  # several words
        ("turn on the kitchen, lights!", {"room": "kitchen"}),  # punctuation around words
        ("turn off the kitchen lights", None),
        ("turn on the lights", None),  # a placeholder takes at least one word
        ("the kitchen lights", None),
    ],
)
def test_phrases_match_as_platypush_matches_spoken_ones(value: str, bound: dict[str, str] | None) -> None:
    assert Phrase("Turn on the ${room} lights").match(value) == bound


def test_a_last_placeholder_takes_the_rest_and_adjacent_ones_a_word_each() -> None:
    assert Phrase("play ${song}").match("please play Bohemian Rhapsody?") == {"song": "bohemian rhapsody"}
    assert Phrase("${first} ${second} lights").match("x y z lights") == {"first": "x", "second": "y z"}
    assert Phrase("play ${song}").match("play") is None
    assert Phrase("play ${song}").match(42) is None


def test_filters_without_placeholders_bind_nothing_and_keep_the_plain_predicate() -> None:
    assert binder({"subtype": "voice", "args": {"level": {"$gt": 3}}}) is None
    assert binder({"text": "costs ${"}) is None  # no closing brace: plain text
    bind = binder({"subtype": "voice", "args": {"text": "play ${song}"}})
    assert bind is not None
    assert bind({"subtype": "voice", "args": {"text": "play it"}}) == {"song": "it"}
    assert bind({"subtype": "other", "args": {"text": "play it"}}) is None
    assert bind({"subtype": "voice", "args": {}}) is None
    assert predicate({"args": {"text": "play ${song}"}})({"args": {"text": "now play it"}})


def test_a_long_value_is_matched_in_one_pass() -> None:
    # No backtracking: a megabyte of near misses is read once, not once per way to split it.
    phrase = Phrase("turn on the ${room} lights")
    assert phrase.match("turn on the " * 80_000) is None


@pytest.mark.parametrize(
    ("condition", "message"),
    [
        ("turn on ${room + 1}", "event.hook.h: if.phrase: ${room + 1} must name a variable, e.g. ${room}"),
        ("${a} and ${a}", "event.hook.h: if.phrase: ${a} appears twice"),
        ("the ${room}s lights", "event.hook.h: if.phrase: '${room}s': a ${name} must be a word of its own"),
    ],
)
def test_a_bad_placeholder_is_reported_with_the_hook_and_key(
    tmp_path: Path, condition: str, message: str
) -> None:
    path = tmp_path / "config.yaml"
    path.write_text(
        textwrap.dedent(f"""
        event.hook.h:
          if: {{type: SpeechRecognizedEvent, phrase: "{condition}"}}
          then: [{{action: utils.echo}}]
        """)
    )
    with pytest.raises(ConfigError) as caught:
        Hub(Config.load(path, data_dir=tmp_path / "data"))
    assert str(caught.value) == f"{path}: {message}"
