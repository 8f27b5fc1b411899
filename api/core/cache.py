"""A per-process cache in front of Redis, kept coherent by invalidation messages over pub/sub.

Hot read models (a citizen's profile and dependents) are read on almost every request. Keeping
them in process memory removes even the Redis round trip; correctness across processes comes
from invalidation: a writer, after its transaction commits, deletes the Redis copy and publishes
the key on one channel; every process evicts it. Entries also expire after ``ttl`` seconds, and a
process whose subscription breaks drops its whole cache until it is subscribed again, so a lost
message can never leave a stale entry for long.

A load racing with an invalidation is not stored: each key remembers the generation of its last
invalidation, and a value loaded before it is discarded.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from collections import OrderedDict
from collections.abc import Callable
from typing import Any, Generic, TypeVar

from redis.exceptions import RedisError

from api.core.background import cancel_and_wait
from api.core.redis import RedisClient

logger = logging.getLogger("healthbook.cache")

V = TypeVar("V")

CHANNEL = "cache-invalidation"


class LocalCache(Generic[V]):
    def __init__(
        self,
        name: str,
        *,
        ttl: float,
        max_entries: int = 100_000,
        monotonic: Callable[[], float] = time.monotonic,
    ) -> None:
        self.name = name
        self.ttl = ttl
        self.max_entries = max_entries
        self._now = monotonic
        self._entries: OrderedDict[str, tuple[float, V]] = OrderedDict()
        self._generation = 0
        self._invalidated_at: dict[str, int] = {}
        self.enabled = False  # only while the invalidation subscription is live

    def generation(self) -> int:
        return self._generation

    def get(self, key: str) -> V | None:
        if not self.enabled:
            return None
        found = self._entries.get(key)
        if found is None:
            return None
        stored_at, value = found
        if self._now() - stored_at > self.ttl:
            self._entries.pop(key, None)
            return None
        return value

    def put(self, key: str, value: V, loaded_at_generation: int) -> None:
        if not self.enabled or self._invalidated_at.get(key, -1) > loaded_at_generation:
            return
        self._entries[key] = (self._now(), value)
        self._entries.move_to_end(key)
        while len(self._entries) > self.max_entries:
            self._entries.popitem(last=False)

    def evict(self, key: str) -> None:
        self._generation += 1
        self._invalidated_at[key] = self._generation
        self._entries.pop(key, None)
        if len(self._invalidated_at) > self.max_entries:
            self._invalidated_at.clear()
            self._entries.clear()

    def clear(self) -> None:
        self._generation += 1
        self._entries.clear()
        self._invalidated_at.clear()


class Invalidations:
    """Publishes invalidations and applies the ones every process publishes."""

    def __init__(self, redis: RedisClient) -> None:
        self.redis = redis
        self.caches: dict[str, LocalCache[Any]] = {}
        self._task: asyncio.Task[None] | None = None
        self._subscribed = asyncio.Event()

    def register(self, cache: LocalCache[Any]) -> None:
        self.caches[cache.name] = cache

    async def publish(self, cache_name: str, keys: list[str]) -> None:
        for key in keys:
            local = self.caches.get(cache_name)
            if local is not None:
                local.evict(key)
        if not keys:
            return
        try:
            await self.redis.publish(CHANNEL, "\n".join(f"{cache_name}:{k}" for k in keys))
        except RedisError as exc:
            logger.error("could not publish cache invalidations: %s", type(exc).__name__)

    def _set_enabled(self, enabled: bool) -> None:
        for cache in self.caches.values():
            if not enabled:
                cache.clear()
            cache.enabled = enabled

    async def start(self) -> None:
        self._task = asyncio.create_task(self._listen(), name="cache-invalidations")
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(self._subscribed.wait(), 2.0)

    async def stop(self) -> None:
        if self._task is not None:
            await cancel_and_wait(self._task)
        self._set_enabled(False)

    async def _listen(self) -> None:
        delay = 0.5
        while True:
            pubsub = self.redis.pubsub(ignore_subscribe_messages=True)
            try:
                await pubsub.subscribe(CHANNEL)
                self._set_enabled(True)
                self._subscribed.set()
                delay = 0.5
                async for message in pubsub.listen():
                    if message.get("type") != "message":
                        continue
                    data = message["data"]
                    text = data.decode() if isinstance(data, bytes) else str(data)
                    for line in text.splitlines():
                        name, _, key = line.partition(":")
                        cache = self.caches.get(name)
                        if cache is not None:
                            cache.evict(key)
            except asyncio.CancelledError:
                raise
            except Exception as exc:  # any break in the subscription: distrust local copies
                self._set_enabled(False)
                logger.warning("cache invalidation subscription lost: %s", type(exc).__name__)
                await asyncio.sleep(delay)
                delay = min(delay * 2, 10.0)
            finally:
                with contextlib.suppress(Exception):
                    await pubsub.aclose()
