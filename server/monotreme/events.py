"""Event types: the Platypush names users already filter on, and how filters match them."""

from __future__ import annotations

PLATYPUSH_PREFIX = "platypush.message.event."
_ALIAS_PREFIX = "platypush.events."

CUSTOM_EVENT = "platypush.message.event.custom.CustomEvent"
WEBHOOK_EVENT = "platypush.message.event.http.hook.WebhookEvent"
VARIABLE_CHANGED = "platypush.message.event.variable.VariableEvent"

# type -> its fields besides `type`, for discovery (inspect.get_event_types).
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


def short_name(name: str) -> str:
    """The class name: `CustomEvent` for `platypush.message.event.custom.CustomEvent`."""
    return name.rsplit(".", 1)[-1]


def type_matches(pattern: str, event_type: str) -> bool:
    """A filter names an event type in full, or by its short class name."""
    pattern = canonical_type(pattern)
    if "." in pattern:
        return pattern == canonical_type(event_type)
    return pattern == short_name(event_type)


def known_event_types() -> list[str]:
    return sorted(KNOWN_EVENT_TYPES)
