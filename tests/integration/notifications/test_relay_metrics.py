"""The relay's metrics move with what happens: a push FCM refuses with an error code is counted
under that code, and the outbox backlog gauges show the rows waiting and the oldest one's wait
(measured by the task the worker runs; a scrape never queries the database)."""

from __future__ import annotations

from tests.integration.notifications.helpers import booked, enqueue
from tests.support.promlint import problems, value


async def test_push_errors_are_counted_per_fcm_error_code(
    app, client, relay, fcm, make_citizen, add_device
):
    citizen = await make_citizen()
    await add_device(citizen)
    dead = await add_device(citizen)
    throttled = await add_device(citizen)
    fcm.fail_token(dead, "UNREGISTERED")
    fcm.fail_token(throttled, "QUOTA_EXCEEDED", retry_after=60)
    await enqueue(app, citizen, booked())
    assert await relay.drain() == 1
    text = (await client.get("/metrics")).text
    assert problems(text) == []
    errors = "healthbook_notification_push_errors_total"
    assert value(text, errors, outcome="failed", code="UNREGISTERED") == 1
    assert value(text, errors, outcome="retry", code="QUOTA_EXCEEDED") == 1
    assert value(text, "healthbook_notification_pushes_total", outcome="sent") == 1
    assert value(text, errors, outcome="sent", code="UNREGISTERED") is None


async def test_the_outbox_backlog_gauges_follow_the_due_rows(
    app, client, clock, make_citizen, add_device
):
    backlog = app.state.runtime.outbox_backlog
    citizen = await make_citizen()
    await add_device(citizen)

    def gauges() -> tuple[float | None, float | None]:
        text = app.state.runtime.metrics.exposition()[0].decode()
        return (
            value(text, "healthbook_notification_outbox_due_rows"),
            value(text, "healthbook_notification_outbox_oldest_due_age_seconds"),
        )

    assert gauges() == (None, None)  # nothing measured yet: nothing claimed
    await backlog.measure()
    assert gauges() == (0, 0)
    await enqueue(app, citizen, booked())
    clock.advance(seconds=30)
    await enqueue(app, citizen, booked())
    later = clock.now()
    await enqueue(app, citizen, booked(), due_at=later.replace(year=later.year + 1))
    clock.advance(seconds=12)
    assert gauges() == (0, 0)  # the last measurement until the task measures again
    await backlog.measure()
    assert gauges() == (2, 42)  # the row due next year is not due
    text = app.state.runtime.metrics.exposition()[0].decode()
    assert value(text, "healthbook_notification_outbox_measured_timestamp_seconds") is not None
    assert problems(text) == []
