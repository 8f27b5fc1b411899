"""FHIR export of the book: collection and IPS document, references, round trips, isolation."""

from __future__ import annotations

import re
import time
from collections import Counter
from typing import Any

import pytest

from api.health_book.fhir import extract, parse_bundle
from tests.integration.health_book.conftest import patient_number
from tests.support.auth import bearer, login
from tests.support.fhir_export import assert_valid_fhir
from tests.support.fhir_samples import (
    CATEGORY_TYPES,
    IPS,
    LEONOR,
    NATIONAL_ID_SYSTEMS,
    RUSTY,
    dump,
    expected_counts,
    sample_json,
    sample_names,
)
from tests.support.hospital import make_hospital

EXPORT = "/citizens/me/health-book/export"
REQUIRED_SECTIONS = ("11450-4", "48765-2", "10160-0")
SUBJECT_FIELDS = ("subject", "patient")


def _counts(body: bytes) -> dict[str, int]:
    extraction = extract(parse_bundle(body), national_id_systems=NATIONAL_ID_SYSTEMS)
    counts = extraction.counts()
    return {category: counts[category] for category in CATEGORY_TYPES}


def _expected(name: str) -> dict[str, int]:
    counts = expected_counts(name)
    return {category: counts[category] for category in CATEGORY_TYPES}


def _references(node: Any, field: str = "") -> list[tuple[str, str]]:
    """(element name, reference) of every Reference in a resource."""
    found: list[tuple[str, str]] = []
    if isinstance(node, dict):
        if isinstance(node.get("reference"), str):
            found.append((field, node["reference"]))
        for key, value in node.items():
            found += _references(value, key)
    elif isinstance(node, list):
        for item in node:
            found += _references(item, field)
    return found


async def _export(client, headers, kind: str | None = None) -> tuple[bytes, dict[str, Any]]:
    params = {"type": kind} if kind else {}
    response = await client.get(EXPORT, params=params, headers=headers)
    assert response.status_code == 200, response.text
    assert response.headers["content-type"].startswith("application/fhir+json")
    return response.content, assert_valid_fhir(response.content)


def _check_bundle(bundle: dict[str, Any]) -> dict[str, dict[str, Any]]:
    """Every entry has a unique fullUrl; every in-bundle reference resolves; one Patient, which
    every subject/patient reference names. Answers the resources by fullUrl."""
    assert bundle["identifier"]["value"]
    assert re.fullmatch(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\dZ", bundle["timestamp"])
    by_url = {entry["fullUrl"]: entry["resource"] for entry in bundle["entry"]}
    assert len(by_url) == len(bundle["entry"])
    patients = [url for url, r in by_url.items() if r["resourceType"] == "Patient"]
    assert len(patients) == 1
    for resource in by_url.values():
        for field, reference in _references(resource):
            if reference.startswith("#"):
                continue
            assert reference in by_url, (resource["resourceType"], field, reference)
            if field in SUBJECT_FIELDS and by_url[reference]["resourceType"] == "Patient":
                assert reference == patients[0]
    return by_url


@pytest.mark.parametrize("name", sample_names())
async def test_ips_export_parses_back_with_the_same_counts(client, owner_of, name) -> None:
    headers = await owner_of(name)
    body, bundle = await _export(client, headers, "ips")
    assert _counts(body) == _expected(name)
    assert bundle["type"] == "document"
    by_url = _check_bundle(bundle)
    composition = bundle["entry"][0]["resource"]
    assert composition["resourceType"] == "Composition"
    assert composition["type"]["coding"][0]["code"] == "60591-5"
    assert by_url[composition["subject"]["reference"]]["resourceType"] == "Patient"
    assert by_url[composition["author"][0]["reference"]]["resourceType"] == "Organization"
    assert composition["title"]
    assert composition["date"]
    sections = {s["code"]["coding"][0]["code"]: s for s in composition["section"]}
    assert set(REQUIRED_SECTIONS) <= sections.keys()
    referenced: Counter[str] = Counter()
    for section in composition["section"]:
        assert section["text"]["div"].startswith('<div xmlns="http://www.w3.org/1999/xhtml">')
        if "entry" in section:
            assert "emptyReason" not in section
            referenced.update(ref["reference"] for ref in section["entry"])
        else:
            assert section["code"]["coding"][0]["code"] in REQUIRED_SECTIONS
            reason = section["emptyReason"]["coding"][0]
            assert reason["system"] == "http://terminology.hl7.org/CodeSystem/list-empty-reason"
    clinical = {t for types in CATEGORY_TYPES.values() for t in types}
    in_book = {url for url, r in by_url.items() if r["resourceType"] in clinical}
    assert set(referenced) == in_book  # every entry, each in exactly one section
    assert set(referenced.values()) == {1}
    if name == LEONOR:
        assert {"46240-8", "30954-2", "8716-3", "47519-4", "11369-6"} <= sections.keys()


@pytest.mark.parametrize("name", sample_names())
async def test_collection_export_parses_back_with_the_same_counts(client, owner_of, name) -> None:
    headers = await owner_of(name)
    body, bundle = await _export(client, headers)
    assert bundle["type"] == "collection"
    assert _counts(body) == _expected(name)
    by_url = _check_bundle(bundle)
    source = sample_json(name)
    ids = {(e["resource"]["resourceType"], e["resource"].get("id")) for e in source["entry"]}
    exported = {(r["resourceType"], r.get("id")) for r in by_url.values()}
    assert exported <= ids  # the source ids are kept; nothing made up
    assert not {t for t, _ in exported} & {"Claim", "ExplanationOfBenefit", "Composition"}


async def test_referenced_resources_come_along(client, owner_of) -> None:
    _, bundle = await _export(client, await owner_of(IPS))
    by_url = _check_bundle(bundle)
    statement = next(r for r in by_url.values() if r["resourceType"] == "MedicationStatement")
    medication = by_url[statement["medicationReference"]["reference"]]
    assert medication["resourceType"] == "Medication"
    _, leonor = await _export(client, await owner_of(LEONOR))
    by_url = _check_bundle(leonor)
    types = Counter(r["resourceType"] for r in by_url.values())
    assert types["Organization"] == 1
    assert types["Practitioner"] == 1
    report = next(r for r in by_url.values() if r["resourceType"] == "DiagnosticReport")
    assert all(
        by_url[ref["reference"]]["resourceType"] == "Observation" for ref in report["result"]
    )


@pytest.mark.parametrize("kind", ["ips", "collection"])
async def test_the_export_publishes_back_at_another_facility(
    client, owner_of, app, admin_token, kind
) -> None:
    headers = await owner_of(LEONOR)
    body, _ = await _export(client, headers, kind)
    elsewhere = await make_hospital(app, client, admin_token, facility_id="79001")
    published = await client.post("/hospital/summaries", content=body, headers=elsewhere.headers)
    assert published.status_code == 201, published.text
    counts = published.json()["entry_counts"]
    assert {c: counts[c] for c in CATEGORY_TYPES} == _expected(LEONOR)
    overview = (await client.get("/citizens/me/health-book", headers=headers)).json()
    assert overview["counts"] == {c: 2 * n for c, n in _expected(LEONOR).items()}
    # both facilities' entries are exported again, every fullUrl still unique
    again, bundle = await _export(client, headers, kind)
    _check_bundle(bundle)
    assert _counts(again) == overview["counts"]


async def test_superseded_and_withdrawn_documents_are_not_exported(
    client, owner_of, hospital
) -> None:
    headers = await owner_of(IPS)
    changed = sample_json(IPS)
    for entry in changed["entry"]:
        if entry["resource"]["resourceType"] == "Condition":
            entry["resource"]["code"]["text"] = "Changed in version 2"
    changed["entry"] = [
        e for e in changed["entry"] if e["resource"]["resourceType"] != "AllergyIntolerance"
    ]
    for entry in changed["entry"]:
        if entry["resource"]["resourceType"] == "Composition":
            for section in entry["resource"]["section"]:
                section["entry"] = [
                    ref
                    for ref in section.get("entry", [])
                    if any(ref["reference"] == e["fullUrl"] for e in changed["entry"])
                ]
                if not section["entry"]:
                    del section["entry"]
                    section["emptyReason"] = {"coding": [{"code": "nilknown"}]}
    second = await client.post(
        "/hospital/summaries", content=dump(changed), headers=hospital.headers
    )
    assert second.status_code == 201, second.text
    _, bundle = await _export(client, headers, "ips")
    types = Counter(e["resource"]["resourceType"] for e in bundle["entry"])
    assert types["AllergyIntolerance"] == 0
    assert types["Condition"] == 1
    condition = next(
        e["resource"] for e in bundle["entry"] if e["resource"]["resourceType"] == "Condition"
    )
    assert condition["code"]["text"] == "Changed in version 2"
    composition = bundle["entry"][0]["resource"]
    allergies = next(
        s for s in composition["section"] if s["code"]["coding"][0]["code"] == "48765-2"
    )
    assert allergies["emptyReason"]["coding"][0]["code"] == "unavailable"

    withdrawn = await client.post(
        f"/hospital/summaries/{second.json()['document_id']}/entered-in-error",
        headers=hospital.headers,
    )
    assert withdrawn.status_code == 200, withdrawn.text
    for kind in ("ips", "collection"):
        _, bundle = await _export(client, headers, kind)
        types = Counter(e["resource"]["resourceType"] for e in bundle["entry"])
        clinical = {t for ts in CATEGORY_TYPES.values() for t in ts}
        assert not clinical & types.keys(), types
        assert types["Patient"] == 1  # from the profile: no current document is left
        _check_bundle(bundle)


async def test_one_patient_from_the_most_recent_document(
    client, owner_of, app, admin_token
) -> None:
    headers = await owner_of(IPS)
    other = sample_json(IPS)
    other["identifier"]["value"] = "from-another-hospital"
    patient = next(e for e in other["entry"] if e["resource"]["resourceType"] == "Patient")
    patient["resource"]["id"] = "patient-at-79001"
    patient["resource"]["name"][0]["family"] = "Newest"
    elsewhere = await make_hospital(app, client, admin_token, facility_id="79001")
    published = await client.post(
        "/hospital/summaries", content=dump(other), headers=elsewhere.headers
    )
    assert published.status_code == 201, published.text
    for kind in ("ips", "collection"):
        body, bundle = await _export(client, headers, kind)
        by_url = _check_bundle(bundle)  # one Patient; every subject/patient reference to it
        exported = next(r for r in by_url.values() if r["resourceType"] == "Patient")
        assert exported["id"] == "patient-at-79001"
        assert exported["name"][0]["family"] == "Newest"
        assert _counts(body)["conditions"] == 2


async def test_other_people_are_dropped_and_escaped_references_rewritten(client, owner_of) -> None:
    document = sample_json(IPS)
    mother = {
        "fullUrl": "urn:uuid:2b0e6a4e-8a55-4a3f-9a43-6c3f1d2b7a10",
        "resource": {"resourceType": "Patient", "id": "mother", "name": [{"family": "Mother"}]},
    }
    document["entry"].append(mother)
    condition = next(e for e in document["entry"] if e["resource"]["resourceType"] == "Condition")
    condition["resource"]["asserter"] = {"reference": mother["fullUrl"]}
    statement = next(
        e for e in document["entry"] if e["resource"]["resourceType"] == "MedicationStatement"
    )
    medication = next(e for e in document["entry"] if e["resource"]["resourceType"] == "Medication")
    statement["resource"]["medicationReference"] = {
        "reference": "Medication/" + medication["resource"]["id"]
    }
    body = dump(document).replace(b'"Medication/', b'"Medication\\/')  # JSON's escaped solidus
    assert b"Medication\\/" in body
    headers = await owner_of(IPS, body)
    for kind in ("ips", "collection"):
        exported, bundle = await _export(client, headers, kind)
        by_url = _check_bundle(bundle)  # the mother is not exported
        assert "mother" not in {r.get("id") for r in by_url.values()}
        exported_condition = next(r for r in by_url.values() if r["resourceType"] == "Condition")
        assert exported_condition["asserter"] == {"display": "not included in this export"}
        assert by_url[exported_condition["subject"]["reference"]]["resourceType"] == "Patient"
        exported_statement = next(
            r for r in by_url.values() if r["resourceType"] == "MedicationStatement"
        )
        target = by_url[exported_statement["medicationReference"]["reference"]]
        assert target["id"] == medication["resource"]["id"]
        assert _counts(exported) == _expected(IPS)


async def test_another_citizens_export_is_404_and_never_mixed(client, owner_of) -> None:
    leonor = await owner_of(LEONOR)
    rusty = await owner_of(RUSTY)
    rusty_id = (await client.get("/citizens/me", headers=rusty)).json()["id"]
    for kind in ("ips", "collection"):
        response = await client.get(
            f"/citizens/{rusty_id}/health-book/export", params={"type": kind}, headers=leonor
        )
        assert response.status_code == 404
    _, bundle = await _export(client, leonor)
    rusty_ids = {e["resource"].get("id") for e in sample_json(RUSTY)["entry"]}
    assert not {e["resource"].get("id") for e in bundle["entry"]} & rusty_ids
    bad = await client.get(EXPORT, params={"type": "pdf"}, headers=leonor)
    assert bad.status_code == 400


async def test_a_guardians_export_goes_to_the_childs_access_log(
    client, owner_of, admin_token, idp
) -> None:
    child = await owner_of(IPS)
    child_id = (await client.get("/citizens/me", headers=child)).json()["id"]
    await _export(client, child)  # the owner's own export is not logged
    recorded = await client.post(
        "/admin/guardianships",
        json={
            "guardian_national_id": "001085000001",
            "dependent_national_id": patient_number(IPS),
            "kind": "legal_representative",
            "dependent_birth_date": "1990-01-02",
        },
        headers=bearer(admin_token),
    )
    assert recorded.status_code == 201, recorded.text
    guardian = bearer((await login(client, idp, "001085000001"))["access_token"])
    guardian_id = (await client.get("/citizens/me", headers=guardian)).json()["id"]
    response = await client.get(
        f"/citizens/{child_id}/health-book/export", params={"type": "ips"}, headers=guardian
    )
    assert response.status_code == 200
    assert_valid_fhir(response.content)
    assert _counts(response.content) == _expected(IPS)
    own = await client.get(EXPORT, headers=guardian)  # the guardian's own (empty) book
    assert own.status_code == 200
    assert_valid_fhir(own.content)
    assert not {e["resource"]["resourceType"] for e in own.json()["entry"]} - {"Patient"}
    log = (await client.get("/citizens/me/access-log", headers=child)).json()["items"]
    reads = [(e["actor_kind"], e["actor_id"], e["resource"]) for e in log if e["action"] == "read"]
    assert reads == [("guardian", guardian_id, "health-book/export/ips")]


async def test_collection_export_of_a_large_history_is_fast(client, owner_of) -> None:
    headers = await owner_of(LEONOR)
    await _export(client, headers)  # warm up, and the export is valid FHIR
    started = time.perf_counter()
    response = await client.get(EXPORT, headers=headers)  # the export alone is timed
    elapsed = time.perf_counter() - started
    assert response.status_code == 200
    body = response.content
    assert len(body) > 400_000
    assert elapsed < 1.0, f"{elapsed:.3f} s"


async def test_old_and_new_book_routes_both_answer(client, owner_of) -> None:
    headers = await owner_of(LEONOR)
    for path, params in (
        ("/citizens/me/health-book", {}),
        ("/citizens/me/health-book/observations", {"code": "29463-7"}),
        ("/citizens/me/health-book/procedures", {}),
        ("/citizens/me/health-book/visits", {}),
        ("/citizens/me/health-book/export", {}),
        ("/citizens/me/health-book/observations/series", {"code": "29463-7"}),
        ("/citizens/me/health-book/observations/series.svg", {"code": "29463-7"}),
    ):
        response = await client.get(path, params=params, headers=headers)
        assert response.status_code == 200, (path, response.text)
    observations = await client.get(
        "/citizens/me/health-book/observations", params={"limit": 200}, headers=headers
    )
    assert len(observations.json()["items"]) == 200
