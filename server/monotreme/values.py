"""JSON values and protobuf's Struct and Value, both ways, on every call's path.

Walked by hand rather than through json_format, which is several times
slower for the free-form payloads (`args`, `output`) every call carries.
Struct numbers are doubles: integral ones come back as integers, so an
event's `level: 4` reads `4` in a template or a client's JSON, not `4.0`.
"""

from __future__ import annotations

import json
from typing import Any

from google.protobuf import struct_pb2

# Integers up to this size survive a trip through a double unchanged.
_EXACT_INTEGERS = 2**53
# Deepest nesting of objects and lists a Struct or Value may be filled with.
# protobuf refuses to parse a message nested over 100 levels, and each JSON
# object is three (Struct, map entry, Value): deeper payloads would be built
# here and then fail in the bus, a stream or a remote gateway.
MAX_DEPTH = 32
_TOO_LARGE = "a number is too large (the limit is a double's, about 1.8e308)"


def to_jsonable(value: Any) -> Any:
    """Plain JSON data from what an action returned (dataclasses, tuples, sets, bytes, dates...)."""
    if value is None or isinstance(value, bool | int | float | str):
        return value
    if isinstance(value, dict):
        return {str(k): to_jsonable(v) for k, v in value.items()}
    if isinstance(value, list | tuple | set | frozenset):
        return [to_jsonable(v) for v in value]
    if isinstance(value, bytes):
        try:
            return value.decode()
        except UnicodeDecodeError:
            return value.hex()
    if hasattr(value, "__dataclass_fields__"):
        return {f: to_jsonable(getattr(value, f)) for f in value.__dataclass_fields__}
    if hasattr(value, "isoformat"):
        return value.isoformat()
    if hasattr(value, "value") and hasattr(type(value), "__members__"):  # Enum
        return to_jsonable(value.value)
    return str(value)


def _number(value: float) -> int | float:
    return int(value) if value.is_integer() and abs(value) < _EXACT_INTEGERS else value


def from_value(value: struct_pb2.Value) -> Any:
    kind = value.WhichOneof("kind")
    if kind == "string_value":
        return value.string_value
    if kind == "number_value":
        return _number(value.number_value)
    if kind == "bool_value":
        return value.bool_value
    if kind == "struct_value":
        return from_struct(value.struct_value)
    if kind == "list_value":
        return [from_value(item) for item in value.list_value.values]
    return None


def from_struct(struct: struct_pb2.Struct) -> dict[str, Any]:
    # By key: the map's items() is collections.abc's generator, ~1 µs a Struct more.
    fields = struct.fields
    return {key: from_value(fields[key]) for key in fields}


def from_list(values: struct_pb2.ListValue) -> list[Any]:
    return [from_value(item) for item in values.values]


def fill_value(target: struct_pb2.Value, value: Any, depth: int = 0) -> None:
    """Sets `target` to `value`, made JSON first where it is not; ValueError
    for what a Value cannot hold (see MAX_DEPTH, a number beyond a double, a
    string that is not Unicode). `depth`: the objects and lists around it."""
    if value is None:
        target.null_value = struct_pb2.NULL_VALUE
    elif isinstance(value, bool):
        target.bool_value = value
    elif isinstance(value, int | float):
        try:
            target.number_value = value
        except OverflowError:
            raise ValueError(_TOO_LARGE) from None
    elif isinstance(value, str):
        try:
            target.string_value = value
        except UnicodeEncodeError:
            raise ValueError("a string is not valid Unicode (a lone surrogate such as \\ud800)") from None
    elif isinstance(value, dict):
        fill_struct(target.struct_value, value, depth)
    elif isinstance(value, list | tuple):
        fill_list(target.list_value, value, depth)
    else:
        fill_value(target, to_jsonable(value), depth)


def _check_depth(depth: int) -> None:
    if depth >= MAX_DEPTH:
        raise ValueError(f"nested too deeply (limit {MAX_DEPTH})")


def fill_struct(target: struct_pb2.Struct, value: dict[Any, Any], depth: int = 0) -> None:
    _check_depth(depth)
    target.Clear()
    target.SetInParent()  # an empty dict is an empty Struct, not an unset one
    fields = target.fields
    for key, item in value.items():
        try:
            field = fields[str(key)]
        except UnicodeEncodeError:
            raise ValueError("a key is not valid Unicode (a lone surrogate such as \\ud800)") from None
        fill_value(field, item, depth + 1)


def fill_list(target: struct_pb2.ListValue, value: list[Any] | tuple[Any, ...], depth: int = 0) -> None:
    _check_depth(depth)
    target.Clear()
    target.SetInParent()
    for item in value:
        fill_value(target.values.add(), item, depth + 1)


def to_value(value: Any) -> struct_pb2.Value:
    """A google.protobuf.Value holding `value` as JSON."""
    result = struct_pb2.Value()
    fill_value(result, value)
    return result


def as_value(value: Any, depth: int = 0) -> Any:
    """`value` exactly as a google.protobuf.Value would carry it, without
    building one: JSON data (see to_jsonable) whose numbers went through a
    double, integral ones back as integers (the in-process /execute answers
    what gRPC and the remote gateway answer); ValueError for what a Value
    cannot hold (see fill_value)."""
    if value is None or isinstance(value, bool | str):
        return value
    if isinstance(value, int):
        if abs(value) < _EXACT_INTEGERS:
            return value
        try:
            return float(value)
        except OverflowError:
            raise ValueError(_TOO_LARGE) from None
    if isinstance(value, float):
        return _number(value)
    if isinstance(value, dict):
        _check_depth(depth)
        return {str(key): as_value(item, depth + 1) for key, item in value.items()}
    if isinstance(value, list | tuple):
        _check_depth(depth)
        return [as_value(item, depth + 1) for item in value]
    return as_value(to_jsonable(value), depth)


def from_json(value: Any) -> Any:
    """The JSON value a string holds, else the value itself (Platypush plugins
    often answer JSON as text)."""
    if isinstance(value, str):
        try:
            return json.loads(value)
        except ValueError:
            pass
    return value
