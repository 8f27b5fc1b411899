"""The value rules of the QĐ 130 tables (as amended by QĐ 4750 and QĐ 3176), one field at a time.

Every rule here comes from the Ministry's tables and the traps that open-source readers of these
files ran into (see ``docs/insurance-mapping.md``, "Field rules", for the sources):

- Times are local Vietnam time written without an offset: ``+07:00`` is attached.
- A date is 8 characters (``yyyymmdd``) or 12 (``yyyymmddHHMM``), fixed per field; a few fields
  changed form between QĐ 4750 and QĐ 3176 (``NGAY_HEN_KL``, ``NGAY_MIEN_CCT``) and take both.
- ``00`` as day, or as month and day, means "not known": the value is a partial date (FHIR
  ``2026-03`` or ``2026``), never a made-up first of the month (QĐ 4210's old rule).
  A partial date carries no time (``0000``). ``20261300`` or ``20260230`` is no date: a problem.
- ``;`` separates the values of a multi-valued field (insurance cards changed mid-episode, their
  registration places and validity, extra diagnoses); positions stay aligned, empty positions
  included.
- Codes are strings: ``01`` stays ``01`` (``MA_LOAI_KCB``, ``MA_DANTOC``, ``SO_CCCD``, phone).
- Numbers use ``.`` as decimal separator, never ``,``; an empty number is no value.
- An empty element is no value (``None``).

Each reader raises :class:`FieldError` with a rule a person can read when the text breaks it.
"""

from __future__ import annotations

import calendar
import datetime as dt
import re
from dataclasses import dataclass
from decimal import Decimal, InvalidOperation
from typing import Literal

VIETNAM = dt.timezone(dt.timedelta(hours=7), "ICT")
"""Vietnam's time zone (UTC+07:00, no daylight saving): the zone of every time in the files."""

DateForm = Literal["8", "12", "8|12"]
"""Which lengths a date field takes: ``yyyymmdd``, ``yyyymmddHHMM``, or either."""

Precision = Literal["year", "month", "day", "minute"]

MULTI_SEPARATOR = ";"
MIN_YEAR = 1900
"""No date in these files is older (the oldest living people's births are later): an earlier
year is a typing slip, and year 0001 at +07:00 would fall before the first UTC instant."""

_DIGITS = re.compile(r"[0-9]+")
_LENGTHS: dict[str, tuple[int, ...]] = {"8": (8,), "12": (12,), "8|12": (8, 12)}
_SPELLED = {
    "8": "8 characters yyyymmdd",
    "12": "12 characters yyyymmddHHMM",
    "8|12": "8 characters yyyymmdd or 12 characters yyyymmddHHMM",
}
_DECIMAL = re.compile(r"-?[0-9]+(\.[0-9]+)?")
_INTEGER = re.compile(r"-?[0-9]+")


class FieldError(ValueError):
    """A field's text breaks a rule; ``rule`` says which, in words."""

    def __init__(self, rule: str) -> None:
        super().__init__(rule)
        self.rule = rule


@dataclass(frozen=True, slots=True)
class VnDate:
    """A date or time from the files: what is known of it, nothing invented.

    ``month``/``day`` are ``None`` when the file wrote ``00`` (not known); ``hour``/``minute``
    are ``None`` for 8-character dates and for partial dates.
    """

    year: int
    month: int | None
    day: int | None
    hour: int | None = None
    minute: int | None = None

    @property
    def precision(self) -> Precision:
        if self.month is None:
            return "year"
        if self.day is None:
            return "month"
        if self.hour is None:
            return "day"
        return "minute"

    def fhir_date(self) -> str:
        """FHIR ``date``: ``2026``, ``2026-03`` or ``2026-03-05`` (a time is dropped)."""
        if self.month is None:
            return f"{self.year:04d}"
        if self.day is None:
            return f"{self.year:04d}-{self.month:02d}"
        return f"{self.year:04d}-{self.month:02d}-{self.day:02d}"

    def fhir_datetime(self) -> str:
        """FHIR ``dateTime``: the date as known, with the time at ``+07:00`` when there is one."""
        if self.hour is None or self.minute is None:
            return self.fhir_date()
        return f"{self.fhir_date()}T{self.hour:02d}:{self.minute:02d}:00+07:00"

    def aware(self) -> dt.datetime | None:
        """The instant (Vietnam time) of a full date-time; midnight for a full date; ``None``
        for a partial date."""
        if self.month is None or self.day is None:
            return None
        return dt.datetime(
            self.year, self.month, self.day, self.hour or 0, self.minute or 0, tzinfo=VIETNAM
        )

    def date(self) -> dt.date | None:
        """The calendar day, when the day is known."""
        if self.month is None or self.day is None:
            return None
        return dt.date(self.year, self.month, self.day)


def parse_date(text: str, form: DateForm) -> VnDate:
    """Read an 8- or 12-character date of the files (see the module's rules)."""
    if len(text) not in _LENGTHS[form] or not _DIGITS.fullmatch(text):
        raise FieldError(f"a date of {_SPELLED[form]}")
    year, month, day = int(text[0:4]), int(text[4:6]), int(text[6:8])
    if year < MIN_YEAR:
        raise FieldError(f"the year {text[0:4]} is before {MIN_YEAR}")
    if month > 12:
        raise FieldError(f"month {text[4:6]} does not exist (01-12, or 00 when not known)")
    if month == 0 and day != 0:
        raise FieldError("a day is given but the month is 00 (not known)")
    if day > 28 and month and day > calendar.monthrange(year, month)[1]:
        raise FieldError(f"day {text[6:8]} does not exist in {year:04d}-{month:02d}")
    hour = minute = None
    if len(text) == 12:
        hour, minute = int(text[8:10]), int(text[10:12])
        if hour > 23 or minute > 59:
            raise FieldError(f"time {text[8:10]}:{text[10:12]} does not exist")
        if month == 0 or day == 0:
            if hour or minute:
                raise FieldError("a time is given for a date whose day is not known")
            hour = minute = None
    return VnDate(year, month or None, day or None, hour, minute)


def parse_decimal(text: str, places: int | None = None) -> Decimal:
    """A number with ``.`` as decimal separator, at most ``places`` decimals when given."""
    if not _DECIMAL.fullmatch(text):
        if "," in text:
            raise FieldError("a number with '.' as decimal separator (not ',')")
        raise FieldError("a number (digits, '.' as decimal separator)")
    if places is not None and "." in text and len(text.split(".", 1)[1]) > places:
        raise FieldError(f"a number with at most {places} decimals")
    try:
        return Decimal(text)
    except InvalidOperation:  # pragma: no cover - the pattern admits only valid decimals
        raise FieldError("a number") from None


def parse_integer(text: str) -> int:
    """A whole number (``Số`` without decimals)."""
    if not _INTEGER.fullmatch(text):
        raise FieldError("a whole number (digits only)")
    return int(text)


def split_multi(text: str) -> tuple[str | None, ...]:
    """The values of a ``;``-separated field, by position: an empty position is ``None``."""
    return tuple((part.strip() or None) for part in text.split(MULTI_SEPARATOR))


def clean(text: str | None) -> str | None:
    """Surrounding whitespace removed; an empty field is no value."""
    if text is None:
        return None
    text = text.strip()
    return text or None


PersonIdKind = Literal["national_id", "old_national_id", "passport", "other"]

_PASSPORT = re.compile(r"[A-Z][0-9]{7,8}|[A-Z]{2}[0-9]{6,7}")


@dataclass(frozen=True, slots=True)
class PersonId:
    """What ``SO_CCCD`` holds. The field (C15 since QĐ 4750, was N15) takes a 12-digit personal
    ID number (CCCD, the health identifier of NĐ 102/2025 Art. 6), a 9-digit old identity card
    (CMND), a passport number or an e-ID account code: the form tells them apart as far as it
    can. Only a 12-digit personal ID matches a citizen; the others are kept, never matched."""

    value: str
    kind: PersonIdKind

    @property
    def matchable(self) -> bool:
        return self.kind == "national_id"


def classify_person_id(text: str) -> PersonId:
    value = text.strip().upper()
    if len(value) == 12 and value.isdigit():
        return PersonId(value, "national_id")
    if len(value) == 9 and value.isdigit():
        return PersonId(value, "old_national_id")
    if _PASSPORT.fullmatch(value):
        return PersonId(value, "passport")
    return PersonId(value, "other")
