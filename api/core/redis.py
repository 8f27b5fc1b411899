"""Redis: one asyncio client per process, or in-process fakeredis in embedded mode."""

from __future__ import annotations

import logging

import redis.asyncio as redis_asyncio

from api.core.settings import Settings

logger = logging.getLogger("healthbook.redis")


def create_redis(settings: Settings) -> redis_asyncio.Redis:
    """Build the client (no I/O here; the first command connects)."""
    if settings.redis_url is None:
        import fakeredis

        logger.warning(
            "REDIS_URL is not set: using in-process fakeredis. Caches, single-use check-in "
            "markers, rate limits and pub/sub live inside this one process only; run a real "
            "Redis for more than one worker or replica."
        )
        return fakeredis.FakeAsyncRedis(server=fakeredis.FakeServer())
    timeout = settings.redis_timeout_seconds
    return redis_asyncio.Redis.from_url(
        settings.redis_url,
        socket_timeout=timeout,
        socket_connect_timeout=timeout,
        health_check_interval=30,
        retry_on_timeout=False,
    )
