"""FHIR R4 for appointments: ``Slot`` resources in (a Bundle of them, or one), ``Appointment`` out.

A FHIR ``Slot`` maps onto a published slot as follows:

- the hospital's slot id: the first ``identifier.value``, else the resource ``id``;
- the department: extension ``urn:healthbook:department`` (``valueCode`` or ``valueString``: the
  department's code as registered by the operator);
- the capacity: extension ``urn:healthbook:capacity`` (``valuePositiveInt``), else 1;
- ``serviceType[0]`` (``text``, else the first coding's ``display``): the service label;
- ``status``: ``free`` → open; ``busy-unavailable`` and ``entered-in-error`` → blocked. ``busy``
  and ``busy-tentative`` are refused: send ``free`` with the capacity that remains bookable here.
"""

from __future__ import annotations

from typing import Any

import msgspec

from api.appointments import schemas
from api.core.errors import InvalidInput

DEPARTMENT_EXTENSION = "urn:healthbook:department"
CAPACITY_EXTENSION = "urn:healthbook:capacity"
FACILITY_SYSTEM = "urn:healthbook:facility"
_STATUSES = {"free": "open", "busy-unavailable": "blocked", "entered-in-error": "blocked"}
FHIR_STATUS = {
    "booked": "booked",
    "checked_in": "arrived",
    "completed": "fulfilled",
    "no_show": "noshow",
    "cancelled": "cancelled",
}


def _list(resource: dict[str, Any], name: str, where: str) -> list[Any]:
    """An element that FHIR defines as a list: absent, or a JSON array (400 otherwise)."""
    value = resource.get(name)
    if value is None:
        return []
    if not isinstance(value, list):
        raise InvalidInput(f"{where}: {name} must be a JSON array")
    return value


def _text(value: Any, where: str) -> str | None:
    if value is None or isinstance(value, str):
        return value
    raise InvalidInput(f"{where}: expected a string, not {type(value).__name__}")


def _extension(resource: dict[str, Any], url: str, where: str = "Slot") -> Any:
    for extension in _list(resource, "extension", where):
        if isinstance(extension, dict) and extension.get("url") == url:
            for key, value in extension.items():
                if key.startswith("value"):
                    return value
    return None


def _service(resource: dict[str, Any], where: str = "Slot") -> str | None:
    for concept in _list(resource, "serviceType", where):
        if not isinstance(concept, dict):
            continue
        text = _text(concept.get("text"), f"{where}.serviceType.text")
        if text:
            return text[:200]
        for coding in _list(concept, "coding", f"{where}.serviceType"):
            if not isinstance(coding, dict):
                continue
            display = _text(coding.get("display"), f"{where}.serviceType.coding.display")
            if display:
                return display[:200]
    return None


def _slot(resource: dict[str, Any], where: str) -> schemas.SlotPut:
    identifiers = [i for i in _list(resource, "identifier", where) if isinstance(i, dict)]
    ref = next((i["value"] for i in identifiers if i.get("value")), None) or resource.get("id")
    status = resource.get("status")
    if not isinstance(status, str) or status not in _STATUSES:
        raise InvalidInput(
            f"{where}: status {status!r} is not accepted (free, busy-unavailable, "
            "entered-in-error); publish `free` slots with the capacity still bookable here"
        )
    candidate = {
        "id": ref,
        "department": _extension(resource, DEPARTMENT_EXTENSION, where),
        "service": _service(resource, where),
        "start": resource.get("start"),
        "end": resource.get("end"),
        "capacity": _extension(resource, CAPACITY_EXTENSION, where) or 1,
        "status": _STATUSES[status],
    }
    try:
        return msgspec.convert(candidate, schemas.SlotPut)
    except msgspec.ValidationError as exc:
        hint = ""
        if candidate["department"] is None:
            hint = f" (the department goes in extension {DEPARTMENT_EXTENSION})"
        raise InvalidInput(f"{where}: {exc}{hint}") from exc


def slots_from_fhir(body: bytes) -> list[schemas.SlotPut]:
    """The slots of a FHIR ``Bundle`` of ``Slot`` resources (other resources are skipped), or of
    one ``Slot``."""
    try:
        document = msgspec.json.decode(body)
    except msgspec.DecodeError as exc:
        raise InvalidInput("the body is not JSON") from exc
    if not isinstance(document, dict):
        raise InvalidInput("expected a FHIR Bundle or Slot resource")
    kind = document.get("resourceType")
    if kind == "Slot":
        return [_slot(document, "Slot")]
    if kind != "Bundle":
        raise InvalidInput(f"expected a FHIR Bundle or Slot resource, not {kind!r}")
    found: list[schemas.SlotPut] = []
    for index, entry in enumerate(_list(document, "entry", "Bundle")):
        resource = entry.get("resource") if isinstance(entry, dict) else None
        if isinstance(resource, dict) and resource.get("resourceType") == "Slot":
            found.append(_slot(resource, f"entry[{index}] (Slot/{resource.get('id')})"))
    if not found:
        raise InvalidInput("the Bundle holds no Slot resources")
    if len(found) > schemas.MAX_SLOTS_PER_REQUEST:
        raise InvalidInput(f"at most {schemas.MAX_SLOTS_PER_REQUEST} slots per request")
    return found


def appointment(view: schemas.Appointment) -> dict[str, Any]:
    """An R4 ``Appointment`` resource for the citizen's app (or to hand to another system)."""
    place = f"{view.facility_name} – {view.department.name}"
    resource: dict[str, Any] = {
        "resourceType": "Appointment",
        "id": view.id,
        "meta": {"lastUpdated": view.updated_at.isoformat()},
        "status": FHIR_STATUS[view.status],
        "start": view.start.isoformat(),
        "end": view.end.isoformat(),
        "minutesDuration": max(1, int((view.end - view.start).total_seconds() // 60)),
        "created": view.booked_at.isoformat(),
        "slot": [{"reference": f"Slot/{view.slot_id}"}],
        "participant": [
            {
                "actor": {"reference": f"Patient/{view.citizen_id}"},
                "required": "required",
                "status": "accepted",
            },
            {
                "actor": {
                    "identifier": {"system": FACILITY_SYSTEM, "value": view.facility_id},
                    "display": place,
                },
                "required": "required",
                "status": "accepted",
            },
        ],
    }
    if view.service:
        resource["serviceType"] = [{"text": view.service}]
    if view.department.room:
        resource["comment"] = view.department.room
    if view.status == "cancelled":
        by = "the patient" if view.cancelled_by == "citizen" else "the facility"
        text = f"Cancelled by {by}" + (f": {view.cancel_reason}" if view.cancel_reason else "")
        resource["cancelationReason"] = {
            "coding": [
                {
                    "system": "http://terminology.hl7.org/CodeSystem/appointment-cancellation-reason",
                    "code": "pat" if view.cancelled_by == "citizen" else "prov",
                    "display": "Patient" if view.cancelled_by == "citizen" else "Provider",
                }
            ],
            "text": text,
        }
    return resource
