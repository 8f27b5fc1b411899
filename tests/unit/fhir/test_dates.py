"""FHIR date, dateTime and instant: the R4 shapes and their UTC value."""

from __future__ import annotations

from datetime import UTC, datetime

import msgspec
import pytest

from api.health_book.fhir.dates import FhirDate, FhirDateTime, FhirInstant, When, to_when


@pytest.mark.parametrize(
    ("text", "at", "precision"),
    [
        ("2020", datetime(2020, 1, 1, tzinfo=UTC), "year"),
        ("2020-05", datetime(2020, 5, 1, tzinfo=UTC), "month"),
        ("2020-05-01", datetime(2020, 5, 1, tzinfo=UTC), "day"),
        ("2020-05-01T10:00:00+07:00", datetime(2020, 5, 1, 3, tzinfo=UTC), "second"),
        ("2020-05-01T10:00:00Z", datetime(2020, 5, 1, 10, tzinfo=UTC), "second"),
        ("2012-02-13T07:36:34.158+00:00", datetime(2012, 2, 13, 7, 36, 34, 158000, UTC), "second"),
        ("2016-12-31T23:59:60Z", datetime(2017, 1, 1, tzinfo=UTC), "second"),
        ("2020-01-01T00:30:00-14:00", datetime(2020, 1, 1, 14, 30, tzinfo=UTC), "second"),
    ],
)
def test_valid(text: str, at: datetime, precision: str) -> None:
    assert to_when(text) == When(text, at, precision)  # type: ignore[arg-type]


@pytest.mark.parametrize(
    "text",
    [
        "",
        "0000",
        "20",
        "2020-13",
        "2020-02-30",
        "2020-5-1",
        "2020-05-01T10:00",
        "2020-05-01T10:00:00",
        "2020-05-01T24:00:00Z",
        "2020-05-01 10:00:00Z",
        "2020-05-01T10:00:00+15:00",
        "13/02/2012",
    ],
)
def test_invalid(text: str) -> None:
    with pytest.raises(ValueError, match="not a FHIR date"):
        to_when(text)


@pytest.mark.parametrize(
    ("kind", "good", "bad"),
    [
        (FhirDate, "2020-05-01", "2020-05-01T10:00:00Z"),
        (FhirDateTime, "2020-05-01T10:00:00Z", "2020-05-01T10:00Z"),
        (FhirInstant, "2020-05-01T10:00:00.5Z", "2020-05-01"),
    ],
)
def test_decoding_checks_the_shape(kind: object, good: str, bad: str) -> None:
    assert msgspec.json.decode(msgspec.json.encode(good), type=kind) == good
    with pytest.raises(msgspec.ValidationError):
        msgspec.json.decode(msgspec.json.encode(bad), type=kind)
