"""What reading an episode gives: typed rows, the episode, its problems, and its files.

:mod:`api.insurance.tables` reads them (``read_episode``); this module only holds them.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator, Mapping
from dataclasses import dataclass, field
from decimal import Decimal

from api.insurance.fields import PersonId, VnDate

Value = str | int | Decimal | VnDate | None
FieldValue = Value | tuple[Value, ...]


@dataclass(frozen=True, slots=True)
class Problem:
    """One thing wrong with an episode: where (table, ``MA_LK``, field, row) and what rule the
    value breaks, in words a hospital's IT staff can act on."""

    table: str
    ma_lk: str | None
    field: str | None
    value: str | None
    rule: str
    row: int | None = None
    """1-based position of the record in a table of many rows."""


@dataclass(frozen=True, slots=True)
class Row:
    """One record of a table: typed values by field name, and the text as sent."""

    table: str
    index: int
    values: Mapping[str, FieldValue]
    raw: Mapping[str, str]

    def text(self, name: str) -> str | None:
        value = self.values.get(name)
        if isinstance(value, tuple):
            return self.raw.get(name)
        return value if isinstance(value, str) else None

    def texts(self, name: str) -> tuple[str | None, ...]:
        """A multi-valued field, by position (empty positions ``None``)."""
        value = self.values.get(name)
        if isinstance(value, tuple):
            return tuple(item if isinstance(item, str) else None for item in value)
        return (value,) if isinstance(value, str) else ()

    def integer(self, name: str) -> int | None:
        value = self.values.get(name)
        return value if isinstance(value, int) else None

    def decimal(self, name: str) -> Decimal | None:
        value = self.values.get(name)
        return value if isinstance(value, Decimal) else None

    def decimals(self, name: str) -> tuple[Decimal | None, ...]:
        value = self.values.get(name)
        if isinstance(value, tuple):
            return tuple(item if isinstance(item, Decimal) else None for item in value)
        return (value,) if isinstance(value, Decimal) else ()

    def date(self, name: str) -> VnDate | None:
        value = self.values.get(name)
        return value if isinstance(value, VnDate) else None

    def dates(self, name: str) -> tuple[VnDate | None, ...]:
        value = self.values.get(name)
        if isinstance(value, tuple):
            return tuple(item if isinstance(item, VnDate) else None for item in value)
        return (value,) if isinstance(value, VnDate) else ()


@dataclass(frozen=True, slots=True)
class Episode:
    """One episode of care (``MA_LK``): the XML1 summary row and the rows of the other tables,
    in the order the files came (a table sent twice, like XML7 for twins, adds its rows)."""

    ma_lk: str
    summary: Row
    tables: Mapping[str, tuple[Row, ...]]
    person_id: PersonId | None
    """What ``SO_CCCD`` holds; ``person_id.matchable`` only for a 12-digit personal ID."""
    warnings: tuple[Problem, ...] = ()

    def rows(self, table: str) -> tuple[Row, ...]:
        return self.tables.get(table, ())

    @property
    def facility_code(self) -> str | None:
        return self.summary.text("MA_CSKCB")

    @property
    def care_type(self) -> str | None:
        """``MA_LOAI_KCB`` (QĐ 824/QĐ-BYT): 01 examination, 03 inpatient, …"""
        return self.summary.text("MA_LOAI_KCB")


@dataclass(frozen=True)
class TableFiles:
    """An episode's files in the order of its ``FILEHOSO`` elements: ``(LOAIHOSO, bytes)`` pairs.

    A table may come more than once (one XML7 discharge paper per twin), which a plain mapping
    cannot hold; this reads like one for the rest (``files["XML1"]`` is the first XML1)."""

    pairs: tuple[tuple[str, bytes], ...] = field(default_factory=tuple)

    def items(self) -> Iterator[tuple[str, bytes]]:
        return iter(self.pairs)

    def keys(self) -> list[str]:
        return list(dict.fromkeys(name for name, _ in self.pairs))

    def __iter__(self) -> Iterator[str]:
        return iter(self.keys())

    def __len__(self) -> int:
        return len(self.pairs)

    def __contains__(self, name: object) -> bool:
        return any(table == name for table, _ in self.pairs)

    def __getitem__(self, name: str) -> bytes:
        for table, data in self.pairs:
            if table == name:
                return data
        raise KeyError(name)


Files = Mapping[str, bytes] | TableFiles | Iterable[tuple[str, bytes]]
