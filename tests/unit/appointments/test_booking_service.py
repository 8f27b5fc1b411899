"""AppointmentService.book on an in-memory store: places, the Idempotency-Key protocol (replay,
mismatch, in flight, refusals kept, failures forgotten) and what each step commits."""

from __future__ import annotations

import datetime as dt
import uuid

import msgspec
import pytest

from api.appointments import idempotency
from api.appointments.errors import (
    IdempotencyInProgress,
    IdempotencyMismatch,
    SlotFull,
    SlotUnavailable,
)
from api.appointments.idempotency import Answer
from api.appointments.rules import Limits
from api.appointments.schemas import AppointmentCreate
from api.appointments.service import AppointmentService
from api.core.clock import FrozenClock
from api.core.errors import DomainError
from api.core.pagination import Cursors
from tests.unit.appointments.fakes import FakeDatabase, install, unit_of_work

NOW = dt.datetime(2030, 1, 1, 8, 0, tzinfo=dt.UTC)


def render(error: DomainError) -> bytes:
    return msgspec.json.encode({"type": error.problem.slug, "detail": str(error)})


@pytest.fixture
def db(monkeypatch: pytest.MonkeyPatch) -> FakeDatabase:
    install(monkeypatch)
    return FakeDatabase()


@pytest.fixture
def clock() -> FrozenClock:
    return FrozenClock(NOW)


@pytest.fixture
def service(db: FakeDatabase, clock: FrozenClock) -> AppointmentService:
    return AppointmentService(
        uow=unit_of_work(db),
        cursors=Cursors("unit"),
        directory=None,  # type: ignore[arg-type]  # booking shows no patient
        limits=Limits(),
        clock=clock,
    )


async def book(
    service: AppointmentService, citizen: uuid.UUID, slot_id: uuid.UUID, key: str
) -> Answer:
    return await service.book(
        citizen_id=citizen,
        actor_id=citizen,
        data=AppointmentCreate(slot_id=slot_id),
        idempotency_key=key,
        render_error=render,
    )


async def test_a_booking_takes_a_place_and_keeps_its_answer(db, service):
    slot_id, citizen = db.open_slot(capacity=2), uuid.uuid4()
    answer = await book(service, citizen, slot_id, "k1")
    assert answer.status == 201
    assert not answer.replayed
    assert db.booked[slot_id] == [citizen]
    stored = db.keys[(citizen, "k1")]
    assert (stored.response_status, stored.response_body) == (201, answer.body)
    assert db.log == ["commit"]
    assert db.locks == set()  # the request's lock ended with the transaction


async def test_the_same_key_and_body_replays_the_first_answer_without_booking_again(db, service):
    slot_id, citizen = db.open_slot(capacity=5), uuid.uuid4()
    first = await book(service, citizen, slot_id, "k1")
    again = await book(service, citizen, slot_id, "k1")
    assert again.replayed
    assert (again.status, again.body) == (first.status, first.body)
    assert db.booked[slot_id] == [citizen]


async def test_the_same_key_for_another_request_is_refused_and_changes_nothing(db, service):
    first_slot, other_slot, citizen = db.open_slot(1), db.open_slot(1), uuid.uuid4()
    await book(service, citizen, first_slot, "k1")
    with pytest.raises(IdempotencyMismatch):
        await book(service, citizen, other_slot, "k1")
    assert db.booked[other_slot] == []
    assert db.log[-1] == "rollback"
    assert db.locks == set()


async def test_keys_belong_to_their_citizen(db, service):
    slot_id, a, b = db.open_slot(capacity=2), uuid.uuid4(), uuid.uuid4()
    await book(service, a, slot_id, "shared")
    theirs = await book(service, b, slot_id, "shared")
    assert not theirs.replayed
    assert db.booked[slot_id] == [a, b]


async def test_no_place_is_taken_beyond_the_capacity(db, service):
    slot_id = db.open_slot(capacity=2)
    citizens = [uuid.uuid4() for _ in range(3)]
    for citizen in citizens[:2]:
        await book(service, citizen, slot_id, "k")
    with pytest.raises(SlotFull):
        await book(service, citizens[2], slot_id, "k")
    assert db.booked[slot_id] == citizens[:2]


async def test_a_refusal_is_committed_as_the_answer_then_replayed_byte_for_byte(db, service):
    slot_id, a, b = db.open_slot(capacity=1), uuid.uuid4(), uuid.uuid4()
    await book(service, a, slot_id, "ka")
    with pytest.raises(SlotFull) as refused:
        await book(service, b, slot_id, "kb")
    assert db.log[-1] == "commit"  # the refusal's answer is stored before it is raised
    stored = db.keys[(b, "kb")]
    assert stored.response_status == 409
    assert stored.response_body == refused.value.recorded == render(refused.value)
    db.booked[slot_id].clear()  # a place frees up: the key still answers what it answered
    replay = await book(service, b, slot_id, "kb")
    assert replay.replayed
    assert (replay.status, replay.body) == (409, stored.response_body)
    assert db.booked[slot_id] == []


async def test_a_duplicate_in_flight_is_told_to_retry(db, service):
    slot_id, citizen = db.open_slot(capacity=1), uuid.uuid4()
    db.locks.add(idempotency.lock_key(citizen, "k1"))  # the first request holds its key
    with pytest.raises(IdempotencyInProgress) as busy:
        await book(service, citizen, slot_id, "k1")
    assert busy.value.headers == {"Retry-After": "1"}
    assert db.booked[slot_id] == []
    assert (citizen, "k1") not in db.keys


async def test_an_unexpected_failure_forgets_the_key_so_a_retry_runs_anew(db, service):
    slot_id, citizen = db.open_slot(capacity=1), uuid.uuid4()
    db.crash = ConnectionError("the database went away")
    with pytest.raises(ConnectionError):
        await book(service, citizen, slot_id, "k1")
    assert db.keys == {}
    assert db.locks == set()
    db.crash = None
    answer = await book(service, citizen, slot_id, "k1")
    assert answer.status == 201
    assert not answer.replayed
    assert db.booked[slot_id] == [citizen]


async def test_a_refusal_after_the_place_was_taken_gives_it_back_and_is_kept(db, service):
    slot_id, citizen = db.open_slot(capacity=1), uuid.uuid4()
    db.fail_after_taking = SlotUnavailable("the facility does not take bookings now")
    with pytest.raises(SlotUnavailable):
        await book(service, citizen, slot_id, "k1")
    assert db.booked[slot_id] == []  # the place taken was rolled back
    assert db.log == ["rollback", "commit"]  # then the refusal alone was committed
    assert db.keys[(citizen, "k1")].response_status == 409
    db.fail_after_taking = None
    replay = await book(service, citizen, slot_id, "k1")
    assert replay.replayed
    assert replay.status == 409
    assert db.booked[slot_id] == []


async def test_an_expired_key_runs_the_request_anew(db, service, clock):
    slot_id, citizen = db.open_slot(capacity=2), uuid.uuid4()
    first = await book(service, citizen, slot_id, "k1")
    clock.advance(hours=25)
    again = await book(service, citizen, slot_id, "k1")
    assert not again.replayed
    assert again.body != first.body
    assert db.booked[slot_id] == [citizen, citizen]
