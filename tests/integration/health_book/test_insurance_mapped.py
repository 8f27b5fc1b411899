"""An insurance-XML episode mapped to FHIR goes through the book's own publish path: stored,
versioned by (facility, MA_LK), the same content unchanged, late results a new version, and the
citizen reads the hospital's Vietnamese diagnosis text."""

from __future__ import annotations

import msgspec

from api.insurance.mapping import episode_to_bundle
from api.insurance.tables import read_episode
from tests.integration.health_book.conftest import ANY_ID
from tests.support.auth import bearer, login, register_provider
from tests.support.qd130 import CCCD, build_episode_files

SYSTEM = "https://fhir.moh.gov.vn/sid/cccd"  # the book's default national-ID system


def _body(kind: str, facility: str) -> bytes:
    episode, problems = read_episode(
        build_episode_files(kind, facility=facility), max_file_bytes=10**7
    )
    assert problems == []
    assert episode is not None
    bundle = episode_to_bundle(episode, facility_code=facility, national_id_system=SYSTEM)
    return msgspec.json.encode(bundle)


async def test_an_episode_is_published_versioned_and_read(client, hospital, admin_token, idp):
    body = _body("outpatient", hospital.facility_id)
    first = await client.post("/hospital/summaries", content=body, headers=hospital.headers)
    assert first.status_code == 201, first.text
    counts = first.json()["entry_counts"]
    assert counts["visits"] == 1
    assert counts["conditions"] == 2
    assert counts["medications"] == 5
    assert counts["diagnostic_reports"] == 12
    again = await client.post("/hospital/summaries", content=body, headers=hospital.headers)
    assert again.status_code == 200, again.text
    assert again.json()["outcome"] == "unchanged"

    pending = await client.post(
        "/hospital/summaries",
        content=_body("late_result", hospital.facility_id),
        headers=hospital.headers,
    )
    assert pending.status_code == 201, pending.text
    filled = await client.post(
        "/hospital/summaries",
        content=_body("late_result_resend", hospital.facility_id),
        headers=hospital.headers,
    )
    assert filled.status_code == 201, filled.text
    assert filled.json()["outcome"] == "new_version"
    assert filled.json()["document_id"] == pending.json()["document_id"]

    await register_provider(client, admin_token, idp, national_id_pattern=ANY_ID)
    tokens = await login(client, idp, CCCD)
    headers = bearer(tokens["access_token"])
    conditions = await client.get(
        "/citizens/me/health-book/conditions", params={"limit": 100}, headers=headers
    )
    assert conditions.status_code == 200, conditions.text
    texts = {item["text"] for item in conditions.json()["items"]}
    assert "Tăng huyết áp vô căn" in texts
