"""A reading as sent, checked and converted: the one place values, units and times are judged.

:func:`check` refuses (naming the field) a kind it does not know, a unit the kind does not
take, a missing or extra value, a number that is not finite, a value no living person can have
(after conversion to the kind's unit), a systolic pressure not above the diastolic, a meal
relation on anything but glucose, a time without its offset, in the future or before 1900.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import math
from dataclasses import dataclass

from api.core.errors import InvalidInput
from api.measurements.errors import ImpossibleValue
from api.measurements.kinds import (
    MEAL_RELATIONS,
    SPECS,
    KindSpec,
    accepted_units,
    converter,
    kind_of,
    unit_key,
)
from api.measurements.schemas import DeviceInfo, Entered

FUTURE_TOLERANCE = dt.timedelta(minutes=10)
"""How far ahead of our clock a reading may be dated (phones' clocks drift)."""
EARLIEST = dt.datetime(1900, 1, 1, tzinfo=dt.UTC)


@dataclass(frozen=True, slots=True)
class Sample:
    """A reading to record, from the API or an import (a companion app's batch, a HealthKit
    export parsed by the Apple Health import): ``value`` for every kind but
    ``blood_pressure`` (``systolic`` and ``diastolic``), ``unit`` as sent, ``start``/``end`` with
    their offsets. ``key``: the sample's own idempotency key (Health Connect ``metadata.id``);
    ``dedup_key``: what identifies it in its source (default: kind, start, end, value, unit and
    source)."""

    kind: str
    unit: str
    start: dt.datetime
    value: float | None = None
    systolic: float | None = None
    diastolic: float | None = None
    end: dt.datetime | None = None
    source: str | None = None
    device: DeviceInfo | None = None
    meal: str | None = None
    note: str | None = None
    key: str | None = None
    dedup_key: str | None = None


@dataclass(frozen=True, slots=True)
class Checked:
    """A sample that passed: values in the kind's unit, rounded to its precision."""

    spec: KindSpec
    values: dict[str, float]
    """``value``, or ``systolic`` and ``diastolic``."""
    start: dt.datetime
    end: dt.datetime | None
    meal: str | None
    device: DeviceInfo | None
    note: str | None
    source: str | None
    entered: Entered


def _finite(name: str, value: object) -> float:
    if isinstance(value, bool) or not isinstance(value, int | float):
        raise InvalidInput(f"{name} must be a number", field=name)
    number = float(value)
    if not math.isfinite(number):
        raise InvalidInput(f"{name} must be a finite number", field=name)
    return number


def _time(name: str, at: dt.datetime, now: dt.datetime) -> dt.datetime:
    if at.tzinfo is None or at.utcoffset() is None:
        raise InvalidInput(
            f"{name} must carry its UTC offset (e.g. 2026-12-01T07:30:00+07:00)", field=name
        )
    if at > now + FUTURE_TOLERANCE:
        raise InvalidInput(f"{name} is in the future", field=name)
    if at < EARLIEST:
        raise InvalidInput(f"{name} is before 1900", field=name)
    return at.astimezone(dt.UTC)


def check(sample: Sample, now: dt.datetime, *, start_field: str = "effective_at") -> Checked:
    """The sample checked and converted, or :class:`InvalidInput` (or its subclass
    :class:`ImpossibleValue`) naming the field."""
    kind = kind_of(sample.kind)
    if kind is None:
        raise InvalidInput(
            f"unknown kind {sample.kind!r}; one of: " + ", ".join(SPECS), field="kind"
        )
    spec = SPECS[kind]
    convert = converter(spec, sample.unit)
    if convert is None:
        raise InvalidInput(
            f"{sample.unit!r} is not a unit of {kind}; use one of: {accepted_units(spec)}",
            field="unit",
        )
    given = {"value": sample.value, "systolic": sample.systolic, "diastolic": sample.diastolic}
    wanted = {part.field for part in spec.parts}
    for name, number in given.items():
        if name not in wanted and number is not None:
            needs = " and ".join(p.field for p in spec.parts)
            raise InvalidInput(f"{kind} takes {needs}, not {name}", field=name)
    values: dict[str, float] = {}
    for part in spec.parts:
        raw = given[part.field]
        if raw is None:
            raise InvalidInput(f"{part.field} is required for {kind}", field=part.field)
        number = round(convert(_finite(part.field, raw)), spec.decimals)
        if not part.low <= number <= part.high:
            raise ImpossibleValue(
                f"{part.field} {number:g} {spec.unit} is not a possible {part.display.lower()} "
                f"(accepted: {part.low:g} to {part.high:g} {spec.unit})",
                field=part.field,
            )
        values[part.field] = number
    if kind == "blood_pressure" and values["systolic"] <= values["diastolic"]:
        raise ImpossibleValue(
            "diastolic pressure must be below the systolic pressure", field="diastolic"
        )
    if sample.meal is not None:
        if kind != "blood_glucose":
            raise InvalidInput("meal is for blood_glucose only", field="meal")
        if sample.meal not in MEAL_RELATIONS:
            raise InvalidInput("meal must be one of: " + ", ".join(MEAL_RELATIONS), field="meal")
    start = _time(start_field, sample.start, now)
    end_field = "effective_end" if start_field == "effective_at" else "end"
    end = None if sample.end is None else _time(end_field, sample.end, now)
    if end is not None and end < start:
        raise InvalidInput(f"{end_field} is before {start_field}", field=end_field)
    if end == start:
        end = None
    return Checked(
        spec=spec,
        values=values,
        start=start,
        end=end,
        meal=sample.meal,
        device=sample.device,
        note=sample.note,
        source=sample.source,
        entered=Entered(
            unit=sample.unit,
            value=sample.value,
            systolic=sample.systolic,
            diastolic=sample.diastolic,
        ),
    )


def dedup_hash(sample: Sample) -> str:
    """SHA-256 of what identifies an imported sample in its source: its own ``dedup_key``, else
    kind, start, end, value(s), unit and source (type+start+end+value+unit+source)."""
    if sample.dedup_key:
        text = "key\x00" + sample.dedup_key
    else:
        kind = kind_of(sample.kind) or sample.kind
        end = sample.end or sample.start
        parts = (
            kind,
            sample.start.astimezone(dt.UTC).isoformat(),
            end.astimezone(dt.UTC).isoformat(),
            repr(sample.value),
            repr(sample.systolic),
            repr(sample.diastolic),
            unit_key(sample.unit),
            sample.source or "",
        )
        text = "\x00".join(parts)
    return hashlib.sha256(text.encode()).hexdigest()
