"""HealthKit's vocabulary and values: record types, units and their UCUM canonical forms,
dates, device descriptions, and the dedup key of a reading."""

from __future__ import annotations

import hashlib
import math
import re
from datetime import datetime
from typing import Final

import msgspec

from api.measurements.apple_health.model import Device, Kind, MealRelation, Source

SYSTOLIC: Final = "HKQuantityTypeIdentifierBloodPressureSystolic"
DIASTOLIC: Final = "HKQuantityTypeIdentifierBloodPressureDiastolic"
BLOOD_PRESSURE: Final = "HKCorrelationTypeIdentifierBloodPressure"
GLUCOSE: Final = "HKQuantityTypeIdentifierBloodGlucose"
MEAL_KEYS: Final = frozenset({"HKBloodGlucoseMealTime", "HKMetadataKeyBloodGlucoseMealTime"})
MEAL_VALUES: Final[dict[str, MealRelation]] = {
    "1": "before_meal",  # HKBloodGlucoseMealTimePreprandial
    "2": "after_meal",  # HKBloodGlucoseMealTimePostprandial
    "HKBloodGlucoseMealTimePreprandial": "before_meal",
    "HKBloodGlucoseMealTimePostprandial": "after_meal",
}
USER_ENTERED: Final = "HKWasUserEntered"

# unit as written by HealthKit -> (canonical UCUM unit, factor, offset): canonical = v * f + o
Unit = tuple[str, float, float]
PRESSURE: Final[dict[str, Unit]] = {
    "mmHg": ("mm[Hg]", 1.0, 0.0),
    "kPa": ("mm[Hg]", 7.50061683, 0.0),
}
_RATE: Final[dict[str, Unit]] = {"count/min": ("/min", 1.0, 0.0), "count/s": ("/min", 60.0, 0.0)}
_MASS: Final[dict[str, Unit]] = {
    "kg": ("kg", 1.0, 0.0),
    "g": ("kg", 0.001, 0.0),
    "lb": ("kg", 0.45359237, 0.0),
    "st": ("kg", 6.35029318, 0.0),
    "oz": ("kg", 0.028349523125, 0.0),
}
_LENGTH: Final[dict[str, Unit]] = {
    "cm": ("cm", 1.0, 0.0),
    "m": ("cm", 100.0, 0.0),
    "mm": ("cm", 0.1, 0.0),
    "in": ("cm", 2.54, 0.0),
    "ft": ("cm", 30.48, 0.0),
}
_TEMPERATURE: Final[dict[str, Unit]] = {
    "degC": ("Cel", 1.0, 0.0),
    "degF": ("Cel", 5 / 9, -32 * 5 / 9),
    "K": ("Cel", 1.0, -273.15),
}
_FRACTION: Final[dict[str, Unit]] = {"%": ("%", 100.0, 0.0)}
_GLUCOSE: Final[dict[str, Unit]] = {
    "mg/dL": ("mg/dL", 1.0, 0.0),
    "mmol/L": ("mmol/L", 1.0, 0.0),  # also `mmol<180.1558800000541>/L`, see unit_of
}
MOLAR_ANNOTATION: Final = re.compile(r"mmol<[0-9.eE+-]+>/L")

QUANTITIES: Final[dict[str, tuple[Kind, dict[str, Unit]]]] = {
    "HKQuantityTypeIdentifierHeartRate": ("heart_rate", _RATE),
    "HKQuantityTypeIdentifierBodyMass": ("body_weight", _MASS),
    "HKQuantityTypeIdentifierHeight": ("body_height", _LENGTH),
    "HKQuantityTypeIdentifierBodyTemperature": ("body_temperature", _TEMPERATURE),
    "HKQuantityTypeIdentifierOxygenSaturation": ("oxygen_saturation", _FRACTION),
    GLUCOSE: ("blood_glucose", _GLUCOSE),
}

DEVICE_KEYS: Final = re.compile(
    r"(?:^|, )(name|manufacturer|model|hardware|firmware|software|localIdentifier"
    r"|UDIDeviceIdentifier|FDAUDI|creation date):"
)
DEVICE_FIELDS: Final = {
    "name": "name",
    "manufacturer": "manufacturer",
    "model": "model",
    "hardware": "hardware",
    "firmware": "firmware",
    "software": "software",
    "localIdentifier": "local_identifier",
    "UDIDeviceIdentifier": "udi",
    "FDAUDI": "udi",
}


class Refused(Exception):
    """One record cannot be read (internal: becomes a :class:`Refusal`)."""


def parse_instant(text: str) -> datetime:
    """A HealthKit date (``2024-01-02 08:00:00 +0700``; ISO 8601 also read) with its offset."""
    if len(text) == 25 and text[19] == " ":
        text = text[:19] + text[20:]
    try:
        instant = datetime.fromisoformat(text)
    except ValueError:
        raise Refused(f"{text!r} is not a date") from None
    if instant.tzinfo is None:
        raise Refused(f"{text!r} has no UTC offset")
    return instant


def parse_device(raw: str) -> Device:
    """The fields of a HealthKit device description; only ``raw`` when it has none."""
    body = raw.strip()
    if body.startswith("<<HKDevice:"):
        closing = body.find(">,")
        body = body[closing + 2 :].lstrip() if closing >= 0 else ""
        body = body.removesuffix(">")
    matches = list(DEVICE_KEYS.finditer(body))
    fields: dict[str, str] = {}
    for index, match in enumerate(matches):
        stop = matches[index + 1].start() if index + 1 < len(matches) else len(body)
        value = body[match.end() : stop].strip()
        field = DEVICE_FIELDS.get(match.group(1))
        if field is not None and value and field not in fields:
            fields[field] = value
    return Device(raw=raw, **fields)


def dedup_key(
    kind: str, start: datetime, end: datetime, values: tuple[float, ...], unit: str, source: str
) -> str:
    """A stable key of one reading: kind, start and end as instants (the offset the export was
    written with does not matter), the canonical values to 4 decimals (kg and lb exports of one
    weight agree) and unit, and the source's name. Hex SHA-256."""
    start_at = start.timestamp()
    end_at = start_at if end is start else end.timestamp()
    shown = "/".join([f"{value:.4f}" for value in values])
    text = (
        f"apple-health\x1f{kind}\x1f{start_at:.3f}\x1f{end_at:.3f}\x1f{shown}\x1f{unit}\x1f{source}"
    )
    return hashlib.sha256(text.encode()).hexdigest()


def unit_of(unit: str, units: dict[str, Unit]) -> Unit:
    found = units.get(unit)
    if found is None and MOLAR_ANNOTATION.fullmatch(unit):
        found = units.get("mmol/L")
    if found is None:
        raise Refused(f"unit {unit!r} is not one this reader converts")
    return found


def number(text: str | None, attribute: str = "value") -> float:
    if text is None:
        raise Refused(f"no {attribute}")
    try:
        value = float(text)
    except ValueError:
        raise Refused(f"{attribute} {text!r} is not a number") from None
    if not math.isfinite(value) or value <= 0:
        raise Refused(f"{attribute} {text!r} is not a positive number")
    return value


def canonical(value: float, unit: Unit) -> float:
    _, factor, offset = unit
    if factor == 1.0 and offset == 0.0:
        return value
    return round(value * factor + offset, 4)


class Reading(msgspec.Struct, frozen=True):
    """The fields every record and correlation carries, read and checked."""

    start: datetime
    end: datetime
    source: Source
    device: Device | None
    line: int | None
