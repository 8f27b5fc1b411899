"""Samples as companion apps send them in a JSON batch: our own shape, or the essentials of a
Google Health Connect record.

Our shape: ``kind``, ``value`` (or ``systolic`` and ``diastolic``), ``unit``, ``effective_at``
(``effective_end``), ``meal``, ``device``, ``source``, ``note`` and ``id`` (the sample's
idempotency key). Health Connect: ``recordType`` (``BloodPressureRecord``, ``WeightRecord``...),
``time`` (or ``startTime``/``endTime``), the record's value as its unit object (such as
``{"inKilograms": 70.2}`` or ``{"inMillimolesPerLiter": 5.4}``) under ``systolic``,
``diastolic``, ``weight``, ``height``, ``temperature``, ``percentage``, ``level`` or
``beatsPerMinute``; ``relationToMeal`` (0 to 4); and ``metadata``: ``id`` is the key,
``dataOrigin.packageName`` the source, ``device`` the device. Other fields a record carries
(``zoneOffset``, ``specimenSource``...) are ignored.
"""

from __future__ import annotations

import datetime as dt
from typing import Any

import msgspec

from api.core.errors import InvalidInput
from api.measurements.kinds import HEALTH_CONNECT_MEAL
from api.measurements.readings import Sample
from api.measurements.schemas import DeviceInfo, Note, SampleKey, Text, Unit

Number = float | dict[str, Any]

UNIT_OBJECTS: dict[str, str] = {
    "inMillimetersOfMercury": "mm[Hg]",
    "inKilograms": "kg",
    "inGrams": "g",
    "inPounds": "[lb_av]",
    "inMeters": "m",
    "inCentimeters": "cm",
    "inInches": "[in_i]",
    "inFeet": "[ft_i]",
    "inCelsius": "Cel",
    "inFahrenheit": "[degF]",
    "inMilligramsPerDeciliter": "mg/dL",
    "inMillimolesPerLiter": "mmol/L",
    "value": "%",
}
"""A Health Connect unit object's member, and the unit its number is in."""
_VALUE_FIELDS = ("weight", "height", "temperature", "percentage", "level", "beatsPerMinute")


class HcOrigin(msgspec.Struct, kw_only=True):
    packageName: Text | None = None  # Health Connect's name


class HcDevice(msgspec.Struct, kw_only=True):
    manufacturer: Text | None = None
    model: Text | None = None
    type: int | str | None = None


class HcMetadata(msgspec.Struct, kw_only=True):
    id: SampleKey | None = None
    dataOrigin: HcOrigin | None = None
    device: HcDevice | None = None
    clientRecordId: SampleKey | None = None
    recordingMethod: int | None = None


class AppSample(msgspec.Struct, kw_only=True):
    id: SampleKey | None = None
    metadata: HcMetadata | None = None
    kind: Text | None = None
    recordType: Text | None = None
    value: Number | None = None
    systolic: Number | None = None
    diastolic: Number | None = None
    weight: Number | None = None
    height: Number | None = None
    temperature: Number | None = None
    percentage: Number | None = None
    level: Number | None = None
    beatsPerMinute: float | None = None
    unit: Unit | None = None
    effective_at: dt.datetime | None = None
    time: dt.datetime | None = None
    startTime: dt.datetime | None = None
    effective_end: dt.datetime | None = None
    endTime: dt.datetime | None = None
    meal: Text | None = None
    relationToMeal: int | None = None
    device: DeviceInfo | None = None
    source: Text | None = None
    note: Note | None = None


def _number(name: str, given: Number, unit: str | None) -> tuple[float, str | None]:
    """A plain number (with the sample's ``unit``) or a Health Connect unit object."""
    if isinstance(given, dict):
        if len(given) != 1:
            raise InvalidInput(
                f'{name} must be a number or one unit object such as {{"inKilograms": 70}}',
                field=name,
            )
        ((member, number),) = given.items()
        found = UNIT_OBJECTS.get(member)
        if found is None:
            raise InvalidInput(f"{name}: unknown unit {member!r}", field=name)
        if isinstance(number, bool) or not isinstance(number, int | float):
            raise InvalidInput(f"{name}.{member} must be a number", field=name)
        return float(number), found
    return given, unit


def sample_from_app(raw: dict[str, Any], *, default_source: str | None) -> Sample:
    """One sample of a batch, or :class:`InvalidInput` naming the field."""
    try:
        app = msgspec.convert(raw, AppSample)
    except msgspec.ValidationError as error:
        text = str(error)
        field = text.rpartition("at `$.")[2].rstrip("`") if "at `$." in text else None
        raise InvalidInput(text, field=field) from None
    kind_name = app.kind or app.recordType
    if kind_name is None:
        raise InvalidInput("kind (or Health Connect recordType) is required", field="kind")
    unit = app.unit
    numbers: dict[str, float | None] = {"value": None, "systolic": None, "diastolic": None}
    for name in ("systolic", "diastolic"):
        given = getattr(app, name)
        if given is not None:
            numbers[name], unit = _number(name, given, unit)
    value_field = None
    for name in ("value", *_VALUE_FIELDS):
        given = getattr(app, name)
        if given is None:
            continue
        if value_field is not None:
            raise InvalidInput(f"both {value_field} and {name} are given", field=name)
        value_field = name
        if name == "beatsPerMinute":
            numbers["value"], unit = float(given), unit or "/min"
        else:
            numbers["value"], unit = _number(name, given, unit)
    if unit is None:
        raise InvalidInput("unit is required (or a unit object)", field="unit")
    start = app.effective_at or app.time or app.startTime
    if start is None:
        raise InvalidInput("effective_at (or time, startTime) is required", field="effective_at")
    end = app.effective_end or app.endTime
    meal = app.meal
    if meal is None and app.relationToMeal is not None:
        if app.relationToMeal not in HEALTH_CONNECT_MEAL:
            raise InvalidInput("relationToMeal must be 0 to 4", field="relationToMeal")
        meal = HEALTH_CONNECT_MEAL[app.relationToMeal]
    metadata = app.metadata
    key = app.id or (metadata.id if metadata is not None else None)
    source = app.source
    device = app.device
    if metadata is not None:
        if source is None and metadata.dataOrigin is not None:
            source = metadata.dataOrigin.packageName
        hc_device = metadata.device
        if device is None and hc_device is not None and (hc_device.manufacturer or hc_device.model):
            device = DeviceInfo(manufacturer=hc_device.manufacturer, model=hc_device.model)
    return Sample(
        kind=kind_name,
        unit=unit,
        start=start,
        value=numbers["value"],
        systolic=numbers["systolic"],
        diastolic=numbers["diastolic"],
        end=end,
        source=source or default_source,
        device=device,
        meal=meal,
        note=app.note,
        key=key,
    )
