"""The appointment rules without a database: the state machine, the citizen's cut-off for
changes, what a slot's new capacity or status does to its places, and the reminders a booking or
a move schedules."""

from __future__ import annotations

import datetime as dt
import uuid
from typing import Any

import pytest

from api.appointments import changes, notifications, slots
from api.appointments.errors import (
    AlreadyCheckedIn,
    AppointmentCancelled,
    CutoffPassed,
    IllegalTransition,
    SlotHasBookings,
)
from api.appointments.models import BOOKED, CANCELLED, CHECKED_IN, COMPLETED, Appointment, Slot
from api.appointments.rules import Limits, illegal, local_day
from api.appointments.schemas import SlotPut
from api.core.errors import InvalidInput

NOW = dt.datetime(2030, 1, 1, 8, 0, tzinfo=dt.UTC)
LIMITS = Limits(cutoff=dt.timedelta(minutes=120), reminder_minutes=(1440, 120))


# --- the state machine -------------------------------------------------------------------------


def test_moving_a_cancelled_or_checked_in_appointment_names_why():
    assert type(illegal(CANCELLED, CHECKED_IN)) is AppointmentCancelled
    assert type(illegal(CHECKED_IN, CHECKED_IN)) is AlreadyCheckedIn
    other = illegal(COMPLETED, CANCELLED)
    assert type(other) is IllegalTransition
    assert other.extra == {"current_status": COMPLETED}


def test_a_local_day_is_bounded_in_the_facility_s_time_zone():
    start, end = local_day(dt.date(2030, 1, 2), "Asia/Ho_Chi_Minh")
    assert start == dt.datetime(2030, 1, 1, 17, 0, tzinfo=dt.UTC)
    assert end - start == dt.timedelta(days=1)


# --- cancellation and rescheduling by the citizen ----------------------------------------------


def appointment(status: str = BOOKED, starts_in: dt.timedelta = dt.timedelta(days=1)) -> Any:
    return Appointment(id=uuid.uuid4(), status=status, start_at=NOW + starts_in)


def test_a_citizen_may_change_a_booked_appointment_until_the_cutoff():
    changes._check_citizen_may_change(
        appointment(starts_in=dt.timedelta(minutes=120)), CANCELLED, LIMITS, NOW
    )
    with pytest.raises(CutoffPassed) as late:
        changes._check_citizen_may_change(
            appointment(starts_in=dt.timedelta(minutes=119)), CANCELLED, LIMITS, NOW
        )
    assert late.value.extra == {"cutoff_minutes": 120}


@pytest.mark.parametrize(
    ("status", "error"),
    [(CANCELLED, AppointmentCancelled), (CHECKED_IN, IllegalTransition)],
)
def test_only_a_booked_appointment_can_be_cancelled_or_moved(status, error):
    for target in (CANCELLED, "rescheduled"):
        with pytest.raises(error):
            changes._check_citizen_may_change(appointment(status), target, LIMITS, NOW)


# --- a slot's capacity and status --------------------------------------------------------------


class FlushOnly:
    async def flush(self) -> None:
        return None


def slot(capacity: int, booked: int) -> Slot:
    return Slot(
        id=uuid.uuid4(),
        external_id="KB-1",
        department_id=uuid.uuid4(),
        service=None,
        start_at=NOW + dt.timedelta(days=1),
        end_at=NOW + dt.timedelta(days=1, minutes=15),
        capacity=capacity,
        booked=booked,
        status="open",
    )


def wanted(current: Slot, **changed: Any) -> dict[str, Any]:
    names = ("department_id", "service", "start_at", "end_at", "capacity", "status")
    return {**{name: getattr(current, name) for name in names}, **changed}


class Overflow:
    """The overflow cancellation, in memory: it cancels at most the slot's appointments that are
    still ``booked`` (checked-in ones stay) and records what it was asked."""

    def __init__(self) -> None:
        self.asked: list[int] = []
        self.still_booked = 10**6

    async def __call__(self, session: Any, s: Slot, overflow: int, *rest: Any) -> int:
        self.asked.append(overflow)
        return max(0, min(overflow, self.still_booked))


@pytest.fixture
def overflow(monkeypatch: pytest.MonkeyPatch) -> Overflow:
    fake = Overflow()
    monkeypatch.setattr(slots, "_cancel_overflow", fake)
    return fake


async def apply(current: Slot, **changed: Any) -> Any:
    session: Any = FlushOnly()
    return await slots._apply(session, current, wanted(current, **changed), LIMITS, NOW)


async def test_an_unchanged_slot_is_left_alone(overflow):
    current = slot(capacity=3, booked=2)
    outcome = await apply(current)
    assert (outcome.result, outcome.booked, outcome.cancelled_appointments) == ("unchanged", 2, 0)
    assert overflow.asked == []


async def test_shrinking_a_slot_cancels_only_the_overflow(overflow):
    current = slot(capacity=5, booked=4)
    outcome = await apply(current, capacity=2)
    assert overflow.asked[-1] == 2
    assert (outcome.result, outcome.cancelled_appointments) == ("updated", 2)
    assert (current.capacity, current.booked, current.updated_at) == (2, 2, NOW)


async def test_blocking_a_slot_cancels_every_booking(overflow):
    current = slot(capacity=3, booked=3)
    outcome = await apply(current, status="blocked")
    assert overflow.asked[-1] == 3
    assert (current.status, current.booked, outcome.cancelled_appointments) == ("blocked", 0, 3)


async def test_a_slot_cannot_shrink_below_its_checked_in_appointments(overflow):
    overflow.still_booked = 1  # the other three are checked in
    current = slot(capacity=4, booked=4)
    with pytest.raises(SlotHasBookings):
        await apply(current, capacity=2)


async def test_a_slot_holding_appointments_keeps_its_time(overflow):
    current = slot(capacity=2, booked=1)
    later = current.start_at + dt.timedelta(hours=1)
    with pytest.raises(SlotHasBookings):
        await apply(current, start_at=later)
    empty = slot(capacity=2, booked=0)
    outcome = await apply(empty, start_at=later)
    assert outcome.result == "updated"
    assert empty.start_at == later


def test_a_batch_names_each_slot_once_and_each_ends_after_it_starts():
    start = NOW + dt.timedelta(days=1)
    item = SlotPut(
        id="A", department="NOI", start=start, end=start + dt.timedelta(minutes=15), capacity=1
    )
    with pytest.raises(InvalidInput):
        slots._validate([item, item])
    backwards = SlotPut(id="B", department="NOI", start=start, end=start, capacity=1)
    with pytest.raises(InvalidInput):
        slots._validate([backwards])
    slots._validate([item])


# --- reminders -----------------------------------------------------------------------------------


def notice(starts_in: dt.timedelta, version: int = 0) -> notifications.Notice:
    return notifications.Notice(
        appointment_id=uuid.uuid4(),
        citizen_id=uuid.uuid4(),
        facility_name="Bệnh viện thử",
        department_name="Nội",
        starts_at=NOW + starts_in,
        version=version,
    )


def test_only_reminders_still_ahead_are_scheduled():
    soon = notice(dt.timedelta(hours=5))
    due = [p.due_at for p in notifications.reminders(soon, LIMITS.reminder_minutes, NOW)]
    assert due == [soon.starts_at - dt.timedelta(minutes=120)]
    later = notice(dt.timedelta(days=3))
    assert len(notifications.reminders(later, LIMITS.reminder_minutes, NOW)) == 2


def test_a_moved_appointment_schedules_reminders_under_new_keys():
    first = notice(dt.timedelta(days=3), version=0)
    moved = notifications.Notice(**{**first.__dict__, "version": 1})
    keys = {p.dedupe_key for p in notifications.reminders(first, (120,), NOW)}
    moved_keys = {p.dedupe_key for p in notifications.reminders(moved, (120,), NOW)}
    assert keys.isdisjoint(moved_keys)
