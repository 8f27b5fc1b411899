"""The hospital's side: the day's list, recording what happened (legal moves only), the check-in
service function, and who may call what."""

from __future__ import annotations

import datetime as dt
import uuid

import pytest

from api.appointments import service
from api.appointments.errors import AlreadyCheckedIn, AppointmentCancelled, IllegalTransition
from api.appointments.models import Appointment
from api.core.errors import NotFound
from tests.support.auth import bearer, client_token, create_client_directly
from tests.support.fhir_export import assert_valid_fhir
from tests.support.hospital import register_facility
from tests.support.problems import problem_uri

HANOI = dt.timezone(dt.timedelta(hours=7))


async def _status(clinic, appointment_id: str, status: str, **extra: str):
    return await clinic.http.post(
        f"/hospital/appointments/{appointment_id}/status",
        json={"status": status, **extra},
        headers=clinic.headers,
    )


async def test_the_days_list_in_the_facility_time_zone(client, clinic, person, clock):
    tomorrow = (clock.now() + dt.timedelta(days=1)).astimezone(HANOI).date()
    morning = dt.datetime.combine(tomorrow, dt.time(8, 0), HANOI)

    def at(ref: str, start: dt.datetime, department: str = "NOI") -> dict[str, object]:
        body = clinic.slot(ref, capacity=3, department=department)
        body["start"] = start.isoformat()
        body["end"] = (start + dt.timedelta(minutes=20)).isoformat()
        return body

    published = await clinic.publish(
        at("D-late", morning + dt.timedelta(hours=15, minutes=30)),  # 23:30 local
        at("D-early", morning),
        at("D-child", morning + dt.timedelta(hours=1), "NHI"),
        at("D-next", morning + dt.timedelta(days=1)),
    )
    ids = {s["id"]: s["slot_id"] for s in published["slots"]}
    a = await person("001090001111", name="Nguyễn Văn A", birthdate="1980-02-03")
    b = await person()
    first = await a.booked(ids["D-late"])
    second = await b.booked(ids["D-early"])
    await a.booked(ids["D-child"])
    await b.booked(ids["D-next"])

    day = await client.get(
        "/hospital/appointments", params={"date": tomorrow.isoformat()}, headers=clinic.headers
    )
    assert day.status_code == 200, day.text
    body = day.json()
    assert body["day"] == tomorrow.isoformat()
    assert [i["slot_ref"] for i in body["items"]] == ["D-early", "D-child", "D-late"]
    late = body["items"][2]
    assert late["id"] == first["id"]
    assert late["patient"]["full_name"] == "Nguyễn Văn A"
    assert late["patient"]["birth_date"] == "1980-02-03"
    assert late["patient"]["national_id_masked"].endswith("111")
    assert "001090001111" not in day.text
    assert body["items"][0]["id"] == second["id"]

    noi = await client.get(
        "/hospital/appointments",
        params={"date": tomorrow.isoformat(), "department": "NOI", "limit": 1},
        headers=clinic.headers,
    )
    assert [i["slot_ref"] for i in noi.json()["items"]] == ["D-early"]
    rest = await client.get(
        "/hospital/appointments",
        params={
            "date": tomorrow.isoformat(),
            "department": "NOI",
            "limit": 1,
            "cursor": noi.json()["next_cursor"],
        },
        headers=clinic.headers,
    )
    assert [i["slot_ref"] for i in rest.json()["items"]] == ["D-late"]
    today = await client.get("/hospital/appointments", headers=clinic.headers)
    assert today.json()["items"] == []


async def test_status_changes_follow_the_state_machine(client, clinic, person, clock, app):
    slot_id = await clinic.open("ST", capacity=3, hours=3)
    a, b, c = await person(), await person(), await person()
    first, second, third = await a.booked(slot_id), await b.booked(slot_id), await c.booked(slot_id)

    # booked -> completed is not a move: check in first
    refused = await _status(clinic, first["id"], "completed")
    assert refused.status_code == 409
    assert refused.json()["type"] == problem_uri("appointment-state-conflict")
    assert refused.json()["current_status"] == "booked"
    # no-show only from the start
    early = await _status(clinic, second["id"], "no_show")
    assert early.status_code == 409

    checked = await _status(clinic, first["id"], "checked_in")
    assert checked.status_code == 200, checked.text
    assert checked.json()["status"] == "checked_in"
    twice = await _status(clinic, first["id"], "checked_in")
    assert twice.json()["type"] == problem_uri("appointment-already-checked-in")
    assert (await a.cancel(first["id"])).status_code == 409  # checked in: not cancellable
    done = await _status(clinic, first["id"], "completed")
    assert done.json()["status"] == "completed"
    assert done.json()["finished_at"] is not None
    assert (await _status(clinic, first["id"], "no_show")).status_code == 409

    clock.advance(hours=3, minutes=1)
    absent = await _status(clinic, second["id"], "no_show")
    assert absent.status_code == 200
    assert absent.json()["status"] == "no_show"

    cancelled = await _status(clinic, third["id"], "cancelled", reason="Bác sĩ nghỉ")
    assert cancelled.status_code == 200
    mine = (await c.get(third["id"])).json()
    assert (mine["status"], mine["cancelled_by"], mine["cancel_reason"]) == (
        "cancelled",
        "hospital",
        "Bác sĩ nghỉ",
    )
    fhir = assert_valid_fhir((await c.get(third["id"], format="fhir")).content)
    assert fhir["status"] == "cancelled"
    assert fhir["cancelationReason"]["coding"][0]["code"] == "prov"
    again = await _status(clinic, third["id"], "checked_in")
    assert again.json()["type"] == problem_uri("appointment-cancelled")
    past = await client.get("/citizens/me/appointments", params={"when": "past"}, headers=a.headers)
    assert [i["status"] for i in past.json()["items"]] == ["completed"]
    unknown = await _status(clinic, str(uuid.uuid4()), "completed")
    assert unknown.status_code == 404


async def test_check_in_service_for_the_check_in_domain(app, clinic, person, clock):
    slot_id = await clinic.open("CI", capacity=2)
    a, b = await person(), await person()
    first, second = await a.booked(slot_id), await b.booked(slot_id)
    assert (await b.cancel(second["id"])).status_code == 200
    async with app.state.sessionmaker() as session:
        checked = await service.check_in(session, uuid.UUID(first["id"]), "01001", clock.now())
        await session.commit()
    async with app.state.sessionmaker() as session:
        stored = await session.get(Appointment, uuid.UUID(first["id"]))
    assert stored is not None
    assert stored.status == "checked_in"
    assert stored.checked_in_at == clock.now()
    # what the update returned is the stored row's, not a second read
    assert checked == service.CheckedIn(
        id=stored.id,
        citizen_id=stored.citizen_id,
        department_id=stored.department_id,
        reschedules=stored.reschedules,
    )
    assert str(checked.citizen_id) == a.id
    cases = (
        (first["id"], "01001", AlreadyCheckedIn),
        (second["id"], "01001", AppointmentCancelled),
        (first["id"], "99999", NotFound),
    )
    for appointment_id, facility, error in cases:
        async with app.state.sessionmaker() as session:
            with pytest.raises(error):
                await service.check_in(session, uuid.UUID(appointment_id), facility, clock.now())
    assert issubclass(AlreadyCheckedIn, IllegalTransition)


async def test_who_may_publish_book_and_read_the_day(app, client, clinic, person, admin_token):
    slot_id = await clinic.open("RM")
    someone = await person()
    slots = {"slots": [clinic.slot("RM-x")]}
    # a citizen cannot publish slots or read the hospital's list
    assert (
        await client.put("/hospital/slots", json=slots, headers=someone.headers)
    ).status_code == 403
    assert (await client.get("/hospital/appointments", headers=someone.headers)).status_code == 403
    # a hospital cannot book for a citizen
    hospital_booking = await client.post(
        f"/citizens/{someone.id}/appointments",
        json={"slot_id": slot_id},
        headers={**clinic.headers, "Idempotency-Key": "h-1"},
    )
    assert hospital_booking.status_code == 403
    # a kiosk can do neither
    kiosk = await create_client_directly(app, "kiosk", facility_id="01001")
    kiosk_headers = bearer(await client_token(client, kiosk))
    assert (
        await client.put("/hospital/slots", json=slots, headers=kiosk_headers)
    ).status_code == 403
    kiosk_booking = await client.post(
        "/citizens/me/appointments",
        json={"slot_id": slot_id},
        headers={**kiosk_headers, "Idempotency-Key": "k-1"},
    )
    assert kiosk_booking.status_code == 403
    # another facility's hospital sees none of these appointments, and cannot change them
    mine = await someone.booked(slot_id)
    await register_facility(client, admin_token, "02002")
    other = bearer(
        await client_token(
            client, await create_client_directly(app, "hospital", facility_id="02002")
        )
    )
    listed = await client.get(
        "/hospital/appointments",
        params={"date": mine["start"][:10]},
        headers=other,
    )
    assert listed.json()["items"] == []
    changed = await client.post(
        f"/hospital/appointments/{mine['id']}/status", json={"status": "cancelled"}, headers=other
    )
    assert changed.status_code == 404
    assert (await someone.get(mine["id"])).json()["status"] == "booked"
