"""Core: events, their Platypush type names and classes, filters, and the bus.

Scripts import the event classes from here: `from monotreme.events import CustomEvent, WebhookEvent`.
"""

from monotreme.events.types import CustomEvent, Event, VariableEvent, WebhookEvent

__all__ = ["CustomEvent", "Event", "VariableEvent", "WebhookEvent"]
