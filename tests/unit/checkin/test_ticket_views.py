"""Ticket numbering as the citizen and the board see it: labels, people ahead, the wait, the
queue's local day."""

from __future__ import annotations

import datetime as dt
import uuid

from api.checkin.queue_numbers import Taken
from api.checkin.queues import estimate, label, local_date
from api.checkin.ticket_views import QueueRules, ticket_view
from api.facilities.schemas import Department
from api.facilities.service import ActiveFacility

NOW = dt.datetime(2026, 11, 23, 8, 0, tzinfo=dt.UTC)
FACILITY = ActiveFacility(id="01001", name="Bệnh viện Đa khoa Tỉnh", time_zone="Asia/Ho_Chi_Minh")
DEPARTMENT = Department(
    id=str(uuid.uuid4()),
    facility_id="01001",
    code="NOI",
    name="Khoa Nội",
    name_en=None,
    room="P.101",
    active=True,
)


def test_labels_carry_the_department_and_three_digits() -> None:
    assert label("NOI", 7) == "NOI-007"
    assert label("NGOAI", 1234) == "NGOAI-1234"


def test_people_ahead_are_the_numbers_between_the_one_called_and_this_one() -> None:
    q = uuid.uuid4()
    assert Taken(queue_id=q, number=1, last_called=0).ahead == 0
    assert Taken(queue_id=q, number=9, last_called=4).ahead == 4
    assert Taken(queue_id=q, number=3, last_called=5).ahead == 0  # never negative


def test_the_wait_uses_the_pace_and_falls_back_to_the_default() -> None:
    assert estimate(3, 4.5, 10.0) == 14  # rounded up
    assert estimate(3, None, 10.0) == 30
    assert estimate(0, 4.5, 10.0) == 0


def test_the_queue_day_is_the_facility_s_local_day() -> None:
    late_evening_utc = dt.datetime(2026, 11, 23, 17, 30, tzinfo=dt.UTC)  # 00:30 in Hanoi
    assert local_date(late_evening_utc, "Asia/Ho_Chi_Minh") == dt.date(2026, 11, 24)
    assert local_date(late_evening_utc, "UTC") == dt.date(2026, 11, 23)


def test_a_ticket_shows_its_number_place_and_estimated_wait() -> None:
    ticket_id, appointment_id = uuid.uuid4(), uuid.uuid4()
    view = ticket_view(
        ticket_id=ticket_id,
        number=12,
        facility=FACILITY,
        department=DEPARTMENT,
        ahead=2,
        average=None,
        rules=QueueRules(default_service_minutes=8.0),
        issued_at=NOW,
        queue_date=NOW.date(),
        appointment_id=appointment_id,
    )
    assert view.label == "NOI-012"
    assert view.room == "P.101"  # the department's room when the ticket names none
    assert view.estimated_wait_minutes == 16
    assert (view.ticket_id, view.appointment_id) == (str(ticket_id), str(appointment_id))
    walk_in = ticket_view(
        ticket_id=ticket_id,
        number=1,
        facility=FACILITY,
        department=DEPARTMENT,
        ahead=0,
        average=None,
        rules=QueueRules(),
        issued_at=NOW,
        queue_date=NOW.date(),
        appointment_id=None,
        room="P.200",
    )
    assert (walk_in.room, walk_in.appointment_id, walk_in.people_ahead) == ("P.200", None, 0)
