"""The outbox's backlog as gauges: how many rows are due and how long the oldest has waited.

A Prometheus collector runs synchronously inside a scrape and must never query the database:
:meth:`OutboxBacklog.run` measures every few seconds in the worker (one small aggregate query)
and the collector reports the last measurement, with the time it was taken, so an alert can
tell a backlog from a measurement that stopped.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Iterator
from typing import Any

from prometheus_client.core import GaugeMetricFamily
from sqlalchemy import func, or_, select

from api.core.clock import Clock
from api.core.uow import UnitOfWorkFactory
from notifications.models import PENDING, OutboxEntry

logger = logging.getLogger("healthbook.worker")


class OutboxBacklog:
    """The last measurement of the outbox's due rows (none before the first)."""

    def __init__(self, uow: UnitOfWorkFactory, clock: Clock) -> None:
        self._uow = uow
        self._clock = clock
        self.due_rows: int | None = None
        self.oldest_due_age_seconds: float | None = None
        self.measured_at: float | None = None

    async def measure(self) -> None:
        """Count the pending rows that are due now and the age of the oldest (since it became
        due: its ``due_at``, or its creation when it was due at once)."""
        now = self._clock.now()
        due_since = func.coalesce(OutboxEntry.due_at, OutboxEntry.created_at)
        async with self._uow() as uow:
            count, oldest = (
                await uow.session.execute(
                    select(func.count(), func.min(due_since)).where(
                        OutboxEntry.status == PENDING,
                        or_(OutboxEntry.due_at.is_(None), OutboxEntry.due_at <= now),
                    )
                )
            ).one()
            await uow.rollback()
        self.due_rows = int(count)
        self.oldest_due_age_seconds = (
            0.0 if oldest is None else max(0.0, (now - oldest).total_seconds())
        )
        self.measured_at = time.time()

    async def run(self, every: float) -> None:
        """Measure every ``every`` seconds until cancelled; a failed measurement (the database
        away) keeps the last one, whose timestamp then stops moving."""
        failing = False
        while True:
            try:
                await self.measure()
            except Exception as exc:
                if not failing:
                    logger.warning("cannot measure the outbox backlog: %s", type(exc).__name__)
                failing = True
            else:
                failing = False
            await asyncio.sleep(every)

    def describe(self) -> list[Any]:
        return []

    def collect(self) -> Iterator[Any]:
        if self.measured_at is None:
            return
        yield GaugeMetricFamily(
            "healthbook_notification_outbox_due_rows",
            "Outbox rows pending and due now (waiting for a relay), at the last measurement.",
            value=self.due_rows or 0,
        )
        yield GaugeMetricFamily(
            "healthbook_notification_outbox_oldest_due_age_seconds",
            "How long the oldest due outbox row has been due, at the last measurement.",
            value=self.oldest_due_age_seconds or 0.0,
        )
        yield GaugeMetricFamily(
            "healthbook_notification_outbox_measured_timestamp_seconds",
            "When (Unix time) the outbox backlog was last measured.",
            value=self.measured_at,
        )
