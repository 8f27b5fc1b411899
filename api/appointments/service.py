"""Appointment use cases besides booking (see :mod:`api.appointments.booking`): reading them,
the hospital's day list and status changes, and :func:`check_in` for the check-in domain.

Citizen use cases are re-exported here (``book``, ``cancel``, ``reschedule``) so that routes and
other domains have one module to call.
"""

from __future__ import annotations

import datetime as dt
import uuid
from dataclasses import dataclass
from zoneinfo import ZoneInfo

from sqlalchemy import and_, not_, or_, select, update
from sqlalchemy.ext.asyncio import AsyncSession
from sqlalchemy.sql.elements import ColumnElement

from api.appointments import places, records, schemas
from api.appointments.booking import book
from api.appointments.capacity import lock_slots
from api.appointments.changes import cancel, cancel_appointment, reschedule
from api.appointments.errors import IllegalTransition
from api.appointments.locking import begin_write
from api.appointments.models import (
    BOOKED,
    CANCELLED,
    CHECKED_IN,
    NO_SHOW,
    Appointment,
    Slot,
)
from api.appointments.records import ACTIVE, Limits, illegal
from api.core.errors import InvalidInput
from api.core.pagination import Cursors
from api.facilities import service as facilities
from api.identity.citizens import CitizenDirectory

__all__ = [
    "CheckedIn",
    "Limits",
    "book",
    "cancel",
    "check_in",
    "get_for_citizen",
    "hospital_view",
    "list_for_citizen",
    "list_for_facility",
    "reschedule",
    "set_status",
]

MAX_PAGE = 200


@dataclass(frozen=True, slots=True)
class CheckedIn:
    """What a check-in changed: the appointment, whose it is, where, and how often it was moved
    (the check-in code names the version it was issued for)."""

    id: uuid.UUID
    citizen_id: uuid.UUID
    department_id: uuid.UUID
    reschedules: int


async def check_in(
    session: AsyncSession, appointment_id: uuid.UUID, facility_id: str, now: dt.datetime
) -> CheckedIn:
    """Move a ``booked`` appointment at ``facility_id`` to ``checked_in``, in the caller's
    transaction (the caller commits, with whatever else its check-in writes).

    One conditional update (``WHERE status = 'booked'``) that returns what the caller needs: of
    two concurrent check-ins one wins, and the row is read again only to explain a refusal.
    Raises ``NotFound`` (no such appointment at this facility), ``AppointmentCancelled``,
    ``AlreadyCheckedIn``, or ``IllegalTransition`` (completed, no-show).
    """
    await begin_write(session)
    done = await session.execute(
        update(Appointment)
        .where(
            Appointment.id == appointment_id,
            Appointment.facility_id == facility_id,
            Appointment.status == BOOKED,
        )
        .values(status=CHECKED_IN, checked_in_at=now, updated_at=now)
        .returning(
            Appointment.id,
            Appointment.citizen_id,
            Appointment.department_id,
            Appointment.reschedules,
        )
        .execution_options(synchronize_session=False)
    )
    row = done.one_or_none()
    if row is None:
        appointment, _ = await records.load(session, appointment_id, facility_id=facility_id)
        raise illegal(appointment.status, CHECKED_IN)
    return CheckedIn(*row)


async def _finish(
    session: AsyncSession,
    appointment: Appointment,
    target: str,
    now: dt.datetime,
) -> None:
    """completed (from checked_in) or no_show (from booked or checked_in, after the start)."""
    allowed = [s for s, targets in records.TRANSITIONS.items() if target in targets]
    if appointment.status not in allowed:
        raise illegal(appointment.status, target)
    if target == NO_SHOW and now < appointment.start_at:
        raise IllegalTransition(
            "a no-show can be recorded from the appointment's start",
            extra={"current_status": appointment.status},
        )
    done = await session.execute(
        update(Appointment)
        .where(Appointment.id == appointment.id, Appointment.status.in_(allowed))
        .values(status=target, finished_at=now, updated_at=now)
        .returning(Appointment.id)
        .execution_options(synchronize_session=False)
    )
    if done.scalar_one_or_none() is None:  # changed since it was read
        current = await session.scalar(
            select(Appointment.status).where(Appointment.id == appointment.id)
        )
        raise illegal(str(current), target)


async def set_status(
    session: AsyncSession,
    *,
    facility_id: str,
    appointment_id: uuid.UUID,
    data: schemas.HospitalAppointmentStatus,
    directory: CitizenDirectory,
    limits: Limits,
    now: dt.datetime,
) -> schemas.HospitalAppointment:
    """The hospital records what happened: checked in, completed, no-show, or cancels it (the
    citizen is told)."""
    await begin_write(session)
    if data.status == CHECKED_IN:
        await check_in(session, appointment_id, facility_id, now)
    else:
        appointment, _ = await records.load(session, appointment_id, facility_id=facility_id)
        if data.status == CANCELLED:
            if appointment.status != BOOKED:
                raise illegal(appointment.status, CANCELLED)
            await lock_slots(session, [appointment.slot_id])
            await cancel_appointment(
                session, appointment, by="hospital", reason=data.reason, limits=limits, now=now
            )
        else:
            await _finish(session, appointment, data.status, now)
    await session.commit()
    appointment, slot = await records.load(session, appointment_id)
    return await hospital_view(session, appointment, slot, directory, now)


async def get_for_citizen(
    session: AsyncSession, citizen_id: uuid.UUID, appointment_id: uuid.UUID, limits: Limits
) -> schemas.Appointment:
    appointment, slot = await records.load(session, appointment_id, citizen_id=citizen_id)
    return await records.citizen_view(session, appointment, slot.service, limits)


def _upcoming(now: dt.datetime) -> ColumnElement[bool]:
    return and_(Appointment.status.in_(ACTIVE), Appointment.end_at > now)


async def list_for_citizen(
    session: AsyncSession,
    cursors: Cursors,
    citizen_id: uuid.UUID,
    *,
    when: str,
    limit: int,
    cursor: str | None,
    limits: Limits,
    now: dt.datetime,
) -> schemas.AppointmentPage:
    """``upcoming``: booked or checked in, not over yet, soonest first. ``past``: everything
    else (over, cancelled, completed, no-show), latest first."""
    limit = max(1, min(limit, MAX_PAGE))
    scope = f"appointments|{citizen_id}|{when}"
    after = _decode_after(cursors, scope, cursor)
    query = (
        select(Appointment, Slot.service)
        .join(Slot, Slot.id == Appointment.slot_id)
        .where(Appointment.citizen_id == citizen_id)
    )
    upcoming = when == "upcoming"
    query = query.where(_upcoming(now) if upcoming else not_(_upcoming(now)))
    if after is not None:
        start, last_id = after
        if upcoming:
            query = query.where(
                or_(
                    Appointment.start_at > start,
                    and_(Appointment.start_at == start, Appointment.id > last_id),
                )
            )
        else:
            query = query.where(
                or_(
                    Appointment.start_at < start,
                    and_(Appointment.start_at == start, Appointment.id < last_id),
                )
            )
    order = (
        (Appointment.start_at, Appointment.id)
        if upcoming
        else (Appointment.start_at.desc(), Appointment.id.desc())
    )
    rows = list((await session.execute(query.order_by(*order).limit(limit + 1))).all())
    more = len(rows) > limit
    rows = rows[:limit]
    items = [await records.citizen_view(session, a, service, limits) for a, service in rows]
    next_cursor = None
    if more and rows:
        last = rows[-1][0]
        next_cursor = cursors.encode(scope, [last.start_at.isoformat(), str(last.id)])
    return schemas.AppointmentPage(items=items, next_cursor=next_cursor)


def _decode_after(
    cursors: Cursors, scope: str, cursor: str | None
) -> tuple[dt.datetime, uuid.UUID] | None:
    after = cursors.decode(scope, cursor)
    if after is None:
        return None
    try:
        start, last_id = after
        return dt.datetime.fromisoformat(start), uuid.UUID(last_id)
    except (ValueError, TypeError) as exc:
        raise InvalidInput("invalid cursor", field="cursor", source="query") from exc


def local_day(day: dt.date, time_zone: str) -> tuple[dt.datetime, dt.datetime]:
    """The UTC bounds of a calendar day in the facility's time zone."""
    tz = ZoneInfo(time_zone)
    start = dt.datetime.combine(day, dt.time(), tz)
    end = dt.datetime.combine(day + dt.timedelta(days=1), dt.time(), tz)
    return start.astimezone(dt.UTC), end.astimezone(dt.UTC)


async def list_for_facility(
    session: AsyncSession,
    cursors: Cursors,
    directory: CitizenDirectory,
    *,
    facility_id: str | None,
    day: dt.date | None,
    department: str | None,
    status: str | None,
    limit: int,
    cursor: str | None,
    now: dt.datetime,
) -> schemas.HospitalAppointmentPage:
    """The facility's appointments of one local day (today by default), by start time."""
    facility = await facilities.require_active(session, facility_id)
    facility_id = facility.id
    day = day or now.astimezone(ZoneInfo(facility.time_zone)).date()
    start, end = local_day(day, facility.time_zone)
    limit = max(1, min(limit, MAX_PAGE))
    scope = f"hospital-appointments|{facility_id}|{day}|{department or ''}|{status or ''}"
    after = _decode_after(cursors, scope, cursor)
    query = (
        select(Appointment, Slot)
        .join(Slot, Slot.id == Appointment.slot_id)
        .where(
            Appointment.facility_id == facility_id,
            Appointment.start_at >= start,
            Appointment.start_at < end,
        )
    )
    if department is not None:
        found = await places.department_by_code(session, facility_id, department, active_only=False)
        query = query.where(Appointment.department_id == uuid.UUID(found.id))
    if status is not None:
        query = query.where(Appointment.status == status)
    if after is not None:
        at, last_id = after
        query = query.where(
            or_(
                Appointment.start_at > at,
                and_(Appointment.start_at == at, Appointment.id > last_id),
            )
        )
    rows = list(
        (
            await session.execute(
                query.order_by(Appointment.start_at, Appointment.id).limit(limit + 1)
            )
        ).all()
    )
    more = len(rows) > limit
    rows = rows[:limit]
    items = [await hospital_view(session, a, s, directory, now) for a, s in rows]
    next_cursor = None
    if more and rows:
        last = rows[-1][0]
        next_cursor = cursors.encode(scope, [last.start_at.isoformat(), str(last.id)])
    return schemas.HospitalAppointmentPage(day=day, items=items, next_cursor=next_cursor)


async def hospital_view(
    session: AsyncSession,
    appointment: Appointment,
    slot: Slot,
    directory: CitizenDirectory,
    now: dt.datetime,
) -> schemas.HospitalAppointment:
    profile = await directory.profile(appointment.citizen_id, now)
    return schemas.HospitalAppointment(
        id=str(appointment.id),
        status=appointment.status,  # type: ignore[arg-type]
        slot_id=str(slot.id),
        slot_ref=slot.external_id,
        department=await places.department(
            session, appointment.facility_id, appointment.department_id
        ),
        service=slot.service,
        start=appointment.start_at,
        end=appointment.end_at,
        booked_at=appointment.created_at,
        patient=schemas.Patient(
            citizen_id=str(appointment.citizen_id),
            full_name=profile.full_name,
            birth_date=profile.birth_date,
            sex=profile.sex,
            phone=profile.phone,
            insurance_card=profile.insurance_card,
            national_id_masked=profile.national_id_masked,
        ),
        cancelled_by=appointment.cancelled_by,  # type: ignore[arg-type]
        checked_in_at=appointment.checked_in_at,
        finished_at=appointment.finished_at,
    )
