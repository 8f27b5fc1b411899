"""Query parameters shared by several routes."""

from __future__ import annotations

import datetime as dt
from typing import Annotated, Any

from litestar.params import QueryParameter

from api.core.errors import InvalidInput

RFC3339 = r"^\d{4}-\d{2}-\d{2}[Tt]\d{2}:\d{2}:\d{2}(\.\d{1,9})?([Zz]|[+-]\d{2}:\d{2})$"

INSTANT: dict[str, Any] = {
    "pattern": RFC3339,
    "max_length": 40,
    "format": "date-time",
    "description": "An instant with its offset (RFC 3339), e.g. `2026-03-02T08:00:00+07:00`",
}
Instant = Annotated[str | None, QueryParameter(**INSTANT)]
"""An instant in a query string (``QueryParameter(name=..., **INSTANT)`` to rename it). Taken
as text and read by :func:`instant`: the framework would also take a bare number as Unix time
(``?to=0.5``), which the document does not promise."""


def instant(value: str | None, name: str) -> dt.datetime | None:
    """``value`` (already matching :data:`RFC3339`) as an aware datetime; 400 when it names no
    real instant (month 13, hour 25...)."""
    if value is None:
        return None
    try:
        return dt.datetime.fromisoformat(value.upper().replace("Z", "+00:00"))
    except ValueError as exc:
        raise InvalidInput(f"{name}: {value!r} is not a valid RFC 3339 date-time") from exc
