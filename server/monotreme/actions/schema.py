"""An action's parameter schema, from its type hints and docstring, and argument checking."""

from __future__ import annotations

import collections.abc
import functools
import inspect
import re
import types
import typing
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from monotreme.errors import InvalidArgument
from monotreme.v1 import hub_pb2
from monotreme.values import to_value

_MISSING: Any = inspect.Parameter.empty
_JSON_TYPES: dict[Any, str] = {
    str: "string",
    bool: "boolean",
    int: "integer",
    float: "number",
    dict: "object",
    collections.abc.Mapping: "object",
    list: "array",
    tuple: "array",
    set: "array",
    collections.abc.Sequence: "array",
}
_SPHINX_PARAM = re.compile(r"^\s*:param\s+(?:\S+\s+)?(\w+):\s*(.*)$")
_SPHINX_OTHER = re.compile(r"^\s*:(return|returns|rtype|raises?|type)\b.*$")
_GOOGLE_SECTION = re.compile(r"^\s*(Args|Arguments|Parameters|Returns|Raises|Yields):\s*$")
_GOOGLE_PARAM = re.compile(r"^\s+(\w+)(?:\s*\([^)]*\))?:\s*(.*)$")


def json_type_of(value: Any) -> str:
    """The JSON name of a value's type, for error messages."""
    if value is None:
        return "null"
    if isinstance(value, bool):
        return "boolean"
    if isinstance(value, int | float):
        return "number"
    names: dict[type, str] = {str: "string", dict: "object", list: "array"}
    return names.get(type(value), type(value).__name__)


def _hint_type(hint: Any) -> tuple[str, bool]:
    """(JSON type, accepts null) of a type hint."""
    if hint is _MISSING or hint is Any:
        return "any", True
    if isinstance(hint, types.UnionType) or typing.get_origin(hint) is typing.Union:
        members = [a for a in typing.get_args(hint) if a is not type(None)]
        nullable = len(members) < len(typing.get_args(hint))
        kinds = {_hint_type(m)[0] for m in members}
        return (kinds.pop() if len(kinds) == 1 else "any"), nullable
    return _JSON_TYPES.get(typing.get_origin(hint) or hint, "any"), hint is type(None)


def _parse_docstring(doc: str) -> tuple[str, dict[str, str]]:
    """(description, {parameter: doc}) from Sphinx `:param x:` or Google `Args:` docstrings."""
    text, params = [], {}
    current: str | None = None
    section: str | None = None
    for line in inspect.cleandoc(doc).splitlines():
        if match := _SPHINX_PARAM.match(line):
            current, params[match[1]] = match[1], match[2].strip()
        elif _SPHINX_OTHER.match(line):
            current = "-"
        elif match := _GOOGLE_SECTION.match(line):
            section, current = match[1], "-"
        elif section in ("Args", "Arguments", "Parameters") and (match := _GOOGLE_PARAM.match(line)):
            current, params[match[1]] = match[1], match[2].strip()
        elif current and line.startswith((" ", "\t")) and line.strip():
            if current != "-":
                params[current] = f"{params[current]} {line.strip()}".strip()
        elif section and line.strip():
            continue  # other lines of a Returns/Raises section
        else:
            section = current = None
            text.append(line)
    return "\n".join(text).strip(), params


@dataclass(frozen=True)
class Param:
    name: str
    type: str
    nullable: bool
    doc: str
    default: Any = _MISSING

    @property
    def required(self) -> bool:
        return self.default is _MISSING

    def check(self, action: str, value: Any) -> Any:
        """The value, converted where JSON allows (integral numbers for integers); else InvalidArgument."""
        kind = self.type
        if value is None and (self.nullable or kind == "any" or self.default is None):
            return value
        if not _IS[kind](value):
            article = "an" if kind[0] in "aeiou" else "a"
            raise InvalidArgument(
                f"{action}: argument '{self.name}' must be {article} {kind}, got {json_type_of(value)}",
                reason="INVALID_ARGUMENT",
            )
        return int(value) if kind == "integer" else value


def _is_number(value: Any) -> bool:
    return isinstance(value, int | float) and not isinstance(value, bool)


# Whether a JSON value is of a parameter's type.
_IS: dict[str, Callable[[Any], bool]] = {
    "any": lambda value: True,
    "string": lambda value: isinstance(value, str),
    "boolean": lambda value: isinstance(value, bool),
    "integer": lambda value: _is_number(value) and float(value).is_integer(),
    "number": _is_number,
    "object": lambda value: isinstance(value, dict),
    "array": lambda value: isinstance(value, list),
}


@dataclass(frozen=True)
class ActionSpec:
    """A callable action: its name, docs, parameters and the function to call."""

    name: str
    doc: str
    params: tuple[Param, ...]
    accepts_kwargs: bool
    function: Callable[..., Any]
    # Only admins may run it (see monotreme/scopes.py).
    admin_only: bool = False

    @property
    def plugin(self) -> str:
        # Procedure and cron job names may hold dots themselves (`procedure.foo.bar`).
        head = self.name.split(".", 1)[0]
        return head if head in ("procedure", "cron") else self.name.rsplit(".", 1)[0]

    @functools.cached_property
    def is_async(self) -> bool:
        return inspect.iscoroutinefunction(self.function)

    @functools.cached_property
    def _by_name(self) -> dict[str, Param]:
        return {p.name: p for p in self.params}

    def bind(self, args: dict[str, Any]) -> dict[str, Any]:
        """Checked keyword arguments for the function; InvalidArgument names what is wrong."""
        by_name = self._by_name
        bound: dict[str, Any] = {}
        for key, value in args.items():
            param = by_name.get(key)
            if param is None and not self.accepts_kwargs:
                raise InvalidArgument(f"{self.name}: unexpected argument '{key}'", reason="INVALID_ARGUMENT")
            bound[key] = param.check(self.name, value) if param else value
        missing = [p.name for p in self.params if p.required and p.name not in bound]
        if missing:
            raise InvalidArgument(
                f"{self.name}: missing required argument '{missing[0]}'", reason="INVALID_ARGUMENT"
            )
        return bound

    def to_proto(self) -> hub_pb2.Action:
        action = hub_pb2.Action(name=self.name, plugin=self.plugin, doc=self.doc, admin_only=self.admin_only)
        for p in self.params:
            param = action.parameters.add(name=p.name, type=p.type, doc=p.doc, required=p.required)
            if not p.required:
                param.default.CopyFrom(to_value(p.default))
        return action


def spec_from_function(name: str, function: Callable[..., Any], *, admin_only: bool = False) -> ActionSpec:
    """The spec of a function (or bound method) from its signature, hints and docstring."""
    signature = inspect.signature(function)
    hints = typing.get_type_hints(function)
    doc, param_docs = _parse_docstring(inspect.getdoc(function) or "")
    params = []
    for p in signature.parameters.values():
        if p.kind in (p.VAR_POSITIONAL, p.VAR_KEYWORD) or p.name == "self":
            continue
        json_type, nullable = _hint_type(hints.get(p.name, _MISSING))
        params.append(Param(p.name, json_type, nullable, param_docs.get(p.name, ""), p.default))
    accepts_kwargs = any(p.kind is p.VAR_KEYWORD for p in signature.parameters.values())
    return ActionSpec(name, doc, tuple(params), accepts_kwargs, function, admin_only)
