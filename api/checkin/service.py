"""Check-in use cases: the citizen's check-in code, the kiosk's check-in, walk-ins, and the
queue's public status. The hospital's calls are in :mod:`api.checkin.calls` (re-exported here).

Single use of a check-in code: the kiosk's check-in first claims the code's ``jti`` in Redis
(``SET NX`` with a TTL to the code's expiry), then moves the appointment ``booked → checked_in``
with one conditional update. Redis answers concurrent scans of one code at once (one wins, the
rest 409 ``check-in-code-used``); the database is the truth (a replay after Redis lost its data
finds the appointment checked in: 409 ``appointment-already-checked-in``). When Redis cannot be
reached the kiosk gets 503 and nothing is written.
"""

from __future__ import annotations

import asyncio
import contextlib
import datetime as dt
import uuid
from typing import Any, Literal

from redis.asyncio import Redis
from redis.exceptions import RedisError
from sqlalchemy.ext.asyncio import AsyncSession

from api.appointments import service as appointments
from api.appointments.errors import AlreadyCheckedIn, AppointmentCancelled, IllegalTransition
from api.checkin import live, notify, numbers, places, qr, queues
from api.checkin.calls import arrivals, call_next, recall
from api.checkin.desk import Desk, place, ticket_view
from api.checkin.errors import (
    CheckInCodeSuperseded,
    CheckInCodeUsed,
    CheckInExpired,
    CheckInTooEarly,
    CheckInWrongFacility,
)
from api.checkin.models import APPOINTMENT, WAITING, WALK_IN, Queue, QueueTicket
from api.checkin.schemas import CheckInToken, QueueStatus, Ticket
from api.checkin.tokens import CheckInClaims
from api.core.errors import NotFound, ServiceUnavailable
from api.facilities import schemas as facility_schemas
from api.facilities import service as facilities

__all__ = [
    "arrivals",
    "call_next",
    "check_in_qr",
    "check_in_token",
    "facility_qr",
    "kiosk_check_in",
    "publish_queue_status",
    "queue_status",
    "recall",
    "walk_in",
]

_MARKER_SLACK_S = 60


def _marker(jti: str) -> str:
    return f"checkin:used:{{{jti}}}"


async def check_in_token(
    session: AsyncSession,
    desk: Desk,
    *,
    citizen_id: uuid.UUID,
    appointment_id: uuid.UUID,
    limits: appointments.Limits,
    now: dt.datetime,
) -> CheckInToken:
    """The code the app shows at the kiosk, for a booked appointment of the citizen."""
    view = await appointments.get_for_citizen(session, citizen_id, appointment_id, limits)
    extra = {"current_status": view.status}
    if view.status == "cancelled":
        raise AppointmentCancelled("the appointment is cancelled", extra=extra)
    if view.status == "checked_in":
        raise AlreadyCheckedIn("the appointment is checked in already", extra=extra)
    if view.status != "booked":
        raise IllegalTransition(
            f"an appointment that is {view.status} has no check-in", extra=extra
        )
    issued = desk.tokens.issue(
        uuid.UUID(view.id), view.facility_id, view.start, version=view.reschedules
    )
    if now >= issued.valid_until:
        raise CheckInExpired(
            "the check-in window of this appointment has closed",
            extra={"valid_until": issued.valid_until.isoformat()},
        )
    return issued


async def check_in_qr(
    session: AsyncSession,
    desk: Desk,
    *,
    citizen_id: uuid.UUID,
    appointment_id: uuid.UUID,
    image: Literal["png", "svg"],
    limits: appointments.Limits,
    now: dt.datetime,
) -> bytes:
    """The check-in code as a QR image (rendered in a worker thread: a few milliseconds of
    CPU that should not hold up the event loop)."""
    issued = await check_in_token(
        session, desk, citizen_id=citizen_id, appointment_id=appointment_id, limits=limits, now=now
    )
    render = qr.png if image == "png" else qr.svg
    return await asyncio.to_thread(render, issued.token)


async def facility_qr(
    session: AsyncSession, desk: Desk, *, facility_id: str, department: str
) -> bytes:
    """The printable walk-in QR of an active department, captioned with the facility's and the
    department's names (and its room)."""
    facility = await places.facility(session, facility_id)
    found = await places.department_by_code(session, facility.id, department)
    where = f"{found.name} – {found.room}" if found.room else found.name
    text = desk.codes.code(facility.id, found.code)
    return await asyncio.to_thread(qr.svg, text, (facility.name, where))


async def _check_time_and_place(
    session: AsyncSession, claims: CheckInClaims, facility_id: str, now: dt.datetime
) -> None:
    if claims.facility_id != facility_id:
        extra: dict[str, Any] = {"facility_id": claims.facility_id}
        with contextlib.suppress(NotFound):
            extra["facility_name"] = (await places.facility(session, claims.facility_id)).name
        raise CheckInWrongFacility(
            "this appointment is at another facility than this kiosk's", extra=extra
        )
    if now < claims.valid_from:
        raise CheckInTooEarly(
            "check-in for this appointment has not opened yet",
            extra={"valid_from": claims.valid_from.isoformat()},
        )
    if now >= claims.valid_until:
        raise CheckInExpired(
            "the check-in window of this appointment has closed",
            extra={"valid_until": claims.valid_until.isoformat()},
        )


async def kiosk_check_in(
    session: AsyncSession,
    redis: Redis,
    desk: Desk,
    *,
    kiosk_facility_id: str | None,
    code: str,
    now: dt.datetime,
) -> Ticket:
    """Check the appointment in and give it the department's next number. Raises
    ``CheckInCodeInvalid``, ``CheckInWrongFacility``, ``CheckInTooEarly``, ``CheckInExpired``,
    ``CheckInCodeUsed``, ``AppointmentCancelled``, ``AlreadyCheckedIn``,
    ``CheckInCodeSuperseded``, or ``ServiceUnavailable`` (Redis down)."""
    claims = desk.tokens.verify(code)
    facility = await places.facility(session, kiosk_facility_id)
    await _check_time_and_place(session, claims, facility.id, now)
    marker = _marker(claims.jti)
    ttl = max(1, int((claims.valid_until - now).total_seconds()) + _MARKER_SLACK_S)
    if not await _claim(redis, marker, ttl):
        raise CheckInCodeUsed("this check-in code was used already")
    keep = False
    try:
        ticket = await _check_in(session, desk, claims, facility, now)
        keep = True
    except AlreadyCheckedIn:
        keep = True
        raise
    finally:
        if not keep:  # the code was not used up: let a rescan give the true answer
            with contextlib.suppress(RedisError, OSError):
                await redis.delete(marker)
    return ticket


async def _claim(redis: Redis, marker: str, ttl: int) -> bool:
    """``SET marker NX EX ttl``: whether this request is the first with the code. Redis not
    answering (or no pooled connection free within ``REDIS_TIMEOUT_SECONDS``) is a 503."""
    try:
        return bool(await redis.set(marker, b"1", nx=True, ex=ttl))
    except (RedisError, OSError) as exc:
        raise _unavailable() from exc


def _unavailable() -> ServiceUnavailable:
    return ServiceUnavailable(
        "check-in cannot be confirmed at the moment; please try again shortly",
        headers={"Retry-After": "5"},
    )


async def _check_in(
    session: AsyncSession,
    desk: Desk,
    claims: CheckInClaims,
    facility: facilities.ActiveFacility,
    now: dt.datetime,
) -> Ticket:
    appointment = await appointments.check_in(session, claims.appointment_id, facility.id, now)
    if appointment.reschedules != claims.version:
        await session.rollback()
        raise CheckInCodeSuperseded("the appointment was moved after this code was shown")
    department = await places.department_by_id(session, facility.id, appointment.department_id)
    queue_date = queues.local_date(now, facility.time_zone)
    average = await queues.average_minutes(
        session, facility.id, appointment.department_id, queue_date, now, cached=True
    )
    taken, ticket_id = await numbers.issue(
        session,
        facility_id=facility.id,
        department_id=appointment.department_id,
        queue_date=queue_date,
        citizen_id=appointment.citizen_id,
        appointment_id=appointment.id,
        source=APPOINTMENT,
        threshold=desk.rules.approaching_threshold,
        now=now,
    )
    await notify.checked_in(
        session,
        citizen_id=appointment.citizen_id,
        ticket_id=ticket_id,
        appointment_id=appointment.id,
        number=taken.number,
        place=place(facility, department),
        now=now,
    )
    await session.commit()
    desk.publisher.changed(facility.id, department.code)
    return ticket_view(
        ticket_id=ticket_id,
        number=taken.number,
        facility=facility,
        department=department,
        ahead=taken.ahead,
        average=average,
        rules=desk.rules,
        issued_at=now,
        queue_date=queue_date,
        appointment_id=appointment.id,
    )


async def walk_in(
    session: AsyncSession,
    desk: Desk,
    *,
    citizen_id: uuid.UUID,
    code: str,
    now: dt.datetime,
) -> tuple[Ticket, bool]:
    """A ticket for the department of the scanned facility code; within the reuse window the
    ticket already issued to this citizen for it. Answers (ticket, created)."""
    facility_id, code_department = desk.codes.read(code)
    facility = await places.facility(session, facility_id)
    department = await places.department_by_code(session, facility.id, code_department)
    department_id = uuid.UUID(department.id)
    since = now - desk.rules.walk_in_reuse
    found = await queues.recent_walk_in(session, citizen_id, facility.id, department_id, since)
    if found is None:
        await numbers.begin_write(session)
        queue_date = queues.local_date(now, facility.time_zone)
        average = await queues.average_minutes(
            session, facility.id, department_id, queue_date, now, cached=True
        )
        taken = await numbers.take_number(session, facility.id, department_id, queue_date, now)
        # under the queue's lock: a scan of the same code a moment ago is visible now
        found = await queues.recent_walk_in(session, citizen_id, facility.id, department_id, since)
        if found is None:
            ticket_id = await numbers.insert_ticket(
                session,
                taken=taken,
                citizen_id=citizen_id,
                appointment_id=None,
                source=WALK_IN,
                told_approaching=taken.ahead <= desk.rules.approaching_threshold,
                now=now,
            )
            await notify.checked_in(
                session,
                citizen_id=citizen_id,
                ticket_id=ticket_id,
                appointment_id=None,
                number=taken.number,
                place=place(facility, department),
                now=now,
            )
            await session.commit()
            desk.publisher.changed(facility.id, department.code)
            ticket = ticket_view(
                ticket_id=ticket_id,
                number=taken.number,
                facility=facility,
                department=department,
                ahead=taken.ahead,
                average=average,
                rules=desk.rules,
                issued_at=now,
                queue_date=queue_date,
                appointment_id=None,
            )
            return ticket, True
        view = await _existing(session, desk, facility, department, found, now)
        await session.rollback()  # gives the number back
        return view, False
    return await _existing(session, desk, facility, department, found, now), False


async def _existing(
    session: AsyncSession,
    desk: Desk,
    facility: facilities.ActiveFacility,
    department: facility_schemas.Department,
    found: tuple[QueueTicket, Queue],
    now: dt.datetime,
) -> Ticket:
    ticket, queue = found
    ahead = max(0, ticket.number - 1 - queue.last_called) if ticket.status == WAITING else 0
    average = await queues.average_minutes(
        session, facility.id, uuid.UUID(department.id), queue.queue_date, now, cached=True
    )
    return ticket_view(
        ticket_id=ticket.id,
        number=ticket.number,
        facility=facility,
        department=department,
        ahead=ahead,
        average=average,
        rules=desk.rules,
        issued_at=ticket.issued_at,
        queue_date=queue.queue_date,
        appointment_id=None,
        room=ticket.room,
    )


async def queue_status(
    session: AsyncSession, facility_id: str, department: str, now: dt.datetime
) -> QueueStatus:
    """The public status of a department's queue today (404 for an unknown facility or
    department)."""
    facility = await places.facility(session, facility_id)
    found = await places.department_by_code(session, facility.id, department, active_only=False)
    queue_date = queues.local_date(now, facility.time_zone)
    return await queues.read_status(session, facility.id, found, queue_date, now)


async def publish_queue_status(state: Any, facility_id: str, department: str) -> None:
    """Read the queue's status now and publish it on its channel (``state``: the app's state,
    for its session maker, Redis client and clock)."""
    async with state.sessionmaker() as session:
        status = await queue_status(session, facility_id, department, state.clock.now())
    await live.publish_status(state.redis, status)
