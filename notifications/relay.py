"""The relay: claims due outbox rows, writes the inbox, pushes to devices, records what happened.

One batch goes through three short transactions and no long one:

1. **claim** (and prepare): ``UPDATE notification_outbox SET lease_until, claim_token, attempts+1
   WHERE id IN (SELECT ... FOR UPDATE SKIP LOCKED LIMIT n) RETURNING ...`` — any number of relays
   share the outbox on PostgreSQL without taking each other's rows (SQLite runs one writer at a
   time anyway). In the same transaction: the recipients (the citizen, and their current
   guardians when they are someone's dependent), their devices and preferences, the outcomes
   already recorded for a reclaimed row, and the inbox entries (``ON CONFLICT DO NOTHING`` on the
   outbox id: once per notification, however often the row is claimed). Commit.
2. **send**, outside any transaction, while a heartbeat renews the lease.
3. **record**: one outcome row per device, dead tokens deleted, and each row finished (``sent``),
   rescheduled with backoff (only its failed devices will be retried) or dead-lettered after
   ``max_attempts`` with its last error. Updates are fenced by the claim token.

A relay killed between 1 and 3 loses nothing: its lease runs out, another relay reclaims the rows
and sends to each device without a final outcome (at-least-once on that path; zero duplicates on
the normal path). A database that goes away between 2 and 3 does not make a duplicate: the relay
keeps the results and retries 3, its lease renewed, for up to one lease period. A relay told to
stop (SIGTERM) claims nothing more and finishes its batches for ``stop_grace_seconds``; past that
it stops sending and releases the rows it claimed, for another relay to take at once.

Relays wake on a Redis pub/sub signal sent after each enqueueing commit, and poll every
``poll_seconds`` as the fallback.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
import socket
import time
import uuid
from collections import Counter

from redis.asyncio import Redis
from redis.asyncio.cluster import RedisCluster
from redis.exceptions import RedisError
from sqlalchemy import delete, func, select, update

from api.core.background import cancel_and_wait
from api.core.clock import Clock
from api.core.outages import unavailable_service
from api.core.uow import UnitOfWorkFactory
from notifications import devices
from notifications.models import PENDING, OutboxEntry, rowcount
from notifications.outbox import WAKE_CHANNEL
from notifications.relay_batch import Batch
from notifications.relay_config import Guardians, RelayConfig, RelayStats
from notifications.senders.base import Sender, SendResult

logger = logging.getLogger("healthbook.notifications.relay")

__all__ = ["Relay", "RelayConfig", "RelayStats"]


class Relay:
    """One relay loop (one per ``healthbook worker`` process, or inside the API when embedded)."""

    def __init__(
        self,
        uow: UnitOfWorkFactory,
        redis: Redis | RedisCluster,
        sender: Sender,
        clock: Clock,
        config: RelayConfig,
        *,
        guardians: Guardians,
        stats: RelayStats | None = None,
        worker_id: str | None = None,
    ) -> None:
        self._uow = uow
        self.redis = redis
        self.sender = sender
        self.clock = clock
        self.config = config
        self.guardians = guardians
        self.stats = stats or RelayStats()
        self.worker_id = worker_id or f"{socket.gethostname()[:40]}:{os.getpid()}"
        self._created = time.time()
        self._wake = asyncio.Event()
        self._stopping = asyncio.Event()
        self._listening = asyncio.Event()
        self._task: asyncio.Task[None] | None = None
        self._lane_cycles: dict[int, float] = {}

    @property
    def last_cycle(self) -> float:
        """When (``time.time()``) the slowest lane last went round its loop: a batch done or
        failed, or a poll that found nothing. A lane stuck in one step holds it back, so a
        stale value means the relay has hung (the worker's liveness check reads it)."""
        if not self._lane_cycles:
            return self._created
        return min(self._lane_cycles.values())

    # --- one batch --------------------------------------------------------------------------

    async def run_once(self) -> int:
        """Claim, send and record one batch; returns the number of rows claimed."""
        token = uuid.uuid4()
        async with self._uow() as uow:
            batch = await Batch.claim(
                uow.session,
                token=token,
                now=self.clock.now(),
                config=self.config,
                guardians=self.guardians,
                stats=self.stats,
                worker_id=self.worker_id,
            )
            if batch is None:
                await uow.rollback()
                return 0
        pushes = [target.push for target in batch.to_send]
        heartbeat = asyncio.create_task(self._keep_lease(token))
        try:
            try:
                results = await self.sender.send(pushes) if pushes else []
            except asyncio.CancelledError:
                # Stopping, and the grace period is over: nothing was recorded, so give the rows
                # back for another relay to take now rather than after the lease.
                await self._release(token, len(batch.rows))
                raise
            except Exception:
                logger.exception("the sender failed; the batch will be retried")
                results = [SendResult(outcome="retry", error="SENDER_ERROR")] * len(pushes)
            await self._record(batch, results)
        finally:
            heartbeat.cancel()
            await asyncio.gather(heartbeat, return_exceptions=True)
        batch.log_summary(logger)
        return len(batch.rows)

    async def _record(self, batch: Batch, results: list[SendResult]) -> None:
        """Record what the sender answered. While the database is away (a restart, a
        fail-over), keep trying, the lease renewed meanwhile, for up to one lease period: the
        pushes went out, and recording them is what keeps them from going out twice."""
        deadline = time.monotonic() + self.config.lease_seconds
        delay = 0.2
        stats = batch.stats
        while True:
            # each attempt counts into its own counters, merged once it commits
            batch.stats, batch.summary = RelayStats(), Counter()
            try:
                async with self._uow() as uow:
                    await batch.record(uow.session, results, self.clock.now())
            except Exception as exc:
                if unavailable_service(exc) is None or time.monotonic() + delay > deadline:
                    batch.stats = stats
                    raise
                logger.warning(
                    "could not record a batch, retrying: %s unavailable (%s)",
                    unavailable_service(exc),
                    type(exc).__name__,
                )
                await asyncio.sleep(delay)
                delay = min(2.0, delay * 2)
                continue
            stats.merge(batch.stats)
            batch.stats = stats
            return

    async def _release(self, token: uuid.UUID, count: int) -> None:
        """Clear the lease and claim of rows this relay claimed but will not finish (the claim
        did not count as an attempt). Bounded: when the database does not answer, the lease
        runs out instead."""
        try:
            async with asyncio.timeout(5.0), self._uow() as uow:
                released = await uow.session.execute(
                    update(OutboxEntry)
                    .where(OutboxEntry.claim_token == token, OutboxEntry.status == PENDING)
                    .values(
                        lease_until=None,
                        claim_token=None,
                        attempts=OutboxEntry.attempts - 1,
                        updated_at=self.clock.now(),
                    )
                    .execution_options(synchronize_session=False)
                )
            self.stats.rows["released"] += rowcount(released)
            logger.info(
                "relay released claimed rows",
                extra={"relay": {"worker": self.worker_id, "rows": count}},
            )
        except Exception as exc:
            logger.warning(
                "could not release %d claimed rows (their lease runs out): %s",
                count,
                type(exc).__name__,
            )

    async def drain(self, max_batches: int = 1000) -> int:
        """Run batches until nothing is due (tests, and the end of a shutdown)."""
        total = 0
        for _ in range(max_batches):
            claimed = await self.run_once()
            total += claimed
            if claimed == 0:
                break
        return total

    async def _keep_lease(self, token: uuid.UUID) -> None:
        interval = max(0.2, self.config.lease_seconds / 3)
        while True:
            await asyncio.sleep(interval)
            try:
                async with self._uow() as uow:
                    await uow.session.execute(
                        update(OutboxEntry)
                        .where(OutboxEntry.claim_token == token, OutboxEntry.status == PENDING)
                        .values(lease_until=self.clock.now() + self.config.lease)
                        .execution_options(synchronize_session=False)
                    )
            except Exception as exc:  # the record phase still fences on the token
                logger.warning("could not renew a lease: %s", type(exc).__name__)

    # --- housekeeping -----------------------------------------------------------------------

    async def maintenance(self) -> dict[str, int]:
        """Prune stale devices and finished outbox rows past retention."""
        now = self.clock.now()
        async with self._uow() as uow:
            pruned = await devices.prune_stale(uow.session, now - self.config.device_stale)
            old = await uow.session.execute(
                delete(OutboxEntry)
                .where(
                    OutboxEntry.status != PENDING,
                    OutboxEntry.finished_at < now - self.config.retention,
                )
                .execution_options(synchronize_session=False)
            )
        result = {"devices_pruned": pruned, "outbox_pruned": rowcount(old)}
        if any(result.values()):
            logger.info("relay maintenance", extra={"relay": result})
        return result

    async def counts(self) -> dict[str, int]:
        """Outbox rows by status (for operators and the benchmark)."""
        async with self._uow() as uow:
            rows = await uow.session.execute(
                select(OutboxEntry.status, func.count()).group_by(OutboxEntry.status)
            )
            return {status: int(count) for status, count in rows}

    # --- the loop ---------------------------------------------------------------------------

    def wake(self) -> None:
        """Look for due rows now (called on a Redis signal or by an enqueue in this process)."""
        self._wake.set()

    def start(self) -> asyncio.Task[None]:
        if self._task is None or self._task.done():
            self._stopping.clear()
            self._task = asyncio.create_task(self.run(), name="notification-relay")
        return self._task

    async def stop(self, grace_seconds: float | None = None) -> None:
        """Claim nothing more; let the batch in hand finish for ``grace_seconds`` (the
        configured ``stop_grace_seconds`` by default), then stop sending and give its rows
        back."""
        self._stopping.set()
        self._wake.set()
        if grace_seconds is None:
            grace_seconds = self.config.stop_grace_seconds
        if self._task is not None:
            try:
                await asyncio.wait_for(asyncio.shield(self._task), grace_seconds)
            except TimeoutError:
                self._task.cancel()
                await asyncio.gather(self._task, return_exceptions=True)
            self._task = None

    async def run(self) -> None:
        listener = asyncio.create_task(self._listen(), name="notification-relay-wakeups")
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(self._listening.wait(), 3.0)
        logger.info(
            "relay started",
            extra={
                "relay": {
                    "worker": self.worker_id,
                    "sender": self.sender.name,
                    "wakeups": self._listening.is_set(),
                }
            },
        )
        lanes = [
            asyncio.create_task(self._lane(index), name=f"notification-relay-{index}")
            for index in range(self.config.concurrency)
        ]
        try:
            await asyncio.gather(*lanes)
        finally:
            for lane in lanes:
                # a lane already being cancelled is giving its rows back: let it finish that
                if not lane.done() and not lane.cancelling():
                    lane.cancel()
            await asyncio.gather(*lanes, return_exceptions=True)
            await cancel_and_wait(listener)
            logger.info("relay stopped", extra={"relay": {"worker": self.worker_id}})

    async def _lane(self, index: int) -> None:
        """One batch at a time; ``concurrency`` lanes overlap one batch's database work with
        another's sending. Lane 0 also does the housekeeping."""
        failures = 0
        next_maintenance = 0.0
        while not self._stopping.is_set():
            self._lane_cycles[index] = time.time()
            try:
                claimed = await self.run_once()
                if index == 0 and time.monotonic() >= next_maintenance:
                    await self.maintenance()
                    next_maintenance = time.monotonic() + self.config.maintenance_seconds
                failures = 0
            except Exception as exc:
                failures += 1
                logger.error("relay batch failed: %s", type(exc).__name__, exc_info=failures == 1)
                await self._wait(min(30.0, 0.5 * 2**failures))
                continue
            if claimed >= self.config.batch_size:
                await asyncio.sleep(0)  # more is due: go on, letting others run
                continue
            await self._wait(self.config.poll_seconds)

    async def _wait(self, seconds: float) -> None:
        if self._stopping.is_set():
            return
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(self._wake.wait(), seconds)
        self._wake.clear()

    async def _listen(self) -> None:
        """Subscribe to the wake-up channel; reconnect with backoff when Redis goes away."""
        delay = 0.5
        while True:
            pubsub = self.redis.pubsub()
            try:
                await pubsub.subscribe(WAKE_CHANNEL)
                self._listening.set()
                delay = 0.5
                while True:
                    message = await pubsub.get_message(ignore_subscribe_messages=True, timeout=1.0)
                    if message is not None:
                        self._wake.set()
            except asyncio.CancelledError:
                raise
            except (RedisError, OSError) as exc:
                self._listening.clear()
                logger.warning(
                    "relay wake-ups unavailable (polling meanwhile): %s", type(exc).__name__
                )
                await asyncio.sleep(delay)
                delay = min(30.0, delay * 2)
            finally:
                with contextlib.suppress(Exception):
                    await pubsub.aclose()
