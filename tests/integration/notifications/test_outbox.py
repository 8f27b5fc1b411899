"""The outbox: sent only after the caller's commit, once per device and once in the inbox;
dedupe keys, scheduling with an injectable clock, cancellation, Redis wake-ups, guardians."""

from __future__ import annotations

import asyncio
import datetime as dt
import time
import uuid

import pytest
from sqlalchemy import select

from notifications import outbox
from notifications.models import CANCELLED, DEAD, DELIVERED, SENT, OutboxEntry
from notifications.relay_batch import Batch
from tests.integration.notifications.helpers import booked, enqueue, reminder, your_turn


async def test_rolled_back_enqueue_is_never_sent(app, relay, fcm, db, make_citizen, add_device):
    citizen = await make_citizen()
    await add_device(citizen)
    await enqueue(app, citizen, booked(), commit=False)
    assert await relay.drain() == 0
    assert fcm.received == []
    assert await db.outbox() == []
    assert await db.inbox_count() == 0


@pytest.mark.parametrize("backend", ["servers"])
async def test_nothing_is_sent_while_the_transaction_is_open(
    app, relay, fcm, make_citizen, add_device
):
    """PostgreSQL: a relay running during the caller's transaction does not see the row."""
    citizen = await make_citizen()
    await add_device(citizen)
    async with app.state.sessionmaker() as session:
        await outbox.enqueue(session, citizen, booked())
        assert await relay.drain() == 0
        assert fcm.received == []
        await session.commit()
    assert await relay.drain() == 1
    assert len(fcm.received) == 1


@pytest.mark.redis
async def test_committed_notification_reaches_each_device_once_and_the_inbox_once(
    app, relay, fcm, db, make_citizen, add_device
):
    citizen = await make_citizen()
    phone = await add_device(citizen, locale="vi")
    tablet = await add_device(citizen, locale="en")
    notification_id = await enqueue(app, citizen, booked())
    assert notification_id is not None
    assert await relay.drain() == 1
    assert await relay.drain() == 0  # nothing left: a second pass sends nothing
    assert fcm.accepted() == {(str(notification_id), phone): 1, (str(notification_id), tablet): 1}
    by_token = {r.token: r for r in fcm.received}
    assert by_token[phone].title == "Đặt lịch khám thành công"
    assert by_token[tablet].title == "Appointment booked"
    for request in fcm.received:
        # the lock-screen text never names the (revealing) facility or department
        assert "Ung bướu" not in f"{request.title} {request.body}"
        assert "Khoa" not in f"{request.title} {request.body}"
        assert request.data["notification_id"] == str(notification_id)
        assert request.data["citizen_id"] == str(citizen)
    [row] = await db.outbox()
    assert row.status == SENT
    assert row.attempts == 1
    assert row.finished_at is not None
    assert await db.inbox_count(notification_id) == 1
    assert {d.status for d in await db.deliveries()} == {DELIVERED}
    assert fcm.grants == 1  # one OAuth grant, from the fake token endpoint


async def test_a_dedupe_key_makes_a_repeat_a_no_op(app, relay, fcm, db, make_citizen, add_device):
    citizen = await make_citizen()
    await add_device(citizen)
    first = await enqueue(app, citizen, booked(), dedupe_key="appointment:1:booked")
    again = await enqueue(app, citizen, booked(), dedupe_key="appointment:1:booked")
    assert first is not None
    assert again is None
    await relay.drain()
    assert len(await db.outbox()) == 1
    assert len(fcm.received) == 1
    # after it went out, the key still refuses a duplicate
    assert await enqueue(app, citizen, booked(), dedupe_key="appointment:1:booked") is None


async def test_scheduled_reminder_goes_out_at_its_time_and_a_cancelled_one_never(
    app, relay, fcm, db, clock, make_citizen, add_device
):
    citizen = await make_citizen()
    token = await add_device(citizen)
    start = clock.now()
    kept = await enqueue(
        app, citizen, reminder(), due_at=start + dt.timedelta(hours=24), dedupe_key="r:kept"
    )
    dropped = await enqueue(
        app, citizen, reminder(), due_at=start + dt.timedelta(hours=24), dedupe_key="r:dropped"
    )
    assert await relay.drain() == 0

    async with app.state.sessionmaker() as session:
        assert await outbox.cancel(session, "r:dropped", now=clock.now()) is True
        assert await outbox.cancel(session, "r:unknown", now=clock.now()) is False
        await session.commit()

    clock.advance(hours=23, minutes=59)
    assert await relay.drain() == 0
    assert fcm.received == []
    clock.advance(minutes=1)
    assert await relay.drain() == 1
    assert fcm.accepted() == {(str(kept), token): 1}
    clock.advance(days=30)
    assert await relay.drain() == 0
    statuses = {row.id: row.status for row in await db.outbox()}
    assert statuses == {kept: SENT, dropped: CANCELLED}
    assert await db.inbox_count(dropped) == 0
    # a sent notification cannot be cancelled any more
    async with app.state.sessionmaker() as session:
        assert await outbox.cancel(session, "r:kept") is False


@pytest.mark.redis
async def test_a_commit_wakes_a_sleeping_relay_through_redis(
    app, relay, fcm, make_citizen, add_device
):
    """The relay polls every 5 s; a commit's Redis signal gets the push out well before."""
    citizen = await make_citizen()
    await add_device(citizen)
    assert relay.config.poll_seconds >= 5
    relay.start()
    try:
        await asyncio.wait_for(relay._listening.wait(), 5)
        await asyncio.sleep(0.3)  # the first (empty) pass is done; the relay now sleeps
        started = time.monotonic()
        await enqueue(app, citizen, booked())
        while not fcm.received:
            assert time.monotonic() - started < 3, "the relay was not woken"
            await asyncio.sleep(0.02)
    finally:
        await relay.stop()


async def test_a_dependents_notification_reaches_their_guardians_too(
    app, relay, fcm, db, make_citizen, make_guardian, add_device
):
    child = await make_citizen(birth_date=dt.date(2020, 5, 1))
    parent = await make_citizen()
    child_phone = await add_device(child)
    parent_phone = await add_device(parent, locale="en")
    await make_guardian(parent, child)
    notification_id = await enqueue(app, child, your_turn())
    await relay.drain()
    by_token = {r.token: r for r in fcm.received}
    assert set(by_token) == {child_phone, parent_phone}
    assert by_token[child_phone].title == "Đến lượt bạn"
    assert by_token[parent_phone].title == "Family member: It's your turn"
    assert by_token[parent_phone].data["citizen_id"] == str(child)
    assert await db.inbox_count(notification_id) == 1  # in the child's inbox, once


async def test_a_row_claimed_by_a_relay_that_died_is_reclaimed_after_its_lease(
    app, relay, fcm, db, clock, make_citizen, add_device
):
    """The in-process version of the crash test (tests/e2e kills a real process): phase 1 ran,
    phases 2 and 3 never did. After the lease another pass sends to every device; the inbox
    keeps one entry."""
    citizen = await make_citizen()
    tokens = {await add_device(citizen), await add_device(citizen)}
    notification_id = await enqueue(app, citizen, booked())
    async with app.state.sessionmaker() as session:
        batch = await Batch.claim(
            session,
            token=uuid.uuid4(),
            now=clock.now(),
            config=relay.config,
            guardians=relay.guardians,
            stats=relay.stats,
            worker_id="died",
        )
        assert batch is not None
        assert len(batch.to_send) == 2
        await session.commit()
    assert await db.inbox_count(notification_id) == 1
    assert await relay.drain() == 0  # leased: not before the lease runs out
    clock.advance(seconds=relay.config.lease_seconds + 1)
    assert await relay.drain() == 1
    assert {token for _, token in fcm.accepted()} == tokens
    [row] = await db.outbox()
    assert row.status == SENT
    assert row.attempts == 2
    assert await db.inbox_count(notification_id) == 1


async def test_enqueue_refuses_what_cannot_be_sent(app, make_citizen):
    citizen = await make_citizen()
    async with app.state.sessionmaker() as session:
        with pytest.raises(ValueError, match="timezone-aware"):
            await outbox.enqueue(session, citizen, reminder(), due_at=dt.datetime(2030, 1, 1))
        with pytest.raises(ValueError, match="facility_name"):
            await outbox.enqueue(session, citizen, booked(facility_name="x" * 201))
        with pytest.raises(TypeError):
            await outbox.enqueue(session, citizen, {"kind": "appointment_booked"})  # type: ignore[arg-type]
        with pytest.raises(ValueError, match="dedupe_key"):
            await outbox.enqueue(session, citizen, booked(), dedupe_key="")


async def test_a_payload_that_no_longer_decodes_is_dead_lettered(app, relay, fcm, db, make_citizen):
    """A row written by a newer release (or damaged) is set aside with its error, not retried."""
    citizen = await make_citizen()
    await enqueue(app, citizen, booked())
    async with app.state.sessionmaker() as session:
        [row] = list(await session.scalars(select(OutboxEntry)))
        row.payload = {"kind": "appointment_booked", "appointment_id": "a1"}
        await session.commit()
    assert await relay.drain() == 1
    [row] = await db.outbox()
    assert row.status == DEAD
    assert row.last_error.startswith("undecodable payload")
    assert fcm.received == []
    assert await db.inbox_count() == 0
