"""Event types: the Platypush type names users already filter on, how type
filters match them, and the classes hooks and scripts receive."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, ClassVar

from monotreme.v1 import hub_pb2
from monotreme.values import from_struct

PLATYPUSH_PREFIX = "platypush.message.event."
_ALIAS_PREFIX = "platypush.events."

CUSTOM_EVENT = "platypush.message.event.custom.CustomEvent"
WEBHOOK_EVENT = "platypush.message.event.http.hook.WebhookEvent"
VARIABLE_CHANGED = "platypush.message.event.variable.VariableEvent"

# type -> its fields besides `type`, for discovery (inspect.get_all_events).
KNOWN_EVENT_TYPES: dict[str, tuple[str, ...]] = {
    CUSTOM_EVENT: ("subtype", "args"),
    WEBHOOK_EVENT: ("hook", "method", "args", "data", "headers"),
    VARIABLE_CHANGED: ("variables",),
}


def canonical_type(name: str) -> str:
    """`platypush.events.X` is accepted for `platypush.message.event.X`."""
    if name.startswith(_ALIAS_PREFIX):
        return PLATYPUSH_PREFIX + name[len(_ALIAS_PREFIX) :]
    return name


def published_type(name: str) -> str:
    """The type an event is published with: its full name, whichever way it was
    written (`CustomEvent`, `platypush.events.custom.CustomEvent`), so every
    subscriber and hook sees one spelling. Unknown short names stay as given."""
    name = canonical_type(name)
    if "." not in name:
        for known in Event._classes:
            if known.rsplit(".", 1)[-1] == name:
                return known
    return name


def short_name(name: str) -> str:
    """The class name: `CustomEvent` for `platypush.message.event.custom.CustomEvent`."""
    return name.rsplit(".", 1)[-1]


def type_matches(pattern: str, event_type: str) -> bool:
    """A filter names an event type in full, or by its short class name."""
    pattern = canonical_type(pattern)
    if "." in pattern:
        return pattern == canonical_type(event_type)
    return pattern == short_name(event_type)


class Headers(dict[str, str]):
    """HTTP headers whose names match without regard to case, as in HTTP itself:
    `event.headers.get("X-Token")` finds an `x-token` sent over HTTP/2."""

    def __init__(self, headers: dict[str, str] | None = None) -> None:
        super().__init__({name.lower(): value for name, value in (headers or {}).items()})

    def __getitem__(self, name: str) -> str:
        return super().__getitem__(name.lower())

    def __contains__(self, name: object) -> bool:
        return isinstance(name, str) and super().__contains__(name.lower())

    def get(self, name: str, default: Any = None) -> Any:
        return super().get(name.lower(), default)


class Event:
    """An event as hooks and scripts see it: its type's full name, its args
    (`event.args`, also readable as attributes: `event.subtype`), and where it
    came from. Subclasses name the Platypush types users filter on."""

    event_type: ClassVar[str] = ""
    _classes: ClassVar[dict[str, type[Event]]] = {}

    def __init_subclass__(cls, **kwargs: Any) -> None:
        super().__init_subclass__(**kwargs)
        Event._classes[cls.event_type] = cls

    def __init__(self, **args: Any) -> None:
        self.args: dict[str, Any] = {"type": self.event_type, **args} if self.event_type else args
        self.id = ""
        self.origin = ""
        self.timestamp = 0.0

    @property
    def type(self) -> str:
        return str(self.args.get("type", ""))

    def __getattr__(self, name: str) -> Any:
        try:
            return self.__dict__["args"][name]
        except KeyError:
            raise AttributeError(f"{type(self).__name__} has no field '{name}'") from None

    def __repr__(self) -> str:
        return f"{type(self).__name__}({self.args!r})"

    @classmethod
    def from_message(cls, message: hub_pb2.Event) -> Event:
        """The instance of the class for the message's type (Event when none is known)."""
        args = from_struct(message.args)
        event = cls._classes.get(canonical_type(str(args.get("type", ""))), Event)(**args)
        event.id, event.origin, event.timestamp = message.id, message.origin, message.timestamp
        return event


class CustomEvent(Event):
    """An event of the user's own: `subtype` and free-form `args`."""

    event_type = CUSTOM_EVENT


class VariableEvent(Event):
    """Variables were set or unset: `variables` maps each name to its new value (None when unset)."""

    event_type = VARIABLE_CHANGED


class WebhookEvent(Event):
    """A call to `/hook/<hook>`: `hook`, `method`, `args` (query parameters),
    `data` (the body: JSON, form fields or text) and `headers`. A handler's
    return value, or what it passes to `send_response`, is the HTTP answer."""

    event_type = WEBHOOK_EVENT
    # Set by the hook runner for the duration of a handler.
    responder: Callable[[Any], None] | None = None

    @property
    def headers(self) -> Headers:
        return Headers(self.args.get("headers"))

    def send_response(self, response: Any) -> None:
        """Answers the HTTP caller now: a dict or list (JSON), a string, or
        `(body, status[, headers])`. Later answers are ignored."""
        if self.responder is not None:
            self.responder(response)
