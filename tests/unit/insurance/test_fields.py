"""The value rules of the QĐ 130 fields: dates per form, partial dates, numbers, multi-values."""

from __future__ import annotations

import datetime as dt
from decimal import Decimal

import pytest

from api.insurance.fields import (
    VIETNAM,
    FieldError,
    VnDate,
    classify_person_id,
    clean,
    parse_date,
    parse_decimal,
    parse_integer,
    split_multi,
)


def test_a_twelve_character_time_is_local_vietnam_time() -> None:
    when = parse_date("202603050830", "12")
    assert when == VnDate(2026, 3, 5, 8, 30)
    assert when.fhir_datetime() == "2026-03-05T08:30:00+07:00"
    assert when.aware() == dt.datetime(2026, 3, 5, 1, 30, tzinfo=dt.UTC)
    assert when.aware().utcoffset() == VIETNAM.utcoffset(None)  # type: ignore[union-attr]


def test_an_eight_character_date_has_no_time() -> None:
    when = parse_date("20260305", "8")
    assert when.precision == "day"
    assert when.fhir_datetime() == "2026-03-05"
    assert when.fhir_date() == "2026-03-05"


@pytest.mark.parametrize(
    ("text", "form", "fhir", "precision"),
    [
        ("20260300", "8", "2026-03", "month"),
        ("20260000", "8", "2026", "year"),
        ("202603000000", "12", "2026-03", "month"),
        ("199000000000", "12", "1990", "year"),
    ],
)
def test_zero_day_or_month_is_a_partial_date_never_the_first(
    text: str, form: str, fhir: str, precision: str
) -> None:
    when = parse_date(text, form)  # type: ignore[arg-type]
    assert when.fhir_date() == fhir
    assert when.fhir_datetime() == fhir
    assert when.precision == precision
    assert when.date() is None
    assert when.aware() is None


@pytest.mark.parametrize(
    ("text", "form", "rule"),
    [
        ("20261300", "8", "month 13 does not exist"),
        ("20260230", "8", "day 30 does not exist in 2026-02"),
        ("20260005", "8", "the month is 00"),
        ("00000101", "8", "the year 0000 is before 1900"),
        ("000101010000", "12", "the year 0001 is before 1900"),
        ("202603052460", "12", "time 24:60 does not exist"),
        ("202603000830", "12", "a time is given for a date whose day is not known"),
        ("2026030508", "12", "12 characters yyyymmddHHMM"),
        ("20260305", "12", "12 characters yyyymmddHHMM"),
        ("202603050830", "8", "8 characters yyyymmdd"),
        ("2026-03-05", "8", "8 characters"),
    ],
)
def test_a_date_that_breaks_the_rules_names_the_rule(text: str, form: str, rule: str) -> None:
    with pytest.raises(FieldError, match=rule):
        parse_date(text, form)  # type: ignore[arg-type]


def test_fields_that_changed_form_take_both_lengths() -> None:
    # NGAY_HEN_KL: C12 in QĐ 4750's tables, C8 in later validators (QĐ 3176)
    assert parse_date("20260319", "8|12") == VnDate(2026, 3, 19)
    assert parse_date("202603190800", "8|12") == VnDate(2026, 3, 19, 8, 0)
    with pytest.raises(FieldError, match="8 characters yyyymmdd or 12 characters"):
        parse_date("2026031908", "8|12")


def test_decimals_use_a_point_and_respect_places() -> None:
    assert parse_decimal("68.50", 2) == Decimal("68.50")
    assert parse_decimal("1200", 3) == Decimal(1200)
    with pytest.raises(FieldError, match=r"'\.' as decimal separator"):
        parse_decimal("68,5")
    with pytest.raises(FieldError, match="at most 2 decimals"):
        parse_decimal("1.005", 2)
    with pytest.raises(FieldError, match="a number"):
        parse_decimal("abc")


def test_whole_numbers() -> None:
    assert parse_integer("007") == 7
    with pytest.raises(FieldError, match="whole number"):
        parse_integer("1.5")


def test_multi_values_keep_their_positions() -> None:
    assert split_multi("GD4797920123456;;HT3797920123456") == (
        "GD4797920123456",
        None,
        "HT3797920123456",
    )
    assert split_multi(" 20260101 ; 20260306") == ("20260101", "20260306")


def test_empty_is_no_value_and_codes_stay_strings() -> None:
    assert clean("   ") is None
    assert clean(None) is None
    assert clean(" 01 ") == "01"


@pytest.mark.parametrize(
    ("value", "kind", "matchable"),
    [
        ("079090001234", "national_id", True),
        ("001090001234", "national_id", True),
        ("025123456", "old_national_id", False),
        ("C1234567", "passport", False),
        ("b12345678", "passport", False),
        ("VNEID-ABCDEF", "other", False),
    ],
)
def test_what_so_cccd_holds(value: str, kind: str, matchable: bool) -> None:
    person = classify_person_id(value)
    assert person.kind == kind
    assert person.matchable is matchable
    assert person.value == value.upper()
