"""Live boards hold a Redis connection each while they are open: they have a client of their own,
so any number of open boards (up to the per-process limit) leave the requests' connection pool
(REDIS_MAX_CONNECTIONS) to the requests."""

from __future__ import annotations

import asyncio
from contextlib import AsyncExitStack

import pytest

from api.core.settings import Settings
from tests.integration.checkin_pages.conftest import DEPARTMENT, FACILITY, Queue, event_stream

OPEN_BOARDS = 12
POOL = 4  # fewer requests' connections than boards


@pytest.fixture
def settings(settings: Settings) -> Settings:
    return settings.replace(redis_max_connections=POOL)


@pytest.mark.redis
async def test_open_boards_do_not_take_the_requests_redis_connections(queue: Queue) -> None:
    app = queue.app
    async with AsyncExitStack() as stack:
        streams = [await stack.enter_async_context(event_stream(app)) for _ in range(OPEN_BOARDS)]
        for stream in streams:
            first = await asyncio.wait_for(stream.next_event(), 5)
            assert (stream.status, first.event) == (200, "status")
        assert app.state.runtime.queue_feeds.open_streams == OPEN_BOARDS
        # the requests' client still answers at once, and so do requests that use Redis
        assert await asyncio.wait_for(app.state.redis.set("pool-test:{boards}", b"1"), 1) is True
        assert await asyncio.wait_for(app.state.redis.delete("pool-test:{boards}"), 1) == 1
        status = await asyncio.wait_for(
            queue.http.get(f"/facilities/{FACILITY}/queues/{DEPARTMENT}"), 5
        )
        assert status.status_code == 200
        ticket = await asyncio.wait_for(queue.walk_in("001090000301"), 5)
        assert ticket["number"] == 1
        # ...and the boards hear about it
        await app.state.runtime.checkin.publisher.flush()
        update = await asyncio.wait_for(streams[-1].next_event(), 5)
        assert update.json()["waiting"] == 1
