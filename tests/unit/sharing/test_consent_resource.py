"""A share as a FHIR R4 Consent, built without I/O: its status over the link's life, who made
it, what it covers; and which confidentiality labels keep a resource out of a share."""

from __future__ import annotations

import datetime as dt
import json
import uuid

import pytest

from api.health_book.export import labelled_restricted
from api.sharing.consents import consent
from api.sharing.models import ShareLink
from tests.support.fhir_export import assert_valid_fhir

NOW = dt.datetime(2026, 12, 7, 9, 0, tzinfo=dt.UTC)
CITIZEN = uuid.UUID("11111111-1111-4111-8111-111111111111")


def link(**fields: object) -> ShareLink:
    values: dict[str, object] = {
        "id": uuid.UUID("22222222-2222-4222-8222-222222222222"),
        "citizen_id": CITIZEN,
        "created_by": CITIZEN,
        "manifest_id": "m" * 43,
        "content": "ips",
        "visit_id": None,
        "categories": None,
        "include_restricted": False,
        "recipient": None,
        "label": None,
        "flags": "",
        "created_at": NOW - dt.timedelta(hours=1),
        "expires_at": NOW + dt.timedelta(days=7),
        "revoked_at": None,
        "passcode_hash": None,
        "attempts_remaining": 10,
        "key": None,
        "jwe": "",
        "jwe_at": NOW,
    }
    values.update(fields)
    return ShareLink(**values)


@pytest.mark.parametrize(
    ("fields", "status"),
    [
        ({}, "active"),
        ({"revoked_at": NOW - dt.timedelta(minutes=1)}, "inactive"),
        ({"expires_at": NOW}, "inactive"),
        ({"attempts_remaining": 0}, "inactive"),
    ],
)
def test_the_status_follows_the_link(fields: dict[str, object], status: str) -> None:
    resource = consent(link(**fields), NOW, patient_reference="Patient/x")
    assert resource["status"] == status
    assert_valid_fhir(resource)


def test_a_guardians_consent_and_its_classes() -> None:
    guardian = uuid.UUID("33333333-3333-4333-8333-333333333333")
    resource = consent(
        link(created_by=guardian, content="immunizations", categories="immunizations"),
        NOW,
        patient_reference="urn:uuid:44444444-4444-4444-8444-444444444444",
    )
    assert_valid_fhir(resource)
    assert resource["patient"] == {"reference": "urn:uuid:44444444-4444-4444-8444-444444444444"}
    assert resource["performer"][0]["type"] == "RelatedPerson"
    assert resource["performer"][0]["identifier"]["value"] == f"urn:uuid:{guardian}"
    assert [c["code"] for c in resource["provision"]["class"]] == ["Patient", "Immunization"]
    assert resource["provision"]["period"] == {
        "start": "2026-12-07T08:00:00Z",
        "end": "2026-12-14T09:00:00Z",
    }


CONFIDENTIALITY = "http://terminology.hl7.org/CodeSystem/v3-Confidentiality"


@pytest.mark.parametrize(
    ("security", "restricted"),
    [
        ([{"system": CONFIDENTIALITY, "code": "R"}], True),
        ([{"system": CONFIDENTIALITY, "code": "V"}], True),
        ([{"system": "urn:oid:2.16.840.1.113883.5.25", "code": "R"}], True),
        ([{"system": CONFIDENTIALITY, "code": "N"}, {"system": CONFIDENTIALITY}], False),
        ([{"system": "http://example.org/other", "code": "R"}], False),
        ([], False),
        (None, False),
    ],
)
def test_which_labels_keep_a_resource_out(security: object, restricted: bool) -> None:
    resource: dict[str, object] = {"resourceType": "Condition", "id": "c"}
    if security is not None:
        resource["meta"] = {"security": security}
    assert labelled_restricted(json.dumps(resource).encode()) is restricted
