"""Reading and moving queues: tickets, calls, the average pace, the board's status. No
transaction control here; the use cases own it. Numbers are taken in
:mod:`api.checkin.queue_numbers`."""

from __future__ import annotations

import datetime as dt
import math
import time
import uuid
from zoneinfo import ZoneInfo

from sqlalchemy import and_, func, select, update
from sqlalchemy.ext.asyncio import AsyncSession

from api.checkin.models import CALLED, WAITING, Queue, QueueTicket
from api.checkin.schemas import Call, QueueStatus, RecentCall
from api.facilities import schemas as facility_schemas

AVERAGE_WINDOW = dt.timedelta(hours=1)
RECENT_CALLS = 5
_AVERAGE_TTL_S = 10.0
_AVERAGES = "healthbook_queue_averages"


class QueueAverages:
    """Each queue's mean time between calls as last computed, for a ticket's wait estimate (a
    value up to ten seconds old will do). The runtime owns one and gives it to the sessions it
    makes (:meth:`session_info`)."""

    def __init__(self) -> None:
        self._values: dict[tuple[str, str, dt.date], tuple[float, float | None]] = {}

    def session_info(self) -> dict[str, QueueAverages]:
        return {_AVERAGES: self}

    def get(self, key: tuple[str, str, dt.date]) -> tuple[float, float | None] | None:
        return self._values.get(key)

    def put(self, key: tuple[str, str, dt.date], value: float | None) -> None:
        if len(self._values) > 10_000:
            self._values.clear()
        self._values[key] = (time.monotonic() + _AVERAGE_TTL_S, value)


def local_date(now: dt.datetime, time_zone: str) -> dt.date:
    return now.astimezone(ZoneInfo(time_zone)).date()


def label(department: str, number: int) -> str:
    return f"{department}-{number:03d}"


async def find_queue(
    session: AsyncSession, facility_id: str, department_id: uuid.UUID, queue_date: dt.date
) -> Queue | None:
    return await session.scalar(
        select(Queue)
        .where(
            Queue.facility_id == facility_id,
            Queue.department_id == department_id,
            Queue.queue_date == queue_date,
        )
        .execution_options(populate_existing=True)
    )


async def lock_queue(
    session: AsyncSession, facility_id: str, department_id: uuid.UUID, queue_date: dt.date
) -> Queue | None:
    """The queue row, locked for this transaction (call-next, recall and skip serialise)."""
    return await session.scalar(
        select(Queue)
        .where(
            Queue.facility_id == facility_id,
            Queue.department_id == department_id,
            Queue.queue_date == queue_date,
        )
        .with_for_update()
        .execution_options(populate_existing=True)
    )


async def average_minutes(
    session: AsyncSession,
    facility_id: str,
    department_id: uuid.UUID,
    queue_date: dt.date,
    now: dt.datetime,
    *,
    cached: bool = False,
) -> float | None:
    """Mean time between calls over the last hour (``None`` with fewer than two calls).
    ``cached``: a value up to ten seconds old will do (for a ticket's wait estimate)."""
    key = (facility_id, str(department_id), queue_date)
    averages: QueueAverages | None = session.info.get(_AVERAGES)
    if cached and averages is not None:
        found = averages.get(key)
        if found is not None and found[0] > time.monotonic():
            return found[1]
    row = (
        await session.execute(
            select(
                func.count(QueueTicket.id),
                func.min(QueueTicket.called_at),
                func.max(QueueTicket.called_at),
            )
            .join(Queue, Queue.id == QueueTicket.queue_id)
            .where(
                Queue.facility_id == facility_id,
                Queue.department_id == department_id,
                Queue.queue_date == queue_date,
                QueueTicket.called_at >= now - AVERAGE_WINDOW,
            )
        )
    ).one()
    count, first, last = row
    value = None
    if count >= 2 and first is not None and last is not None:
        value = round((last - first).total_seconds() / 60 / (count - 1), 2)
    if averages is not None:
        averages.put(key, value)
    return value


def estimate(ahead: int, average: float | None, default_minutes: float) -> int:
    """Estimated minutes until called: people ahead × minutes per person."""
    return math.ceil(ahead * (average if average is not None else default_minutes))


async def current_called(session: AsyncSession, queue_id: uuid.UUID) -> QueueTicket | None:
    return await session.scalar(
        select(QueueTicket)
        .where(QueueTicket.queue_id == queue_id, QueueTicket.status == CALLED)
        .order_by(QueueTicket.number.desc())
        .limit(1)
        .execution_options(populate_existing=True)
    )


async def ticket_by_number(
    session: AsyncSession, queue_id: uuid.UUID, number: int
) -> QueueTicket | None:
    return await session.scalar(
        select(QueueTicket)
        .where(QueueTicket.queue_id == queue_id, QueueTicket.number == number)
        .execution_options(populate_existing=True)
    )


async def to_tell_approaching(
    session: AsyncSession, queue: Queue, threshold: int
) -> list[QueueTicket]:
    """Waiting tickets with at most ``threshold`` people ahead that were not told yet."""
    return list(
        await session.scalars(
            select(QueueTicket)
            .where(
                QueueTicket.queue_id == queue.id,
                QueueTicket.number > queue.last_called,
                QueueTicket.number <= queue.last_called + threshold + 1,
                QueueTicket.status == WAITING,
                QueueTicket.approaching_told.is_(False),
            )
            .order_by(QueueTicket.number)
        )
    )


async def recent_walk_in(
    session: AsyncSession,
    citizen_id: uuid.UUID,
    facility_id: str,
    department_id: uuid.UUID,
    since: dt.datetime,
) -> tuple[QueueTicket, Queue] | None:
    """The citizen's latest walk-in ticket for this department issued since ``since``."""
    found = (
        await session.execute(
            select(QueueTicket, Queue)
            .join(Queue, Queue.id == QueueTicket.queue_id)
            .where(
                QueueTicket.citizen_id == citizen_id,
                QueueTicket.issued_at >= since,
                QueueTicket.appointment_id.is_(None),
                Queue.facility_id == facility_id,
                Queue.department_id == department_id,
            )
            .order_by(QueueTicket.issued_at.desc())
            .limit(1)
            .execution_options(populate_existing=True)
        )
    ).first()
    return (found[0], found[1]) if found is not None else None


async def page(
    session: AsyncSession,
    queue_id: uuid.UUID,
    *,
    status: str | None,
    after: int,
    limit: int,
) -> list[QueueTicket]:
    query = select(QueueTicket).where(QueueTicket.queue_id == queue_id, QueueTicket.number > after)
    if status is not None:
        query = query.where(QueueTicket.status == status)
    return list(await session.scalars(query.order_by(QueueTicket.number).limit(limit)))


async def mark_told(session: AsyncSession, ticket_ids: list[uuid.UUID]) -> None:
    if ticket_ids:
        await session.execute(
            update(QueueTicket)
            .where(QueueTicket.id.in_(ticket_ids))
            .values(approaching_told=True)
            .execution_options(synchronize_session=False)
        )


async def read_status(
    session: AsyncSession,
    facility_id: str,
    department: facility_schemas.Department,
    queue_date: dt.date,
    now: dt.datetime,
) -> QueueStatus:
    """What the board shows: who is called, how many wait, the pace, the latest calls."""
    department_id = uuid.UUID(department.id)
    queue = await find_queue(session, facility_id, department_id, queue_date)
    recent: list[RecentCall] = []
    now_serving: Call | None = None
    waiting = 0
    updated_at = now
    if queue is not None:
        waiting = queue.last_issued - queue.last_called
        updated_at = queue.updated_at
        rows = (
            await session.execute(
                select(
                    QueueTicket.number,
                    QueueTicket.room,
                    QueueTicket.announced_at,
                    QueueTicket.status,
                )
                .where(
                    and_(QueueTicket.queue_id == queue.id, QueueTicket.announced_at.is_not(None))
                )
                .order_by(QueueTicket.announced_at.desc(), QueueTicket.number.desc())
                .limit(RECENT_CALLS)
            )
        ).all()
        for number, room, announced_at, status in rows:
            if announced_at is None:  # excluded by the query; tells the type checker
                continue
            call = RecentCall(
                number=number,
                label=label(department.code, number),
                room=room,
                called_at=announced_at,
            )
            recent.append(call)
            if status == CALLED and now_serving is None and number == queue.last_called:
                now_serving = Call(number=number, label=call.label, room=room)
    average = await average_minutes(session, facility_id, department_id, queue_date, now)
    return QueueStatus(
        facility_id=facility_id,
        department=department.code,
        department_name=department.name,
        queue_date=queue_date,
        now_serving=now_serving,
        waiting=waiting,
        average_service_minutes=average,
        recent_calls=recent,
        updated_at=updated_at,
    )
