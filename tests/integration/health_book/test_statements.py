"""'No known allergies' is no allergy: absent/unknown statements, refuted and entered-in-error
resources are shown as what they are, never as entries or in counts, and exported as received."""

from __future__ import annotations

import copy
from typing import Any

import pytest

from tests.integration.health_book.conftest import patient_number
from tests.support.auth import bearer, login
from tests.support.fhir_export import assert_valid_fhir
from tests.support.fhir_samples import IPS, dump, sample_json

ABSENT = "http://hl7.org/fhir/uv/ips/CodeSystem/absent-unknown-uv-ips"
SNOMED = "http://snomed.info/sct"
CONDITION_VER = "http://terminology.hl7.org/CodeSystem/condition-ver-status"
ALLERGY_VER = "http://terminology.hl7.org/CodeSystem/allergyintolerance-verification"
BOOK = "/citizens/me/health-book"


def _resource(document: dict[str, Any], resource_type: str) -> dict[str, Any]:
    return next(
        e["resource"] for e in document["entry"] if e["resource"]["resourceType"] == resource_type
    )


def _statements_bundle(form: str, allergy_code: tuple[str, str], identifier: str) -> bytes:
    """The IPS sample saying: no known allergies (coded), no information about medications,
    a refuted problem, and an entered-in-error one; as an IPS document or a plain collection."""
    document = sample_json(IPS)
    document["identifier"]["value"] = identifier
    allergy = _resource(document, "AllergyIntolerance")
    allergy["code"] = {"coding": [{"system": allergy_code[0], "code": allergy_code[1]}]}
    for element in ("type", "category", "criticality", "reaction"):
        allergy.pop(element, None)
    statement = _resource(document, "MedicationStatement")
    statement.pop("medicationReference")
    statement.pop("dosage", None)
    statement["status"] = "unknown"
    statement["medicationCodeableConcept"] = {
        "coding": [{"system": ABSENT, "code": "no-medication-info"}]
    }
    condition = _resource(document, "Condition")
    condition["verificationStatus"] = {"coding": [{"system": CONDITION_VER, "code": "refuted"}]}
    withdrawn = copy.deepcopy(condition)
    withdrawn["id"] = "withdrawn-condition"
    withdrawn.pop("clinicalStatus", None)
    withdrawn["verificationStatus"] = {
        "coding": [{"system": CONDITION_VER, "code": "entered-in-error"}]
    }
    withdrawn["code"] = {"text": "Recorded by mistake"}
    document["entry"].append(
        {"fullUrl": "urn:uuid:0b6f7a3c-1d2e-4f50-8a9b-0c1d2e3f4a5b", "resource": withdrawn}
    )
    document["entry"] = [
        e for e in document["entry"] if e["resource"]["resourceType"] != "Medication"
    ]
    if form == "collection":
        document["type"] = "collection"
        document["entry"] = [
            e for e in document["entry"] if e["resource"]["resourceType"] != "Composition"
        ]
    return dump(document)


@pytest.mark.parametrize("form", ["document", "collection"])
@pytest.mark.parametrize("allergy_code", [(ABSENT, "no-known-allergies"), (SNOMED, "716186003")])
async def test_statements_are_not_entries(client, owner_of, form, allergy_code) -> None:
    headers = await owner_of(IPS, _statements_bundle(form, allergy_code, "statements-1"))
    overview = (await client.get(BOOK, headers=headers)).json()
    assert overview["allergies"] == []
    assert overview["active_problems"] == []
    assert overview["current_medications"] == []
    assert overview["counts"]["allergies"] == 0
    assert overview["counts"]["conditions"] == 0
    assert overview["counts"]["medications"] == 0
    assert set(overview["counts"]) == {
        "visits", "conditions", "allergies", "medications", "immunizations", "observations",
        "diagnostic_reports", "procedures",
    }  # fmt: skip
    by_topic = {s["topic"]: s for s in overview["statements"]}
    assert set(by_topic) == {"allergies", "medications", "problems"}
    allergies = by_topic["allergies"]
    assert allergies["kind"] == "none-known"
    assert allergies["text"] == {"en": "No known allergies", "vi": "Không có dị ứng đã biết"}
    assert allergies["code"] == {"system": allergy_code[0], "code": allergy_code[1]}
    medications = by_topic["medications"]
    assert medications["kind"] == "no-information"
    assert medications["text"]["en"] == "No information about medications"
    assert medications["text"]["vi"]
    problems = by_topic["problems"]
    assert problems["kind"] == "refuted"
    assert problems["text"]["en"].startswith("Ruled out: ")
    assert "Recorded by mistake" not in str(overview)
    for category in ("allergies", "conditions", "medications"):
        listed = await client.get(f"{BOOK}/{category}", headers=headers)
        assert listed.json()["items"] == [], category

    for kind in ("collection", "ips"):
        response = await client.get(f"{BOOK}/export", params={"type": kind}, headers=headers)
        assert response.status_code == 200
        bundle = assert_valid_fhir(response.content)
        resources = [e["resource"] for e in bundle["entry"]]
        exported_allergy = _resource(bundle, "AllergyIntolerance")
        assert exported_allergy["code"]["coding"][0]["code"] == allergy_code[1]
        assert _resource(bundle, "MedicationStatement")["medicationCodeableConcept"]
        conditions = [r for r in resources if r["resourceType"] == "Condition"]
        assert [c["id"] for c in conditions] == [_resource(sample_json(IPS), "Condition")["id"]]


async def test_the_latest_document_that_says_so_is_shown(client, owner_of, hospital) -> None:
    headers = await owner_of(
        IPS, _statements_bundle("document", (ABSENT, "no-known-allergies"), "statements-1")
    )
    later = _statements_bundle("collection", (ABSENT, "no-allergy-info"), "statements-2")
    later = later.replace(b'"id": "withdrawn-condition"', b'"id": "withdrawn-2"')
    for resource_id in (b"fe2769fd-22c9-4307-9122-ee0466e5aebb",):
        later = later.replace(resource_id, b"c4f1a0b2-9d8e-4c3b-a1f0-2e3d4c5b6a70")
    published = await client.post("/hospital/summaries", content=later, headers=hospital.headers)
    assert published.status_code == 201, published.text
    assert published.json()["entry_counts"]["allergies"] == 0
    overview = (await client.get(BOOK, headers=headers)).json()
    allergies = [s for s in overview["statements"] if s["topic"] == "allergies"]
    assert [s["text"]["en"] for s in allergies] == ["No information about allergies"]
    assert allergies[0]["version_id"] == published.json()["version_id"]
    assert allergies[0]["document_id"] == published.json()["document_id"]
    assert overview["counts"]["allergies"] == 0


async def test_an_allergy_refuted_later_leaves_the_book(client, owner_of, hospital, idp) -> None:
    document = sample_json(IPS)
    headers = await owner_of(IPS, dump(document))
    assert (await client.get(BOOK, headers=headers)).json()["counts"]["allergies"] == 1
    allergy = _resource(document, "AllergyIntolerance")
    allergy["verificationStatus"] = {"coding": [{"system": ALLERGY_VER, "code": "refuted"}]}
    allergy.pop("clinicalStatus", None)
    published = await client.post(
        "/hospital/summaries", content=dump(document), headers=hospital.headers
    )
    assert published.status_code == 201, published.text
    overview = (await client.get(BOOK, headers=headers)).json()
    assert overview["counts"]["allergies"] == 0
    assert overview["allergies"] == []
    [refuted] = [s for s in overview["statements"] if s["topic"] == "allergies"]
    assert refuted["kind"] == "refuted"
    again = bearer((await login(client, idp, patient_number(IPS)))["access_token"])
    assert (await client.get(f"{BOOK}/allergies", headers=again)).json()["items"] == []


async def test_an_allergy_recorded_later_outdates_no_known_allergies(
    client, owner_of, hospital
) -> None:
    headers = await owner_of(
        IPS, _statements_bundle("document", (ABSENT, "no-known-allergies"), "statements-1")
    )
    overview = (await client.get(BOOK, headers=headers)).json()
    assert "allergies" in {s["topic"] for s in overview["statements"]}
    later = sample_json(IPS)  # another document, received later, records a real allergy
    later["identifier"]["value"] = "later-with-an-allergy"
    allergy = _resource(later, "AllergyIntolerance")
    allergy["id"] = "a-real-allergy"
    for entry in later["entry"]:
        if entry["resource"] is allergy:
            entry["fullUrl"] = "urn:uuid:5d1b2c3a-4e5f-4a6b-8c7d-9e0f1a2b3c4d"
    later["entry"][0]["resource"]["section"][2]["entry"] = [
        {"reference": "urn:uuid:5d1b2c3a-4e5f-4a6b-8c7d-9e0f1a2b3c4d"}
    ]
    published = await client.post(
        "/hospital/summaries", content=dump(later), headers=hospital.headers
    )
    assert published.status_code == 201, published.text
    overview = (await client.get(BOOK, headers=headers)).json()
    assert overview["counts"]["allergies"] == 1
    assert "allergies" not in {s["topic"] for s in overview["statements"]}
