"""The appointment state machine, the configured booking rules, and a facility's local day.

States::

    booked ──▶ checked_in ──▶ completed
      │            │
      │            └────────▶ no_show
      ├──────────────────────▶ no_show     (after the start)
      └──────────────────────▶ cancelled   (by the citizen before the cut-off, or the hospital)

``completed``, ``no_show`` and ``cancelled`` are final. Anything else is 409.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass
from typing import Any
from zoneinfo import ZoneInfo

from api.appointments.errors import AlreadyCheckedIn, AppointmentCancelled, IllegalTransition
from api.appointments.models import BOOKED, CANCELLED, CHECKED_IN, COMPLETED, NO_SHOW
from api.core.settings import Settings

TRANSITIONS: dict[str, frozenset[str]] = {
    BOOKED: frozenset({CHECKED_IN, NO_SHOW, CANCELLED}),
    CHECKED_IN: frozenset({COMPLETED, NO_SHOW}),
    COMPLETED: frozenset(),
    NO_SHOW: frozenset(),
    CANCELLED: frozenset(),
}
ACTIVE = (BOOKED, CHECKED_IN)
"""Statuses of an upcoming appointment (what the per-citizen limit counts)."""


@dataclass(frozen=True)
class Limits:
    """The configured booking rules (from :class:`Settings`)."""

    window: dt.timedelta = dt.timedelta(days=60)
    max_active: int = 10
    cutoff: dt.timedelta = dt.timedelta(minutes=120)
    reminder_minutes: tuple[int, ...] = (1440, 120)
    idempotency_ttl: dt.timedelta = dt.timedelta(hours=24)

    @classmethod
    def from_settings(cls, settings: Settings) -> Limits:
        return cls(
            window=dt.timedelta(days=settings.appointments.booking_window_days),
            max_active=settings.appointments.max_active_per_citizen,
            cutoff=dt.timedelta(minutes=settings.appointments.cancel_cutoff_minutes),
            reminder_minutes=tuple(settings.appointments.reminder_minutes),
            idempotency_ttl=dt.timedelta(hours=settings.appointments.idempotency_key_ttl_hours),
        )


def illegal(current: str, target: str, detail: str | None = None) -> IllegalTransition:
    """The error for moving an appointment in ``current`` status to ``target``."""
    extra: dict[str, Any] = {"current_status": current}
    if current == CANCELLED:
        return AppointmentCancelled(detail or "the appointment is cancelled", extra=extra)
    if current == CHECKED_IN and target == CHECKED_IN:
        return AlreadyCheckedIn(detail or "the appointment is checked in already", extra=extra)
    return IllegalTransition(
        detail or f"an appointment that is {current} cannot become {target}", extra=extra
    )


def local_day(day: dt.date, time_zone: str) -> tuple[dt.datetime, dt.datetime]:
    """The UTC bounds of a calendar day in the facility's time zone."""
    tz = ZoneInfo(time_zone)
    start = dt.datetime.combine(day, dt.time(), tz)
    end = dt.datetime.combine(day + dt.timedelta(days=1), dt.time(), tz)
    return start.astimezone(dt.UTC), end.astimezone(dt.UTC)
