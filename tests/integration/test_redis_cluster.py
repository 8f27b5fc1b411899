"""The service's Redis client and keys on a Redis Cluster (and the same code on one Redis).

The rest of the Redis-touching tests (marked ``redis``) run on the cluster as they are; these
check what only a cluster can get wrong: the client sees every master, the keys of one use case
spread over the nodes without a cross-slot error, and pub/sub reaches another process.
"""

from __future__ import annotations

import asyncio
import typing
import uuid
from pathlib import Path

import pytest
from redis.asyncio.cluster import RedisCluster
from redis.client import AbstractRedis
from redis.exceptions import CrossSlotTransactionError

from api.app import create_app
from api.core.cache import Invalidations, LocalCache
from api.core.ratelimit import RateLimiter
from api.core.redis import create_redis
from api.core.settings import Settings
from api.health_book.book import book_key
from api.identity.citizens import CitizenDirectory, profile_key
from tests.conftest import base_settings
from tests.support.redis_cluster import LocalRedisCluster

pytestmark = pytest.mark.redis


@pytest.mark.parametrize("backend", ["cluster"])
async def test_the_client_sees_every_master_and_the_keys_spread_over_them(
    backend: str, settings: Settings, redis_cluster: LocalRedisCluster
) -> None:
    redis = create_redis(settings)
    assert isinstance(redis, RedisCluster)
    try:
        assert await redis.ping()
        masters = {node.port for node in redis.get_primaries()}
        assert masters == set(redis_cluster.ports)
        citizens = [uuid.uuid4() for _ in range(40)]
        homes = {redis.get_node_from_key(profile_key(c)).port for c in citizens}
        assert homes == masters  # one citizen's keys live on one node, citizens on all of them
        for citizen in citizens[:5]:  # a citizen's profile and book share the citizen's slot
            assert redis.keyslot(profile_key(citizen)) == redis.keyslot(book_key(citizen))
        # the cluster is real: a transaction over two slots is refused, so the one the rate
        # limiter runs (one hash-tagged key) is proven to stay in one slot by its own tests
        a, b = profile_key(citizens[0]), profile_key(citizens[1])
        assert redis.keyslot(a) != redis.keyslot(b)
        across = redis.pipeline(transaction=True).set(a, b"1").set(b, b"1")
        with pytest.raises(CrossSlotTransactionError):
            await across.execute()
        await across.reset()
        key = RateLimiter.key("booking", f"citizen:{citizens[0]}")
        async with redis.pipeline(transaction=True) as pipe:
            pipe.zadd(key, {"m": 1})
            pipe.zcard(key)
            pipe.pexpire(key, 1000)
            assert await pipe.execute() == [1, 1, True]
    finally:
        await redis.aclose()


async def test_invalidating_profiles_that_live_on_several_nodes_drops_each(
    settings: Settings,
) -> None:
    """``CitizenDirectory.invalidate`` deletes many citizens' profiles in one pipeline; on a
    cluster the client splits it by node."""
    redis = create_redis(settings)
    invalidations = Invalidations(redis)
    directory = CitizenDirectory(redis, None, invalidations, child_max_age=18)  # type: ignore[arg-type]
    try:
        citizens = [uuid.uuid4() for _ in range(24)]
        for citizen in citizens:
            await redis.set(profile_key(citizen), b"cached", ex=60)
        kept = uuid.uuid4()
        await redis.set(profile_key(kept), b"cached", ex=60)
        await directory.invalidate(citizens)
        for citizen in citizens:
            assert await redis.get(profile_key(citizen)) is None
        assert await redis.get(profile_key(kept)) == b"cached"
    finally:
        await redis.aclose()


@pytest.mark.parametrize("backend", ["servers", "cluster"])
async def test_an_invalidation_published_by_one_process_evicts_in_another(
    backend: str, settings: Settings
) -> None:
    """Two processes (two clients): a key one of them publishes leaves the other's memory."""
    writer_redis, reader_redis = create_redis(settings), create_redis(settings)
    writer, reader = Invalidations(writer_redis), Invalidations(reader_redis)
    cache: LocalCache[str] = LocalCache("profile", ttl=60)
    reader.register(cache)
    try:
        await reader.start()
        assert cache.enabled  # subscribed: the local copy may be trusted
        cache.put("c1", "old", cache.generation())
        cache.put("c2", "old", cache.generation())
        await writer.publish("profile", ["c1"])
        for _ in range(100):
            if cache.get("c1") is None:
                break
            await asyncio.sleep(0.02)
        assert cache.get("c1") is None
        assert cache.get("c2") == "old"
    finally:
        await reader.stop()
        await writer_redis.aclose()
        await reader_redis.aclose()


def _redis_classes(annotation: object) -> list[object]:
    found = (
        [annotation]
        if isinstance(annotation, type) and (issubclass(annotation, (AbstractRedis, RedisCluster)))
        else []
    )
    for inner in typing.get_args(annotation):
        found.extend(_redis_classes(inner))
    return found


def test_no_handler_or_dependency_takes_the_redis_client_as_a_validated_parameter(
    tmp_path: Path,
) -> None:
    """Litestar checks an injected value against its parameter's annotation: a handler that took
    ``redis: NamedDependency[Redis]`` answers 500 on a cluster (the client is a ``RedisCluster``),
    and a union of both classes cannot be checked at all. Handlers use ``state.redis``."""
    app = create_app(base_settings(tmp_path))
    offending = []
    for route in app.routes:
        for handler in getattr(route, "route_handlers", []):
            signatures = [(handler.handler_name, handler.parsed_fn_signature)]
            signatures += [
                (f"{handler.handler_name}: dependency {name}", provide.parsed_fn_signature)
                for name, provide in handler.resolve_dependencies().items()
                if getattr(provide, "parsed_fn_signature", None) is not None
            ]
            for where, signature in signatures:
                offending += [
                    f"{route.path} {where}({name})"
                    for name, parameter in signature.parameters.items()
                    if _redis_classes(parameter.raw)
                ]
    assert offending == []
