"""The Redis client's connection pool (REDIS_MAX_CONNECTIONS): a burst of more commands than
connections waits for a connection instead of failing, and a pool that stays full past
REDIS_TIMEOUT_SECONDS fails with an error the callers turn into 503."""

from __future__ import annotations

import asyncio
import time

import pytest
import redis.asyncio as redis_asyncio
from redis.exceptions import ConnectionError as RedisConnectionError

from api.core.redis import create_redis
from api.core.settings import Settings
from tests.support.backends import fresh_redis_url


async def test_a_burst_larger_than_the_pool_waits_for_connections(settings) -> None:
    redis = create_redis(settings.replace(redis_max_connections=4))
    try:
        keys = [f"pool-test:{{burst}}:{n}" for n in range(400)]
        results = await asyncio.gather(
            *(redis.set(key, b"1", nx=True, ex=60) for key in keys), return_exceptions=True
        )
        assert [r for r in results if isinstance(r, BaseException)] == []
        assert all(results)
        assert await redis.exists(*keys) == len(keys)
        await redis.delete(*keys)
    finally:
        await redis.aclose()


async def test_a_pool_that_stays_full_fails_after_the_timeout() -> None:
    """On the Redis server (the embedded client has the same pool class; the wait is what this
    checks, and it needs a pool whose one connection somebody holds)."""
    settings = Settings.from_flat(
        redis_url=fresh_redis_url(), redis_max_connections=1, redis_timeout_seconds=0.3
    )
    redis = create_redis(settings)
    pool = redis.connection_pool
    assert isinstance(pool, redis_asyncio.BlockingConnectionPool)
    try:
        held = await pool.get_connection()  # the pool's one connection, taken elsewhere
        started = time.monotonic()
        with pytest.raises(RedisConnectionError):
            await redis.get("pool-test:{other}")
        waited = time.monotonic() - started
        assert 0.25 <= waited < 2.0  # waited for a connection, then gave up
        waiting = asyncio.create_task(redis.set("pool-test:{other}", b"1", ex=60))
        await asyncio.sleep(0.05)
        assert not waiting.done()  # queued for the connection...
        await pool.release(held)
        assert await waiting is True  # ...and served once it came back
        assert await redis.get("pool-test:{other}") == b"1"
    finally:
        await redis.aclose()
