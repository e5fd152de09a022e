"""Event filters, as hooks and subscribers write them: equality, nested partial
matches, and the operators of Platypush's hook conditions (`{"$gt": 20}`)."""

from __future__ import annotations

import operator
import re
from collections.abc import Callable
from typing import Any


def _regex(value: Any, pattern: Any) -> bool:
    return isinstance(value, str) and re.search(pattern, value) is not None


OPERATORS: dict[str, Callable[[Any, Any], Any]] = {
    "$eq": operator.eq,
    "$ne": operator.ne,
    "$gt": operator.gt,
    "$gte": operator.ge,
    "$lt": operator.lt,
    "$lte": operator.le,
    "$regex": _regex,
}


def _is_condition(expected: dict[str, Any]) -> bool:
    return bool(expected) and all(key in OPERATORS for key in expected)


def matches(expected: Any, actual: Any) -> bool:
    """Whether `actual` satisfies `expected`: every key of a dict is present and
    matches (nested dicts as subsets); `{"$op": operand, ...}` compares; anything
    else must be equal. Values that cannot be compared (20 > "x") do not match."""
    if isinstance(expected, dict):
        if _is_condition(expected):
            try:
                return all(OPERATORS[op](actual, operand) for op, operand in expected.items())
            except TypeError:
                return False
        return isinstance(actual, dict) and all(
            key in actual and matches(value, actual[key]) for key, value in expected.items()
        )
    return bool(expected == actual)


def check(expected: Any, where: str = "filter") -> None:
    """Raises ValueError naming the place of an unknown `$operator` or a bad regex."""
    if not isinstance(expected, dict):
        return
    for key, value in expected.items():
        if key.startswith("$") and key not in OPERATORS:
            known = ", ".join(OPERATORS)
            raise ValueError(f"{where}: unknown operator '{key}' (known: {known})")
        if key == "$regex":
            try:
                re.compile(value)
            except (re.error, TypeError) as e:
                raise ValueError(f"{where}: $regex {value!r} is not a valid pattern: {e}") from None
        check(value, f"{where}.{key}")
