"""Search, book, read (JSON and FHIR), list, cancel, reschedule; limits and the cut-off."""

from __future__ import annotations

import datetime as dt
import uuid

import pytest
from sqlalchemy import func, select

from api.appointments.models import Appointment, Slot
from tests.support.auth import bearer, client_token, create_client_directly
from tests.support.fhir_export import assert_valid_fhir
from tests.support.hospital import register_facility
from tests.support.problems import problem_uri


async def _counts(app, slot_id: str) -> tuple[int, int]:
    """(slot.booked, appointments on it that are not cancelled)."""
    async with app.state.sessionmaker() as session:
        slot = await session.scalar(select(Slot).where(Slot.id == uuid.UUID(slot_id)))
        active = await session.scalar(
            select(func.count())
            .select_from(Appointment)
            .where(Appointment.slot_id == slot.id, Appointment.status != "cancelled")
        )
    return slot.booked, int(active or 0)


async def test_search_lists_only_bookable_slots_with_remaining_places(client, clinic, person):
    published = await clinic.publish(
        clinic.slot("two", capacity=2, hours=40),
        clinic.slot("blocked", status="blocked"),
        clinic.slot("past", hours=-1),
        clinic.slot("too-far", hours=24 * 90),
        clinic.slot("one", capacity=1, hours=50),
        clinic.slot("child", department="NHI", hours=30),
    )
    assert published["created"] == 6
    ours = {s["id"]: s["slot_id"] for s in published["slots"]}
    listed = (await client.get("/facilities/01001/slots")).json()["items"]
    assert [s["id"] for s in listed] == [ours["child"], ours["two"], ours["one"]]
    assert listed[0]["department"] == {
        "code": "NHI",
        "name": "Khoa Nhi",
        "name_en": None,
        "room": "P.101",
    }
    assert [s["remaining"] for s in listed] == [1, 2, 1]

    someone = await person()
    await someone.booked(ours["one"])
    await someone.booked(ours["two"])
    listed = (await client.get("/facilities/01001/slots")).json()["items"]
    assert [(s["id"], s["remaining"]) for s in listed] == [(ours["child"], 1), (ours["two"], 1)]

    by_department = await client.get("/facilities/01001/slots", params={"department": "NOI"})
    assert [s["id"] for s in by_department.json()["items"]] == [ours["two"]]
    unknown = await client.get("/facilities/01001/slots", params={"department": "XYZ"})
    assert unknown.status_code == 404
    paged = await client.get("/facilities/01001/slots", params={"limit": 1})
    assert [s["id"] for s in paged.json()["items"]] == [ours["child"]]
    rest = await client.get(
        "/facilities/01001/slots", params={"limit": 1, "cursor": paged.json()["next_cursor"]}
    )
    assert [s["id"] for s in rest.json()["items"]] == [ours["two"]]
    assert rest.json()["next_cursor"] is None
    assert (await client.get("/facilities/99999/slots")).status_code == 404


async def test_date_filter_uses_the_facility_time_zone(client, clinic, clock):
    # 23:30 in Hà Nội on day D is 16:30 UTC on day D: it belongs to D, not D+1
    local_midnight = (
        (clock.now() + dt.timedelta(days=2))
        .astimezone(dt.timezone(dt.timedelta(hours=7)))
        .replace(hour=0, minute=0, second=0)
    )
    late = local_midnight + dt.timedelta(hours=23, minutes=30)
    early = local_midnight + dt.timedelta(days=1, hours=0, minutes=30)
    for ref, start in (("late", late), ("early", early)):
        body = clinic.slot(ref)
        body["start"] = start.isoformat()
        body["end"] = (start + dt.timedelta(minutes=20)).isoformat()
        await clinic.publish(body)
    day = local_midnight.date().isoformat()
    items = (await client.get("/facilities/01001/slots", params={"date": day})).json()["items"]
    assert [dt.datetime.fromisoformat(i["start"]) for i in items] == [late]
    window = await client.get(
        "/facilities/01001/slots",
        params={"from": early.isoformat(), "to": (early + dt.timedelta(hours=1)).isoformat()},
    )
    assert [dt.datetime.fromisoformat(i["start"]) for i in window.json()["items"]] == [early]
    naive = await client.get("/facilities/01001/slots", params={"from": "2030-01-01T08:00:00"})
    assert naive.status_code == 400


async def test_book_read_list_and_fhir_view(app, client, clinic, person):
    slot_id = await clinic.open("S1", capacity=3)
    someone = await person()
    response = await someone.book(slot_id)
    assert response.status_code == 201, response.text
    appointment = response.json()
    assert appointment["status"] == "booked"
    assert appointment["facility_name"] == "Bệnh viện Đa khoa Tỉnh"
    assert appointment["department"]["code"] == "NOI"
    assert appointment["service"] == "Khám nội tổng quát"
    assert appointment["citizen_id"] == someone.id
    assert await _counts(app, slot_id) == (1, 1)

    detail = await someone.get(appointment["id"])
    assert detail.json() == appointment
    upcoming = await client.get("/citizens/me/appointments", headers=someone.headers)
    assert [a["id"] for a in upcoming.json()["items"]] == [appointment["id"]]
    past = await client.get(
        "/citizens/me/appointments", params={"when": "past"}, headers=someone.headers
    )
    assert past.json()["items"] == []

    fhir = await someone.get(appointment["id"], format="fhir")
    assert fhir.status_code == 200
    assert fhir.headers["content-type"].startswith("application/fhir+json")
    resource = assert_valid_fhir(fhir.content)
    assert resource["resourceType"] == "Appointment"
    assert resource["id"] == appointment["id"]
    assert resource["status"] == "booked"
    assert resource["slot"] == [{"reference": f"Slot/{slot_id}"}]
    assert resource["participant"][0]["actor"]["reference"] == f"Patient/{someone.id}"
    assert all(p["status"] == "accepted" for p in resource["participant"])
    assert dt.datetime.fromisoformat(resource["start"]) == dt.datetime.fromisoformat(
        appointment["start"]
    )

    stranger = await person()
    assert (await stranger.get(appointment["id"])).status_code == 404


async def test_capacity_and_one_booking_per_citizen_per_slot(app, client, clinic, person):
    slot_id = await clinic.open("S2", capacity=2)
    a, b, c = await person(), await person(), await person()
    await a.booked(slot_id)
    again = await a.book(slot_id)
    assert again.status_code == 409
    assert again.json()["type"] == problem_uri("appointment-exists")
    await b.booked(slot_id)
    full = await c.book(slot_id)
    assert full.status_code == 409
    assert full.json()["type"] == problem_uri("slot-full")
    assert await _counts(app, slot_id) == (2, 2)


async def test_unbookable_slots_answer_why(client, clinic, person, clock):
    someone = await person()
    blocked = await clinic.open("B", status="blocked")
    past = await clinic.open("P", hours=-2)
    far = await clinic.open("F", hours=24 * 61)
    for slot_id in (blocked, past, far):
        response = await someone.book(slot_id)
        assert response.status_code == 409
        assert response.json()["type"] == problem_uri("slot-unavailable")
    missing = await someone.book("00000000-0000-0000-0000-000000000000")
    assert missing.status_code == 404
    naive = await client.post(
        "/citizens/me/appointments",
        json={"slot_id": blocked, "extra": 1},
        headers={**someone.headers, "Idempotency-Key": "k-extra"},
    )
    assert naive.status_code == 400


@pytest.mark.redis
async def test_an_inactive_facility_takes_no_bookings(client, clinic, person, admin_token):
    slot_id = await clinic.open("INACTIVE")
    closed = await client.put(
        "/admin/facilities/01001",
        json={"name": "Bệnh viện Đa khoa Tỉnh", "province": "Hà Nội", "active": False},
        headers=bearer(admin_token),
    )
    assert closed.status_code == 200
    refused = await (await person()).book(slot_id)
    assert refused.status_code == 409
    assert refused.json()["type"] == problem_uri("slot-unavailable")
    assert (await client.get("/facilities/01001/slots")).status_code == 404


async def test_active_bookings_per_citizen_are_limited(app, client, clinic, person):
    app.state.runtime.appointments.limits = type(app.state.appointment_limits)(max_active=2)
    someone = await person()
    ids = [await clinic.open(f"L{i}", hours=24 + i) for i in range(3)]
    first = await someone.booked(ids[0])
    await someone.booked(ids[1])
    third = await someone.book(ids[2])
    assert third.status_code == 409
    assert third.json()["type"] == problem_uri("appointment-limit-reached")
    assert (await someone.cancel(first["id"])).status_code == 200
    assert (await someone.book(ids[2])).status_code == 201


async def test_cancel_gives_the_place_back_until_the_cutoff(app, client, clinic, person, clock):
    slot_id = await clinic.open("C1", hours=5)
    a, b = await person(), await person()
    mine = await a.booked(slot_id)
    assert (await b.book(slot_id)).json()["type"] == problem_uri("slot-full")
    cancelled = await a.cancel(mine["id"])
    assert cancelled.status_code == 200, cancelled.text
    assert cancelled.json()["status"] == "cancelled"
    assert cancelled.json()["cancelled_by"] == "citizen"
    assert await _counts(app, slot_id) == (0, 0)
    again = await a.cancel(mine["id"])
    assert again.status_code == 409
    assert again.json()["type"] == problem_uri("appointment-cancelled")
    assert again.json()["current_status"] == "cancelled"

    theirs = await b.booked(slot_id)
    clock.advance(hours=3, minutes=1)  # within 2 hours of the start
    late = await b.cancel(theirs["id"])
    assert late.status_code == 409
    assert late.json()["type"] == problem_uri("appointment-cutoff-passed")
    assert await _counts(app, slot_id) == (1, 1)


async def test_reschedule_is_atomic(app, client, clinic, person):
    old = await clinic.open("R-old", hours=30)
    new = await clinic.open("R-new", hours=40)
    full = await clinic.open("R-full", hours=50)
    a, b = await person(), await person()
    await b.booked(full)
    mine = await a.booked(old)

    refused = await a.reschedule(mine["id"], full)
    assert refused.status_code == 409
    assert refused.json()["type"] == problem_uri("slot-full")
    assert (await a.get(mine["id"])).json() == mine  # nothing changed
    assert await _counts(app, old) == (1, 1)
    assert await _counts(app, full) == (1, 1)

    moved = await a.reschedule(mine["id"], new)
    assert moved.status_code == 200, moved.text
    body = moved.json()
    assert body["id"] == mine["id"]
    assert body["slot_id"] == new
    assert body["reschedules"] == 1
    assert body["start"] > mine["start"]
    assert await _counts(app, old) == (0, 0)
    assert await _counts(app, new) == (1, 1)
    # moving to where it already is answers it as it is (a retried request)
    assert (await a.reschedule(mine["id"], new)).json() == body


async def test_reschedule_stays_within_the_facility(app, client, clinic, person, admin_token):
    await register_facility(client, admin_token, "02002", name="Bệnh viện khác")
    await client.put(
        "/admin/facilities/02002/departments/NOI", json={"name": "Nội"}, headers=bearer(admin_token)
    )
    other = await create_client_directly(app, "hospital", facility_id="02002")
    elsewhere = await client.put(
        "/hospital/slots",
        json={"slots": [clinic.slot("X1")]},
        headers=bearer(await client_token(client, other)),
    )
    assert elsewhere.status_code == 200, elsewhere.text
    someone = await person()
    mine = await someone.booked(await clinic.open("R-here"))
    moved = await someone.reschedule(mine["id"], elsewhere.json()["slots"][0]["slot_id"])
    assert moved.status_code == 422
    assert (await someone.get(mine["id"])).json() == mine


async def test_a_guardian_books_for_a_dependent(client, clinic, person, admin_token):
    child_number = "001218000012"
    recorded = await client.post(
        "/admin/guardianships",
        json={
            "guardian_national_id": "001085000011",
            "dependent_national_id": child_number,
            "kind": "parent",
            "dependent_birth_date": "2020-01-01",
        },
        headers=bearer(admin_token),
    )
    assert recorded.status_code == 201, recorded.text
    child_id = recorded.json()["dependent_id"]
    parent = await person("001085000011")
    slot_id = await clinic.open("G1", department="NHI")
    booked = await parent.book(slot_id, on_behalf_of=child_id)
    assert booked.status_code == 201, booked.text
    assert booked.json()["citizen_id"] == child_id
    listed = await client.get(f"/citizens/{child_id}/appointments", headers=parent.headers)
    assert [a["id"] for a in listed.json()["items"]] == [booked.json()["id"]]
    own = await client.get("/citizens/me/appointments", headers=parent.headers)
    assert own.json()["items"] == []
    cancelled = await parent.cancel(booked.json()["id"], on_behalf_of=child_id)
    assert cancelled.status_code == 200
    stranger = await person()
    assert (await stranger.book(slot_id, on_behalf_of=child_id)).status_code == 404
