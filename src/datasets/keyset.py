"""A compact set of primary keys: each key kept as an 8-byte hash in one flat array (open addressing).

Why by hand: a Python set of strings costs about 100 bytes per key (a set of ints about 60); this costs at most 32
(8-byte slots, at least a quarter full), so "each key once per table" stays flat for millions of people. No
maintained library in the project's stack offers a compact set of fixed-width integers. Two distinct keys share a
64-bit hash with a probability of about n^2 / 2^65 (3 in 100 million for a million keys); the second one would then
be taken for a key already seen.
"""

from __future__ import annotations

from array import array
from collections.abc import Iterable
from hashlib import blake2b

_EMPTY = -1  # no hash is -1 (see _hash; CPython's hash() never returns -1 either)
_MIN_SLOTS = 1024


def _hash(key: str) -> int:
    value = int.from_bytes(blake2b(key.encode("utf-8", "surrogatepass"), digest_size=8).digest(), "little",
                           signed=True)
    return value if value != _EMPTY else -2


# A key's 64-bit hash for a set that lives in this process only: Python's own string hash (SipHash, salted per
# process, so never store it), ten times faster than _hash. The built-in itself, so that map(process_hash, keys)
# hashes a whole page in C.
process_hash = hash


class KeySet:
    """``add(key) -> bool``: True the first time a key (a string) is added, False after. Not thread-safe."""

    __slots__ = ("_count", "_mask", "_slots")

    def __init__(self) -> None:
        self._slots = array("q", [_EMPTY]) * _MIN_SLOTS
        self._mask = _MIN_SLOTS - 1
        self._count = 0

    def __len__(self) -> int:
        return self._count

    def __contains__(self, key: str) -> bool:
        return self._slots[self._slot(_hash(key))] != _EMPTY

    def add(self, key: str) -> bool:
        return self.add_hash(_hash(key))

    def add_hash(self, value: int) -> bool:
        """``add`` for a key already hashed to a 64-bit integer other than -1 (see ``process_hash``)."""
        index = self._slot(value)
        if self._slots[index] != _EMPTY:
            return False
        self._slots[index] = value
        self._count += 1
        if 2 * self._count > len(self._slots):
            self._grow()
        return True

    def add_hashes(self, values: Iterable[int]) -> list[bool]:
        """``add_hash`` of each value in order (True: new), in one loop: a page of keys costs one call, with the
        probing inlined (a method call per key cost more than the probe itself)."""
        slots, mask, count = self._slots, self._mask, self._count
        limit = len(slots) // 2  # grown past half full
        fresh: list[bool] = []
        note = fresh.append
        for value in values:
            index = value & mask
            held = slots[index]
            while held != _EMPTY:  # linear probing
                if held == value:
                    note(False)
                    break
                index = (index + 1) & mask
                held = slots[index]
            else:
                slots[index] = value
                count += 1
                note(True)
                if count > limit:
                    self._count = count
                    self._grow()
                    slots, mask = self._slots, self._mask
                    limit = len(slots) // 2
        self._count = count
        return fresh

    def _slot(self, value: int) -> int:
        """The slot holding ``value``, or the empty slot where it belongs (linear probing)."""
        slots, mask = self._slots, self._mask
        index = value & mask
        while slots[index] != _EMPTY and slots[index] != value:
            index = (index + 1) & mask
        return index

    def _grow(self) -> None:
        old = self._slots
        slots = self._slots = array("q", [_EMPTY]) * (2 * len(old))
        mask = self._mask = len(slots) - 1
        for value in old:
            if value != _EMPTY:
                index = value & mask
                while slots[index] != _EMPTY:
                    index = (index + 1) & mask
                slots[index] = value
