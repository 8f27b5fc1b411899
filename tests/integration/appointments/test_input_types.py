"""Regressions found by the schemathesis run: malformed slot input is a 400, never a 500, and
query instants are RFC 3339 only."""

from __future__ import annotations

import pytest

from tests.support.problems import problem_uri

FHIR = {"content-type": "application/fhir+json"}


@pytest.mark.parametrize(
    ("body", "detail"),
    [
        ({"resourceType": "Bundle", "entry": 5}, "entry must be a JSON array"),
        ({"resourceType": "Slot", "status": []}, "is not accepted"),
        ({"resourceType": "Slot", "status": "free", "identifier": 5}, "identifier must be"),
        ({"resourceType": "Slot", "status": "free", "extension": {"url": "x"}}, "extension must"),
        (
            {"resourceType": "Slot", "status": "free", "serviceType": [{"text": 5}]},
            "expected a string",
        ),
    ],
)
async def test_fhir_slots_of_the_wrong_shape_are_refused(clinic, body, detail) -> None:
    response = await clinic.http.put(
        "/hospital/slots", json=body, headers={**clinic.headers, **FHIR}
    )
    assert response.status_code == 400, response.text
    assert response.headers["content-type"].startswith("application/problem+json")
    assert detail in response.json()["detail"]


async def test_json_slot_fields_are_not_coerced(clinic) -> None:
    slot = clinic.slot("S-1")
    response = await clinic.http.put(
        "/hospital/slots", json={"slots": [{**slot, "capacity": "5"}]}, headers=clinic.headers
    )
    assert response.status_code == 400, response.text


@pytest.mark.parametrize("value", ["0.5", "1700000000", "2026-13-01T08:00:00+07:00"])
async def test_slot_search_bounds_are_rfc3339_instants(clinic, value) -> None:
    response = await clinic.http.get("/facilities/01001/slots", params={"to": value})
    assert response.status_code == 400, response.text
    assert response.json()["type"] == problem_uri("validation-error")


async def test_slot_search_takes_an_instant_with_its_offset(clinic) -> None:
    await clinic.open("S-1", hours=30)
    later = (clinic.clock.now().astimezone()).isoformat()
    response = await clinic.http.get("/facilities/01001/slots", params={"from": later})
    assert response.status_code == 200, response.text
    assert [slot["id"] for slot in response.json()["items"]]
