"""Redis: one asyncio client per process, or in-process fakeredis in embedded mode.

``REDIS_CLUSTER=true`` builds a :class:`~redis.asyncio.cluster.RedisCluster` instead: ``REDIS_URL``
then names one node of the cluster (``redis://redis-0:6379/0``), the client learns the others
from it and routes each command to the node owning its key's slot. Everything the service does
with Redis is single-key (``GET``/``SET``/``DEL``, a one-key ``MULTI`` in the rate limiter),
a non-transactional pipeline (which the cluster client splits by node), or classic pub/sub
(``PUBLISH`` reaches subscribers on every node), so the same code runs on both; README, "Redis
Cluster", lists the keys and their hash tags.
"""

from __future__ import annotations

import logging
from collections.abc import Iterator
from typing import Any, TypeAlias

import redis.asyncio as redis_asyncio
from prometheus_client.core import GaugeMetricFamily
from redis.asyncio.cluster import ClusterNode, ClusterPubSub, RedisCluster
from redis.asyncio.retry import Retry
from redis.backoff import ExponentialWithJitterBackoff

from api.core.settings import Settings

logger = logging.getLogger("healthbook.redis")

RedisClient: TypeAlias = redis_asyncio.Redis | RedisCluster
"""What :func:`create_redis` builds. Both speak the same commands, pipelines and ``pubsub()``;
code elsewhere is annotated with ``redis.asyncio.Redis`` and is handed either."""

CLUSTER_RETRIES = 3
"""Attempts after the first when a cluster node cannot be reached (the client re-reads the slot
map in between, which rides out a failover); few, so a request still fails fast on an outage."""


class _ClusterPubSub(ClusterPubSub):
    """Learns the cluster's slot map before its first command routes a channel by it.

    redis-py 8.1's asyncio ``ClusterPubSub`` looks a channel's slot up in the client's slot map
    without filling it first, so a ``SUBSCRIBE`` issued before any other command of a fresh client
    (the cache-invalidation and relay listeners start that way) fails with ``KeyError``
    (redis/redis-py#4296). Every other command initialises the client first; this does the same.
    """

    async def execute_command(self, *args: Any, **kwargs: Any) -> Any:
        await self.cluster.initialize()  # a no-op once the slot map is known
        return await super().execute_command(*args, **kwargs)


class ClusterClient(RedisCluster):
    """``RedisCluster`` whose ``pubsub()`` works as the first command of a new client."""

    def pubsub(
        self,
        node: ClusterNode | None = None,
        host: str | None = None,
        port: int | None = None,
        **kwargs: Any,
    ) -> ClusterPubSub:
        return _ClusterPubSub(self, node=node, host=host, port=port, **kwargs)


def create_redis(settings: Settings) -> RedisClient:
    """Build the client (no I/O here; the first command connects)."""
    if settings.redis.url is None:
        import fakeredis

        logger.warning(
            "REDIS_URL is not set: using in-process fakeredis. Caches, single-use check-in "
            "markers, rate limits and pub/sub live inside this one process only; run a real "
            "Redis for more than one worker or replica."
        )
        return _embedded(fakeredis.FakeServer(), settings.redis.max_connections, settings)
    timeout = settings.redis.timeout_seconds
    if settings.redis.cluster:
        return ClusterClient.from_url(
            settings.redis.url,
            socket_timeout=timeout,
            socket_connect_timeout=timeout,
            health_check_interval=30,
            retry=Retry(ExponentialWithJitterBackoff(base=0.05, cap=1.0), CLUSTER_RETRIES),
        )
    # A blocking pool: a burst of more commands than connections queues for a connection (up
    # to the same timeout) instead of failing with "too many connections" as the default does.
    pool = redis_asyncio.BlockingConnectionPool.from_url(
        settings.redis.url,
        max_connections=settings.redis.max_connections,
        timeout=timeout,
        socket_timeout=timeout,
        socket_connect_timeout=timeout,
        health_check_interval=30,
        retry_on_timeout=False,
    )
    return redis_asyncio.Redis.from_pool(pool)


def create_subscriber_redis(settings: Settings, main: Any, max_connections: int) -> RedisClient:
    """A client for long-lived subscriptions (a live board holds a connection as long as it is
    open), with a pool of its own: however many boards are open, the commands of requests never
    wait for a connection behind them. Embedded: another client of ``main``'s in-process server
    (so that what one publishes, the other hears)."""
    if settings.redis.url is None:
        server = main.connection_pool.connection_kwargs["server"]
        return _embedded(server, max_connections, settings)
    return create_redis(settings.replace(redis_max_connections=max_connections))


def _embedded(server: Any, max_connections: int, settings: Settings) -> RedisClient:
    """An in-process fakeredis client of ``server``, with the same blocking pool as a real one."""
    import fakeredis

    client = fakeredis.FakeAsyncRedis(
        server=server,
        connection_pool_class=redis_asyncio.BlockingConnectionPool,
        max_connections=max_connections,
    )
    pool = client.connection_pool
    assert isinstance(pool, redis_asyncio.BlockingConnectionPool)  # connection_pool_class above
    pool.timeout = settings.redis.timeout_seconds
    return client


class RedisPoolCollector:
    """The Redis client's connection pool as Prometheus sees it, read at scrape time (no I/O):
    connections in use and available (summed over the nodes on Redis Cluster), and the most the
    pool opens (REDIS_MAX_CONNECTIONS)."""

    def __init__(self, client: RedisClient) -> None:
        self.client = client

    def describe(self) -> list[Any]:
        return []

    def _counts(self) -> tuple[int, int, int] | None:
        client: Any = self.client
        if isinstance(client, RedisCluster):
            in_use = available = most = 0
            for node in client.get_nodes():
                node_any: Any = node
                free = len(getattr(node_any, "_free", ()))
                available += free
                in_use += len(getattr(node_any, "_connections", ())) - free
                most += int(getattr(node_any, "max_connections", 0))
            return in_use, available, most
        pool = getattr(client, "connection_pool", None)
        if pool is None:
            return None
        return (
            len(getattr(pool, "_in_use_connections", ())),
            len(getattr(pool, "_available_connections", ())),
            int(getattr(pool, "max_connections", 0)),
        )

    def collect(self) -> Iterator[Any]:
        counts = self._counts()
        if counts is None:
            return
        in_use, available, most = counts
        connections = GaugeMetricFamily(
            "healthbook_redis_pool_connections",
            "Redis connections by state (in_use: taken by a command; available: idle, open).",
            labels=("state",),
        )
        connections.add_metric(("in_use",), in_use)
        connections.add_metric(("available",), available)
        yield connections
        yield GaugeMetricFamily(
            "healthbook_redis_pool_max_connections",
            "The most connections the pool opens (REDIS_MAX_CONNECTIONS).",
            value=most,
        )
