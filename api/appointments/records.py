"""The appointment state machine, the configured limits, and loading appointments as views.

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
import uuid
from dataclasses import dataclass
from typing import Any

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from api.appointments import places, schemas
from api.appointments.errors import AlreadyCheckedIn, AppointmentCancelled, IllegalTransition
from api.appointments.models import (
    BOOKED,
    CANCELLED,
    CHECKED_IN,
    COMPLETED,
    NO_SHOW,
    Appointment,
    Slot,
)
from api.appointments.notify import Notice
from api.core.errors import NotFound
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
            window=dt.timedelta(days=settings.appointment_booking_window_days),
            max_active=settings.appointment_max_active_per_citizen,
            cutoff=dt.timedelta(minutes=settings.appointment_cancel_cutoff_minutes),
            reminder_minutes=tuple(settings.appointment_reminder_minutes),
            idempotency_ttl=dt.timedelta(hours=settings.idempotency_key_ttl_hours),
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


async def load(
    session: AsyncSession,
    appointment_id: uuid.UUID,
    *,
    citizen_id: uuid.UUID | None = None,
    facility_id: str | None = None,
) -> tuple[Appointment, Slot]:
    """The appointment (of that citizen, or at that facility) with its slot, as stored now."""
    query = (
        select(Appointment, Slot)
        .join(Slot, Slot.id == Appointment.slot_id)
        .where(Appointment.id == appointment_id)
        .execution_options(populate_existing=True)
    )
    if citizen_id is not None:
        query = query.where(Appointment.citizen_id == citizen_id)
    if facility_id is not None:
        query = query.where(Appointment.facility_id == facility_id)
    found = (await session.execute(query)).one_or_none()
    if found is None:
        raise NotFound("no such appointment")
    return found[0], found[1]


async def notice(session: AsyncSession, appointment: Appointment) -> Notice:
    department = await places.department(
        session, appointment.facility_id, appointment.department_id
    )
    return Notice(
        appointment_id=appointment.id,
        citizen_id=appointment.citizen_id,
        facility_name=await places.facility_name(session, appointment.facility_id),
        department_name=department.name,
        starts_at=appointment.start_at,
        version=appointment.reschedules,
    )


async def citizen_view(
    session: AsyncSession, appointment: Appointment, service: str | None, limits: Limits
) -> schemas.Appointment:
    return schemas.Appointment(
        id=str(appointment.id),
        citizen_id=str(appointment.citizen_id),
        status=appointment.status,  # type: ignore[arg-type]
        slot_id=str(appointment.slot_id),
        facility_id=appointment.facility_id,
        facility_name=await places.facility_name(session, appointment.facility_id),
        department=await places.department(
            session, appointment.facility_id, appointment.department_id
        ),
        service=service,
        start=appointment.start_at,
        end=appointment.end_at,
        booked_at=appointment.created_at,
        updated_at=appointment.updated_at,
        cancellable_until=appointment.start_at - limits.cutoff,
        cancelled_by=appointment.cancelled_by,  # type: ignore[arg-type]
        cancel_reason=appointment.cancel_reason,
        checked_in_at=appointment.checked_in_at,
        finished_at=appointment.finished_at,
        reschedules=appointment.reschedules,
    )
