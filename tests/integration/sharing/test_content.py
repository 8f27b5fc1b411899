"""What a share holds: the whole book's IPS, one visit, immunizations or chosen categories, each
a valid FHIR R4 document; a long-term share re-exported with the same choice; restricted data
(a hospital's confidentiality label, the insurance records' HIV/TB episodes) only when the
citizen ticks it for that share, never by a guardian."""

from __future__ import annotations

import copy
import json
import zlib
from collections import Counter
from typing import Any

import pytest
from cryptography.hazmat.primitives.ciphers.aead import AESGCM

from api.health_book.fhir.validate import validate_bundle
from api.sharing import links
from tests.integration.health_book.conftest import patient_number
from tests.integration.insurance.conftest import FACILITY, insurer_hospital, xml_headers
from tests.integration.sharing.conftest import SHARES, in_days, path_of, share
from tests.support.auth import bearer, login
from tests.support.fhir_export import assert_valid_fhir
from tests.support.fhir_samples import IPS, LEONOR, RUSTY, dump, sample_json
from tests.support.qd130 import CCCD, build_episode_files
from tests.support.qd130_envelope import build_envelope

__all__ = ["insurer_hospital"]

CLINICAL = {
    "Encounter",
    "Condition",
    "AllergyIntolerance",
    "MedicationRequest",
    "MedicationStatement",
    "Immunization",
    "Observation",
    "DiagnosticReport",
    "Procedure",
}
CONFIDENTIALITY = "http://terminology.hl7.org/CodeSystem/v3-Confidentiality"
HIV_MARKERS = ("B24", "Tenofovir")


async def shared(client, created: dict[str, Any]) -> dict[str, Any]:
    """The document a recipient decrypts from the share's manifest (checked as FHIR R4)."""
    payload = links.decode(created["shlink"])
    answer = await client.post(
        path_of(payload.url), json={"recipient": "Dr. An", "embeddedLengthMax": 100_000_000}
    )
    assert answer.status_code == 200, answer.text
    document = assert_valid_fhir(open_jwe(payload.key, answer.json()["files"][0]["embedded"]))
    assert validate_bundle(document) == []  # and R4 by the book's own validator
    return document


def open_jwe(key: str, token: str) -> bytes:
    """A compact ``dir``/``A256GCM`` JWE opened by hand (as any receiver may: whatever its
    size), its header checked."""
    header, encrypted_key, iv, ciphertext, tag = token.split(".")
    assert encrypted_key == ""
    assert json.loads(links.b64url_decode(header))["enc"] == "A256GCM"
    protected = json.loads(links.b64url_decode(header))
    plaintext = AESGCM(links.b64url_decode(key)).decrypt(
        links.b64url_decode(iv),
        links.b64url_decode(ciphertext) + links.b64url_decode(tag),
        header.encode("ascii"),
    )
    # raw DEFLATE (RFC 1951) when the header says zip DEF, as the JWE spec defines it
    return zlib.decompress(plaintext, -15) if protected.get("zip") == "DEF" else plaintext


def resources(bundle: dict[str, Any], resource_type: str | None = None) -> list[dict[str, Any]]:
    return [
        e["resource"]
        for e in bundle["entry"]
        if resource_type is None or e["resource"]["resourceType"] == resource_type
    ]


def clinical(bundle: dict[str, Any]) -> Counter[str]:
    return Counter(r["resourceType"] for r in resources(bundle) if r["resourceType"] in CLINICAL)


def sections(bundle: dict[str, Any]) -> dict[str, dict[str, Any]]:
    (composition,) = resources(bundle, "Composition")
    return {s["code"]["coding"][0]["code"]: s for s in composition["section"]}


def labelled(document: dict[str, Any], resource_type: str, code: str = "R") -> dict[str, Any]:
    """``document`` with each resource of ``resource_type`` labelled ``code`` by the hospital."""
    document = copy.deepcopy(document)
    for entry in document["entry"]:
        if entry["resource"]["resourceType"] == resource_type:
            entry["resource"]["meta"] = {"security": [{"system": CONFIDENTIALITY, "code": code}]}
    return document


async def test_the_summary_is_the_whole_book(client, owner_of, clock) -> None:
    headers = await owner_of(IPS)
    created = await share(client, headers, clock, recipient="BS. An")
    assert created["content"] == "ips"
    assert created["categories"] is None
    assert created["visit_id"] is None
    assert created["include_restricted"] is False
    assert created["recipient"] == "BS. An"
    bundle = await shared(client, created)
    assert bundle["type"] == "document"
    (composition,) = resources(bundle, "Composition")
    assert composition["type"]["coding"][0]["code"] == "60591-5"
    assert clinical(bundle) == Counter(
        {"Condition": 1, "MedicationStatement": 1, "AllergyIntolerance": 1}
    )
    assert not any("emptyReason" in s for s in sections(bundle).values())


async def test_one_visit_and_what_was_recorded_for_it(client, owner_of, clock) -> None:
    headers = await owner_of(RUSTY)
    visits = (await client.get("/citizens/me/health-book/visits?limit=100", headers=headers)).json()
    detail = None
    for item in visits["items"]:  # a visit with more recorded for it than itself
        found = (
            await client.get(f"/citizens/me/health-book/visits/{item['id']}", headers=headers)
        ).json()
        if sum(len(v) for v in found["entries"].values()) >= 2:
            detail = found
            break
    assert detail is not None
    visit_id = detail["visit"]["id"]
    created = await share(client, headers, clock, content="visit", visit_id=visit_id)
    assert created["content"] == "visit"
    assert created["visit_id"] == visit_id
    bundle = await shared(client, created)
    assert bundle["type"] == "document"
    (composition,) = resources(bundle, "Composition")
    assert composition["type"]["coding"][0]["code"] == "34133-9"
    (encounter,) = resources(bundle, "Encounter")
    full_urls = {e["resource"]["id"]: e["fullUrl"] for e in bundle["entry"]}
    assert composition["encounter"]["reference"] == full_urls[encounter["id"]]
    # exactly what the book's visit page lists for it, and nothing else of the book
    of_type = {
        "observations": "Observation",
        "immunizations": "Immunization",
        "procedures": "Procedure",
        "conditions": "Condition",
        "diagnostic_reports": "DiagnosticReport",
        "medications": "MedicationRequest",
    }
    expected = Counter({"Encounter": 1})
    for category, items in detail["entries"].items():
        expected[of_type[category]] += len(items)
    assert clinical(bundle) == expected
    book = (await client.get("/citizens/me/health-book", headers=headers)).json()["counts"]
    assert sum(expected.values()) < sum(book.values())
    # the sections it leaves out are withheld, not "unavailable"
    assert sections(bundle)["48765-2"]["emptyReason"]["coding"][0]["code"] == "withheld"
    log = (await client.get("/citizens/me/access-log", headers=headers)).json()["items"]
    (read,) = [e for e in log if e["actor_kind"] == "recipient"]
    assert read["resource"] == f"health-book/export/ips?visit={visit_id}"


async def test_immunizations_only(client, owner_of, clock) -> None:
    headers = await owner_of(RUSTY)
    created = await share(client, headers, clock, content="immunizations")
    assert created["categories"] == ["immunizations"]
    bundle = await shared(client, created)
    book = (await client.get("/citizens/me/health-book", headers=headers)).json()["counts"]
    assert book["immunizations"] > 0
    assert clinical(bundle) == Counter({"Immunization": book["immunizations"]})
    found = sections(bundle)
    assert len(found["11369-6"]["entry"]) == book["immunizations"]
    for required in ("11450-4", "48765-2", "10160-0"):
        assert found[required]["emptyReason"]["coding"][0]["code"] == "withheld"
    # their references to visits not shared keep a display only
    text = json.dumps(bundle)
    assert "not included in this export" in text


async def test_chosen_categories(client, owner_of, clock) -> None:
    headers = await owner_of(IPS)
    created = await share(
        client, headers, clock, content="categories", categories=["allergies", "conditions"]
    )
    assert created["categories"] == ["allergies", "conditions"]
    bundle = await shared(client, created)
    assert clinical(bundle) == Counter({"Condition": 1, "AllergyIntolerance": 1})
    assert "Medication" not in {r["resourceType"] for r in resources(bundle)}
    medication = sections(bundle)["10160-0"]
    assert medication["emptyReason"]["coding"][0]["code"] == "withheld"
    listed = (await client.get(SHARES, headers=headers)).json()["items"][0]
    assert listed["content"] == "categories"
    assert listed["categories"] == ["allergies", "conditions"]
    # the access log names what the recipient fetched: the narrowed export
    log = (await client.get("/citizens/me/access-log", headers=headers)).json()["items"]
    (read,) = [e for e in log if e["actor_kind"] == "recipient"]
    assert read["resource"] == "health-book/export/ips?categories=allergies,conditions"


async def test_a_long_term_share_follows_the_book_with_the_same_choice(
    client, owner_of, hospital, clock
) -> None:
    document = sample_json(IPS)
    headers = await owner_of(IPS, dump(document))
    created = await share(
        client, headers, clock, content="categories", categories=["conditions"], long_term=True
    )
    assert clinical(await shared(client, created)) == Counter({"Condition": 1})
    # the hospital sends the document again with a second problem
    condition = copy.deepcopy(
        next(e for e in document["entry"] if e["resource"]["resourceType"] == "Condition")
    )
    condition["fullUrl"] = "urn:uuid:0b5a0f1e-8d7c-4f5e-9a2b-3c4d5e6f7a8b"
    condition["resource"]["id"] = "0b5a0f1e-8d7c-4f5e-9a2b-3c4d5e6f7a8b"
    condition["resource"]["identifier"] = [{"system": "urn:test", "value": "second-problem"}]
    document["entry"].append(condition)
    document["entry"][0]["resource"]["section"][0]["entry"].append(
        {"reference": condition["fullUrl"]}
    )
    sent = await client.post(
        "/hospital/summaries", content=dump(document), headers=hospital.headers
    )
    assert sent.status_code in (200, 201), sent.text
    assert clinical(await shared(client, created)) == Counter({"Condition": 2})


@pytest.mark.parametrize(
    ("body", "field", "status"),
    [
        ({"content": "visit"}, "visit_id", 400),
        ({"content": "visit", "visit_id": "00000000-0000-4000-8000-000000000000"}, "visit_id", 400),
        ({"visit_id": "00000000-0000-4000-8000-000000000000"}, "visit_id", 400),
        ({"content": "categories"}, "categories", 400),
        ({"content": "categories", "categories": []}, "categories", 400),
        ({"content": "categories", "categories": ["problems"]}, "categories", 400),
        ({"content": "immunizations", "categories": ["allergies"]}, "categories", 400),
        ({"content": "everything"}, "content", 400),
        ({"recipient": "x" * 81}, "recipient", 400),
        ({"recipient": ""}, "recipient", 400),
    ],
)
async def test_invalid_choices_name_the_field(client, owner_of, clock, body, field, status) -> None:
    headers = await owner_of(IPS)
    answer = await client.post(
        SHARES, json={"expires_at": in_days(clock, 1), **body}, headers=headers
    )
    assert answer.status_code == status, answer.text
    problem = answer.json()
    assert answer.headers["content-type"].startswith("application/problem+json")
    assert any(field in error["field"] for error in problem["errors"]), problem
    assert (await client.get(SHARES, headers=headers)).json()["items"] == []


async def test_a_visit_of_another_citizen_is_refused(client, owner_of, clock) -> None:
    other = await owner_of(LEONOR)
    visit = (await client.get("/citizens/me/health-book/visits", headers=other)).json()["items"][0]
    headers = await owner_of(RUSTY)
    answer = await client.post(
        SHARES,
        json={"expires_at": in_days(clock, 1), "content": "visit", "visit_id": visit["id"]},
        headers=headers,
    )
    assert answer.status_code == 400, answer.text
    assert answer.json()["errors"][0]["field"] == "visit_id"


async def test_what_a_hospital_labels_restricted_is_shared_only_when_ticked(
    client, owner_of, clock
) -> None:
    headers = await owner_of(IPS, dump(labelled(sample_json(IPS), "Condition", "R")))
    without = await shared(client, await share(client, headers, clock))
    assert clinical(without) == Counter({"MedicationStatement": 1, "AllergyIntolerance": 1})
    assert CONFIDENTIALITY not in json.dumps(without)
    ticked = await share(client, headers, clock, include_restricted=True)
    assert ticked["include_restricted"] is True
    found = await shared(client, ticked)
    assert clinical(found) == Counter(
        {"Condition": 1, "MedicationStatement": 1, "AllergyIntolerance": 1}
    )
    (condition,) = resources(found, "Condition")
    assert condition["meta"]["security"][0]["code"] == "R"
    # the book itself still shows it to its owner
    assert (await client.get("/citizens/me/health-book", headers=headers)).json()["counts"][
        "conditions"
    ] == 1


async def test_a_document_labelled_very_restricted_is_shared_only_when_ticked(
    client, owner_of, clock
) -> None:
    document = sample_json(IPS)
    document["meta"] = {"security": [{"system": CONFIDENTIALITY, "code": "V"}]}
    headers = await owner_of(IPS, dump(document))
    without = await shared(client, await share(client, headers, clock, content="immunizations"))
    assert clinical(without) == Counter()
    without = await shared(client, await share(client, headers, clock))
    assert clinical(without) == Counter()
    assert len(resources(without, "Patient")) == 1
    ticked = await shared(client, await share(client, headers, clock, include_restricted=True))
    assert sum(clinical(ticked).values()) == 3


async def test_a_referenced_resource_labelled_restricted_stays_out(client, owner_of, clock) -> None:
    headers = await owner_of(IPS, dump(labelled(sample_json(IPS), "Medication", "R")))
    without = await shared(client, await share(client, headers, clock))
    assert "Medication" not in {r["resourceType"] for r in resources(without)}
    (statement,) = resources(without, "MedicationStatement")
    assert "reference" not in statement["medicationReference"]
    ticked = await shared(client, await share(client, headers, clock, include_restricted=True))
    assert len(resources(ticked, "Medication")) == 1


async def test_insurance_hiv_care_is_shared_only_when_ticked(
    client, insurer_hospital, citizen, clock
) -> None:
    episodes = [list(build_episode_files(kind).items()) for kind in ("reexam", "hiv")]
    posted = await client.post(
        "/hospital/insurance-xml/",
        content=build_envelope(FACILITY, episodes),
        headers=xml_headers(insurer_hospital),
    )
    assert posted.status_code == 200, posted.text
    headers = bearer((await citizen(CCCD))["access_token"])
    shown = await client.put(
        "/citizens/me/health-book/restricted-data/", json={"show": True}, headers=headers
    )
    assert shown.status_code == 200, shown.text
    assert "B24" in (await client.get("/citizens/me/health-book/conditions", headers=headers)).text
    for content in ({}, {"content": "categories", "categories": ["conditions", "medications"]}):
        document = await shared(client, await share(client, headers, clock, **content))
        if not content:  # the re-examination episode is not restricted: shared either way
            assert clinical(document)["Encounter"] == 1
        without = json.dumps(document)
        for marker in HIV_MARKERS:
            assert marker not in without, (content, marker)
        ticked = json.dumps(
            await shared(
                client, await share(client, headers, clock, include_restricted=True, **content)
            )
        )
        assert "B24" in ticked


async def test_a_guardian_may_not_tick_restricted_data(
    client, owner_of, clock, admin_token, idp
) -> None:
    child = await owner_of(IPS)
    child_id = (await client.get("/citizens/me", headers=child)).json()["id"]
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
    refused = await client.post(
        f"/citizens/{child_id}/shares",
        json={"expires_at": in_days(clock, 1), "include_restricted": True},
        headers=guardian,
    )
    assert refused.status_code == 403, refused.text
    assert refused.headers["content-type"].startswith("application/problem+json")
    assert (await client.get(SHARES, headers=child)).json()["items"] == []
    # without the tick the guardian shares; the citizen themself may tick it
    assert (await share(client, guardian, clock, path=f"/citizens/{child_id}/shares"))["id"]
    assert (await share(client, child, clock, include_restricted=True))["include_restricted"]
