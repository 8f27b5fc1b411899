"""The relay's configuration (from settings) and its Prometheus counters."""

from __future__ import annotations

import datetime as dt
import re
import uuid
from collections import Counter
from collections.abc import Awaitable, Callable, Iterator
from dataclasses import dataclass
from typing import Any

from prometheus_client.core import CounterMetricFamily
from sqlalchemy.ext.asyncio import AsyncSession

from api.core.db import is_sqlite
from api.core.settings import Settings

Guardians = Callable[[AsyncSession, uuid.UUID, dt.datetime, int], Awaitable[list[uuid.UUID]]]
"""Who may currently act for a citizen (``session, citizen_id, now, child_max_age``), also sent
what is about them. The identity domain answers; the composition root hands it to the relay, so
that notifications imports no domain."""


@dataclass(frozen=True)
class RelayConfig:
    batch_size: int = 100
    poll_seconds: float = 5.0
    lease_seconds: float = 60.0
    max_attempts: int = 8
    retry_base_seconds: float = 10.0
    retry_max_seconds: float = 3600.0
    retention_days: int = 30
    device_stale_days: int = 60
    maintenance_seconds: float = 3600.0
    child_max_age: int = 18
    concurrency: int = 1
    """Batches in flight at once in this process (one on SQLite, a single writer anyway)."""
    stop_grace_seconds: float = 30.0
    """How long :meth:`Relay.stop` lets the batch in hand finish before giving its rows back."""

    @classmethod
    def from_settings(cls, settings: Settings, **overrides: Any) -> RelayConfig:
        values: dict[str, Any] = {
            "batch_size": settings.notifications.relay_batch_size,
            "poll_seconds": settings.notifications.relay_poll_seconds,
            "lease_seconds": settings.notifications.relay_lease_seconds,
            "max_attempts": settings.notifications.max_attempts,
            "retry_base_seconds": settings.notifications.retry_base_seconds,
            "retry_max_seconds": settings.notifications.retry_max_seconds,
            "retention_days": settings.notifications.retention_days,
            "device_stale_days": settings.notifications.device_stale_days,
            "child_max_age": settings.identity.guardian_child_max_age,
            "stop_grace_seconds": settings.notifications.relay_stop_grace_seconds,
            "concurrency": 1
            if is_sqlite(settings.effective_database_url)
            else settings.notifications.relay_concurrency,
        }
        values.update(overrides)
        return cls(**values)

    @property
    def lease(self) -> dt.timedelta:
        return dt.timedelta(seconds=self.lease_seconds)

    @property
    def retention(self) -> dt.timedelta:
        return dt.timedelta(days=self.retention_days)

    @property
    def device_stale(self) -> dt.timedelta:
        return dt.timedelta(days=self.device_stale_days)


_ERROR_CODE = re.compile(r"[A-Z][A-Z0-9_]{0,47}")


class RelayStats:
    """Counters of one process's relay, exported to Prometheus with the app's metrics."""

    def __init__(self) -> None:
        self.pushes: Counter[str] = Counter()
        self.rows: Counter[str] = Counter()
        self.errors: Counter[tuple[str, str]] = Counter()
        """Pushes that failed, by outcome and the provider's error code."""

    def count_error(self, outcome: str, code: str) -> None:
        """One failed push; a code that is not an upper-case word counts as ``OTHER`` (the
        label stays few-valued whatever a provider answers)."""
        self.errors[(outcome, code if _ERROR_CODE.fullmatch(code) else "OTHER")] += 1

    def merge(self, other: RelayStats) -> None:
        self.pushes.update(other.pushes)
        self.rows.update(other.rows)
        self.errors.update(other.errors)

    def describe(self) -> list[Any]:
        return []

    def collect(self) -> Iterator[CounterMetricFamily]:
        pushes = CounterMetricFamily(
            "healthbook_notification_pushes",
            "Pushes by outcome (sent, failed, retry, skipped) and device tokens removed.",
            labels=("outcome",),
        )
        for outcome, value in sorted(self.pushes.items()):
            pushes.add_metric((outcome,), value)
        yield pushes
        rows = CounterMetricFamily(
            "healthbook_notification_outbox_rows",
            "Outbox rows by what the relay did (claimed, sent, retried, dead).",
            labels=("result",),
        )
        for result, value in sorted(self.rows.items()):
            rows.add_metric((result,), value)
        yield rows
        errors = CounterMetricFamily(
            "healthbook_notification_push_errors",
            "Pushes that failed, by outcome (failed, retry, token removal) and the provider's "
            "error code (FCM's UNREGISTERED, QUOTA_EXCEEDED, UNAVAILABLE...; SENDER_ERROR when "
            "the sender itself failed).",
            labels=("outcome", "code"),
        )
        for (outcome, code), value in sorted(self.errors.items()):
            errors.add_metric((outcome, code), value)
        yield errors
