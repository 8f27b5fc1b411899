"""What the citizen reads: overview, lists, visits, ETags, isolation, the access log."""

from __future__ import annotations

import datetime as dt

import pytest

from tests.integration.health_book.conftest import patient_number
from tests.support.auth import bearer, login
from tests.support.fhir_export import assert_valid_fhir
from tests.support.fhir_samples import (
    CATEGORY_TYPES,
    IPS,
    LEONOR,
    RUSTY,
    dump,
    expected_counts,
    sample_json,
    sample_names,
)


async def _all(client, path: str, headers: dict[str, str], **params) -> list[dict]:
    items: list[dict] = []
    cursor = None
    while True:
        query = {**params, "limit": 100}
        if cursor:
            query["cursor"] = cursor
        response = await client.get(path, params=query, headers=headers)
        assert response.status_code == 200, response.text
        page = response.json()
        items += page["items"]
        cursor = page["next_cursor"]
        if cursor is None:
            return items


def _latest_vital(name: str, loinc: str) -> float:
    document = sample_json(name)
    best = None
    for entry in document["entry"]:
        resource = entry["resource"]
        if resource["resourceType"] != "Observation":
            continue
        if not any(c.get("code") == loinc for c in resource["code"].get("coding", [])):
            continue
        when = resource.get("effectiveDateTime")
        if when and (best is None or when > best[0]):
            best = (when, resource["valueQuantity"]["value"])
    assert best is not None
    return best[1]


@pytest.mark.parametrize("name", sample_names())
async def test_overview_and_lists_show_exactly_the_files_entries(client, owner_of, name) -> None:
    headers = await owner_of(name)
    overview = await client.get("/citizens/me/health-book", headers=headers)
    assert overview.status_code == 200, overview.text
    expected = {c: expected_counts(name)[c] for c in CATEGORY_TYPES}
    assert overview.json()["counts"] == expected
    for category, count in expected.items():
        items = await _all(client, f"/citizens/me/health-book/{category}", headers)
        assert len(items) == count, category
        assert len({item["id"] for item in items}) == count
        dates = [i["effective_at"] for i in items if i["effective_at"]]
        assert dates == sorted(dates, reverse=True)


@pytest.mark.parametrize(("name", "loinc"), [(LEONOR, "29463-7"), (RUSTY, "8302-2")])
async def test_latest_vital_sign_is_the_latest_in_the_file(client, owner_of, name, loinc) -> None:
    headers = await owner_of(name)
    vitals = (await client.get("/citizens/me/health-book", headers=headers)).json()[
        "latest_vital_signs"
    ]
    found = next(v for v in vitals if v["code"]["code"] == loinc)
    assert found["value"] == pytest.approx(_latest_vital(name, loinc))


async def test_blood_pressure_carries_both_components(client, owner_of) -> None:
    headers = await owner_of(LEONOR)
    vitals = (await client.get("/citizens/me/health-book", headers=headers)).json()[
        "latest_vital_signs"
    ]
    # Synthea writes the older LOINC panel code for blood pressure (55284-4, not 85354-9)
    pressure = next(v for v in vitals if v["code"]["code"] == "55284-4")
    assert {c["code"] for c in pressure["components"]} == {"8480-6", "8462-4"}
    assert all(c["value"] is not None for c in pressure["components"])


@pytest.mark.redis
async def test_etag_304_until_a_new_publish(client, owner_of, hospital) -> None:
    headers = await owner_of(IPS)
    first = await client.get("/citizens/me/health-book", headers=headers)
    etag = first.headers["etag"]
    again = await client.get("/citizens/me/health-book", headers={**headers, "If-None-Match": etag})
    assert again.status_code == 304
    assert again.content == b""
    changed = sample_json(IPS)
    changed["identifier"]["value"] = "another-document"
    await client.post("/hospital/summaries", content=dump(changed), headers=hospital.headers)
    after = await client.get("/citizens/me/health-book", headers={**headers, "If-None-Match": etag})
    assert after.status_code == 200
    assert after.headers["etag"] != etag


async def test_filters(client, owner_of) -> None:
    headers = await owner_of(LEONOR)
    observations = await _all(client, "/citizens/me/health-book/observations", headers)
    weight = [o for o in observations if any(c["code"] == "29463-7" for c in o["codes"])]
    by_code = await _all(
        client, "/citizens/me/health-book/observations", headers, code="http://loinc.org|29463-7"
    )
    assert {o["id"] for o in by_code} == {o["id"] for o in weight}
    middle = sorted(o["effective_at"] for o in observations)[len(observations) // 2]
    recent = await _all(client, "/citizens/me/health-book/observations", headers, since=middle)
    assert 0 < len(recent) < len(observations)
    assert all(o["effective_at"] >= middle for o in recent)
    final = await _all(client, "/citizens/me/health-book/observations", headers, status="final")
    assert all(o["status"] == "final" for o in final)
    elsewhere = await _all(
        client, "/citizens/me/health-book/observations", headers, facility="99999"
    )
    assert elsewhere == []
    naive = await client.get(
        "/citizens/me/health-book/observations",
        params={"since": "2020-01-01T00:00:00"},
        headers=headers,
    )
    assert naive.status_code == 400
    unknown = await client.get("/citizens/me/health-book/x-rays", headers=headers)
    assert unknown.status_code in (400, 404)


async def test_pagination_is_stable_under_concurrent_inserts(client, owner_of, hospital) -> None:
    headers = await owner_of(LEONOR)
    first = (
        await client.get(
            "/citizens/me/health-book/observations", params={"limit": 50}, headers=headers
        )
    ).json()
    # a new document with newer observations arrives while the app pages
    newer = sample_json(LEONOR)
    newer["identifier"] = {"system": "urn:test", "value": "later"}
    for entry in newer["entry"]:
        resource = entry["resource"]
        if resource["resourceType"] == "Observation":
            resource["id"] = "later-" + resource["id"]
            entry["fullUrl"] = "urn:uuid:" + resource["id"]
            resource["effectiveDateTime"] = "2099-01-01T00:00:00Z"
    await client.post("/hospital/summaries", content=dump(newer), headers=hospital.headers)
    seen = {item["id"] for item in first["items"]}
    cursor = first["next_cursor"]
    while cursor:
        page = (
            await client.get(
                "/citizens/me/health-book/observations",
                params={"limit": 50, "cursor": cursor},
                headers=headers,
            )
        ).json()
        ids = {item["id"] for item in page["items"]}
        assert not ids & seen
        seen |= ids
        cursor = page["next_cursor"]
    assert len(seen) == expected_counts(LEONOR)["observations"]


async def test_visit_detail_and_its_fhir(client, owner_of) -> None:
    headers = await owner_of(LEONOR)
    visits = await _all(client, "/citizens/me/health-book/visits", headers)
    detail = None
    for visit in visits:
        candidate = (
            await client.get(f"/citizens/me/health-book/visits/{visit['id']}", headers=headers)
        ).json()
        if candidate["entries"]:
            detail = candidate
            break
    assert detail is not None
    assert detail["facility"]["id"] == "01001"
    assert detail["documents"][0]["version"] == 1
    related = sum(len(v) for v in detail["entries"].values())
    fhir = await client.get(
        f"/citizens/me/health-book/visits/{detail['visit']['id']}",
        params={"format": "fhir"},
        headers=headers,
    )
    assert fhir.headers["content-type"].startswith("application/fhir+json")
    bundle = assert_valid_fhir(fhir.content)
    assert bundle["resourceType"] == "Bundle"
    assert bundle["entry"][0]["resource"]["resourceType"] == "Encounter"
    assert len(bundle["entry"]) == 1 + related


@pytest.mark.redis
async def test_two_citizens_never_see_each_other(client, owner_of, app) -> None:
    leonor = await owner_of(LEONOR)
    rusty = await owner_of(RUSTY)
    rusty_id = (await client.get("/citizens/me", headers=rusty)).json()["id"]
    rusty_visit = (await _all(client, "/citizens/me/health-book/visits", rusty))[0]["id"]
    rusty_obs = (await _all(client, "/citizens/me/health-book/observations", rusty))[0]["id"]
    for path in (
        f"/citizens/{rusty_id}/health-book",
        f"/citizens/{rusty_id}/health-book/visits",
        f"/citizens/{rusty_id}/access-log",
        f"/citizens/{rusty_id}/health-book/visits/{rusty_visit}",
        f"/citizens/me/health-book/visits/{rusty_visit}",
        f"/citizens/me/health-book/visits/{rusty_obs}",
    ):
        response = await client.get(path, headers=leonor)
        assert response.status_code == 404, path
    # a cursor from Rusty's list is useless for Leonor
    page = (
        await client.get(
            "/citizens/me/health-book/observations", params={"limit": 5}, headers=rusty
        )
    ).json()
    stolen = await client.get(
        "/citizens/me/health-book/observations",
        params={"cursor": page["next_cursor"]},
        headers=leonor,
    )
    assert stolen.status_code == 400
    # every list of Leonor's holds only Leonor's entries
    leonor_ids = set()
    for category in CATEGORY_TYPES:
        leonor_ids |= {
            i["id"] for i in await _all(client, f"/citizens/me/health-book/{category}", leonor)
        }
    rusty_ids = set()
    for category in CATEGORY_TYPES:
        rusty_ids |= {
            i["id"] for i in await _all(client, f"/citizens/me/health-book/{category}", rusty)
        }
    assert not leonor_ids & rusty_ids


async def test_guardian_reads_are_logged_owner_reads_are_not(
    client, owner_of, admin_token, idp
) -> None:
    child_headers = await owner_of(IPS)
    child_id = (await client.get("/citizens/me", headers=child_headers)).json()["id"]
    await client.get("/citizens/me/health-book", headers=child_headers)
    recorded = await client.post(
        "/admin/guardianships",
        json={
            "guardian_national_id": "001085000001",
            "dependent_national_id": patient_number(IPS),
            "kind": "legal_representative",
            "dependent_birth_date": "1990-01-02",  # as the identity provider asserted
        },
        headers=bearer(admin_token),
    )
    assert recorded.status_code == 201, recorded.text
    guardian = bearer((await login(client, idp, "001085000001"))["access_token"])
    guardian_id = (await client.get("/citizens/me", headers=guardian)).json()["id"]
    assert (
        await client.get(f"/citizens/{child_id}/health-book", headers=guardian)
    ).status_code == 200
    assert (
        await client.get(f"/citizens/{child_id}/health-book/conditions", headers=guardian)
    ).status_code == 200
    log = (await client.get("/citizens/me/access-log", headers=child_headers)).json()["items"]
    actions = [(e["action"], e["actor_kind"], e["actor_id"], e["resource"]) for e in log]
    assert ("read", "guardian", guardian_id, "health-book") in actions
    assert ("read", "guardian", guardian_id, "health-book/conditions") in actions
    assert all(e["actor_kind"] != "citizen" for e in log)  # the owner's own reads are not logged
    assert any(e["action"] == "publish" for e in log)
    assert all(e["at"] <= dt.datetime.now(dt.UTC).isoformat() for e in log)


async def test_insurance_card_from_the_hospital_shows_on_the_profile(client, owner_of) -> None:
    document = sample_json(IPS)
    patient = next(
        e["resource"] for e in document["entry"] if e["resource"]["resourceType"] == "Patient"
    )
    patient["identifier"].append(
        {"system": "https://fhir.moh.gov.vn/sid/bhyt", "value": "DN4010123456789"}
    )
    headers = await owner_of(IPS, body=dump(document))
    profile = (await client.get("/citizens/me", headers=headers)).json()
    assert profile["insurance_card"] == "DN4010123456789"
    overview = (await client.get("/citizens/me/health-book", headers=headers)).json()
    assert overview["profile"]["insurance_card"] == "DN4010123456789"


@pytest.mark.redis
async def test_a_book_being_read_is_rebuilt_right_after_a_publish(
    client, app, owner_of, hospital
) -> None:
    import asyncio

    from api.health_book.book import book_key

    headers = await owner_of(IPS)
    citizen_id = (await client.get("/citizens/me", headers=headers)).json()["id"]
    assert await app.state.redis.get(book_key(citizen_id)) is None  # nobody has read it yet
    await client.get("/citizens/me/health-book", headers=headers)
    before = await app.state.redis.get(book_key(citizen_id))
    assert before is not None
    changed = sample_json(IPS)
    changed["identifier"]["value"] = "rebuilt-document"
    await client.post("/hospital/summaries", content=dump(changed), headers=hospital.headers)
    for _ in range(100):
        after = await app.state.redis.get(book_key(citizen_id))
        if after is not None and after != before:
            break
        await asyncio.sleep(0.02)
    assert after is not None
    assert after != before
