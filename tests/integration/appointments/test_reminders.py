"""Reminders at 24 h and 2 h before the start: enqueued on booking, withdrawn on cancel and on
reschedule (where the new time gets its own), delivered through the relay to a fake FCM server
on loopback as the frozen clock moves."""

from __future__ import annotations

import uuid

from tests.integration.notifications import conftest as notification_fixtures

# the notification tests' fixtures: a fake FCM server on loopback, the app's relay run by hand
settings = notification_fixtures.settings
fcm = notification_fixtures.fcm
relay = notification_fixtures.relay
add_device = notification_fixtures.add_device
loopback_only = notification_fixtures.loopback_only


class Pushes:
    """What the fake FCM server received since the last look."""

    def __init__(self, fcm) -> None:
        self.fcm = fcm
        self.seen = 0

    def new(self) -> list:
        received = self.fcm.received
        fresh, self.seen = received[self.seen :], len(received)
        return fresh


def _kinds(pushes: list) -> list[tuple[str, str]]:
    return [(r.kind, r.data.get("appointment_id")) for r in pushes]


async def test_reminders_follow_booking_cancel_and_reschedule(
    app, clinic, person, clock, relay, fcm, add_device
):
    pushes = Pushes(fcm)
    start_hours = 48
    first_slot = await clinic.open("RM-1", hours=start_hours, capacity=2)
    later_slot = await clinic.open("RM-2", hours=start_hours + 5, capacity=2)
    a, b = await person(), await person()
    phone_a = await add_device(uuid.UUID(a.id))
    phone_b = await add_device(uuid.UUID(b.id), locale="en")

    kept = await a.booked(first_slot)
    dropped = await b.booked(first_slot)
    assert await relay.drain() == 2
    booked = pushes.new()
    assert sorted(_kinds(booked)) == sorted(
        [("appointment_booked", kept["id"]), ("appointment_booked", dropped["id"])]
    )
    assert {r.title for r in booked} == {"Đặt lịch khám thành công", "Appointment booked"}

    # b cancels: both of b's reminders are withdrawn
    assert (await b.cancel(dropped["id"])).status_code == 200
    # a moves to a later slot: the old reminders go, new ones (5 h later) come
    assert (await a.reschedule(kept["id"], later_slot)).status_code == 200
    assert await relay.drain() == 1
    [rescheduled] = pushes.new()
    assert (rescheduled.kind, rescheduled.token) == ("appointment_rescheduled", phone_a)
    assert rescheduled.title == "Đã đổi lịch khám"
    assert "Bệnh viện" not in f"{rescheduled.title} {rescheduled.body}"

    clock.advance(hours=start_hours - 24)  # the old slot's 24-hour mark: nothing is due
    assert await relay.drain() == 0
    clock.advance(hours=5)  # the new slot's 24-hour mark
    assert await relay.drain() == 1
    [reminder] = pushes.new()
    assert (reminder.kind, reminder.token) == ("appointment_reminder", phone_a)
    assert reminder.data["appointment_id"] == kept["id"]
    assert reminder.title == "Nhắc lịch khám"

    clock.advance(hours=22)  # the new slot's 2-hour mark (the old one's passed unseen)
    assert await relay.drain() == 1
    assert _kinds(pushes.new()) == [("appointment_reminder", kept["id"])]
    clock.advance(days=3)
    assert await relay.drain() == 0
    assert phone_b not in {r.token for r in fcm.received if r.kind == "appointment_reminder"}


async def test_the_hospital_cancelling_tells_the_citizen_and_withdraws_reminders(
    app, clinic, person, clock, relay, fcm, add_device
):
    pushes = Pushes(fcm)
    body = clinic.slot("RM-3", hours=30)
    slot_id = (await clinic.publish(body))["slots"][0]["slot_id"]
    someone = await person()
    phone = await add_device(uuid.UUID(someone.id))
    mine = await someone.booked(slot_id)
    assert await relay.drain() == 1
    pushes.new()
    blocked = await clinic.http.post("/hospital/slots/RM-3/block", headers=clinic.headers)
    assert blocked.json()["cancelled_appointments"] == 1
    assert await relay.drain() == 1
    [cancelled] = pushes.new()
    assert (cancelled.kind, cancelled.token) == ("appointment_cancelled", phone)
    assert cancelled.data["appointment_id"] == mine["id"]
    clock.advance(hours=30)
    assert await relay.drain() == 0
    assert pushes.new() == []


async def test_a_booking_inside_a_reminder_mark_gets_only_the_later_reminder(
    app, clinic, person, clock, relay, fcm, add_device
):
    someone = await person()
    await add_device(uuid.UUID(someone.id))
    await someone.booked(await clinic.open("RM-4", hours=5))
    assert await relay.drain() == 1  # booked; the 24-hour mark is past already
    clock.advance(hours=3)
    assert await relay.drain() == 1
    clock.advance(days=2)
    assert await relay.drain() == 0
    assert [r.kind for r in fcm.received] == ["appointment_booked", "appointment_reminder"]
