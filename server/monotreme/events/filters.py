"""Event filters, as hooks and subscribers write them: equality, nested partial
matches, the operators of Platypush's hook conditions (`{"$gt": 20}`) and its
phrases with `${name}` placeholders (`"turn on the ${room} lights"`)."""

from __future__ import annotations

import operator
import re
from collections.abc import Callable
from typing import Any, NamedTuple


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
Bindings = dict[str, str]
# The names a matching value binds, or None when it does not match.
Binder = Callable[[Any], Bindings | None]
_MISSING = object()
_PLACEHOLDER = re.compile(r"\$\{([^}]*)\}")
# Ignored around a word, and stripped from the ends of a bound value.
_PUNCTUATION = ".,;:!?\"'()"


class _Slot(NamedTuple):
    name: str
    # The condition's word after the slot; None when another slot follows (the
    # slot takes one word) or when it is the last (it takes the rest).
    until: str | None
    last: bool


def _is_phrase(expected: Any) -> bool:
    return isinstance(expected, str) and _PLACEHOLDER.search(expected) is not None


class Phrase:
    """A condition holding `${name}` placeholders, matched as Platypush matches a
    spoken phrase: by words, whatever their case and the whitespace between them;
    punctuation around a word does not count ("lights." is "lights"); the phrase
    may lie within a longer one, and words it does not name may come between two
    of its words ("hey, turn on all the kitchen lights please" matches "turn on
    the ${room} lights"). A placeholder takes one or more words, up to the
    condition's next word (the rest when it is last), and binds them lowercased,
    as Platypush does. Matching is one forward pass over the words: the first
    occurrence of each word leaves the most room for the rest, so it never needs
    to backtrack, and a long value cannot make it slow."""

    def __init__(self, condition: str) -> None:
        for inner in _PLACEHOLDER.findall(condition):
            if not inner.strip().isidentifier():
                raise ValueError(f"${{{inner}}} must name a variable, e.g. ${{room}}")
        # `${ room }` is `${room}`: a placeholder is then one word.
        words = _PLACEHOLDER.sub(lambda m: f"${{{m[1].strip()}}}", condition).split()
        words = [stripped for word in words if (stripped := word.strip(_PUNCTUATION))]
        self._elements: list[str | _Slot] = []
        for position, word in enumerate(words):
            slot = _PLACEHOLDER.fullmatch(word)
            if slot is None:
                if "${" in word:
                    raise ValueError(f"'{word}': a ${{name}} must be a word of its own")
                self._elements.append(word.lower())
                continue
            name = slot[1]
            if any(isinstance(e, _Slot) and e.name == name for e in self._elements):
                raise ValueError(f"${{{name}}} appears twice")
            following = words[position + 1] if position + 1 < len(words) else None
            until = None if following is None or _PLACEHOLDER.fullmatch(following) else following.lower()
            self._elements.append(_Slot(name, until, following is None))

    def match(self, value: Any) -> Bindings | None:
        """The placeholders' values if `value` is a string that matches, else None."""
        if not isinstance(value, str):
            return None
        said = value.lower().split()
        words = [word.strip(_PUNCTUATION) for word in said]
        bound: Bindings = {}
        position = 0
        try:
            for element in self._elements:
                if isinstance(element, str):
                    position = words.index(element, position) + 1
                    continue
                if position >= len(words):
                    return None
                if element.last:
                    end = len(words)
                elif element.until is None:
                    end = position + 1
                else:
                    end = words.index(element.until, position + 1)
                bound[element.name] = " ".join(said[position:end]).strip(_PUNCTUATION)
                position = end
        except ValueError:  # a word the value lacks
            return None
        return bound


def predicate(expected: Any) -> Predicate:
    """Whether a value satisfies `expected`: every key of a dict is present and
    matches (nested dicts as subsets); `{"$op": operand, ...}` compares; a string
    with `${name}` placeholders is a `Phrase`; anything else must be equal. Values
    that cannot be compared (20 > "x") do not match. Built once per filter: the
    bus tests one filter per subscriber per event."""
    if _is_phrase(expected):
        phrase = Phrase(expected)
        return lambda actual: phrase.match(actual) is not None
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
    # Plain values compare directly; nested filters and phrases have their own predicates.
    equal = [(key, value) for key, value in expected.items() if not _has_own_test(value)]
    nested = [(key, predicate(value)) for key, value in expected.items() if _has_own_test(value)]

    def subset(actual: Any) -> bool:
        if not isinstance(actual, dict):
            return False
        for key, value in equal:
            if value != actual.get(key, _MISSING):
                return False
        # `not nested` first: no generator to build for a flat filter.
        return not nested or all(key in actual and test(actual[key]) for key, test in nested)

    return subset


def _has_own_test(value: Any) -> bool:
    return isinstance(value, dict) or _is_phrase(value)


def binder(expected: Any) -> Binder | None:
    """For a filter holding phrases, a function answering the names a matching
    value binds (None when it does not match); None for a filter without one,
    which binds nothing: test it with `predicate`."""
    if _is_phrase(expected):
        return Phrase(expected).match
    if not isinstance(expected, dict) or _is_condition(expected):
        return None
    binders = {key: found for key, value in expected.items() if (found := binder(value)) is not None}
    if not binders:
        return None
    rest = predicate({key: value for key, value in expected.items() if key not in binders})

    def bind(actual: Any) -> Bindings | None:
        if not rest(actual):  # also: `actual` is a dict
            return None
        bound: Bindings = {}
        for key, bind_value in binders.items():
            found = bind_value(actual[key]) if key in actual else None
            if found is None:
                return None
            bound.update(found)
        return bound

    return bind


def check(expected: Any, where: str = "filter") -> None:
    """Raises ValueError naming the place of an unknown `$operator`, a bad regex or a bad phrase."""
    if _is_phrase(expected):
        try:
            Phrase(expected)
        except ValueError as e:
            raise ValueError(f"{where}: {e}") from None
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
        if isinstance(value, dict) or key not in OPERATORS:  # an operand is a value, not a phrase
            check(value, f"{where}.{key}")
