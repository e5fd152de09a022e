"""One encoding per object, for the objects many subscribers share: the bus
hands every subscriber the same event message, so its JSON or protobuf bytes
are made once, not once per subscriber; a batch of them is spliced from
those bytes."""

from __future__ import annotations

from collections import OrderedDict
from collections.abc import Callable, Iterable
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


def _varint(value: int) -> bytes:
    out = bytearray()
    while value > 0x7F:
        out.append(value & 0x7F | 0x80)
        value >>= 7
    out.append(value)
    return bytes(out)


def spliced(field: int, encode: Callable[[T], bytes]) -> Callable[[Iterable[T]], bytes]:
    """The encoding of a message whose only field set is `field`, repeated
    messages, from its items: each item's `encode(item)` (a Memo's, made once
    for every subscriber) spliced in after its tag and length, byte for byte
    what protobuf writes, without copying the items into a message to
    serialize them again."""
    tag = _varint(field << 3 | 2)  # wire type 2: length-delimited

    def encode_all(items: Iterable[T]) -> bytes:
        parts: list[bytes] = []
        for item in items:
            data = encode(item)
            parts += (tag, _varint(len(data)), data)
        return b"".join(parts)

    return encode_all
