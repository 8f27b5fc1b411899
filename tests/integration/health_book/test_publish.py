"""Hospitals publish FHIR summaries: every sample is stored whole, once, and versioned."""

from __future__ import annotations

import copy
import json

import pytest
from sqlalchemy import func, select

from api.health_book.models import AccessLogEntry, HealthDocument, HealthEntry
from api.identity.models import Citizen
from notifications.models import OutboxEntry
from tests.support.fhir_samples import (
    CATEGORY_TYPES,
    IPS,
    LEONOR,
    dump,
    entry_index,
    expected_counts,
    sample_bytes,
    sample_json,
    sample_names,
)


async def active_counts(app) -> dict[str, int]:
    async with app.state.sessionmaker() as session:
        rows = await session.execute(
            select(HealthEntry.category, func.count())
            .where(HealthEntry.active.is_(True))
            .group_by(HealthEntry.category)
        )
        counts = dict.fromkeys(CATEGORY_TYPES, 0)
        counts.update({category: n for category, n in rows.all()})
        return counts


async def table_counts(app) -> dict[str, int]:
    async with app.state.sessionmaker() as session:
        return {
            model.__tablename__: await session.scalar(select(func.count()).select_from(model))
            for model in (HealthDocument, HealthEntry, Citizen, AccessLogEntry, OutboxEntry)
        }


@pytest.mark.parametrize("name", sample_names())
async def test_each_sample_is_stored_with_its_exact_entry_counts(
    client, app, hospital, name
) -> None:
    response = await client.post(
        "/hospital/summaries", content=sample_bytes(name), headers=hospital.headers
    )
    assert response.status_code == 201, response.text
    body = response.json()
    assert body["outcome"] == "created"
    assert body["version"] == 1
    expected = expected_counts(name)
    assert body["entry_counts"] == {c: expected[c] for c in CATEGORY_TYPES}
    assert await active_counts(app) == {c: expected[c] for c in CATEGORY_TYPES}

    before = await table_counts(app)
    again = await client.post(
        "/hospital/summaries", content=sample_bytes(name), headers=hospital.headers
    )
    assert again.status_code == 200, again.text
    assert again.json()["outcome"] == "unchanged"
    assert again.json()["document_id"] == body["document_id"]
    assert await table_counts(app) == before


async def test_publish_writes_access_log_and_notifies_for_visits(client, app, hospital) -> None:
    response = await client.post(
        "/hospital/summaries", content=sample_bytes(LEONOR), headers=hospital.headers
    )
    assert response.status_code == 201
    async with app.state.sessionmaker() as session:
        log = (await session.scalars(select(AccessLogEntry))).all()
        assert [(e.action, e.actor_kind, e.actor_id) for e in log] == [
            ("publish", "hospital", hospital.client_id)
        ]
        outbox = (await session.scalars(select(OutboxEntry))).all()
        assert len(outbox) == 1
        assert outbox[0].kind == "health_record_available"
        assert log[0].citizen_id == outbox[0].citizen_id


async def test_ips_without_visits_notifies_nobody(client, app, hospital) -> None:
    await client.post("/hospital/summaries", content=sample_bytes(IPS), headers=hospital.headers)
    assert (await table_counts(app))["notification_outbox"] == 0


def _observation_value(document: dict, index: int) -> float:
    return document["entry"][index]["resource"]["valueQuantity"]["value"]


async def test_republished_document_supersedes_and_keeps_history(client, app, hospital) -> None:
    original = sample_json(LEONOR)
    original["identifier"] = {"system": "urn:ietf:rfc:3986", "value": "urn:uuid:leonor-history-1"}
    changed = copy.deepcopy(original)
    index = entry_index(changed, "Observation", 3)
    resource = changed["entry"][index]["resource"]
    old_value = resource.get("valueQuantity", {}).get("value")
    assert old_value is not None
    resource["valueQuantity"]["value"] = old_value + 7
    first = await client.post(
        "/hospital/summaries", content=dump(original), headers=hospital.headers
    )
    second = await client.post(
        "/hospital/summaries", content=dump(changed), headers=hospital.headers
    )
    assert first.status_code == 201
    assert second.status_code == 201, second.text
    assert second.json()["outcome"] == "new_version"
    assert second.json()["version"] == 2
    source_key = f"Observation/{resource['id']}"
    async with app.state.sessionmaker() as session:
        documents = (
            await session.scalars(select(HealthDocument).order_by(HealthDocument.version))
        ).all()
        assert [(d.version, d.status) for d in documents] == [(1, "superseded"), (2, "current")]
        entries = (
            await session.scalars(select(HealthEntry).where(HealthEntry.source_key == source_key))
        ).all()
        assert len(entries) == 2
        active = [e for e in entries if e.active]
        assert len(active) == 1
        assert active[0].document_id == documents[1].id
        assert active[0].summary["value"]["number"] == old_value + 7
        history = [e for e in entries if not e.active]
        assert history[0].summary["value"]["number"] == old_value
    expected = expected_counts(LEONOR)
    assert await active_counts(app) == {c: expected[c] for c in CATEGORY_TYPES}


async def test_entered_in_error_removes_entries_and_restores_older_copies(
    client, app, hospital
) -> None:
    """Two documents share an Observation; withdrawing the newer brings back the older's copy."""
    full = sample_json(LEONOR)
    first = await client.post("/hospital/summaries", content=dump(full), headers=hospital.headers)
    partial = copy.deepcopy(full)
    keep = {entry_index(full, "Patient"), entry_index(full, "Observation", 0)}
    partial["entry"] = [e for i, e in enumerate(full["entry"]) if i in keep]
    partial["type"] = "collection"
    for entry in partial["entry"]:
        entry.pop("request", None)
    partial["entry"][1]["resource"].pop("encounter", None)
    second = await client.post(
        "/hospital/summaries", content=dump(partial), headers=hospital.headers
    )
    assert second.status_code == 201, second.text
    expected = expected_counts(LEONOR)
    assert await active_counts(app) == {c: expected[c] for c in CATEGORY_TYPES}  # de-duplicated

    withdrawn = await client.post(
        f"/hospital/summaries/{first.json()['document_id']}/entered-in-error",
        headers=hospital.headers,
    )
    assert withdrawn.status_code == 200, withdrawn.text
    counts = await active_counts(app)
    assert counts["observations"] == 1  # only the second document's copy remains
    assert sum(counts.values()) == 1
    async with app.state.sessionmaker() as session:
        statuses = dict(
            (await session.execute(select(HealthDocument.id, HealthDocument.status))).all()
        )
        assert sorted(statuses.values()) == ["current", "entered_in_error"]


async def test_a_summary_for_someone_who_never_logged_in_appears_at_first_login(
    client, app, hospital, admin_token, idp
) -> None:
    from tests.support.auth import bearer, login, register_provider

    response = await client.post(
        "/hospital/summaries", content=sample_bytes(IPS), headers=hospital.headers
    )
    assert response.status_code == 201
    await register_provider(client, admin_token, idp, national_id_pattern=r"^\d{9,12}$")
    patient = next(
        e["resource"]
        for e in sample_json(IPS)["entry"]
        if e["resource"]["resourceType"] == "Patient"
    )
    tokens = await login(client, idp, patient["identifier"][0]["value"])
    me = (await client.get("/citizens/me", headers=bearer(tokens["access_token"]))).json()
    async with app.state.sessionmaker() as session:
        document = await session.scalar(select(HealthDocument))
        assert str(document.citizen_id) == me["id"]
    # the login's claims win over what the hospital sent; the IPS name filled the gap before it
    assert me["full_name"] == "Nguyễn Văn A"


async def test_documents_of_two_facilities_stay_apart(client, app, hospital, admin_token) -> None:
    from tests.support.hospital import make_hospital

    other = await make_hospital(app, client, admin_token, facility_id="79002", name="BV Sài Gòn")
    for who in (hospital, other):
        response = await client.post(
            "/hospital/summaries", content=sample_bytes(IPS), headers=who.headers
        )
        assert response.status_code == 201
    async with app.state.sessionmaker() as session:
        facilities = (await session.scalars(select(HealthDocument.facility_id))).all()
    assert sorted(facilities) == ["01001", "79002"]
    expected = expected_counts(IPS)
    assert (await active_counts(app))["conditions"] == 2 * expected["conditions"]


async def test_another_facility_cannot_withdraw_a_document(
    client, app, hospital, admin_token
) -> None:
    from tests.support.hospital import make_hospital

    published = await client.post(
        "/hospital/summaries", content=sample_bytes(IPS), headers=hospital.headers
    )
    other = await make_hospital(app, client, admin_token, facility_id="79002")
    response = await client.post(
        f"/hospital/summaries/{published.json()['document_id']}/entered-in-error",
        headers=other.headers,
    )
    assert response.status_code == 404
    assert response.json()["resourceType"] == "OperationOutcome"


async def test_json_parsed_back_is_what_was_stored(client, app, hospital) -> None:
    await client.post("/hospital/summaries", content=sample_bytes(IPS), headers=hospital.headers)
    async with app.state.sessionmaker() as session:
        document = await session.scalar(select(HealthDocument))
        assert json.loads(document.body) == sample_json(IPS)
        entry = await session.scalar(
            select(HealthEntry).where(HealthEntry.category == "conditions")
        )
        stored = json.loads(entry.resource)
        assert stored["resourceType"] == "Condition"


async def test_location_of_a_publish_reads_back_every_version(
    client, app, admin_token, hospital
) -> None:
    """``Location`` of a publish answers GET with the document's versions, newest first; another
    facility, an unknown id and a malformed id get OperationOutcome 404/400."""
    from tests.support.hospital import make_hospital

    full = sample_json(LEONOR)
    full["identifier"] = {"system": "urn:example:visit-summaries", "value": "leonor-history"}
    first = await client.post("/hospital/summaries", content=dump(full), headers=hospital.headers)
    assert first.status_code == 201, first.text
    location = first.headers["location"]
    assert location == f"/hospital/summaries/{first.json()['document_id']}"

    read = await client.get(location, headers=hospital.headers)
    assert read.status_code == 200, read.text
    body = read.json()
    assert body["document_id"] == first.json()["document_id"]
    assert body["status"] == "current"
    assert [(v["version"], v["status"]) for v in body["versions"]] == [(1, "current")]
    assert body["versions"][0]["entry_counts"] == first.json()["entry_counts"]
    assert "resourceType" not in read.text  # no clinical content goes back

    changed = copy.deepcopy(full)
    changed["entry"] = changed["entry"][:-1]
    second = await client.post(
        "/hospital/summaries", content=dump(changed), headers=hospital.headers
    )
    assert second.status_code == 201, second.text
    assert second.json()["version"] == 2
    # the same document, read by the id of either version
    for ident in (first.json()["document_id"], second.json()["version_id"]):
        again = (await client.get(f"/hospital/summaries/{ident}", headers=hospital.headers)).json()
        assert again["document_id"] == first.json()["document_id"]
        assert [(v["version"], v["status"]) for v in again["versions"]] == [
            (2, "current"),
            (1, "superseded"),
        ]
        assert again["versions"][0]["version_id"] == second.json()["version_id"]

    withdrawn = await client.post(f"{location}/entered-in-error", headers=hospital.headers)
    assert withdrawn.status_code == 200, withdrawn.text
    after = (await client.get(location, headers=hospital.headers)).json()
    assert after["status"] == "entered_in_error"
    assert {v["status"] for v in after["versions"]} == {"entered_in_error"}

    other = await make_hospital(app, client, admin_token, facility_id="01002")
    foreign = await client.get(location, headers=other.headers)
    assert foreign.status_code == 404
    assert foreign.json()["resourceType"] == "OperationOutcome"
    unknown = await client.get(
        "/hospital/summaries/00000000-0000-4000-8000-000000000000", headers=hospital.headers
    )
    assert unknown.status_code == 404
    assert unknown.json()["resourceType"] == "OperationOutcome"
    malformed = await client.get("/hospital/summaries/not-a-uuid", headers=hospital.headers)
    assert malformed.status_code == 400
    assert malformed.json()["resourceType"] == "OperationOutcome"
