"""OpenAPI examples and schemas of the health book's routes."""

from __future__ import annotations

from typing import Any

from litestar.openapi.spec import OpenAPIType, Schema

from api.health_book.fhir.parse import ACCEPTED_BUNDLE_TYPES

BUNDLE_SCHEMA = Schema(
    type=OpenAPIType.OBJECT,
    required=["resourceType", "type"],
    properties={
        "resourceType": Schema(const="Bundle"),
        "type": Schema(enum=sorted(ACCEPTED_BUNDLE_TYPES)),
        "entry": Schema(
            type=OpenAPIType.ARRAY,
            items=Schema(
                type=OpenAPIType.OBJECT,
                properties={
                    "fullUrl": Schema(type=OpenAPIType.STRING),
                    "resource": Schema(
                        type=OpenAPIType.OBJECT,
                        required=["resourceType"],
                        properties={"resourceType": Schema(type=OpenAPIType.STRING)},
                    ),
                },
            ),
        ),
    },
)
"""The body of ``PublishSummary``: what the parser checks before anything else (anything else in
the Bundle is read per resource and refused with an OperationOutcome that says where)."""

_PATIENT = "urn:uuid:6a0b3d5e-2f43-4a55-9a3e-3c1de6a2b001"
_ENCOUNTER = "urn:uuid:6a0b3d5e-2f43-4a55-9a3e-3c1de6a2b002"
VISIT_SUMMARY_EXAMPLE: dict[str, Any] = {
    "resourceType": "Bundle",
    "type": "collection",
    "identifier": {"system": "urn:example:visit-summaries", "value": "visit-2026-0001"},
    "timestamp": "2026-03-02T09:30:00+07:00",
    "entry": [
        {
            "fullUrl": _PATIENT,
            "resource": {
                "resourceType": "Patient",
                "identifier": [
                    {"system": "https://fhir.moh.gov.vn/sid/cccd", "value": "001090000001"}
                ],
                "name": [{"text": "Nguyễn Văn An"}],
                "gender": "male",
                "birthDate": "1990-05-14",
            },
        },
        {
            "fullUrl": _ENCOUNTER,
            "resource": {
                "resourceType": "Encounter",
                "status": "finished",
                "class": {
                    "system": "http://terminology.hl7.org/CodeSystem/v3-ActCode",
                    "code": "AMB",
                },
                "subject": {"reference": _PATIENT},
                "period": {
                    "start": "2026-03-02T09:00:00+07:00",
                    "end": "2026-03-02T09:25:00+07:00",
                },
            },
        },
        {
            "fullUrl": "urn:uuid:6a0b3d5e-2f43-4a55-9a3e-3c1de6a2b003",
            "resource": {
                "resourceType": "Condition",
                "code": {
                    "coding": [
                        {
                            "system": "http://hl7.org/fhir/sid/icd-10",
                            "code": "I10",
                            "display": "Tăng huyết áp",
                        }
                    ]
                },
                "subject": {"reference": _PATIENT},
                "encounter": {"reference": _ENCOUNTER},
                "recordedDate": "2026-03-02T09:20:00+07:00",
            },
        },
    ],
}
"""A hospital's visit summary: a ``collection`` Bundle of a Patient (matched by national ID), an
Encounter and a Condition (the example of ``PublishSummary``; tests publish it too)."""
