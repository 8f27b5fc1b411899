"""The appointment lists: a citizen's (upcoming or past) and a facility's day, with cursors.

Each runs in the caller's transaction (read only)."""

from __future__ import annotations

import datetime as dt
import uuid
from zoneinfo import ZoneInfo

from sqlalchemy import and_, not_, or_, select
from sqlalchemy.ext.asyncio import AsyncSession
from sqlalchemy.sql.elements import ColumnElement

from api.appointments import departments, schemas, views
from api.appointments.models import Appointment, Slot
from api.appointments.rules import ACTIVE, Limits, local_day
from api.core.errors import InvalidInput
from api.core.pagination import Cursors
from api.facilities import service as facilities
from api.identity.citizens import CitizenDirectory
from api.questionnaires.forms import AnswersRead

MAX_PAGE = 200


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
    items = [await views.citizen_view(session, a, service, limits) for a, service in rows]
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
    on_read: AnswersRead | None = None,
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
        found = await departments.department_by_code(
            session, facility_id, department, active_only=False
        )
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
    items = [await views.hospital_view(session, a, s, directory, now, on_read) for a, s in rows]
    next_cursor = None
    if more and rows:
        last = rows[-1][0]
        next_cursor = cursors.encode(scope, [last.start_at.isoformat(), str(last.id)])
    return schemas.HospitalAppointmentPage(day=day, items=items, next_cursor=next_cursor)
