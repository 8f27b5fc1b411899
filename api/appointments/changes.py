"""A citizen cancels or moves a booked appointment; the hospital's cancellation shares the core.

Each runs in the caller's transaction (the service's unit of work commits it).

Lock order (see :mod:`api.appointments.locking`): the slot(s) first, by id, then the appointment,
with a conditional update (``WHERE status = 'booked'``) so that a change racing another loses
cleanly (409).
"""

from __future__ import annotations

import datetime as dt
import uuid

from sqlalchemy import select, update
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncSession

from api.appointments import notifications, schemas, views
from api.appointments.capacity import (
    lock_slots,
    release_place,
    require_open_facility,
    take_place,
)
from api.appointments.errors import AlreadyBooked, CutoffPassed
from api.appointments.models import BOOKED, CANCELLED, Appointment
from api.appointments.rules import Limits, illegal
from api.core.dialect import begin_write


def _check_citizen_may_change(
    appointment: Appointment, target: str, limits: Limits, now: dt.datetime
) -> None:
    if appointment.status != BOOKED:
        raise illegal(appointment.status, target)
    if now > appointment.start_at - limits.cutoff:
        minutes = int(limits.cutoff.total_seconds() // 60)
        raise CutoffPassed(
            f"changes close {minutes} minutes before the start",
            extra={"cutoff_minutes": minutes},
        )


async def cancel_appointment(
    session: AsyncSession,
    appointment: Appointment,
    *,
    by: str,
    reason: str | None,
    limits: Limits,
    now: dt.datetime,
) -> None:
    """Cancel a ``booked`` appointment whose slot the caller has locked; give its place back,
    withdraw its reminders, and tell the citizen when the hospital cancelled."""
    done = await session.execute(
        update(Appointment)
        .where(
            Appointment.id == appointment.id,
            Appointment.status == BOOKED,
            Appointment.slot_id == appointment.slot_id,
        )
        .values(
            status=CANCELLED,
            cancelled_by=by,
            cancel_reason=reason,
            finished_at=now,
            updated_at=now,
        )
        .returning(Appointment.id)
        .execution_options(synchronize_session=False)
    )
    if done.scalar_one_or_none() is None:  # changed since it was read
        current = await session.scalar(
            select(Appointment.status).where(Appointment.id == appointment.id)
        )
        moved = "the appointment changed meanwhile; try again" if current == BOOKED else None
        raise illegal(str(current), CANCELLED, moved)
    await release_place(session, appointment.slot_id)
    await notifications.cancelled(
        session,
        await views.notice(session, appointment),
        by_hospital=by == "hospital",
        reminder_minutes=limits.reminder_minutes,
        now=now,
    )


async def cancel(
    session: AsyncSession,
    *,
    citizen_id: uuid.UUID,
    appointment_id: uuid.UUID,
    limits: Limits,
    now: dt.datetime,
) -> schemas.Appointment:
    await begin_write(session)
    appointment, _ = await views.load(session, appointment_id, citizen_id=citizen_id)
    _check_citizen_may_change(appointment, CANCELLED, limits, now)
    await lock_slots(session, [appointment.slot_id])
    await cancel_appointment(
        session, appointment, by="citizen", reason=None, limits=limits, now=now
    )
    appointment, slot = await views.load(session, appointment_id)
    return await views.citizen_view(session, appointment, slot.service, limits)


async def reschedule(
    session: AsyncSession,
    *,
    citizen_id: uuid.UUID,
    appointment_id: uuid.UUID,
    data: schemas.AppointmentReschedule,
    limits: Limits,
    now: dt.datetime,
) -> schemas.Appointment:
    """Move a booked appointment to another slot of the same facility, atomically: the new
    place is taken before the old one is given back; when it cannot be, nothing changes."""
    await begin_write(session)
    appointment, slot = await views.load(session, appointment_id, citizen_id=citizen_id)
    if appointment.slot_id == data.slot_id and appointment.status == BOOKED:
        return await views.citizen_view(session, appointment, slot.service, limits)  # a retry
    _check_citizen_may_change(appointment, "rescheduled", limits, now)
    old_slot_id, previous_start = appointment.slot_id, appointment.start_at
    await lock_slots(session, [old_slot_id, data.slot_id])
    new = await take_place(session, data.slot_id, limits, now, facility_id=appointment.facility_id)
    await require_open_facility(session, new.facility_id)
    try:
        moved = await session.execute(
            update(Appointment)
            .where(
                Appointment.id == appointment.id,
                Appointment.status == BOOKED,
                Appointment.slot_id == old_slot_id,
            )
            .values(
                slot_id=new.id,
                department_id=new.department_id,
                start_at=new.start_at,
                end_at=new.end_at,
                reschedules=Appointment.reschedules + 1,
                updated_at=now,
            )
            .returning(Appointment.id)
            .execution_options(synchronize_session=False)
        )
    except IntegrityError as exc:
        raise AlreadyBooked("you already hold an appointment on that slot") from exc
    if moved.scalar_one_or_none() is None:
        current = await session.scalar(
            select(Appointment.status).where(Appointment.id == appointment_id)
        )
        raise illegal(str(current), BOOKED, "the appointment changed meanwhile")
    await release_place(session, old_slot_id)
    appointment, slot = await views.load(session, appointment_id)
    await notifications.rescheduled(
        session,
        await views.notice(session, appointment),
        previous_start,
        limits.reminder_minutes,
        now,
    )
    return await views.citizen_view(session, appointment, slot.service, limits)
