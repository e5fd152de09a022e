"""proto3 JSON for the contract's messages, compiled once per message type.

json_format walks the descriptors on every call, and the gateway transcodes
every request: so each message type gets a printer and a parser, built once
from its descriptor. Printed keys come in field order, as the seed shows
them; free-form Struct and Value payloads go through monotreme.values
(integers stay integers); the text itself is orjson's. A message type with a
field kind the contract does not use falls back to json_format.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from typing import Any

import orjson
from google.protobuf import json_format
from google.protobuf.descriptor import Descriptor, FieldDescriptor
from google.protobuf.message import Message
from monotreme.values import fill_list, fill_struct, fill_value, from_list, from_struct, from_value

from monotreme_gateway.transcoder.errors import GatewayError

Printer = Callable[[Message], dict[str, Any]]
Parser = Callable[[Message, dict[str, Any]], None]

_FREE_FORM: dict[str, tuple[Callable[[Any], Any], Callable[[Any, Any], None], type]] = {
    "google.protobuf.Struct": (from_struct, fill_struct, dict),
    "google.protobuf.Value": (from_value, fill_value, object),
    "google.protobuf.ListValue": (from_list, fill_list, list),
}
_INTEGERS = {
    FieldDescriptor.TYPE_INT32, FieldDescriptor.TYPE_UINT32, FieldDescriptor.TYPE_SINT32,
    FieldDescriptor.TYPE_FIXED32, FieldDescriptor.TYPE_SFIXED32,
}  # fmt: skip
_SIMPLE = {
    FieldDescriptor.TYPE_STRING: str,
    FieldDescriptor.TYPE_BOOL: bool,
    FieldDescriptor.TYPE_DOUBLE: float,
    FieldDescriptor.TYPE_FLOAT: float,
    **dict.fromkeys(_INTEGERS, int),
}
_NAMES = {str: "a string", bool: "true or false", int: "an integer", float: "a number"}
_INTEGER = re.compile(r"^-?\d+$")
_NUMBER = re.compile(r"^-?\d+(\.\d*)?([eE][-+]?\d+)?$")
_printers: dict[str, Printer] = {}
_parsers: dict[str, Parser] = {}


def dumps(data: Any) -> bytes:
    return orjson.dumps(data)


def to_json(message: Message) -> dict[str, Any]:
    """The message's proto3 JSON (every field, defaults included), keys in field order."""
    descriptor: Any = message.DESCRIPTOR  # protobuf's stubs type it as one of two classes
    printer = _printers.get(descriptor.full_name) or _compile_printer(descriptor)
    return printer(message)


def from_json(data: dict[str, Any], message_type: type[Message]) -> Message:
    """The message `data` holds (fields by JSON or proto name); 400 for a mismatch."""
    descriptor: Any = message_type.DESCRIPTOR
    parser = _parsers.get(descriptor.full_name) or _compile_parser(descriptor)
    message = message_type()
    try:
        parser(message, data)
    except (TypeError, ValueError, json_format.ParseError) as e:
        raise GatewayError(400, "INVALID_ARGUMENT", str(e)) from None
    return message


def _supported(descriptor: Descriptor) -> bool:
    for field in descriptor.fields:
        nested = field.message_type
        if nested is None:
            if field.type not in _SIMPLE:
                return False
        elif nested.GetOptions().map_entry:
            value = nested.fields_by_name["value"]
            if value.message_type is not None or value.type not in _SIMPLE:
                return False
        elif nested.full_name not in _FREE_FORM and (
            nested.file.package == "google.protobuf" or not _supported(nested)
        ):
            return False
    return True


def _print_any(message: Message) -> dict[str, Any]:
    printed: dict[str, Any] = json_format.MessageToDict(message, always_print_fields_with_no_presence=True)
    return printed


def _parse_any(message: Message, data: dict[str, Any]) -> None:
    json_format.ParseDict(data, message)


def _compile_printer(descriptor: Descriptor) -> Printer:
    if not _supported(descriptor):
        _printers[descriptor.full_name] = _print_any
        return _print_any
    steps = [_print_field(field) for field in descriptor.fields]

    def printer(message: Message) -> dict[str, Any]:
        out: dict[str, Any] = {}
        for step in steps:
            step(message, out)
        return out

    _printers[descriptor.full_name] = printer
    return printer


def _print_field(field: FieldDescriptor) -> Callable[[Message, dict[str, Any]], None]:
    name, key = field.name, field.json_name
    nested = field.message_type
    convert: Callable[[Any], Any] | None = None
    if nested is not None and not nested.GetOptions().map_entry:
        free = _FREE_FORM.get(nested.full_name)
        convert = free[0] if free else to_json
    if field.is_repeated and nested is not None and nested.GetOptions().map_entry:

        def print_map(message: Message, out: dict[str, Any]) -> None:
            out[key] = dict(getattr(message, name))

        return print_map
    if field.is_repeated:

        def print_list(message: Message, out: dict[str, Any]) -> None:
            values = getattr(message, name)
            out[key] = [convert(v) for v in values] if convert else list(values)

        return print_list
    if convert is not None or field.has_presence:
        get = convert or (lambda value: value)

        def print_present(message: Message, out: dict[str, Any]) -> None:
            if message.HasField(name):
                out[key] = get(getattr(message, name))

        return print_present

    def print_scalar(message: Message, out: dict[str, Any]) -> None:
        out[key] = getattr(message, name)

    return print_scalar


def _compile_parser(descriptor: Descriptor) -> Parser:
    if not _supported(descriptor):
        _parsers[descriptor.full_name] = _parse_any
        return _parse_any
    fields: dict[str, Callable[[Message, Any], None]] = {}
    for field in descriptor.fields:
        fields[field.json_name] = fields[field.name] = _parse_field(field)
    where = descriptor.full_name

    def parser(message: Message, data: dict[str, Any]) -> None:
        if not isinstance(data, dict):
            raise ValueError(f"{where}: expected an object, got {type(data).__name__}")
        for key, value in data.items():
            setter = fields.get(key)
            if setter is None:
                raise ValueError(f'Message type "{where}" has no field named "{key}".')
            if value is not None:
                setter(message, value)

    _parsers[descriptor.full_name] = parser
    return parser


def _scalar(field: FieldDescriptor) -> Callable[[Any], Any]:
    """A check (and conversion) of a JSON value for a scalar field."""
    kind, where = _SIMPLE[field.type], field.full_name

    def check(value: Any) -> Any:
        if kind is bool or kind is str:
            if isinstance(value, kind):
                return value
        elif isinstance(value, bool):
            pass  # never a number
        elif kind is int:
            if isinstance(value, int):
                return value
            if isinstance(value, float) and value.is_integer():
                return int(value)
            if isinstance(value, str) and _INTEGER.match(value):
                return int(value)  # proto3 JSON allows numbers as strings; path variables are
        elif isinstance(value, int | float) or (isinstance(value, str) and _NUMBER.match(value)):
            return float(value)
        raise ValueError(f"{where}: expected {_NAMES[kind]}, got {value!r}")

    return check


def _parse_field(field: FieldDescriptor) -> Callable[[Message, Any], None]:
    name, nested = field.name, field.message_type
    if nested is not None and nested.GetOptions().map_entry:
        check_value = _scalar(nested.fields_by_name["value"])

        def parse_map(message: Message, value: Any) -> None:
            if not isinstance(value, dict):
                raise ValueError(f"{name}: expected an object")
            getattr(message, name).update({str(k): check_value(v) for k, v in value.items()})

        return parse_map
    if nested is not None:
        free = _FREE_FORM.get(nested.full_name)
        fill: Callable[[Any, Any], None] = free[1] if free else _parse_nested
        expected = free[2] if free else dict
        if field.is_repeated:

            def parse_messages(message: Message, value: Any) -> None:
                if not isinstance(value, list):
                    raise ValueError(f"{name}: expected a list")
                target = getattr(message, name)
                for item in value:
                    fill(target.add(), item)

            return parse_messages

        def parse_message(message: Message, value: Any) -> None:
            if not isinstance(value, expected):
                raise ValueError(f"{name}: expected {'an object' if expected is dict else 'a list'}")
            try:
                fill(getattr(message, name), value)
            except ValueError as e:  # e.g. what a Struct cannot hold: name the field
                raise ValueError(f"{name}: {e}") from None

        return parse_message
    check = _scalar(field)
    if field.is_repeated:

        def parse_scalars(message: Message, value: Any) -> None:
            if not isinstance(value, list):
                raise ValueError(f"{name}: expected a list")
            getattr(message, name).extend(check(v) for v in value)

        return parse_scalars

    def parse_scalar(message: Message, value: Any) -> None:
        setattr(message, name, check(value))

    return parse_scalar


def _parse_nested(target: Message, value: Any) -> None:
    descriptor: Any = target.DESCRIPTOR
    parser = _parsers.get(descriptor.full_name) or _compile_parser(descriptor)
    parser(target, value)
    target.SetInParent()
