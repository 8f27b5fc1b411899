"""The template rows, made through the running service the way production makes them."""

from __future__ import annotations

import datetime as dt
import json
from dataclasses import dataclass
from typing import Any

from bench.scale_data.seed import TEMPLATE_NATIONAL_ID, facility_code
from bench.scenarios import SetupContext
from bench.setups import admin_token, booking_citizens, hospital_token

NATIONAL_ID_SYSTEM = "https://fhir.moh.gov.vn/sid/cccd"
TEMPLATE_SLOT = "scale-template"

_VITALS = (
    ("8867-4", "Heart rate", 72, "/min"),
    ("8310-5", "Body temperature", 36.8, "Cel"),
    ("29463-7", "Body weight", 61.5, "kg"),
    ("59408-5", "Oxygen saturation", 98, "%"),
)
_CONDITIONS = (
    ("I10", "Tăng huyết áp vô căn (nguyên phát)"),
    ("E11", "Bệnh đái tháo đường không phụ thuộc insulin"),
    ("J06", "Nhiễm trùng đường hô hấp trên cấp"),
    ("K29", "Viêm dạ dày và tá tràng"),
)


def visit_bundle(national_id: str, key: str, observations: int, when: dt.datetime) -> bytes:
    """One outpatient visit: the patient, an encounter, a diagnosis and ``observations`` vital
    signs (a collection bundle whose identifier is the document's key)."""
    patient = f"urn:uuid:{_uuid(key, 'patient')}"
    encounter = f"urn:uuid:{_uuid(key, 'encounter')}"
    start = when.isoformat()
    end = (when + dt.timedelta(minutes=30)).isoformat()
    code, text = _CONDITIONS[observations % len(_CONDITIONS)]
    entries: list[dict[str, Any]] = [
        {
            "fullUrl": patient,
            "resource": {
                "resourceType": "Patient",
                "identifier": [{"system": NATIONAL_ID_SYSTEM, "value": national_id}],
                "name": [{"text": "Công dân mẫu"}],
                "birthDate": "1980-05-01",
            },
        },
        {
            "fullUrl": encounter,
            "resource": {
                "resourceType": "Encounter",
                "status": "finished",
                "class": {
                    "system": "http://terminology.hl7.org/CodeSystem/v3-ActCode",
                    "code": "AMB",
                },
                "subject": {"reference": patient},
                "period": {"start": start, "end": end},
            },
        },
        {
            "fullUrl": f"urn:uuid:{_uuid(key, 'condition')}",
            "resource": {
                "resourceType": "Condition",
                "clinicalStatus": {
                    "coding": [
                        {
                            "system": "http://terminology.hl7.org/CodeSystem/condition-clinical",
                            "code": "active",
                        }
                    ]
                },
                "code": {
                    "coding": [{"system": "http://hl7.org/fhir/sid/icd-10", "code": code}],
                    "text": text,
                },
                "subject": {"reference": patient},
                "encounter": {"reference": encounter},
                "recordedDate": start,
            },
        },
    ]
    for n in range(observations):
        loinc, display, value, unit = _VITALS[n % len(_VITALS)]
        entries.append(
            {
                "fullUrl": f"urn:uuid:{_uuid(key, f'obs{n}')}",
                "resource": {
                    "resourceType": "Observation",
                    "status": "final",
                    "category": [
                        {
                            "coding": [
                                {
                                    "system": "http://terminology.hl7.org/CodeSystem/"
                                    "observation-category",
                                    "code": "vital-signs",
                                }
                            ]
                        }
                    ],
                    "code": {
                        "coding": [{"system": "http://loinc.org", "code": loinc}],
                        "text": display,
                    },
                    "subject": {"reference": patient},
                    "encounter": {"reference": encounter},
                    "effectiveDateTime": start,
                    "valueQuantity": {
                        "value": value,
                        "unit": unit,
                        "system": "http://unitsofmeasure.org",
                        "code": unit,
                    },
                },
            }
        )
    bundle = {
        "resourceType": "Bundle",
        "type": "collection",
        "identifier": {"system": "urn:healthbook:scale", "value": key},
        "timestamp": end,
        "entry": entries,
    }
    return json.dumps(bundle).encode()


def _uuid(key: str, part: str) -> str:
    import uuid

    return str(uuid.uuid5(uuid.NAMESPACE_URL, f"urn:healthbook:scale:{key}:{part}"))


@dataclass
class Made:
    """What the template step made: tokens the measurements reuse."""

    admin: str
    hospital: str
    facilities: list[str]
    template_token: str


def make_templates(ctx: SetupContext, facilities: int) -> Made:
    """Facilities (each with the department ``NOI``), a hospital client at the first, four
    template visits (one to four vital signs each) for the template citizen, and that citizen's
    booking of a template slot (which also enqueues its notices)."""
    admin = {"Authorization": f"Bearer {admin_token(ctx)}"}
    codes = [facility_code(k) for k in range(facilities)]
    for k, code in enumerate(codes):
        ctx.request_json(
            "PUT",
            f"/admin/facilities/{code}",
            json={"name": f"Bệnh viện {k}", "province": "Hà Nội"},
            headers=admin,
        )
        ctx.request_json(
            "PUT",
            f"/admin/facilities/{code}/departments/NOI",
            json={"name": "Khoa Nội"},
            headers=admin,
        )
    hospital = hospital_token(ctx, codes[0])
    hospital_headers = {
        "Authorization": f"Bearer {hospital}",
        "Content-Type": "application/fhir+json",
    }
    when = dt.datetime.now(dt.UTC).replace(microsecond=0) - dt.timedelta(days=30)
    for n in range(1, 5):
        ctx.request_json(
            "POST",
            "/hospital/summaries",
            body=visit_bundle(TEMPLATE_NATIONAL_ID, f"template-{n}", n, when),
            headers=hospital_headers,
        )
    (token,) = booking_citizens(ctx, 1, int(TEMPLATE_NATIONAL_ID))
    start = dt.datetime.now(dt.UTC).replace(microsecond=0) + dt.timedelta(days=3)
    slots = ctx.request_json(
        "PUT",
        "/hospital/slots",
        json={
            "slots": [
                {
                    "id": TEMPLATE_SLOT,
                    "department": "NOI",
                    "start": start.isoformat(),
                    "end": (start + dt.timedelta(minutes=15)).isoformat(),
                    "capacity": 5,
                }
            ]
        },
        headers={"Authorization": f"Bearer {hospital}"},
    )
    ctx.request_json(
        "POST",
        "/citizens/me/appointments",
        json={"slot_id": slots["slots"][0]["slot_id"]},
        headers={"Authorization": f"Bearer {token}", "Idempotency-Key": "scale-template"},
    )
    return Made(
        admin=admin["Authorization"], hospital=hospital, facilities=codes, template_token=token
    )
