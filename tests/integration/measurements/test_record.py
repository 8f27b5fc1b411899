"""Recording one home reading: FHIR Observation, units converted, impossible values and bad
input refused (naming the field, storing nothing), idempotency keys."""

from __future__ import annotations

import uuid

import pytest

from tests.integration.measurements.conftest import MEASUREMENTS, ago, record
from tests.support.fhir_export import assert_valid_fhir

PATAST = {
    "system": "http://terminology.hl7.org/CodeSystem/v3-ObservationValue",
    "code": "PATAST",
    "display": "patient asserted",
}


async def _count(client, headers) -> int:
    page = await client.get(MEASUREMENTS, params={"limit": 200}, headers=headers)
    assert page.status_code == 200, page.text
    return len(page.json()["items"])


async def test_blood_pressure_is_a_patient_reported_vital_signs_panel(
    client, someone, clock
) -> None:
    body = {
        "kind": "blood_pressure",
        "systolic": 132,
        "diastolic": 84,
        "unit": "mmHg",
        "effective_at": ago(clock, hours=2),
        "device": {"manufacturer": "Omron", "model": "HEM-7156", "serial": "SN-1"},
        "note": "after a walk",
    }
    made = await record(client, someone, body)
    assert made["systolic"] == 132
    assert made["diastolic"] == 84
    assert made["unit"] == "mm[Hg]"
    assert made["patient_reported"] is True
    assert made["origin"] == "entered"
    observation = assert_valid_fhir(made["fhir"])
    assert observation["meta"]["security"] == [PATAST]
    assert "http://hl7.org/fhir/StructureDefinition/bp" in observation["meta"]["profile"]
    assert observation["category"][0]["coding"][0]["code"] == "vital-signs"
    assert observation["code"]["coding"][0] == {
        "system": "http://loinc.org",
        "code": "85354-9",
        "display": "Blood pressure panel with all children optional",
    }
    components = {
        c["code"]["coding"][0]["code"]: c["valueQuantity"] for c in observation["component"]
    }
    assert components["8480-6"]["value"] == 132
    assert components["8462-4"]["value"] == 84
    assert components["8480-6"]["code"] == "mm[Hg]"
    assert components["8480-6"]["system"] == "http://unitsofmeasure.org"
    assert observation["performer"] == [observation["subject"]]
    (device,) = observation["contained"]
    assert device["resourceType"] == "Device"
    assert device["manufacturer"] == "Omron"
    assert device["modelNumber"] == "HEM-7156"
    assert device["serialNumber"] == "SN-1"
    assert observation["device"] == {"reference": "#device"}
    assert observation["note"] == [{"text": "after a walk"}]
    again = await client.get(f"{MEASUREMENTS}/{made['id']}", headers=someone)
    assert again.status_code == 200
    assert again.json()["fhir"] == made["fhir"]


@pytest.mark.parametrize(
    ("body", "field", "stored", "unit"),
    [
        ({"kind": "blood_glucose", "value": 5.6, "unit": "mmol/L"}, "value", 100.9, "mg/dL"),
        (
            {"kind": "blood_glucose", "value": 5.6, "unit": "mmol<180.1558800000541>/L"},
            "value",
            100.9,
            "mg/dL",
        ),
        ({"kind": "blood_glucose", "value": 99, "unit": "mg/dL"}, "value", 99, "mg/dL"),
        ({"kind": "body_weight", "value": 154.3, "unit": "[lb_av]"}, "value", 69.99, "kg"),
        ({"kind": "body_weight", "value": 70500, "unit": "g"}, "value", 70.5, "kg"),
        ({"kind": "body_height", "value": 65, "unit": "[in_i]"}, "value", 165.1, "cm"),
        ({"kind": "body_temperature", "value": 100.4, "unit": "[degF]"}, "value", 38, "Cel"),
        ({"kind": "body_temperature", "value": 37.2, "unit": "Cel"}, "value", 37.2, "Cel"),
        ({"kind": "heart_rate", "value": 72, "unit": "bpm"}, "value", 72, "/min"),
        ({"kind": "oxygen_saturation", "value": 0.97, "unit": "1"}, "value", 97, "%"),
        (
            {"kind": "blood_pressure", "systolic": 16, "diastolic": 10, "unit": "kPa"},
            "systolic",
            120,
            "mm[Hg]",
        ),
    ],
)
async def test_units_are_converted_to_the_kinds_ucum_unit(
    client, someone, clock, body, field, stored, unit
) -> None:
    made = await record(client, someone, {**body, "effective_at": ago(clock, minutes=5)})
    assert made[field] == pytest.approx(stored, abs=0.01)
    assert made["unit"] == unit
    assert made["entered"]["unit"] == body["unit"]
    observation = assert_valid_fhir(made["fhir"])
    quantity = (
        observation["component"][0]["valueQuantity"]
        if "component" in observation
        else observation["valueQuantity"]
    )
    assert quantity["code"] == unit
    assert quantity["value"] == pytest.approx(stored, abs=0.01)


async def test_glucose_is_laboratory_with_its_meal_relation(client, someone, clock) -> None:
    made = await record(
        client,
        someone,
        {
            "kind": "blood_glucose",
            "value": 7.8,
            "unit": "mmol/L",
            "meal": "after_meal",
            "effective_at": ago(clock, hours=1),
        },
    )
    observation = assert_valid_fhir(made["fhir"])
    assert observation["category"][0]["coding"][0]["code"] == "laboratory"
    assert observation["code"]["coding"][0]["code"] == "2339-0"
    assert "profile" not in observation["meta"]
    (meal,) = observation["extension"]
    codes = {c["code"] for c in meal["valueCodeableConcept"]["coding"]}
    assert codes == {"after_meal", "PC"}
    assert made["meal"] == "after_meal"
    assert made["value"] == pytest.approx(140.5, abs=0.05)


@pytest.mark.parametrize(
    ("body", "status", "field"),
    [
        (
            {"kind": "blood_pressure", "systolic": 400, "diastolic": 80, "unit": "mm[Hg]"},
            422,
            "systolic",
        ),
        (
            {"kind": "blood_pressure", "systolic": 80, "diastolic": 120, "unit": "mm[Hg]"},
            422,
            "diastolic",
        ),
        ({"kind": "blood_pressure", "systolic": 120, "unit": "mm[Hg]"}, 400, "diastolic"),
        ({"kind": "blood_pressure", "value": 120, "unit": "mm[Hg]"}, 400, "value"),
        ({"kind": "heart_rate", "value": 0, "unit": "/min"}, 422, "value"),
        ({"kind": "body_temperature", "value": 98.6, "unit": "Cel"}, 422, "value"),
        ({"kind": "body_temperature", "value": 37, "unit": "kg"}, 400, "unit"),
        ({"kind": "body_weight", "value": 70, "unit": "stone"}, 400, "unit"),
        ({"kind": "blood_glucose", "value": 90, "unit": "mmol/L"}, 422, "value"),
        ({"kind": "oxygen_saturation", "value": 101, "unit": "%"}, 422, "value"),
        ({"kind": "body_weight", "value": 70, "unit": "kg", "meal": "fasting"}, 400, "meal"),
        ({"kind": "body_weight", "value": "seventy", "unit": "kg"}, 400, "value"),
        ({"kind": "steps", "value": 7000, "unit": "1"}, 400, "kind"),
        ({"kind": "body_weight", "value": 70, "unit": "kg", "colour": "red"}, 400, "colour"),
    ],
)
async def test_bad_input_is_refused_naming_the_field_and_stores_nothing(
    client, someone, clock, body, status, field
) -> None:
    answer = await client.post(
        MEASUREMENTS,
        json={**body, "effective_at": ago(clock, minutes=1)},
        headers={**someone, "Idempotency-Key": str(uuid.uuid4())},
    )
    assert answer.status_code == status, answer.text
    assert answer.headers["content-type"].startswith("application/problem+json")
    problem = answer.json()
    assert field in {e["field"] for e in problem.get("errors", [])} or field in problem.get(
        "detail", ""
    ), problem
    if status == 422:
        assert problem["type"].endswith("/problems/measurement-out-of-range")
    assert await _count(client, someone) == 0
    overview = (await client.get("/citizens/me/health-book", headers=someone)).json()
    assert overview["latest_home_readings"] == []


@pytest.mark.parametrize(
    ("effective_at", "field"),
    [
        ("2026-12-01T07:30:00", "effective_at"),  # no offset
        ("2999-01-01T00:00:00+07:00", "effective_at"),
        ("1850-01-01T00:00:00+07:00", "effective_at"),
    ],
)
async def test_times_without_offset_or_out_of_reach_are_refused(
    client, someone, effective_at, field
) -> None:
    answer = await client.post(
        MEASUREMENTS,
        json={"kind": "heart_rate", "value": 70, "unit": "/min", "effective_at": effective_at},
        headers={**someone, "Idempotency-Key": str(uuid.uuid4())},
    )
    assert answer.status_code == 400, answer.text
    assert [e["field"] for e in answer.json()["errors"]] == [field]
    assert await _count(client, someone) == 0


async def test_an_idempotency_key_is_required_and_replays(client, someone, clock) -> None:
    body = {"kind": "heart_rate", "value": 64, "unit": "/min", "effective_at": ago(clock, hours=3)}
    missing = await client.post(MEASUREMENTS, json=body, headers=someone)
    assert missing.status_code == 400
    first = await record(client, someone, body, key="k-1")
    replay = await client.post(
        MEASUREMENTS, json=body, headers={**someone, "Idempotency-Key": "k-1"}
    )
    assert replay.status_code == 200
    assert replay.headers["idempotent-replayed"] == "true"
    assert replay.json()["id"] == first["id"]
    other = await client.post(
        MEASUREMENTS, json={**body, "value": 65}, headers={**someone, "Idempotency-Key": "k-1"}
    )
    assert other.status_code == 422
    assert other.json()["type"].endswith("/problems/measurement-key-reused")
    assert await _count(client, someone) == 1


async def test_another_citizens_readings_are_not_found(client, someone, owner_of, clock) -> None:
    from tests.support.fhir_samples import LEONOR

    made = await record(
        client,
        someone,
        {"kind": "heart_rate", "value": 70, "unit": "/min", "effective_at": ago(clock, hours=1)},
    )
    other = await owner_of(LEONOR)
    assert (await client.get(f"{MEASUREMENTS}/{made['id']}", headers=other)).status_code == 404
    assert (await client.delete(f"{MEASUREMENTS}/{made['id']}", headers=other)).status_code == 404
    someone_id = (await client.get("/citizens/me", headers=someone)).json()["id"]
    listed = await client.get(f"/citizens/{someone_id}/measurements", headers=other)
    assert listed.status_code == 404
