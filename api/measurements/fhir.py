"""A checked reading as a FHIR R4 Observation, and as the book stores it.

The Observation follows the R4 vital signs profiles (``category`` vital-signs, LOINC ``code``,
``subject``, ``effective[x]``, UCUM ``valueQuantity``; blood pressure as the 85354-9 panel with
8480-6/8462-4 components); blood glucose is a ``laboratory`` observation (2339-0, mg/dL) whose
meal relation is an extension. Every one is marked patient-reported: ``meta.security`` PATAST
("patient asserted", HL7 v3 ObservationValue), ``performer`` the patient; the meter, when given,
is a contained ``Device``.
"""

from __future__ import annotations

import datetime as dt
import uuid
from dataclasses import dataclass
from typing import Any

import msgspec

from api.measurements.kinds import LOINC, MEAL_RELATIONS, UCUM, VITAL_SIGNS_PROFILE
from api.measurements.readings import Checked

OBSERVATION_CATEGORY = "http://terminology.hl7.org/CodeSystem/observation-category"
PATIENT_ASSERTED = {
    "system": "http://terminology.hl7.org/CodeSystem/v3-ObservationValue",
    "code": "PATAST",
    "display": "patient asserted",
}
MEAL_EXTENSION = "https://sosuckhoe.example/fhir/StructureDefinition/meal-relation"
"""The extension holding a glucose reading's relation to a meal."""
MEAL_SYSTEM = "https://sosuckhoe.example/fhir/CodeSystem/meal-relation"
TIMING_EVENT = "http://terminology.hl7.org/CodeSystem/v3-TimingEvent"
_CATEGORY_DISPLAY = {"vital-signs": "Vital Signs", "laboratory": "Laboratory"}
_encoder = msgspec.json.Encoder()


@dataclass(frozen=True, slots=True)
class Part:
    code: str
    display: str
    number: float
    unit: str
    unit_code: str


@dataclass(frozen=True, slots=True)
class BookReading:
    """What the book stores (api/health_book/home.py ``Reading``)."""

    id: uuid.UUID
    codes: tuple[tuple[str, str], ...]
    display: str
    categories: tuple[str, ...]
    effective_at: dt.datetime
    effective_end: dt.datetime | None
    value: Part | None
    components: tuple[Part, ...]
    notes: tuple[str, ...]
    home: dict[str, Any]
    resource: bytes


def _instant(at: dt.datetime) -> str:
    return at.astimezone(dt.UTC).isoformat(timespec="seconds").replace("+00:00", "Z")


def _quantity(number: float, checked: Checked) -> dict[str, Any]:
    spec = checked.spec
    return {"value": number, "unit": spec.unit_display, "system": UCUM, "code": spec.unit}


def observation(
    reading_id: uuid.UUID,
    checked: Checked,
    *,
    patient: str,
    version: int,
    updated: dt.datetime,
) -> dict[str, Any]:
    spec = checked.spec
    profiles = [VITAL_SIGNS_PROFILE] if spec.category == "vital-signs" else []
    if spec.profile:
        profiles.append(spec.profile)
    meta: dict[str, Any] = {
        "versionId": str(version),
        "lastUpdated": _instant(updated),
        "security": [PATIENT_ASSERTED],
    }
    if profiles:
        meta["profile"] = profiles
    resource: dict[str, Any] = {
        "resourceType": "Observation",
        "id": str(reading_id),
        "meta": meta,
    }
    device = checked.device
    if device is not None:
        contained: dict[str, Any] = {"resourceType": "Device", "id": "device"}
        if device.manufacturer:
            contained["manufacturer"] = device.manufacturer
        if device.name:
            contained["deviceName"] = [{"name": device.name, "type": "user-friendly-name"}]
        if device.model:
            contained["modelNumber"] = device.model
        if device.serial:
            contained["serialNumber"] = device.serial
        resource["contained"] = [contained]
    if checked.meal is not None:
        display, timing = MEAL_RELATIONS[checked.meal]
        codings = [{"system": MEAL_SYSTEM, "code": checked.meal, "display": display}]
        if timing is not None:
            codings.append({"system": TIMING_EVENT, "code": timing})
        resource["extension"] = [
            {"url": MEAL_EXTENSION, "valueCodeableConcept": {"coding": codings, "text": display}}
        ]
    codings = [{"system": LOINC, "code": spec.code, "display": spec.display}]
    codings += [{"system": LOINC, "code": c, "display": d} for c, d in spec.extra_codes]
    resource |= {
        "status": "final",
        "category": [
            {
                "coding": [
                    {
                        "system": OBSERVATION_CATEGORY,
                        "code": spec.category,
                        "display": _CATEGORY_DISPLAY[spec.category],
                    }
                ]
            }
        ],
        "code": {"coding": codings, "text": spec.display},
        "subject": {"reference": patient},
    }
    if checked.end is None:
        resource["effectiveDateTime"] = _instant(checked.start)
    else:
        resource["effectivePeriod"] = {
            "start": _instant(checked.start),
            "end": _instant(checked.end),
        }
    resource["performer"] = [{"reference": patient}]
    if spec.is_panel:
        resource["component"] = [
            {
                "code": {
                    "coding": [{"system": LOINC, "code": part.code, "display": part.display}],
                    "text": part.display,
                },
                "valueQuantity": _quantity(checked.values[part.field], checked),
            }
            for part in spec.parts
        ]
    else:
        resource["valueQuantity"] = _quantity(checked.values["value"], checked)
    if checked.note:
        resource["note"] = [{"text": checked.note}]
    if device is not None:
        resource["device"] = {"reference": "#device"}
    return resource


def book_reading(
    reading_id: uuid.UUID,
    checked: Checked,
    *,
    patient: str,
    version: int,
    updated: dt.datetime,
    origin: str,
    recorded_by: str,
) -> BookReading:
    spec = checked.spec
    parts = tuple(
        Part(
            code=part.code,
            display=part.display,
            number=checked.values[part.field],
            unit=spec.unit_display,
            unit_code=spec.unit,
        )
        for part in spec.parts
    )
    home: dict[str, Any] = {
        "kind": spec.kind,
        "origin": origin,
        "recorded_by": recorded_by,
        "values": checked.values,
        "unit": spec.unit,
        "entered": msgspec.to_builtins(checked.entered),
        "version": version,
    }
    if checked.end is not None:
        home["effective_end"] = checked.end.isoformat()
    for name in ("meal", "note", "source"):
        if getattr(checked, name) is not None:
            home[name] = getattr(checked, name)
    if checked.device is not None:
        home["device"] = msgspec.to_builtins(checked.device)
    resource = observation(reading_id, checked, patient=patient, version=version, updated=updated)
    return BookReading(
        id=reading_id,
        codes=((spec.code, spec.display), *spec.extra_codes),
        display=spec.display,
        categories=(spec.category,),
        effective_at=checked.start,
        effective_end=checked.end,
        value=None if spec.is_panel else parts[0],
        components=parts if spec.is_panel else (),
        notes=(checked.note,) if checked.note else (),
        home=home,
        resource=_encoder.encode(resource),
    )
