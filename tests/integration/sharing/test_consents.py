"""Each share is a FHIR R4 Consent: listed as a searchset Bundle, read one by one, carried by the
book's export; active while its link works, inactive once revoked or expired."""

from __future__ import annotations

import datetime as dt

from tests.integration.health_book.conftest import patient_number
from tests.integration.sharing.conftest import SHARES, in_days, share
from tests.support.auth import bearer, login
from tests.support.fhir_export import assert_valid_fhir
from tests.support.fhir_samples import IPS, RUSTY

CONSENTS = "/citizens/me/consents"
V3_CONFIDENTIALITY = "http://terminology.hl7.org/CodeSystem/v3-Confidentiality"


def _codes(concept: dict) -> set[tuple[str, str]]:
    return {(c["system"], c["code"]) for c in concept["coding"]}


async def test_each_share_is_a_consent(client, owner_of, clock) -> None:
    headers = await owner_of(IPS)
    created = await share(
        client,
        headers,
        clock,
        content="categories",
        categories=["allergies", "medications"],
        recipient="BS. Nguyễn Văn An",
    )
    answer = await client.get(CONSENTS, headers=headers)
    assert answer.status_code == 200, answer.text
    assert answer.headers["content-type"].startswith("application/fhir+json")
    bundle = assert_valid_fhir(answer.content)
    assert bundle["type"] == "searchset"
    assert bundle["total"] == 1
    (entry,) = bundle["entry"]
    assert entry["search"] == {"mode": "match"}
    assert entry["fullUrl"].endswith(f"/consents/{created['id']}")
    consent = entry["resource"]
    assert consent["resourceType"] == "Consent"
    assert consent["id"] == created["id"]
    assert consent["status"] == "active"
    assert _codes(consent["scope"]) == {
        ("http://terminology.hl7.org/CodeSystem/consentscope", "patient-privacy")
    }
    assert _codes(consent["category"][0]) == {("http://loinc.org", "59284-0")}
    assert consent["patient"]["reference"]
    assert dt.datetime.fromisoformat(consent["dateTime"]) == clock.now().replace(microsecond=0)
    assert consent["performer"] == [consent["patient"] | {"display": "the citizen"}]
    assert _codes(consent["policyRule"]) == {
        ("http://terminology.hl7.org/CodeSystem/v3-ActCode", "OPTIN")
    }
    provision = consent["provision"]
    assert provision["type"] == "permit"
    start = dt.datetime.fromisoformat(provision["period"]["start"])
    end = dt.datetime.fromisoformat(provision["period"]["end"])
    assert start == dt.datetime.fromisoformat(created["created_at"]).replace(microsecond=0)
    assert end == dt.datetime.fromisoformat(created["expires_at"]).replace(microsecond=0)
    (actor,) = provision["actor"]
    assert actor["reference"]["display"] == "BS. Nguyễn Văn An"
    assert _codes(actor["role"]) == {
        ("http://terminology.hl7.org/CodeSystem/v3-ParticipationType", "IRCP")
    }
    assert _codes(provision["action"][0]) == {
        ("http://terminology.hl7.org/CodeSystem/consentaction", "access")
    }
    assert provision["purpose"] == [
        {
            "system": "http://terminology.hl7.org/CodeSystem/v3-ActReason",
            "code": "TREAT",
            "display": "treatment",
        }
    ]
    assert {c["code"] for c in provision["class"]} == {
        "Patient",
        "AllergyIntolerance",
        "MedicationRequest",
        "MedicationStatement",
        "Medication",
    }
    # restricted data not ticked: denied by a nested provision, not labelled in the permit
    assert "securityLabel" not in provision
    (deny,) = provision["provision"]
    assert deny["type"] == "deny"
    assert {(s["system"], s["code"]) for s in deny["securityLabel"]} == {
        (V3_CONFIDENTIALITY, "R"),
        (V3_CONFIDENTIALITY, "V"),
    }
    one = await client.get(f"{CONSENTS}/{created['id']}", headers=headers)
    assert one.status_code == 200
    assert one.headers["content-type"].startswith("application/fhir+json")
    assert assert_valid_fhir(one.content) == consent


async def test_a_consent_with_restricted_data_and_one_visit(client, owner_of, clock) -> None:
    headers = await owner_of(RUSTY)
    visit = (await client.get("/citizens/me/health-book/visits", headers=headers)).json()["items"][
        0
    ]
    created = await share(
        client, headers, clock, content="visit", visit_id=visit["id"], include_restricted=True
    )
    consent = assert_valid_fhir(
        (await client.get(f"{CONSENTS}/{created['id']}", headers=headers)).content
    )
    provision = consent["provision"]
    assert {(s["system"], s["code"]) for s in provision["securityLabel"]} == {
        (V3_CONFIDENTIALITY, "R"),
        (V3_CONFIDENTIALITY, "V"),
    }
    assert "provision" not in provision
    assert provision["data"][0]["reference"]["identifier"]["value"] == f"urn:uuid:{visit['id']}"
    assert "Encounter" in {c["code"] for c in provision["class"]}
    assert consent["provision"]["actor"][0]["reference"]["display"] == "whoever holds the link"


async def test_revoked_and_expired_shares_are_inactive_consents(client, owner_of, clock) -> None:
    headers = await owner_of(IPS)
    revoked = await share(client, headers, clock)
    short = await share(client, headers, clock, expires_at=in_days(clock, 1))
    lasting = await share(client, headers, clock, expires_at=in_days(clock, 30))
    assert (await client.delete(f"{SHARES}/{revoked['id']}", headers=headers)).status_code == 204
    clock.advance(days=2)
    bundle = assert_valid_fhir((await client.get(CONSENTS, headers=headers)).content)
    status = {e["resource"]["id"]: e["resource"]["status"] for e in bundle["entry"]}
    assert status == {
        revoked["id"]: "inactive",
        short["id"]: "inactive",
        lasting["id"]: "active",
    }


async def test_the_books_export_carries_the_consents(client, owner_of, clock) -> None:
    headers = await owner_of(IPS)
    created = await share(client, headers, clock, recipient="Phòng khám Hòa Bình")
    export = await client.get("/citizens/me/health-book/export", headers=headers)
    assert export.status_code == 200
    bundle = assert_valid_fhir(export.content)
    consents = [e for e in bundle["entry"] if e["resource"]["resourceType"] == "Consent"]
    assert [e["resource"]["id"] for e in consents] == [created["id"]]
    assert consents[0]["fullUrl"] == f"urn:uuid:{created['id']}"
    (patient,) = [e for e in bundle["entry"] if e["resource"]["resourceType"] == "Patient"]
    assert consents[0]["resource"]["patient"] == {"reference": patient["fullUrl"]}
    # the same Patient as the Consent read on its own names
    alone = assert_valid_fhir(
        (await client.get(f"{CONSENTS}/{created['id']}", headers=headers)).content
    )
    assert alone["patient"] == {"reference": patient["fullUrl"]}
    # the IPS document stays a summary: no Consent in it
    ips = (await client.get("/citizens/me/health-book/export?type=ips", headers=headers)).json()
    assert "Consent" not in {e["resource"]["resourceType"] for e in ips["entry"]}


async def test_consents_of_a_dependent_and_of_others(
    client, owner_of, clock, admin_token, idp
) -> None:
    child = await owner_of(IPS)
    child_id = (await client.get("/citizens/me", headers=child)).json()["id"]
    stranger = bearer((await login(client, idp, "001085000002"))["access_token"])
    own = await share(client, child, clock)
    assert (await client.get(f"/citizens/{child_id}/consents", headers=stranger)).status_code == 404
    assert (
        await client.get(f"/citizens/me/consents/{own['id']}", headers=stranger)
    ).status_code == 404
    unknown = await client.get(f"{CONSENTS}/00000000-0000-4000-8000-000000000000", headers=child)
    assert unknown.status_code == 404
    assert unknown.headers["content-type"].startswith("application/problem+json")
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
    made = await share(client, guardian, clock, path=f"/citizens/{child_id}/shares")
    answer = await client.get(f"/citizens/{child_id}/consents", headers=guardian)
    assert answer.status_code == 200
    bundle = assert_valid_fhir(answer.content)
    by_id = {e["resource"]["id"]: e["resource"] for e in bundle["entry"]}
    assert set(by_id) == {own["id"], made["id"]}
    (performer,) = by_id[made["id"]]["performer"]
    assert performer["type"] == "RelatedPerson"
    assert performer["identifier"]["value"] == f"urn:uuid:{guardian_id}"
    assert by_id[own["id"]]["performer"][0]["reference"] == by_id[own["id"]]["patient"]["reference"]
    # the guardian's own book has none
    assert assert_valid_fhir((await client.get(CONSENTS, headers=guardian)).content)["total"] == 0
