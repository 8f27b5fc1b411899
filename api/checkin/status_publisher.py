"""Live queue updates: the QueueStatus JSON on Redis pub/sub, one channel per queue.

After every change to a queue (a ticket issued, call-next, recall, skip) commits, the use case
tells :class:`StatusPublisher`, which reads the queue's status from the database and publishes it
on ``queue-status:{facility_id}:{department}``. Changes of one queue are coalesced: the first
after a quiet spell publishes at once, later ones at most once per ``interval``, always with the
state read after the latest of them (a board never misses the last change, and a burst of
check-ins costs one status read per interval, not one per check-in). The board's SSE endpoint
subscribes to the channel.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable

import msgspec
from redis.exceptions import RedisError

from api.checkin.schemas import QueueStatus
from api.core.redis import RedisClient

logger = logging.getLogger("healthbook.checkin.live")

_encoder = msgspec.json.Encoder()

StatusReader = Callable[[str, str], Awaitable[QueueStatus]]
"""Reads the current status of (facility id, department code)."""


def channel(facility_id: str, department: str) -> str:
    return f"queue-status:{facility_id}:{department}"


async def publish_status(redis: RedisClient, status: QueueStatus) -> None:
    """Publish ``status`` on its queue's channel (raises ``RedisError`` when Redis is down)."""
    await redis.publish(channel(status.facility_id, status.department), _encoder.encode(status))


class StatusPublisher:
    """Coalesces status publications per queue (see the module's docstring)."""

    def __init__(self, redis: RedisClient, read: StatusReader, *, interval: float) -> None:
        self.redis = redis
        self.read = read
        self.interval = interval
        self._tasks: dict[tuple[str, str], asyncio.Task[None]] = {}
        self._dirty: set[tuple[str, str]] = set()

    def changed(self, facility_id: str, department: str) -> None:
        """Call after the change committed; never blocks, never raises."""
        key = (facility_id, department)
        if key in self._tasks:
            self._dirty.add(key)
            return
        try:
            loop = asyncio.get_running_loop()
        except RuntimeError:  # outside an event loop (a script): nobody listens here
            return
        self._tasks[key] = loop.create_task(self._run(key), name=f"queue-status {key}")

    async def _run(self, key: tuple[str, str]) -> None:
        try:
            while True:
                self._dirty.discard(key)
                try:
                    await publish_status(self.redis, await self.read(*key))
                except (RedisError, OSError) as exc:
                    logger.warning("could not publish a queue status: %s", type(exc).__name__)
                except Exception:  # a database hiccup: the next change publishes again
                    logger.exception("could not read a queue status to publish")
                await asyncio.sleep(self.interval)
                if key not in self._dirty:
                    return
        finally:
            self._tasks.pop(key, None)

    async def flush(self) -> None:
        """Wait until every pending publication is done (tests, shutdown)."""
        while self._tasks:
            await asyncio.gather(*list(self._tasks.values()), return_exceptions=True)

    async def aclose(self) -> None:
        tasks = list(self._tasks.values())
        for task in tasks:
            task.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)
        self._tasks.clear()
