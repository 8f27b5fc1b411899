"""Hospitals publish slots (JSON or FHIR Slot resources), upsert them by their own id, block
them or shrink them: the overflow is cancelled latest-booked first and those citizens are told."""

from __future__ import annotations

import datetime as dt
import json
import uuid

from sqlalchemy import select

from api.appointments.models import Slot
from notifications.models import OutboxEntry
from tests.support.auth import bearer, client_token, create_client_directly
from tests.support.hospital import register_facility
from tests.support.problems import problem_uri


async def _outbox(app, kind: str) -> list[OutboxEntry]:
    async with app.state.sessionmaker() as session:
        rows = await session.scalars(select(OutboxEntry).where(OutboxEntry.kind == kind))
        return list(rows)


async def _slot(app, slot_id: str) -> Slot:
    async with app.state.sessionmaker() as session:
        slot = await session.get(Slot, uuid.UUID(slot_id))
        assert slot is not None
        return slot


async def test_upsert_by_the_hospitals_id(app, clinic):
    body = clinic.slot("U1", capacity=3)
    first = await clinic.publish(body)
    assert first["created"] == 1
    slot_id = first["slots"][0]["slot_id"]
    same = await clinic.publish(body)
    assert (same["created"], same["updated"], same["unchanged"]) == (0, 0, 1)
    assert same["slots"][0]["slot_id"] == slot_id
    changed = await clinic.publish({**body, "capacity": 4, "service": "BS. Trần Thị B"})
    assert changed["updated"] == 1
    slot = await _slot(app, slot_id)
    assert (slot.capacity, slot.service, slot.external_id) == (4, "BS. Trần Thị B", "U1")
    assert slot.start_at.tzinfo is not None
    assert slot.start_at == dt.datetime.fromisoformat(body["start"])


async def test_invalid_batches_change_nothing(app, clinic):
    good = clinic.slot("V-good")
    naive = {**clinic.slot("V-naive"), "start": "2030-01-01T08:00:00"}
    for bad, status in (
        ([good, naive], 400),
        ([good, {**clinic.slot("V-back"), "end": good["start"]}], 400),
        ([good, clinic.slot("V-dept", department="XYZ")], 422),
        ([good, good], 400),
        ([good, {**clinic.slot("V-extra"), "colour": "red"}], 400),
    ):
        response = await clinic.http.put(
            "/hospital/slots", json={"slots": bad}, headers=clinic.headers
        )
        assert response.status_code == status, (bad[-1], response.text)
        assert response.headers["content-type"].startswith("application/problem+json")
    async with app.state.sessionmaker() as session:
        assert list(await session.scalars(select(Slot))) == []


async def test_shrinking_cancels_the_latest_bookings_and_tells_them(app, clinic, person, clock):
    body = clinic.slot("SH", capacity=3)
    slot_id = (await clinic.publish(body))["slots"][0]["slot_id"]
    people = [await person() for _ in range(3)]
    booked = []
    for someone in people:
        booked.append(await someone.booked(slot_id))
        clock.advance(seconds=1)
    result = await clinic.publish({**body, "capacity": 1})
    assert result["cancelled_appointments"] == 2
    assert result["slots"][0]["booked"] == 1
    statuses = [(await p.get(a["id"])).json() for p, a in zip(people, booked, strict=True)]
    assert [s["status"] for s in statuses] == ["booked", "cancelled", "cancelled"]
    assert statuses[2]["cancelled_by"] == "hospital"
    told = {row.citizen_id for row in await _outbox(app, "appointment_cancelled")}
    assert told == {uuid.UUID(people[1].id), uuid.UUID(people[2].id)}
    assert (await _slot(app, slot_id)).booked == 1


async def test_blocking_cancels_every_booking(app, clinic, person):
    body = clinic.slot("BL", capacity=2)
    slot_id = (await clinic.publish(body))["slots"][0]["slot_id"]
    a, b = await person(), await person()
    await a.booked(slot_id)
    await b.booked(slot_id)
    blocked = await clinic.http.post("/hospital/slots/BL/block", headers=clinic.headers)
    assert blocked.status_code == 200, blocked.text
    assert blocked.json()["cancelled_appointments"] == 2
    assert (await _slot(app, slot_id)).status == "blocked"
    assert len(await _outbox(app, "appointment_cancelled")) == 2
    assert (await a.book(slot_id)).json()["type"] == problem_uri("slot-unavailable")
    reopened = await clinic.publish(body)
    assert reopened["updated"] == 1
    assert (await a.book(slot_id)).status_code == 201
    missing = await clinic.http.post("/hospital/slots/nope/block", headers=clinic.headers)
    assert missing.status_code == 404


async def test_a_booked_slot_cannot_move(clinic, person):
    body = clinic.slot("MV", capacity=2)
    slot_id = (await clinic.publish(body))["slots"][0]["slot_id"]
    await (await person()).booked(slot_id)
    later = dt.datetime.fromisoformat(body["start"]) + dt.timedelta(hours=1)
    end = later + dt.timedelta(minutes=30)
    moved = await clinic.http.put(
        "/hospital/slots",
        json={"slots": [{**body, "start": later.isoformat(), "end": end.isoformat()}]},
        headers=clinic.headers,
    )
    assert moved.status_code == 409
    assert moved.json()["type"] == problem_uri("slot-has-bookings")
    other_department = await clinic.http.put(
        "/hospital/slots",
        json={"slots": [{**body, "department": "NHI"}]},
        headers=clinic.headers,
    )
    assert other_department.status_code == 409


def _fhir_slot(ref: str, start: dt.datetime, **extra: object) -> dict[str, object]:
    return {
        "resourceType": "Slot",
        "id": f"local-{ref}",
        "identifier": [{"system": "urn:oid:1.2.3", "value": ref}],
        "schedule": {"reference": "Schedule/noi"},
        "serviceType": [{"coding": [{"code": "57", "display": "Khám nội"}]}],
        "status": "free",
        "start": start.isoformat(),
        "end": (start + dt.timedelta(minutes=15)).isoformat(),
        "extension": [
            {"url": "urn:healthbook:department", "valueCode": "NOI"},
            {"url": "urn:healthbook:capacity", "valuePositiveInt": 4},
        ],
        **extra,
    }


async def test_fhir_slot_bundles_are_accepted(app, client, clinic, clock):
    start = clock.now() + dt.timedelta(days=2)
    bundle = {
        "resourceType": "Bundle",
        "type": "collection",
        "entry": [
            {"resource": {"resourceType": "Schedule", "id": "noi"}},
            {"resource": _fhir_slot("F1", start)},
            {
                "resource": _fhir_slot(
                    "F2", start + dt.timedelta(hours=1), status="busy-unavailable"
                )
            },
        ],
    }
    headers = {**clinic.headers, "content-type": "application/fhir+json"}
    response = await client.put("/hospital/slots", content=json.dumps(bundle), headers=headers)
    assert response.status_code == 200, response.text
    result = response.json()
    assert [(s["id"], s["result"]) for s in result["slots"]] == [
        ("F1", "created"),
        ("F2", "created"),
    ]
    slot = await _slot(app, result["slots"][0]["slot_id"])
    assert (slot.capacity, slot.service, slot.status) == (4, "Khám nội", "open")
    assert (await _slot(app, result["slots"][1]["slot_id"])).status == "blocked"
    single = await client.put(
        "/hospital/slots", content=json.dumps(_fhir_slot("F1", start)), headers=headers
    )
    assert single.json()["unchanged"] == 1

    for bad in (
        _fhir_slot("F3", start, status="busy"),
        {**_fhir_slot("F4", start), "extension": []},
        {**_fhir_slot("F5", start), "start": "2030-01-01T08:00:00"},
        {"resourceType": "Patient"},
        {"resourceType": "Bundle", "type": "collection", "entry": []},
    ):
        refused = await client.put("/hospital/slots", content=json.dumps(bad), headers=headers)
        assert refused.status_code == 400, (bad, refused.text)


async def test_a_hospital_cannot_touch_another_facilitys_slots(app, client, clinic, admin_token):
    slot_id = await clinic.open("MINE", capacity=2)
    await register_facility(client, admin_token, "02002", name="Bệnh viện khác")
    other = await create_client_directly(app, "hospital", facility_id="02002")
    other_headers = bearer(await client_token(client, other))
    blocked = await client.post("/hospital/slots/MINE/block", headers=other_headers)
    assert blocked.status_code == 404
    # the same hospital id at the other facility is the other facility's slot (its departments
    # are its own: NOI is not registered there)
    published = await client.put(
        "/hospital/slots", json={"slots": [clinic.slot("MINE")]}, headers=other_headers
    )
    assert published.status_code == 422
    slot = await _slot(app, slot_id)
    assert (slot.status, slot.capacity) == ("open", 2)


async def test_a_renamed_or_closed_department_shows_at_once(client, clinic, admin_token):
    """Slot search (the appointments' department directory) and the queue status (the check-in
    one) cache each facility's departments; an operator's change reaches both at once, not when
    the cache expires."""
    await clinic.open("RN-1", department="NOI")
    search = f"/facilities/{clinic.hospital.facility_id}/slots"
    queue = f"/facilities/{clinic.hospital.facility_id}/queues/NOI"
    found = await client.get(search, params={"department": "NOI"})
    assert [s["department"]["name"] for s in found.json()["items"]] == ["Khoa Nội"]
    assert (await client.get(queue)).json()["department_name"] == "Khoa Nội"

    department = f"/admin/facilities/{clinic.hospital.facility_id}/departments/NOI"
    renamed = {"name": "Khoa Nội tổng hợp", "room": "P.102"}
    changed = await client.put(department, json=renamed, headers=bearer(admin_token))
    assert changed.status_code == 200, changed.text
    found = await client.get(search, params={"department": "NOI"})
    assert [s["department"]["name"] for s in found.json()["items"]] == ["Khoa Nội tổng hợp"]
    assert (await client.get(queue)).json()["department_name"] == "Khoa Nội tổng hợp"

    closed = await client.put(
        department, json={**renamed, "active": False}, headers=bearer(admin_token)
    )
    assert closed.status_code == 200, closed.text
    assert (await client.get(search, params={"department": "NOI"})).status_code == 404
    walk_in_qr = f"/facilities/{clinic.hospital.facility_id}/departments/NOI/qr.svg"
    assert (await client.get(walk_in_qr)).status_code == 404
