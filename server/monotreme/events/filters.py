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


Predicate = Callable[[Any], bool]
_MISSING = object()


def predicate(expected: Any) -> Predicate:
    """Whether a value satisfies `expected`: every key of a dict is present and
    matches (nested dicts as subsets); `{"$op": operand, ...}` compares; anything
    else must be equal. Values that cannot be compared (20 > "x") do not match.
    Built once per filter: the bus tests one filter per subscriber per event."""
    if not isinstance(expected, dict):
        return lambda actual: bool(expected == actual)
    if _is_condition(expected):
        checks = [(OPERATORS[op], operand) for op, operand in expected.items()]

        def condition(actual: Any) -> bool:
            try:
                return all(compare(actual, operand) for compare, operand in checks)
            except TypeError:
                return False

        return condition
    # Plain values compare directly; nested filters recurse.
    equal = [(key, value) for key, value in expected.items() if not isinstance(value, dict)]
    nested = [(key, predicate(value)) for key, value in expected.items() if isinstance(value, dict)]

    def subset(actual: Any) -> bool:
        if not isinstance(actual, dict):
            return False
        for key, value in equal:
            if value != actual.get(key, _MISSING):
                return False
        # `not nested` first: no generator to build for a flat filter.
        return not nested or all(key in actual and test(actual[key]) for key, test in nested)

    return subset


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
