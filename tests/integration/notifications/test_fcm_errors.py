"""Each FCM error code, answered by the fake FCM server through firebase-admin's HTTP path, does
what the relay documents: dead tokens are deleted, throttling and outages are retried with
backoff (honouring Retry-After) on the failed devices only, and what keeps failing is
dead-lettered. Plus the 500-message batch limit, the 4 KB payload limit, and clean logs."""

from __future__ import annotations

import dataclasses
import datetime as dt
import json
import logging
import uuid

import pytest
from firebase_admin import messaging
from sqlalchemy import select

from api.core.observability import JsonFormatter
from notifications.models import DEAD, DELIVERED, FAILED, PENDING, SENT, Device
from notifications.senders.base import MAX_PAYLOAD_BYTES, Push
from tests.integration.notifications.helpers import booked, enqueue


def _by_device_token(deliveries, tokens_by_device):
    return {tokens_by_device.get(d.device_id, d.device_id): d for d in deliveries}


async def _device_ids(app) -> dict[uuid.UUID, str]:
    async with app.state.sessionmaker() as session:
        return {d.id: d.token for d in await session.scalars(select(Device))}


@pytest.mark.parametrize("code", ["UNREGISTERED", "INVALID_ARGUMENT"])
async def test_a_dead_token_is_deleted_and_never_retried(
    code, app, relay, fcm, db, clock, make_citizen, add_device
):
    citizen = await make_citizen()
    good = await add_device(citizen)
    dead = await add_device(citizen)
    fcm.fail_token(dead, code)
    notification_id = await enqueue(app, citizen, booked())
    assert await relay.drain() == 1
    assert await db.device_tokens() == {good}
    [row] = await db.outbox()
    assert row.status == SENT  # nothing left to retry
    outcomes = {d.status: d for d in await db.deliveries()}
    assert outcomes[FAILED].error == code
    assert DELIVERED in outcomes
    clock.advance(days=1)
    assert await relay.drain() == 0
    assert [r.answer for r in fcm.received if r.token == dead] == [code]
    assert fcm.accepted() == {(str(notification_id), good): 1}


async def test_an_invalid_message_is_not_retried_and_the_device_is_kept(
    app, relay, fcm, db, clock, make_citizen, add_device
):
    citizen = await make_citizen()
    token = await add_device(citizen)
    fcm.fail_token(token, "INVALID_MESSAGE")
    await enqueue(app, citizen, booked())
    await relay.drain()
    assert await db.device_tokens() == {token}
    [delivery] = await db.deliveries()
    assert (delivery.status, delivery.error) == (FAILED, "INVALID_ARGUMENT")
    clock.advance(days=1)
    assert await relay.drain() == 0
    assert len(fcm.received) == 1


async def test_quota_exceeded_retries_only_the_failed_device_after_retry_after(
    app, relay, fcm, db, clock, make_citizen, add_device
):
    citizen = await make_citizen()
    throttled = await add_device(citizen)
    fine = await add_device(citizen)
    fcm.fail_token(throttled, "QUOTA_EXCEEDED", retry_after=120)
    notification_id = await enqueue(app, citizen, booked())
    start = clock.now()
    assert await relay.drain() == 1
    [row] = await db.outbox()
    assert row.status == PENDING
    assert row.due_at is not None
    assert row.due_at >= start + dt.timedelta(seconds=120)
    assert "QUOTA_EXCEEDED" in row.last_error
    clock.advance(seconds=119)
    assert await relay.drain() == 0
    clock.advance(seconds=2)
    assert await relay.drain() == 1
    assert fcm.accepted() == {(str(notification_id), throttled): 1, (str(notification_id), fine): 1}
    assert [r.token for r in fcm.received].count(fine) == 1  # the partial batch's good device
    [row] = await db.outbox()
    assert row.status == SENT
    assert row.attempts == 2
    tokens = await _device_ids(app)
    outcomes = _by_device_token(await db.deliveries(), tokens)
    assert (outcomes[throttled].status, outcomes[throttled].attempts) == (DELIVERED, 2)
    assert (outcomes[fine].status, outcomes[fine].attempts) == (DELIVERED, 1)
    assert await db.inbox_count(notification_id) == 1


@pytest.mark.parametrize("code", ["UNAVAILABLE", "INTERNAL"])
async def test_outages_retry_with_exponential_backoff_and_jitter(
    code, app, relay, fcm, db, clock, make_citizen, add_device
):
    citizen = await make_citizen()
    token = await add_device(citizen)
    fcm.fail_token(token, code, times=2)
    notification_id = await enqueue(app, citizen, booked())
    base = relay.config.retry_base_seconds
    delays = []
    for attempt in (1, 2):
        now = clock.now()
        assert await relay.drain() == 1
        [row] = await db.outbox()
        assert row.status == PENDING
        assert code in row.last_error
        delay = (row.due_at - now).total_seconds()
        # exponential, jittered in the upper half: [b·2^(n-1)/2, b·2^(n-1)]
        assert base * 2 ** (attempt - 1) / 2 <= delay <= base * 2 ** (attempt - 1)
        delays.append(delay)
        clock.set(row.due_at)
    assert await relay.drain() == 1
    assert [r.answer for r in fcm.received] == [code, code, "ok"]
    assert fcm.accepted() == {(str(notification_id), token): 1}
    [row] = await db.outbox()
    assert row.status == SENT
    assert row.attempts == 3


async def test_what_keeps_failing_is_dead_lettered_with_its_last_error(
    app, relay, fcm, db, clock, make_citizen, add_device
):
    relay.config = dataclasses.replace(relay.config, max_attempts=3)
    citizen = await make_citizen()
    failing = await add_device(citizen)
    fine = await add_device(citizen)
    fcm.fail_token(failing, "UNAVAILABLE", times=100)
    notification_id = await enqueue(app, citizen, booked())
    for _ in range(5):
        await relay.drain()
        clock.advance(hours=1)
    [row] = await db.outbox()
    assert row.status == DEAD
    assert row.last_error == "UNAVAILABLE on 1 device(s) after 3 attempts"
    assert [r.token for r in fcm.received].count(failing) == 3
    assert fcm.accepted() == {(str(notification_id), fine): 1}
    assert await db.inbox_count(notification_id) == 1
    assert await db.device_tokens() == {failing, fine}  # an outage is not a dead token


async def test_a_501_device_fan_out_is_split_into_batches_of_at_most_500(
    app, relay, fcm, db, make_citizen, monkeypatch
):
    citizen = await make_citizen()
    now = app.state.clock.now()
    tokens = [f"fcm-fanout-{i:05d}-{uuid.uuid4().hex}" for i in range(501)]
    async with app.state.sessionmaker() as session:
        session.add_all(
            Device(
                id=uuid.uuid4(),
                citizen_id=citizen,
                installation_id=f"install-{i:05d}",
                token=token,
                platform="android",
                locale="vi",
                created_at=now,
                updated_at=now,
                last_seen_at=now,
            )
            for i, token in enumerate(tokens)
        )
        await session.commit()
    batch_sizes: list[int] = []
    real_send = messaging.send_each_async

    async def spy(messages_, dry_run=False, app=None):
        batch_sizes.append(len(messages_))
        return await real_send(messages_, dry_run=dry_run, app=app)

    monkeypatch.setattr(messaging, "send_each_async", spy)
    notification_id = await enqueue(app, citizen, booked())
    assert await relay.drain() == 1
    assert batch_sizes == [500, 1]
    accepted = fcm.accepted()
    assert set(accepted) == {(str(notification_id), token) for token in tokens}
    assert set(accepted.values()) == {1}
    assert len(await db.deliveries()) == 501


async def test_a_payload_over_4_kb_is_refused_before_sending(app, relay, fcm):
    sender = app.state.push_sender
    small = Push(token="fcm-small-000000000000", title="T", body="B", data={"kind": "x"})
    big = Push(token="fcm-big-00000000000000", title="T", body="x" * MAX_PAYLOAD_BYTES, data={})
    results = await sender.send([big, small])
    assert [(r.outcome, r.error) for r in results] == [
        ("rejected", "PAYLOAD_TOO_LARGE"),
        ("sent", None),
    ]
    assert [r.token for r in fcm.received] == [small.token]


async def test_sending_logs_carry_no_token_national_id_or_name(
    app, relay, fcm, clock, make_citizen, add_device, caplog
):
    citizen = await make_citizen()
    tokens = [await add_device(citizen) for _ in range(4)]
    for token, code in zip(tokens, ["UNREGISTERED", "QUOTA_EXCEEDED", "INTERNAL"], strict=False):
        fcm.fail_token(token, code, retry_after=5)
    relay.config = dataclasses.replace(relay.config, max_attempts=1)
    caplog.set_level(logging.DEBUG)
    await enqueue(app, citizen, booked(facility_name="Bệnh viện Tâm thần Trung ương"))
    await relay.drain()
    formatter = JsonFormatter()
    lines = [formatter.format(record) for record in caplog.records]
    text = "\n".join(lines)
    assert any("device token removed" in line for line in lines)
    assert any("dead-lettered" in line for line in lines)
    for token in tokens:
        assert token not in text
    assert "Tâm thần" not in text
    for line in lines:
        json.loads(line)  # structured, one JSON object per line


async def test_a_rejected_access_token_is_refreshed_and_the_push_retried(
    app, relay, fcm, db, clock, make_citizen, add_device, monkeypatch
):
    citizen = await make_citizen()
    token = await add_device(citizen)
    sender = app.state.push_sender
    refreshes = []
    real_refresh = sender._credential.refresh

    def counting_refresh(request):
        refreshes.append(1)
        return real_refresh(request)

    monkeypatch.setattr(sender._credential, "refresh", counting_refresh)
    fcm.fail_token(token, "UNAUTHENTICATED")
    notification_id = await enqueue(app, citizen, booked())
    await relay.drain()
    [row] = await db.outbox()
    assert row.status == PENDING
    assert "UNAUTHENTICATED" in row.last_error
    assert await db.device_tokens() == {token}  # our credentials, not the phone's token
    before = len(refreshes)
    clock.set(row.due_at)
    assert await relay.drain() == 1
    assert len(refreshes) == before + 1  # a fresh access token before trying again
    assert fcm.accepted() == {(str(notification_id), token): 1}
