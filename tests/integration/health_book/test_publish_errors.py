"""Bad bundles get the right 4xx OperationOutcome and leave the database exactly as it was."""

from __future__ import annotations

import pytest

from tests.integration.health_book.test_publish import table_counts
from tests.support.auth import bearer, client_token, create_client_directly
from tests.support.fhir_samples import IPS, LEONOR, dump, entry_index, sample_bytes, sample_json


def _broken_reference() -> bytes:
    document = sample_json(LEONOR)
    index = entry_index(document, "Observation")
    document["entry"][index]["resource"]["subject"]["reference"] = (
        "urn:uuid:00000000-dead-beef-0000-000000000000"
    )
    return dump(document)


def _wrong_type() -> bytes:
    document = sample_json(LEONOR)
    index = next(
        i
        for i, e in enumerate(document["entry"])
        if e["resource"]["resourceType"] == "Observation" and "valueQuantity" in e["resource"]
    )
    document["entry"][index]["resource"]["valueQuantity"]["value"] = "abc"
    return dump(document)


def _no_patient_identifier() -> bytes:
    document = sample_json(IPS)
    index = entry_index(document, "Patient")
    document["entry"][index]["resource"].pop("identifier")
    return dump(document)


def _unknown_identifier_system() -> bytes:
    document = sample_json(IPS)
    index = entry_index(document, "Patient")
    document["entry"][index]["resource"]["identifier"] = [{"system": "urn:other", "value": "1"}]
    return dump(document)


def _malformed_date() -> bytes:
    document = sample_json(LEONOR)
    index = next(
        i
        for i, e in enumerate(document["entry"])
        if e["resource"]["resourceType"] == "Observation" and "effectiveDateTime" in e["resource"]
    )
    document["entry"][index]["resource"]["effectiveDateTime"] = "2020-13-45T99:00:00Z"
    return dump(document)


def _not_a_bundle() -> bytes:
    document = sample_json(IPS)
    return dump(document["entry"][entry_index(document, "Patient")]["resource"])


def _deep() -> bytes:
    return (
        b'{"resourceType": "Bundle", "type": "collection", "entry": '
        + b"[" * 10_000
        + b"]" * 10_000
        + b"}"
    )


CASES = {
    "broken reference": (_broken_reference, 422, "not-found", "subject"),
    "wrong type": (_wrong_type, 422, "value", "valueQuantity.value"),
    "no patient identifier": (_no_patient_identifier, 422, "required", "identifier"),
    "identifier in no national-ID system": (
        _unknown_identifier_system,
        422,
        "required",
        "identifier",
    ),
    "malformed date": (_malformed_date, 422, "value", "effectiveDateTime"),
    "truncated JSON": (lambda: sample_bytes(LEONOR)[:50_000], 400, "structure", None),
    "not a Bundle": (_not_a_bundle, 400, "invalid", None),
    "nested 10,000 deep": (_deep, 413, "too-costly", None),
    "not JSON": (lambda: b"<Bundle xmlns='http://hl7.org/fhir'/>", 400, "structure", None),
}


@pytest.mark.parametrize("case", sorted(CASES))
async def test_mutations_are_refused_whole(client, app, hospital, case) -> None:
    make, status, code, expression = CASES[case]
    await client.post("/hospital/summaries", content=sample_bytes(IPS), headers=hospital.headers)
    before = await table_counts(app)
    response = await client.post("/hospital/summaries", content=make(), headers=hospital.headers)
    assert response.status_code == status, response.text
    assert response.headers["content-type"].startswith("application/fhir+json")
    outcome = response.json()
    assert outcome["resourceType"] == "OperationOutcome"
    assert outcome["issue"][0]["code"] == code
    assert outcome["issue"][0]["severity"] in ("error", "fatal")
    if expression is not None:
        assert any(
            expression in e for issue in outcome["issue"] for e in issue.get("expression", [])
        )
    assert await table_counts(app) == before


async def test_a_20_mb_body_is_413_and_not_read_whole(client, app, hospital) -> None:
    before = await table_counts(app)
    body = (
        b'{"resourceType": "Bundle", "type": "collection", "entry": ['
        + b" " * (20 * 1024 * 1024)
        + b"]}"
    )
    response = await client.post("/hospital/summaries", content=body, headers=hospital.headers)
    assert response.status_code == 413
    assert response.json()["issue"][0]["code"] == "too-costly"
    assert await table_counts(app) == before


async def test_wrong_fhir_version_is_refused(client, app, hospital) -> None:
    headers = {**hospital.headers, "content-type": "application/fhir+json; fhirVersion=5.0"}
    response = await client.post("/hospital/summaries", content=sample_bytes(IPS), headers=headers)
    assert response.status_code == 400
    assert response.json()["issue"][0]["code"] == "not-supported"
    r4 = {**hospital.headers, "content-type": "application/fhir+json; fhirVersion=4.0"}
    assert (
        await client.post("/hospital/summaries", content=sample_bytes(IPS), headers=r4)
    ).status_code == 201


async def test_wrong_content_type_is_415_outcome(client, hospital) -> None:
    headers = {**hospital.headers, "content-type": "application/xml"}
    response = await client.post("/hospital/summaries", content=sample_bytes(IPS), headers=headers)
    assert response.status_code == 415
    assert response.json()["resourceType"] == "OperationOutcome"


async def test_callers_other_than_hospitals_get_outcomes(client, app, hospital, citizen) -> None:
    anonymous = await client.post(
        "/hospital/summaries",
        content=sample_bytes(IPS),
        headers={"content-type": "application/fhir+json"},
    )
    assert anonymous.status_code == 401
    assert anonymous.json()["issue"][0]["code"] == "login"
    assert anonymous.headers["www-authenticate"].startswith("Bearer")
    kiosk = await create_client_directly(app, "kiosk", facility_id=hospital.facility_id)
    token = await client_token(client, kiosk)
    refused = await client.post(
        "/hospital/summaries",
        content=sample_bytes(IPS),
        headers={**bearer(token), "content-type": "application/fhir+json"},
    )
    assert refused.status_code == 403
    assert refused.json()["resourceType"] == "OperationOutcome"
    person = await citizen("001090000001")
    refused = await client.post(
        "/hospital/summaries",
        content=sample_bytes(IPS),
        headers={**bearer(person["access_token"]), "content-type": "application/fhir+json"},
    )
    assert refused.status_code == 403


async def test_hospital_of_an_unregistered_facility_is_refused(client, app) -> None:
    orphan = await create_client_directly(app, "hospital", facility_id="99999")
    token = await client_token(client, orphan)
    response = await client.post(
        "/hospital/summaries",
        content=sample_bytes(IPS),
        headers={**bearer(token), "content-type": "application/fhir+json"},
    )
    assert response.status_code == 404
    assert response.json()["resourceType"] == "OperationOutcome"


async def test_same_document_identifier_for_another_patient_is_409(client, hospital) -> None:
    first = sample_json(IPS)
    await client.post("/hospital/summaries", content=dump(first), headers=hospital.headers)
    second = sample_json(IPS)
    patient = second["entry"][entry_index(second, "Patient")]["resource"]
    patient["identifier"][0]["value"] = "999888777"
    second["entry"][entry_index(second, "Condition")]["resource"]["note"] = [{"text": "changed"}]
    response = await client.post(
        "/hospital/summaries", content=dump(second), headers=hospital.headers
    )
    assert response.status_code == 409
    assert response.json()["issue"][0]["code"] == "conflict"


async def test_national_id_that_cannot_be_normalised_is_422(client, app, hospital) -> None:
    document = sample_json(IPS)
    document["entry"][entry_index(document, "Patient")]["resource"]["identifier"][0]["value"] = (
        "57/46*87"
    )
    before = await table_counts(app)
    response = await client.post(
        "/hospital/summaries", content=dump(document), headers=hospital.headers
    )
    assert response.status_code == 422
    assert response.json()["issue"][0]["code"] == "value"
    assert await table_counts(app) == before
