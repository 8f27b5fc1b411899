"""What the demo seeds: two facilities with departments, a week of slots, and FHIR R4 visit
summaries for the demo citizens (made here, so a fresh clone needs no sample files)."""

from __future__ import annotations

import datetime as dt
import uuid
from dataclasses import dataclass
from typing import Any
from zoneinfo import ZoneInfo

from api.identity.demo_idp import DEMO_PEOPLE, DemoPerson

TIMEZONE = "Asia/Ho_Chi_Minh"
NATIONAL_ID_SYSTEM = "https://fhir.moh.gov.vn/sid/cccd"
DOCUMENT_SYSTEM = "urn:healthbook:demo:document"


@dataclass(frozen=True)
class Department:
    code: str
    name: str
    room: str


@dataclass(frozen=True)
class Facility:
    id: str
    name: str
    province: str
    address: str
    departments: tuple[Department, ...]


FACILITIES: tuple[Facility, ...] = (
    Facility(
        id="01001",
        name="Bệnh viện Đa khoa Hà Nội (demo)",
        province="Hà Nội",
        address="1 Phố Tràng Thi, Hoàn Kiếm, Hà Nội",
        departments=(
            Department("NOI", "Khoa Nội tổng hợp", "P.101"),
            Department("NHI", "Khoa Nhi", "P.205"),
        ),
    ),
    Facility(
        id="79002",
        name="Trung tâm Y tế Quận 1 (demo)",
        province="Hồ Chí Minh",
        address="20 Nguyễn Du, Quận 1, TP. Hồ Chí Minh",
        departments=(
            Department("KB", "Khám bệnh", "P.01"),
            Department("TIEM", "Tiêm chủng", "P.03"),
        ),
    ),
)

SLOT_TIMES = ((8, 0), (8, 30), (9, 0), (9, 30), (10, 0), (10, 30), (14, 0), (14, 30), (15, 0))
SLOT_MINUTES = 30
SLOT_CAPACITY = 4


def week_of_slots(department: Department, today: dt.date, days: int = 7) -> list[dict[str, Any]]:
    """Slots of ``department`` from ``today`` for ``days`` days, in the facility's time zone (the
    hospital's own ids are stable, so seeding again updates instead of adding)."""
    zone = ZoneInfo(TIMEZONE)
    slots = []
    for offset in range(days):
        day = today + dt.timedelta(days=offset)
        for hour, minute in SLOT_TIMES:
            start = dt.datetime.combine(day, dt.time(hour, minute), zone)
            slots.append(
                {
                    "id": f"demo-{department.code}-{day:%Y%m%d}-{hour:02d}{minute:02d}",
                    "department": department.code,
                    "service": f"Khám — {department.name}",
                    "start": start.isoformat(),
                    "end": (start + dt.timedelta(minutes=SLOT_MINUTES)).isoformat(),
                    "capacity": SLOT_CAPACITY,
                    "status": "open",
                }
            )
    return slots


def soon_slot(department: Department, now: dt.datetime) -> dict[str, Any]:
    """A slot starting in 20-30 minutes (the walkthrough's: inside the check-in window)."""
    start = (now + dt.timedelta(minutes=30)).replace(second=0, microsecond=0)
    start -= dt.timedelta(minutes=start.minute % 10)
    local = start.astimezone(ZoneInfo(TIMEZONE))
    return {
        "id": f"demo-walkthrough-{department.code}-{local:%Y%m%d%H%M}",
        "department": department.code,
        "service": f"Khám — {department.name}",
        "start": local.isoformat(),
        "end": (local + dt.timedelta(minutes=SLOT_MINUTES)).isoformat(),
        "capacity": 50,
        "status": "open",
    }


def person(national_id: str) -> DemoPerson:
    return next(p for p in DEMO_PEOPLE if p.national_id == national_id)


def _urn() -> str:
    return f"urn:uuid:{uuid.uuid4()}"


def _coding(system: str, code: str, display: str) -> dict[str, Any]:
    return {"coding": [{"system": system, "code": code, "display": display}], "text": display}


LOINC = "http://loinc.org"
ICD10 = "http://hl7.org/fhir/sid/icd-10"
CVX = "http://hl7.org/fhir/sid/cvx"
UCUM = "http://unitsofmeasure.org"


@dataclass(frozen=True)
class Visit:
    """One visit of the demo: what the doctor found and measured."""

    number: int
    days_ago: int
    facility: Facility
    department: Department
    diagnosis: tuple[str, str]
    systolic: int | None = None
    diastolic: int | None = None
    weight_kg: float | None = None
    vaccine: tuple[str, str] | None = None


VISITS: dict[str, tuple[Visit, ...]] = {
    "001090000001": (
        Visit(
            1,
            40,
            FACILITIES[0],
            FACILITIES[0].departments[0],
            ("I10", "Tăng huyết áp"),
            148,
            94,
            58.5,
        ),
        Visit(
            2,
            10,
            FACILITIES[0],
            FACILITIES[0].departments[0],
            ("I10", "Tăng huyết áp"),
            136,
            88,
            58.0,
        ),
    ),
    "079085000002": (
        Visit(
            1,
            25,
            FACILITIES[1],
            FACILITIES[1].departments[0],
            ("J06.9", "Nhiễm trùng hô hấp trên cấp"),
            122,
            78,
            71.0,
        ),
    ),
    "001218000003": (
        Visit(
            1,
            60,
            FACILITIES[0],
            FACILITIES[0].departments[1],
            ("Z23", "Tiêm chủng"),
            weight_kg=21.4,
            vaccine=("03", "Sởi - Quai bị - Rubella (MMR)"),
        ),
    ),
}


def visit_bundle(national_id: str, visit: Visit, now: dt.datetime) -> dict[str, Any]:
    """An R4 ``collection`` Bundle of one visit: Patient, Encounter, Condition, vital signs and,
    for a vaccination visit, the Immunization."""
    who = person(national_id)
    at = (now - dt.timedelta(days=visit.days_ago)).replace(microsecond=0)
    start, end = at.isoformat(), (at + dt.timedelta(minutes=25)).isoformat()
    patient_url, encounter_url = _urn(), _urn()
    family, _, given = who.name.partition(" ")
    resources: list[tuple[str, dict[str, Any]]] = [
        (
            patient_url,
            {
                "resourceType": "Patient",
                "identifier": [{"system": NATIONAL_ID_SYSTEM, "value": who.national_id}],
                "name": [{"text": who.name, "family": family, "given": [given]}],
                "gender": who.gender,
                "birthDate": who.birthdate,
            },
        ),
        (
            encounter_url,
            {
                "resourceType": "Encounter",
                "identifier": [
                    {"system": DOCUMENT_SYSTEM, "value": f"enc-{national_id}-{visit.number}"}
                ],
                "status": "finished",
                "class": {
                    "system": "http://terminology.hl7.org/CodeSystem/v3-ActCode",
                    "code": "AMB",
                    "display": "ambulatory",
                },
                "type": [{"text": visit.department.name}],
                "subject": {"reference": patient_url},
                "period": {"start": start, "end": end},
                "reasonCode": [_coding(ICD10, *visit.diagnosis)],
                "serviceProvider": {"display": visit.facility.name},
            },
        ),
        (
            _urn(),
            {
                "resourceType": "Condition",
                "clinicalStatus": _coding(
                    "http://terminology.hl7.org/CodeSystem/condition-clinical", "active", "Active"
                ),
                "code": _coding(ICD10, *visit.diagnosis),
                "subject": {"reference": patient_url},
                "encounter": {"reference": encounter_url},
                "recordedDate": start,
            },
        ),
    ]
    vital = {
        "coding": [
            {
                "system": "http://terminology.hl7.org/CodeSystem/observation-category",
                "code": "vital-signs",
            }
        ]
    }
    if visit.systolic is not None and visit.diastolic is not None:
        resources.append(
            (
                _urn(),
                {
                    "resourceType": "Observation",
                    "status": "final",
                    "category": [vital],
                    "code": _coding(LOINC, "85354-9", "Blood pressure panel"),
                    "subject": {"reference": patient_url},
                    "encounter": {"reference": encounter_url},
                    "effectiveDateTime": start,
                    "component": [
                        {
                            "code": _coding(LOINC, "8480-6", "Systolic blood pressure"),
                            "valueQuantity": {
                                "value": visit.systolic,
                                "unit": "mmHg",
                                "system": UCUM,
                                "code": "mm[Hg]",
                            },
                        },
                        {
                            "code": _coding(LOINC, "8462-4", "Diastolic blood pressure"),
                            "valueQuantity": {
                                "value": visit.diastolic,
                                "unit": "mmHg",
                                "system": UCUM,
                                "code": "mm[Hg]",
                            },
                        },
                    ],
                },
            )
        )
    if visit.weight_kg is not None:
        resources.append(
            (
                _urn(),
                {
                    "resourceType": "Observation",
                    "status": "final",
                    "category": [vital],
                    "code": _coding(LOINC, "29463-7", "Body weight"),
                    "subject": {"reference": patient_url},
                    "encounter": {"reference": encounter_url},
                    "effectiveDateTime": start,
                    "valueQuantity": {
                        "value": visit.weight_kg,
                        "unit": "kg",
                        "system": UCUM,
                        "code": "kg",
                    },
                },
            )
        )
    if visit.vaccine is not None:
        resources.append(
            (
                _urn(),
                {
                    "resourceType": "Immunization",
                    "status": "completed",
                    "vaccineCode": _coding(CVX, *visit.vaccine),
                    "patient": {"reference": patient_url},
                    "encounter": {"reference": encounter_url},
                    "occurrenceDateTime": start,
                },
            )
        )
    return {
        "resourceType": "Bundle",
        "type": "collection",
        "identifier": {"system": DOCUMENT_SYSTEM, "value": f"{national_id}-visit-{visit.number}"},
        "timestamp": end,
        "entry": [{"fullUrl": url, "resource": resource} for url, resource in resources],
    }


def new_record(national_id: str, now: dt.datetime) -> tuple[Facility, dict[str, Any]]:
    """The walkthrough's "new record": today's visit, published when the citizen has been seen."""
    facility = FACILITIES[0]
    visit = Visit(
        int(now.timestamp()),
        0,
        facility,
        facility.departments[0],
        ("I10", "Tăng huyết áp"),
        128,
        82,
        57.8,
    )
    return facility, visit_bundle(national_id, visit, now)
