"""The hospital's side of a queue: arrivals, call-next, skip, recall.

Each call locks the day's queue row (``SELECT … FOR UPDATE``; ``BEGIN IMMEDIATE`` on SQLite), so
two desks calling at once call two different tickets. Tickets are called in number order:
``last_called`` moves up by one per call, and every ticket above it is waiting. A call tells the
called citizen ("your turn, room N") and every waiting citizen who now has at most
``QUEUE_APPROACHING_THRESHOLD`` people ahead and was not told yet.

A call runs in one unit of work; once it has committed the board is told
(``uow.after_commit``), then the outcome (the queue's status, the called citizen's profile) is
read afresh.
"""

from __future__ import annotations

import datetime as dt
import uuid

from sqlalchemy.ext.asyncio import AsyncSession

from api.checkin import facility_lookup, queue_messages, queues
from api.checkin.errors import NothingCalled
from api.checkin.models import CALLED, SERVED, SKIPPED, Queue, QueueTicket
from api.checkin.schemas import Arrival, ArrivalPage, CallOutcome
from api.checkin.status_publisher import StatusPublisher
from api.checkin.ticket_views import QueueRules, arrival, place
from api.core.clock import Clock
from api.core.dialect import begin_write
from api.core.uow import UnitOfWork, UnitOfWorkFactory
from api.facilities import schemas as facility_schemas
from api.facilities.service import ActiveFacility
from api.identity.citizens import CitizenDirectory

MAX_PAGE = 500
"""The most arrivals one page holds."""


# -- the moves of a call, on the rows in memory ---------------------------------------------------


def finish(ticket: QueueTicket, *, skip: bool, now: dt.datetime) -> None:
    """The ticket being called is done with: served, or skipped (did not come)."""
    ticket.status = SKIPPED if skip else SERVED
    ticket.finished_at = now


def advance(queue: Queue, now: dt.datetime) -> int | None:
    """Move the queue to its next number; ``None`` when nobody waits (every issued number has
    been called)."""
    queue.updated_at = now
    if queue.last_called >= queue.last_issued:
        return None
    queue.last_called += 1
    return queue.last_called


def call(ticket: QueueTicket, *, room: str | None, now: dt.datetime) -> None:
    """The ticket is called now, to ``room``."""
    ticket.status = CALLED
    ticket.called_at = now
    ticket.announced_at = now
    ticket.room = room


def call_again(ticket: QueueTicket, queue: Queue, *, room: str | None, now: dt.datetime) -> None:
    """The ticket being called is called once more (to ``room`` when given)."""
    ticket.recalls += 1
    ticket.announced_at = now
    if room:
        ticket.room = room
    queue.updated_at = now


class QueueDeskService:
    """A department's desk: the day's arrivals and the three buttons (call next, skip,
    recall)."""

    def __init__(
        self,
        *,
        uow: UnitOfWorkFactory,
        publisher: StatusPublisher,
        directory: CitizenDirectory,
        rules: QueueRules,
        clock: Clock,
    ) -> None:
        self._uow = uow
        self._publisher = publisher
        self._directory = directory
        self._rules = rules
        self._clock = clock

    async def call_next(
        self, *, facility_id: str | None, department_code: str, room: str | None, skip: bool
    ) -> CallOutcome:
        """Finish the ticket being called (served, or ``skip``: skipped) and call the next
        waiting one (``called`` is ``None`` when nobody waits). ``skip`` with nobody called is
        409."""
        now = self._clock.now()
        async with self._uow() as uow:
            session = uow.session
            facility, department, queue_date, queue = await self._open(
                session, facility_id, department_code, now
            )
            previous = await queues.current_called(session, queue.id) if queue is not None else None
            if skip and previous is None:
                raise NothingCalled("nobody is being called: there is nobody to skip")
            called: QueueTicket | None = None
            if previous is not None:
                finish(previous, skip=skip, now=now)
            if queue is not None:
                number = advance(queue, now)
                if number is not None:
                    called = await queues.ticket_by_number(session, queue.id, number)
                if called is not None:
                    call(called, room=room or department.room, now=now)
                    await self._announce(session, called, facility, department, now)
                await self._tell_approaching(session, queue, facility, department, now)
            self.tell_board_after_commit(uow, facility.id, department.code)
        return await self._outcome(facility, department, queue_date, called, previous, now)

    async def recall(
        self, *, facility_id: str | None, department_code: str, room: str | None
    ) -> CallOutcome:
        """Call the ticket being called again (the board shows it again, the citizen is told
        again); 409 when nobody is being called."""
        now = self._clock.now()
        async with self._uow() as uow:
            session = uow.session
            facility, department, queue_date, queue = await self._open(
                session, facility_id, department_code, now
            )
            current = await queues.current_called(session, queue.id) if queue is not None else None
            if queue is None or current is None:
                raise NothingCalled("nobody is being called: call the next one first")
            call_again(current, queue, room=room, now=now)
            await self._announce(session, current, facility, department, now)
            self.tell_board_after_commit(uow, facility.id, department.code)
        return await self._outcome(facility, department, queue_date, current, None, now)

    async def arrivals(
        self,
        *,
        facility_id: str | None,
        department_code: str,
        day: dt.date | None,
        status: str | None,
        after: int,
        limit: int,
    ) -> ArrivalPage:
        """The department's tickets of one day (today by default) in number order, each with
        the profile its citizen shares."""
        now = self._clock.now()
        async with self._uow() as uow:
            session = uow.session
            facility = await facility_lookup.facility(session, facility_id)
            department = await facility_lookup.department_by_code(
                session, facility.id, department_code, active_only=False
            )
            queue_date = day or queues.local_date(now, facility.time_zone)
            limit = max(1, min(limit, MAX_PAGE))
            queue = await queues.find_queue(
                session, facility.id, uuid.UUID(department.id), queue_date
            )
            tickets: list[QueueTicket] = []
            if queue is not None:
                tickets = await queues.page(
                    session, queue.id, status=status, after=after, limit=limit + 1
                )
        more = len(tickets) > limit
        items: list[Arrival] = [
            await arrival(self._directory, ticket, department.code, now)
            for ticket in tickets[:limit]
        ]
        return ArrivalPage(
            facility_id=facility.id,
            department=department.code,
            queue_date=queue_date,
            items=items,
            next_after=items[-1].number if more and items else None,
        )

    # -- steps ------------------------------------------------------------------------------------

    def tell_board_after_commit(self, uow: UnitOfWork, facility_id: str, department: str) -> None:
        """Tell the queue's board once the transaction has committed."""
        publisher = self._publisher

        async def publish() -> None:
            publisher.changed(facility_id, department)

        uow.after_commit(publish)

    async def _open(
        self,
        session: AsyncSession,
        facility_id: str | None,
        department_code: str,
        now: dt.datetime,
    ) -> tuple[ActiveFacility, facility_schemas.Department, dt.date, Queue | None]:
        facility = await facility_lookup.facility(session, facility_id)
        department = await facility_lookup.department_by_code(
            session, facility.id, department_code, active_only=False
        )
        queue_date = queues.local_date(now, facility.time_zone)
        await begin_write(session)
        queue = await queues.lock_queue(session, facility.id, uuid.UUID(department.id), queue_date)
        return facility, department, queue_date, queue

    async def _tell_approaching(
        self,
        session: AsyncSession,
        queue: Queue,
        facility: ActiveFacility,
        department: facility_schemas.Department,
        now: dt.datetime,
    ) -> None:
        await session.flush()
        told: list[uuid.UUID] = []
        for ticket in await queues.to_tell_approaching(
            session, queue, self._rules.approaching_threshold
        ):
            await queue_messages.approaching(
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
        self,
        session: AsyncSession,
        ticket: QueueTicket,
        facility: ActiveFacility,
        department: facility_schemas.Department,
        now: dt.datetime,
    ) -> None:
        await queue_messages.your_turn(
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
        self,
        facility: ActiveFacility,
        department: facility_schemas.Department,
        queue_date: dt.date,
        called: QueueTicket | None,
        previous: QueueTicket | None,
        now: dt.datetime,
    ) -> CallOutcome:
        async with self._uow() as uow:
            status = await queues.read_status(uow.session, facility.id, department, queue_date, now)
        directory = self._directory
        return CallOutcome(
            called=await arrival(directory, called, department.code, now) if called else None,
            previous=await arrival(directory, previous, department.code, now) if previous else None,
            status=status,
        )
