"""Calling the next patient, on the queue's rows in memory: numbers are called in order, the
one being called is served or skipped, a recall repeats the call."""

from __future__ import annotations

import datetime as dt
import uuid

from api.checkin.models import CALLED, SERVED, SKIPPED, WAITING, Queue, QueueTicket
from api.checkin.services.queue_desk import advance, call, call_again, finish

NOW = dt.datetime(2026, 11, 23, 8, 0, tzinfo=dt.UTC)
LATER = NOW + dt.timedelta(minutes=7)


def queue(*, issued: int, called: int = 0) -> Queue:
    return Queue(
        id=uuid.uuid4(),
        facility_id="01001",
        department_id=uuid.uuid4(),
        queue_date=NOW.date(),
        last_issued=issued,
        last_called=called,
        created_at=NOW,
        updated_at=NOW,
    )


def ticket(number: int) -> QueueTicket:
    return QueueTicket(
        id=uuid.uuid4(),
        queue_id=uuid.uuid4(),
        number=number,
        citizen_id=uuid.uuid4(),
        source="walk_in",
        status=WAITING,
        issued_at=NOW,
        recalls=0,
        room=None,
    )


def test_numbers_are_called_in_order_until_nobody_waits() -> None:
    q = queue(issued=3)
    assert [advance(q, LATER) for _ in range(4)] == [1, 2, 3, None]
    assert q.last_called == 3
    assert q.updated_at == LATER


def test_an_empty_queue_calls_nobody_but_notes_the_time() -> None:
    q = queue(issued=0)
    assert advance(q, LATER) is None
    assert q.last_called == 0
    assert q.updated_at == LATER


def test_a_call_marks_the_ticket_called_to_a_room() -> None:
    t = ticket(4)
    call(t, room="P.102", now=LATER)
    assert (t.status, t.room, t.called_at, t.announced_at) == (CALLED, "P.102", LATER, LATER)


def test_the_ticket_being_called_is_served_or_skipped() -> None:
    served, skipped = ticket(1), ticket(2)
    finish(served, skip=False, now=LATER)
    finish(skipped, skip=True, now=LATER)
    assert (served.status, served.finished_at) == (SERVED, LATER)
    assert (skipped.status, skipped.finished_at) == (SKIPPED, LATER)


def test_a_recall_repeats_the_call_and_keeps_the_room_unless_told() -> None:
    q, t = queue(issued=2, called=1), ticket(1)
    call(t, room="P.101", now=NOW)
    call_again(t, q, room=None, now=LATER)
    assert (t.recalls, t.room, t.announced_at, t.called_at) == (1, "P.101", LATER, NOW)
    call_again(t, q, room="P.105", now=LATER)
    assert (t.recalls, t.room) == (2, "P.105")
    assert q.updated_at == LATER
