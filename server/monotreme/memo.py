"""One encoding per object, for the objects many subscribers share: the bus
hands every subscriber the same event message, so its JSON or protobuf bytes
are made once, not once per subscriber."""

from __future__ import annotations

from collections import OrderedDict
from collections.abc import Callable
from typing import Generic, TypeVar

T = TypeVar("T")
R = TypeVar("R")


class Memo(Generic[T, R]):
    """`encode(obj)`, remembered for the last `size` objects by identity (each
    kept alive while remembered, so its id cannot be reused meanwhile)."""

    def __init__(self, encode: Callable[[T], R], size: int = 256) -> None:
        self._encode = encode
        self._size = size
        self._done: OrderedDict[int, tuple[T, R]] = OrderedDict()

    def __call__(self, obj: T) -> R:
        found = self._done.get(id(obj))
        if found is not None:
            return found[1]
        value = self._encode(obj)
        self._done[id(obj)] = (obj, value)
        if len(self._done) > self._size:
            self._done.popitem(last=False)
        return value
