"""FHIR R4 ``date``, ``dateTime`` and ``instant``: the spec's regexes and a normalised value.

FHIR allows partial dates (``2020``, ``2020-05``, ``2020-05-01``) and, when a time is given,
requires seconds and a time zone (``2020-05-01T10:00:00+07:00``). The regexes below are those of
the R4 specification (datatypes.html#primitive), anchored. They check the shape; :func:`to_when`
also checks the calendar (``2021-02-30`` matches the regex but is no date) and converts.

A :class:`When` keeps the text as sent, its precision, and ``at``: the start of the period the value
denotes, as an aware UTC datetime. A value without a time (a partial date) has no time zone in FHIR;
we take it as that date at 00:00 UTC and say so through ``precision``.
"""

from __future__ import annotations

import re
from datetime import UTC, date, datetime, timedelta
from typing import Annotated, Literal

import msgspec

_YEAR = r"([0-9]([0-9]([0-9][1-9]|[1-9]0)|[1-9]00)|[1-9]000)"
_MONTH = r"(0[1-9]|1[0-2])"
_DAY = r"(0[1-9]|[1-2][0-9]|3[0-1])"
_TIME = r"([01][0-9]|2[0-3]):[0-5][0-9]:([0-5][0-9]|60)(\.[0-9]+)?"
_ZONE = r"(Z|(\+|-)((0[0-9]|1[0-3]):[0-5][0-9]|14:00))"

DATE_PATTERN = rf"^{_YEAR}(-{_MONTH}(-{_DAY})?)?$"
DATETIME_PATTERN = rf"^{_YEAR}(-{_MONTH}(-{_DAY}(T{_TIME}{_ZONE})?)?)?$"
INSTANT_PATTERN = rf"^{_YEAR}-{_MONTH}-{_DAY}T{_TIME}{_ZONE}$"

PATTERN_NAMES: dict[str, str] = {
    DATE_PATTERN: "a FHIR date (YYYY, YYYY-MM or YYYY-MM-DD)",
    DATETIME_PATTERN: "a FHIR dateTime (YYYY, YYYY-MM, YYYY-MM-DD or YYYY-MM-DDThh:mm:ss+zz:zz)",
    INSTANT_PATTERN: "a FHIR instant (YYYY-MM-DDThh:mm:ss[.sss]+zz:zz)",
}
"""What each pattern means, for error messages that would otherwise quote the regex."""

FhirDate = Annotated[str, msgspec.Meta(pattern=DATE_PATTERN)]
FhirDateTime = Annotated[str, msgspec.Meta(pattern=DATETIME_PATTERN)]
FhirInstant = Annotated[str, msgspec.Meta(pattern=INSTANT_PATTERN)]

_DATETIME_RE = re.compile(DATETIME_PATTERN)

Precision = Literal["year", "month", "day", "second"]


class When(msgspec.Struct, frozen=True, gc=False):
    """A FHIR date/dateTime/instant: ``text`` as sent, ``at`` in UTC, and its ``precision``."""

    text: str
    at: datetime
    precision: Precision


def to_when(text: str) -> When:
    """Convert a date, dateTime or instant; ``ValueError`` when it is none of them."""
    length = len(text)
    if length == 4 and text.isdigit() and text != "0000":
        return When(text, datetime(int(text), 1, 1, tzinfo=UTC), "year")
    if not _DATETIME_RE.match(text):
        raise ValueError(f"{text!r} is not a FHIR date or dateTime")
    try:
        if length == 7:
            return When(text, datetime(int(text[:4]), int(text[5:7]), 1, tzinfo=UTC), "month")
        if length == 10:
            day = date.fromisoformat(text)
            return When(text, datetime(day.year, day.month, day.day, tzinfo=UTC), "day")
        leap = text[17:19] == "60"
        parsed = datetime.fromisoformat(text[:17] + "59" + text[19:] if leap else text)
    except ValueError as err:
        raise ValueError(f"{text!r} is not a FHIR date or dateTime: {err}") from None
    if leap:
        parsed += timedelta(seconds=1)
    return When(text, parsed.astimezone(UTC), "second")


class WhenCache:
    """Converts date strings, once per distinct string (bundles repeat the same timestamps)."""

    __slots__ = ("_seen",)

    def __init__(self) -> None:
        self._seen: dict[str, When] = {}

    def get(self, text: str) -> When:
        found = self._seen.get(text)
        if found is None:
            found = self._seen[text] = to_when(text)
        return found
