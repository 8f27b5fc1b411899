"""Blood pressure records met outside a correlation: kept until the end of the document and
paired there by start, end and source, unless a correlation carried them (an export lists the
two halves of a reading alone and again inside their correlation, in either order)."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Literal

import msgspec

from api.measurements.apple_health.values import Reading

Where = tuple[float, float, str]
"""Start and end (POSIX seconds) and source name: what pairs two halves."""


class Half(msgspec.Struct, frozen=True):
    """A systolic or diastolic record met outside a correlation, waiting for its partner."""

    systolic: bool
    value: float
    original_unit: str
    reading: Reading
    user_entered: bool


class Pairing:
    """The halves waiting (and the halves correlations carried before their lone copies were
    met), at most ``limit`` of them together: memory stays bounded by the readings in flight."""

    def __init__(self, limit: int) -> None:
        self.limit = limit
        self._pending: dict[Where, list[Half]] = {}
        self._pending_count = 0
        self._carried: dict[tuple[float, float, str, bool, float], int] = {}

    def _remembered(self) -> int:
        return self._pending_count + len(self._carried)

    def carried(self, where: Where, systolic: bool, value: float) -> None:
        """A correlation carried this half: its lone copy, met before or after, is dropped."""
        halves = self._pending.get(where)
        if halves is not None:
            for index, half in enumerate(halves):
                if half.systolic is systolic and half.value == value:
                    del halves[index]
                    self._pending_count -= 1
                    if not halves:
                        del self._pending[where]
                    return
        if self._remembered() < self.limit:
            key = (*where, systolic, value)
            self._carried[key] = self._carried.get(key, 0) + 1

    def alone(self, where: Where, half: Half) -> Literal["carried", "kept", "full"]:
        """A half met outside a correlation: dropped if a correlation carried it, else kept
        (unless ``limit`` halves are already waiting)."""
        key = (*where, half.systolic, half.value)
        carried = self._carried.get(key)
        if carried is not None:
            if carried > 1:
                self._carried[key] = carried - 1
            else:
                del self._carried[key]
            return "carried"
        if self._remembered() >= self.limit:
            return "full"
        self._pending.setdefault(where, []).append(half)
        self._pending_count += 1
        return "kept"

    def leftovers(self) -> Iterator[tuple[list[Half], list[Half]]]:
        """At the end of the document: per start, end and source, the systolic and the diastolic
        halves no correlation carried, in order of appearance. Forgets them all."""
        for halves in self._pending.values():
            yield (
                [half for half in halves if half.systolic],
                [half for half in halves if not half.systolic],
            )
        self._pending.clear()
        self._carried.clear()
        self._pending_count = 0
