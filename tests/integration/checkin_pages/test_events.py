"""GET /facilities/{id}/queues/{department}/events: the board's server-sent events, on both
backend pairs (SQLite + fakeredis, PostgreSQL + Redis)."""

from __future__ import annotations

import asyncio
import contextlib
import time
from collections.abc import Awaitable, Callable
from pathlib import Path

import httpx
import pytest
from litestar import Litestar
from redis.asyncio import Redis

from api.app import create_app
from api.checkin.board_feeds import QueueFeeds
from api.checkin.status_publisher import channel
from api.core.settings import Settings
from tests.integration.checkin_pages.conftest import (
    DEPARTMENT,
    FACILITY,
    Queue,
    event_stream,
)
from tests.support.auth import bearer, client_token, create_client_directly
from tests.support.running import app_client


async def _subscribers(app: Litestar) -> int:
    counts = await app.state.redis.pubsub_numsub(channel(FACILITY, DEPARTMENT))
    return int(counts[0][1])


async def _eventually(check: Callable[[], Awaitable[bool]], timeout: float = 5.0) -> None:
    deadline = time.monotonic() + timeout
    while not await check():
        assert time.monotonic() < deadline, "condition not met in time"
        await asyncio.sleep(0.02)


async def _no_subscribers(app: Litestar) -> bool:
    return await _subscribers(app) == 0 and app.state.runtime.queue_feeds.open_streams == 0


@pytest.mark.redis
async def test_first_event_is_the_current_status_then_one_per_change(queue: Queue) -> None:
    await queue.walk_in("001090000101")
    await queue.walk_in("001090000102")
    await queue.app.state.runtime.checkin.publisher.flush()  # nothing left over from the walk-ins
    current = await queue.status()
    async with event_stream(queue.app) as stream:
        assert stream.status == 200
        assert stream.headers["content-type"].startswith("text/event-stream")
        assert stream.headers["cache-control"] == "no-cache"
        first = await stream.next_event()
        assert first.event == "status"
        assert first.retry == 3000
        assert first.json() == current
        assert current["waiting"] == 2
        assert current["now_serving"] is None

        await queue.call_next()
        called = await stream.next_status()
        assert called["now_serving"]["label"] == "NOI-001"
        assert called["now_serving"]["room"] == "P.101"
        assert called["waiting"] == 1
        assert called["recent_calls"][0]["label"] == "NOI-001"

        await queue.walk_in("001090000103")
        issued = await stream.next_status()
        assert issued["waiting"] == 2
        assert issued["now_serving"]["label"] == "NOI-001"
        assert issued == await queue.status()


@pytest.mark.redis
async def test_a_late_publication_of_the_state_the_board_read_is_not_sent_again(
    queue: Queue,
) -> None:
    # a walk-in committed before the board subscribed, its publication arrives after: the board's
    # first event holds that state already, so the late copy is dropped and the next event is the
    # next change
    await queue.walk_in("001090000105")
    await queue.app.state.runtime.checkin.publisher.flush()
    async with event_stream(queue.app) as stream:
        event = await stream.next_event()
        first = event.json()
        assert first["waiting"] == 1
        assert event.data is not None
        late = event.data.encode()
        await queue.app.state.redis.publish(channel(FACILITY, DEPARTMENT), late)
        await queue.app.state.redis.publish(channel(FACILITY, DEPARTMENT), late)
        await queue.call_next()
        called = await stream.next_status()
        assert called["now_serving"]["label"] == "NOI-001"
        assert called["waiting"] == 0
        # and a state that differs from the last one sent is always sent, even if seen before
        await queue.app.state.redis.publish(channel(FACILITY, DEPARTMENT), late)
        again = await stream.next_status()
        assert again == first


async def test_quiet_streams_get_keep_alive_comments(queue: Queue) -> None:
    feeds: QueueFeeds = queue.app.state.runtime.queue_feeds
    assert feeds.keepalive_seconds == 15.0
    feeds.keepalive_seconds = 0.1
    async with event_stream(queue.app) as stream:
        assert (await stream.next_event()).event == "status"
        for _ in range(2):
            event = await stream.next_event(timeout=2)
            assert event.comment == "keep-alive"
            assert event.event is None
            assert event.data is None
    assert b"\r\n: keep-alive\r\n\r\n" in stream.body


async def test_a_client_that_leaves_releases_its_subscription(queue: Queue) -> None:
    feeds: QueueFeeds = queue.app.state.runtime.queue_feeds
    assert await _subscribers(queue.app) == 0
    async with event_stream(queue.app) as first, event_stream(queue.app) as second:
        await first.next_event()
        await second.next_event()
        assert await _subscribers(queue.app) == 2
        assert feeds.open_streams == 2
    await _eventually(lambda: _no_subscribers(queue.app))
    # the queue still publishes; nobody listens, nothing breaks
    await queue.walk_in("001090000104")
    await queue.app.state.runtime.checkin.publisher.flush()


async def test_an_unknown_queue_is_a_404_problem_not_a_stream(queue: Queue) -> None:
    for path in (
        f"/facilities/{FACILITY}/queues/NOPE/events",
        f"/facilities/NO-SUCH/queues/{DEPARTMENT}/events",
    ):
        async with event_stream(queue.app, path) as stream:
            await stream.ended()
        assert stream.status == 404
        assert stream.headers["content-type"].startswith("application/problem+json")
    assert queue.app.state.runtime.queue_feeds.open_streams == 0
    counts = await queue.app.state.redis.pubsub_numsub(
        channel(FACILITY, "NOPE"), channel("NO-SUCH", DEPARTMENT)
    )
    assert [int(count) for _, count in counts] == [0, 0]


async def test_redis_unreachable_answers_503(queue: Queue) -> None:
    feeds: QueueFeeds = queue.app.state.runtime.queue_feeds
    working = feeds.redis
    feeds.redis = Redis.from_url("redis://127.0.0.1:9", socket_connect_timeout=1)
    try:
        async with event_stream(queue.app) as stream:
            await stream.ended()
        assert stream.status == 503
        assert b"/problems/service-unavailable" in stream.body
        assert feeds.open_streams == 0
    finally:
        await feeds.redis.aclose()
        feeds.redis = working


async def test_a_broken_subscription_ends_the_stream_so_the_browser_reconnects(
    queue: Queue, backend: str
) -> None:
    feeds: QueueFeeds = queue.app.state.runtime.queue_feeds
    async with event_stream(queue.app) as stream:
        await stream.next_event()
        (feed,) = list(feeds._feeds)
        if backend == "servers":  # Redis drops the subscriber's connection
            host, port = feed.pubsub.connection._writer.get_extra_info("sockname")[:2]
            assert await queue.app.state.redis.client_kill(f"{host}:{port}")
        else:  # the embedded fakeredis cannot drop a connection: the read is aborted instead
            feed._read.cancel()
        await stream.ended()
        assert feeds.open_streams == 0
    async with event_stream(queue.app) as again:  # a new connection works
        assert (await again.next_event()).event == "status"


async def test_shutdown_ends_open_streams_promptly(settings: Settings, tmp_path: Path) -> None:
    app = create_app(settings)
    async with contextlib.AsyncExitStack() as outer:
        async with app_client(app) as http:
            admin = await client_token(http, await create_client_directly(app, "admin"))
            for path, body in (
                (f"/admin/facilities/{FACILITY}", {"name": "Bệnh viện", "province": "Hà Nội"}),
                (f"/admin/facilities/{FACILITY}/departments/{DEPARTMENT}", {"name": "Khoa Nội"}),
            ):
                answer = await http.put(path, json=body, headers=bearer(admin))
                assert answer.status_code in (200, 201), answer.text
            stream = await outer.enter_async_context(event_stream(app))
            assert (await stream.next_event()).event == "status"
            started = time.monotonic()
        # the lifespan has ended with the stream open: the stream ended first, promptly
        await stream.ended(timeout=5)  # without the shutdown hook it would never end
        assert time.monotonic() - started < 5
        assert app.state.runtime.queue_feeds.open_streams == 0
        assert app.state.runtime.queue_feeds.stopping.is_set()


async def test_status_answers_as_the_board_expects(client: httpx.AsyncClient, queue: Queue) -> None:
    """The board falls back on the plain status endpoint when the stream is refused."""
    missing = await client.get(f"/facilities/{FACILITY}/queues/NOPE")
    assert missing.status_code == 404
    status = await queue.status()
    expected = {
        "facility_id",
        "department",
        "department_name",
        "queue_date",
        "now_serving",
        "waiting",
        "average_service_minutes",
        "recent_calls",
        "updated_at",
    }
    assert set(status) == expected


async def test_streams_beyond_the_instance_limit_are_refused(queue: Queue) -> None:
    feeds: QueueFeeds = queue.app.state.runtime.queue_feeds
    feeds.max_streams = 1
    async with event_stream(queue.app) as first:
        await first.next_event()
        async with event_stream(queue.app) as second:
            await second.ended()
        assert second.status == 503
        assert "retry-after" in second.headers
