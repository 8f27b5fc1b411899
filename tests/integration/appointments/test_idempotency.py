"""Idempotency-Key on booking: replay, reuse with another body, concurrent duplicate, scope per
citizen, stored errors, release after an unexpected failure, stale claims, expiry and purge."""

from __future__ import annotations

import asyncio
import datetime as dt
import uuid

from sqlalchemy import func, select

from api.appointments import booking, idempotency
from api.appointments.models import DONE, IN_PROGRESS, Appointment, IdempotencyKey
from api.core.errors import ServiceUnavailable
from tests.support.problems import problem_uri


async def _appointments(app) -> int:
    async with app.state.sessionmaker() as session:
        return int(await session.scalar(select(func.count()).select_from(Appointment)) or 0)


async def test_same_key_same_body_answers_the_stored_result(app, clinic, person):
    slot_id = await clinic.open("I1", capacity=5)
    someone = await person()
    first = await someone.book(slot_id, key="key-1")
    assert first.status_code == 201
    assert "idempotent-replayed" not in first.headers
    again = await someone.book(slot_id, key="key-1")
    assert again.status_code == 201
    assert again.headers["idempotent-replayed"] == "true"
    assert again.content == first.content  # byte for byte
    assert await _appointments(app) == 1


async def test_same_key_other_body_is_422(app, clinic, person):
    one = await clinic.open("I2a")
    two = await clinic.open("I2b")
    someone = await person()
    assert (await someone.book(one, key="key-2")).status_code == 201
    other = await someone.book(two, key="key-2")
    assert other.status_code == 422
    assert other.json()["type"] == problem_uri("idempotency-key-reused")
    # for another dependent (another target) the key is another request too
    assert (await someone.book(one, key="key-2", on_behalf_of=someone.id)).status_code == 201
    assert await _appointments(app) == 1


async def test_the_key_is_required(client, clinic, person):
    slot_id = await clinic.open("I3")
    someone = await person()
    response = await client.post(
        "/citizens/me/appointments", json={"slot_id": slot_id}, headers=someone.headers
    )
    assert response.status_code == 400
    assert response.json()["type"] == problem_uri("validation-error")
    assert "idempotency-key" in response.text.lower()


async def test_keys_are_scoped_per_citizen(app, clinic, person):
    slot_id = await clinic.open("I4", capacity=2)
    a, b = await person(), await person()
    assert (await a.book(slot_id, key="shared-key")).status_code == 201
    theirs = await b.book(slot_id, key="shared-key")
    assert theirs.status_code == 201
    assert theirs.json()["citizen_id"] == b.id
    assert await _appointments(app) == 2


async def test_a_concurrent_duplicate_is_409_then_replays(app, clinic, person, monkeypatch):
    slot_id = await clinic.open("I5")
    someone = await person()
    entered, release = asyncio.Event(), asyncio.Event()
    real = booking._book

    async def held(*args, **kwargs):
        entered.set()
        await release.wait()
        return await real(*args, **kwargs)

    monkeypatch.setattr(booking, "_book", held)
    first = asyncio.create_task(someone.book(slot_id, key="key-5"))
    await asyncio.wait_for(entered.wait(), 5)
    duplicate = await someone.book(slot_id, key="key-5")
    assert duplicate.status_code == 409
    assert duplicate.json()["type"] == problem_uri("idempotency-key-in-use")
    assert duplicate.headers["retry-after"] == "1"
    release.set()
    answered = await first
    assert answered.status_code == 201
    retried = await someone.book(slot_id, key="key-5")
    assert retried.status_code == 201
    assert retried.content == answered.content
    assert await _appointments(app) == 1


async def test_a_stored_error_is_answered_again(app, clinic, person):
    slot_id = await clinic.open("I6")
    a, b = await person(), await person()
    mine = await a.booked(slot_id)
    full = await b.book(slot_id, key="key-6")
    assert full.status_code == 409
    assert full.json()["type"] == problem_uri("slot-full")
    assert (await a.cancel(mine["id"])).status_code == 200
    # the same request again gets the same answer, byte for byte, though a place is free now
    again = await b.book(slot_id, key="key-6")
    assert again.status_code == 409
    assert again.headers["idempotent-replayed"] == "true"
    assert again.headers["content-type"].startswith("application/problem+json")
    assert again.content == full.content  # the first request's request_id too
    assert "idempotent-replayed" not in full.headers
    assert (await b.book(slot_id, key="key-6b")).status_code == 201


async def test_an_unexpected_failure_releases_the_key(app, clinic, person, monkeypatch):
    slot_id = await clinic.open("I7")
    someone = await person()

    async def broken(*args, **kwargs):
        raise RuntimeError("the database went away")

    monkeypatch.setattr(booking, "_book", broken)
    failed = await someone.book(slot_id, key="key-7")
    assert failed.status_code == 500
    monkeypatch.undo()
    retried = await someone.book(slot_id, key="key-7")
    assert retried.status_code == 201
    assert await _appointments(app) == 1


async def test_a_stale_claim_is_taken_over(app, clinic, person, clock):
    """A process that died after claiming the key left it in progress: a retry a minute later
    runs the request."""
    slot_id = await clinic.open("I8")
    someone = await person()
    body = booking.schemas.AppointmentCreate(slot_id=uuid.UUID(slot_id))
    fingerprint = idempotency.request_hash(f"POST /citizens/{someone.id}/appointments", body)
    async with app.state.sessionmaker() as session:
        session.add(
            IdempotencyKey(
                citizen_id=uuid.UUID(someone.id),
                key="key-8",
                request_hash=fingerprint,
                status=IN_PROGRESS,
                created_at=clock.now(),
                locked_at=clock.now(),
            )
        )
        await session.commit()
    assert (await someone.book(slot_id, key="key-8")).status_code == 409
    clock.advance(seconds=61)
    taken_over = await someone.book(slot_id, key="key-8")
    assert taken_over.status_code == 201, taken_over.text
    assert await _appointments(app) == 1


async def test_keys_expire_after_24_hours_and_are_purged(app, clinic, person, clock):
    one = await clinic.open("I9a", hours=60)
    two = await clinic.open("I9b", hours=70)
    someone = await person()
    assert (await someone.book(one, key="key-9")).status_code == 201
    clock.advance(hours=23, minutes=59)
    assert (await someone.book(two, key="key-9")).status_code == 422
    clock.advance(minutes=1)
    # 24 hours on, the key is free again: a new request
    reused = await someone.book(two, key="key-9")
    assert reused.status_code == 201
    assert reused.json()["slot_id"] == two
    assert "idempotent-replayed" not in reused.headers

    assert (await someone.book(one, key="key-9-other")).status_code == 409  # booked already
    clock.advance(hours=25)
    async with app.state.sessionmaker() as session:
        removed = await idempotency.purge(session, clock.now() - dt.timedelta(hours=24))
        await session.commit()
        left = await session.scalar(select(func.count()).select_from(IdempotencyKey))
    assert removed == 2
    assert left == 0


async def test_a_transient_refusal_is_not_stored(app, clinic, person, monkeypatch):
    """A 503 (or a 429) says nothing about the request: the retry with the same key runs it."""
    slot_id = await clinic.open("I10")
    someone = await person()

    async def unavailable(*args, **kwargs):
        raise ServiceUnavailable("the slot store cannot be reached right now")

    monkeypatch.setattr(booking, "take_place", unavailable)
    refused = await someone.book(slot_id, key="key-10")
    assert refused.status_code == 503, refused.text
    monkeypatch.undo()
    retried = await someone.book(slot_id, key="key-10")
    assert retried.status_code == 201, retried.text
    assert "idempotent-replayed" not in retried.headers
    assert await _appointments(app) == 1


async def test_a_replayed_success_carries_its_location(app, clinic, person):
    slot_id = await clinic.open("I11")
    someone = await person()
    first = await someone.book(slot_id, key="key-11")
    again = await someone.book(slot_id, key="key-11")
    assert again.headers["location"] == first.headers["location"]
    assert first.headers["location"].endswith(first.json()["id"])


async def test_a_refusal_stored_by_an_earlier_release_still_replays(app, clinic, person, clock):
    """Rows written before refusals were stored as documents ({slug, detail, extra}) answer the
    same problem (rendered now) until they expire."""
    slot_id = await clinic.open("I12")
    someone = await person()
    body = booking.schemas.AppointmentCreate(slot_id=uuid.UUID(slot_id))
    fingerprint = idempotency.request_hash(f"POST /citizens/{someone.id}/appointments", body)
    async with app.state.sessionmaker() as session:
        session.add(
            IdempotencyKey(
                citizen_id=uuid.UUID(someone.id),
                key="key-12",
                request_hash=fingerprint,
                status=DONE,
                response_status=409,
                response_body=b'{"slug":"slot-full","detail":"no place left"}',
                created_at=clock.now(),
                locked_at=clock.now(),
            )
        )
        await session.commit()
    replayed = await someone.book(slot_id, key="key-12")
    assert replayed.status_code == 409, replayed.text
    assert replayed.json()["type"] == problem_uri("slot-full")
    assert replayed.json()["detail"] == "no place left"
    assert replayed.headers["idempotent-replayed"] == "true"
    assert await _appointments(app) == 0
