"""OpenAPI examples and hand-written schemas of the appointment routes."""

from __future__ import annotations

from typing import Any

from litestar.openapi.spec import OpenAPIFormat, OpenAPIType, Schema

from api.appointments import fhir
from api.core.openapi import examples

BOOK_EXAMPLES = examples(a_slot_from_the_search={"slot_id": "3f2c8a9e-5b7d-4c1e-9a0b-2d6e8f1a4c7b"})
STATUS_EXAMPLES = examples(
    arrived={"status": "checked_in"},
    cancelled_by_the_facility={"status": "cancelled", "reason": "Bác sĩ nghỉ đột xuất"},
)

SLOTS_EXAMPLE: dict[str, Any] = {
    "slots": [
        {
            "id": "KB-2026-03-02-0800",
            "department": "NOI",
            "service": "Khám nội tổng quát",
            "start": "2026-03-02T08:00:00+07:00",
            "end": "2026-03-02T08:15:00+07:00",
            "capacity": 3,
        },
        {
            "id": "KB-2026-03-02-0815",
            "department": "NOI",
            "start": "2026-03-02T08:15:00+07:00",
            "end": "2026-03-02T08:30:00+07:00",
            "capacity": 3,
            "status": "blocked",
        },
    ]
}
_STRING = Schema(type=OpenAPIType.STRING)
_ARRAY_OF_OBJECTS = Schema(type=OpenAPIType.ARRAY, items=Schema(type=OpenAPIType.OBJECT))
_FHIR_SLOT = Schema(
    type=OpenAPIType.OBJECT,
    required=["resourceType", "status"],
    properties={
        "resourceType": Schema(const="Slot"),
        "id": _STRING,
        "identifier": _ARRAY_OF_OBJECTS,
        "status": Schema(enum=["free", "busy-unavailable", "entered-in-error"]),
        "start": Schema(type=OpenAPIType.STRING, format=OpenAPIFormat.DATE_TIME),
        "end": Schema(type=OpenAPIType.STRING, format=OpenAPIFormat.DATE_TIME),
        "serviceType": _ARRAY_OF_OBJECTS,
        "extension": _ARRAY_OF_OBJECTS,
    },
    description=f"Department in extension `{fhir.DEPARTMENT_EXTENSION}`, capacity in "
    f"`{fhir.CAPACITY_EXTENSION}`",
)
FHIR_SLOTS = Schema(
    one_of=[
        _FHIR_SLOT,
        Schema(
            type=OpenAPIType.OBJECT,
            required=["resourceType", "entry"],
            properties={
                "resourceType": Schema(const="Bundle"),
                "entry": Schema(
                    type=OpenAPIType.ARRAY,
                    min_items=1,
                    items=Schema(
                        type=OpenAPIType.OBJECT,
                        required=["resource"],
                        properties={"resource": _FHIR_SLOT},
                    ),
                ),
            },
        ),
    ]
)
FHIR_SLOTS_EXAMPLE: dict[str, Any] = {
    "resourceType": "Bundle",
    "type": "collection",
    "entry": [
        {
            "resource": {
                "resourceType": "Slot",
                "identifier": [{"system": "urn:example:his-slots", "value": "KB-0900"}],
                "status": "free",
                "start": "2026-03-02T09:00:00+07:00",
                "end": "2026-03-02T09:15:00+07:00",
                "serviceType": [{"text": "Khám nội tổng quát"}],
                "extension": [
                    {"url": fhir.DEPARTMENT_EXTENSION, "valueCode": "NOI"},
                    {"url": fhir.CAPACITY_EXTENSION, "valuePositiveInt": 3},
                ],
            }
        }
    ],
}
