"""The hospital's side of a queue: arrivals, call-next, skip, recall.

Each call locks the day's queue row (``SELECT … FOR UPDATE``; ``BEGIN IMMEDIATE`` on SQLite), so
two desks calling at once call two different tickets. Tickets are called in number order:
``last_called`` moves up by one per call, and every ticket above it is waiting. A call tells the
called citizen ("your turn, room N") and every waiting citizen who now has at most
``QUEUE_APPROACHING_THRESHOLD`` people ahead and was not told yet.
"""

from __future__ import annotations

import datetime as dt
import uuid

from sqlalchemy.ext.asyncio import AsyncSession

from api.checkin import notify, places, queues
from api.checkin.desk import Desk, arrival, place
from api.checkin.errors import NothingCalled
from api.checkin.models import CALLED, SERVED, SKIPPED, Queue, QueueTicket
from api.checkin.schemas import Arrival, ArrivalPage, CallOutcome
from api.core.dialect import begin_write
from api.facilities import schemas as facility_schemas
from api.facilities.service import ActiveFacility

MAX_PAGE = 500


async def _tell_approaching(
    session: AsyncSession,
    desk: Desk,
    queue: Queue,
    facility: ActiveFacility,
    department: facility_schemas.Department,
    now: dt.datetime,
) -> None:
    await session.flush()
    told: list[uuid.UUID] = []
    for ticket in await queues.to_tell_approaching(
        session, queue, desk.rules.approaching_threshold
    ):
        await notify.approaching(
            session,
            citizen_id=ticket.citizen_id,
            ticket_id=ticket.id,
            number=ticket.number,
            ahead=ticket.number - 1 - queue.last_called,
            place=place(facility, department),
            now=now,
        )
        told.append(ticket.id)
    await queues.mark_told(session, told)


async def _announce(
    session: AsyncSession,
    desk: Desk,
    ticket: QueueTicket,
    facility: ActiveFacility,
    department: facility_schemas.Department,
    now: dt.datetime,
) -> None:
    await notify.your_turn(
        session,
        citizen_id=ticket.citizen_id,
        ticket_id=ticket.id,
        number=ticket.number,
        room=ticket.room,
        recalls=ticket.recalls,
        place=place(facility, department),
        now=now,
    )


async def _outcome(
    session: AsyncSession,
    desk: Desk,
    facility: ActiveFacility,
    department: facility_schemas.Department,
    queue_date: dt.date,
    called: QueueTicket | None,
    previous: QueueTicket | None,
    now: dt.datetime,
) -> CallOutcome:
    desk.publisher.changed(facility.id, department.code)
    status = await queues.read_status(session, facility.id, department, queue_date, now)
    directory = desk.directory
    return CallOutcome(
        called=await arrival(directory, called, department.code, now) if called else None,
        previous=await arrival(directory, previous, department.code, now) if previous else None,
        status=status,
    )


async def _open(
    session: AsyncSession, facility_id: str | None, department_code: str, now: dt.datetime
) -> tuple[ActiveFacility, facility_schemas.Department, dt.date, Queue | None]:
    facility = await places.facility(session, facility_id)
    department = await places.department_by_code(
        session, facility.id, department_code, active_only=False
    )
    queue_date = queues.local_date(now, facility.time_zone)
    await begin_write(session)
    queue = await queues.lock_queue(session, facility.id, uuid.UUID(department.id), queue_date)
    return facility, department, queue_date, queue


async def call_next(
    session: AsyncSession,
    desk: Desk,
    *,
    facility_id: str | None,
    department_code: str,
    room: str | None,
    skip: bool,
    now: dt.datetime,
) -> CallOutcome:
    """Finish the ticket being called (served, or ``skip``: skipped) and call the next waiting
    one (``called`` is ``None`` when nobody waits). ``skip`` with nobody called is 409."""
    facility, department, queue_date, queue = await _open(
        session, facility_id, department_code, now
    )
    previous = await queues.current_called(session, queue.id) if queue is not None else None
    if skip and previous is None:
        raise NothingCalled("nobody is being called: there is nobody to skip")
    called: QueueTicket | None = None
    if previous is not None:
        previous.status = SKIPPED if skip else SERVED
        previous.finished_at = now
    if queue is not None:
        queue.updated_at = now
        if queue.last_called < queue.last_issued:
            queue.last_called += 1
            called = await queues.ticket_by_number(session, queue.id, queue.last_called)
        if called is not None:
            called.status = CALLED
            called.called_at = now
            called.announced_at = now
            called.room = room or department.room
            await _announce(session, desk, called, facility, department, now)
        await _tell_approaching(session, desk, queue, facility, department, now)
    await session.commit()
    return await _outcome(session, desk, facility, department, queue_date, called, previous, now)


async def recall(
    session: AsyncSession,
    desk: Desk,
    *,
    facility_id: str | None,
    department_code: str,
    room: str | None,
    now: dt.datetime,
) -> CallOutcome:
    """Call the ticket being called again (the board shows it again, the citizen is told
    again); 409 when nobody is being called."""
    facility, department, queue_date, queue = await _open(
        session, facility_id, department_code, now
    )
    current = await queues.current_called(session, queue.id) if queue is not None else None
    if queue is None or current is None:
        raise NothingCalled("nobody is being called: call the next one first")
    current.recalls += 1
    current.announced_at = now
    if room:
        current.room = room
    queue.updated_at = now
    await _announce(session, desk, current, facility, department, now)
    await session.commit()
    return await _outcome(session, desk, facility, department, queue_date, current, None, now)


async def arrivals(
    session: AsyncSession,
    desk: Desk,
    *,
    facility_id: str | None,
    department_code: str,
    day: dt.date | None,
    status: str | None,
    after: int,
    limit: int,
    now: dt.datetime,
) -> ArrivalPage:
    """The department's tickets of one day (today by default) in number order, each with the
    profile its citizen shares."""
    facility = await places.facility(session, facility_id)
    department = await places.department_by_code(
        session, facility.id, department_code, active_only=False
    )
    queue_date = day or queues.local_date(now, facility.time_zone)
    limit = max(1, min(limit, MAX_PAGE))
    queue = await queues.find_queue(session, facility.id, uuid.UUID(department.id), queue_date)
    items: list[Arrival] = []
    more = False
    if queue is not None:
        tickets = await queues.page(session, queue.id, status=status, after=after, limit=limit + 1)
        more = len(tickets) > limit
        for ticket in tickets[:limit]:
            items.append(await arrival(desk.directory, ticket, department.code, now))
    return ArrivalPage(
        facility_id=facility.id,
        department=department.code,
        queue_date=queue_date,
        items=items,
        next_after=items[-1].number if more and items else None,
    )
