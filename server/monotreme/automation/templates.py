"""`${expr}` templates in procedures and hooks, compiled once at load.

An expression is Python, evaluated over the context (the procedure's args,
`output` and `errors` of the previous step, variables set so far). As in
Platypush, a string that is one `${expr}` becomes the expression's value, a
string mixing text and expressions becomes text, and a string result that
parses as JSON becomes that JSON value. The config is the owner's own code;
the builtins are trimmed to keep expressions to expressions, not to sandbox.
"""

from __future__ import annotations

import builtins
import json
from collections.abc import Callable
from typing import Any

from monotreme.values import from_json

# fmt: off
_BUILTINS = {name: getattr(builtins, name) for name in (
    "abs", "all", "any", "bool", "dict", "enumerate", "filter", "float", "int", "isinstance",
    "len", "list", "map", "max", "min", "range", "reversed", "round", "set", "sorted", "str",
    "sum", "tuple", "zip",
)}
# fmt: on

Context = dict[str, Any]
Evaluator = Callable[[Context], Any]


class Expression:
    """One compiled Python expression."""

    def __init__(self, source: str) -> None:
        self.source = source.strip()
        try:
            self._code = compile(self.source, f"${{{self.source}}}", "eval")
        except SyntaxError as e:
            raise ValueError(f"${{{self.source}}} is not a valid expression: {e.msg}") from None

    def __call__(self, context: Context) -> Any:
        try:
            return eval(self._code, {"__builtins__": _BUILTINS}, context)
        except Exception as e:
            raise ValueError(f"${{{self.source}}}: {type(e).__name__}: {e}") from None


def _split(text: str) -> list[str | Expression]:
    """Text and `${...}` parts; braces inside an expression nest (`${ {'a': 1}['a'] }`)."""
    parts: list[str | Expression] = []
    position = 0
    while (start := text.find("${", position)) != -1:
        depth, end = 0, start + 2
        while end < len(text) and (depth or text[end] != "}"):
            depth += {"{": 1, "}": -1}.get(text[end], 0)
            end += 1
        if end == len(text):
            raise ValueError(f"unclosed '${{' in {text!r}")
        if start > position:
            parts.append(text[position:start])
        parts.append(Expression(text[start + 2 : end]))
        position = end + 1
    if position < len(text):
        parts.append(text[position:])
    return parts


def _text(value: Any) -> str:
    return value if isinstance(value, str) else json.dumps(value, default=str)


def compile_value(value: Any) -> Evaluator:
    """An evaluator of `value` (strings, lists and dicts, nested) over a context;
    ValueError for a malformed expression."""
    if isinstance(value, dict):
        items = [(key, compile_value(item)) for key, item in value.items()]
        return lambda context: {key: evaluate(context) for key, evaluate in items}
    if isinstance(value, list):
        elements = [compile_value(item) for item in value]
        return lambda context: [evaluate(context) for evaluate in elements]
    if not isinstance(value, str) or "${" not in value:
        return lambda context: value
    parts = _split(value)
    if len(parts) == 1 and isinstance(parts[0], Expression):
        expression = parts[0]
        return lambda context: from_json(expression(context))
    return lambda context: from_json(
        "".join(part if isinstance(part, str) else _text(part(context)) for part in parts)
    )
