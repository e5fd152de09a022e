"""JSON values in and out of the messages' `Struct` and `Value` fields."""

from __future__ import annotations

from typing import Any

from monotreme_client.proto.google.protobuf import Struct, Value


def _numbers(value: Any) -> Any:
    """Integral doubles back to ints: `Value` holds every number as a double."""
    if isinstance(value, float) and value.is_integer():
        return int(value)
    if isinstance(value, dict):
        return {key: _numbers(item) for key, item in value.items()}
    if isinstance(value, list):
        return [_numbers(item) for item in value]
    return value


def to_struct(value: dict[str, Any]) -> Struct:
    return Struct.from_dict(value)


def from_struct(struct: Struct | None) -> dict[str, Any]:
    return {} if struct is None else dict(_numbers(struct.to_dict()))


def from_value(value: Value | None) -> Any:
    return None if value is None else _numbers(value.to_dict())
