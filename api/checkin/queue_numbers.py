"""Queue numbers: one counter row per facility, department and local day, and the tickets that
take its numbers. No transaction control here; the use cases own it.

Lock order: appointment (the check-in's conditional update), then the queue row. A number is
taken by one upsert on the queue row, which holds that row's lock until the transaction ends:
two check-ins in one department take their numbers one after the other, and a rollback gives
the number back (no gaps). On SQLite a writer starts with ``BEGIN IMMEDIATE`` instead
(:func:`api.core.dialect.begin_write`).
"""

from __future__ import annotations

import datetime as dt
import uuid
from dataclasses import dataclass
from typing import cast

from sqlalchemy import Date, Integer, Table, Uuid, bindparam, text
from sqlalchemy.ext.asyncio import AsyncSession

from api.checkin.models import WAITING, Queue, QueueTicket
from api.core.db import UtcDateTime
from api.core.dialect import dialect_of


@dataclass(frozen=True)
class Taken:
    queue_id: uuid.UUID
    number: int
    last_called: int

    @property
    def ahead(self) -> int:
        return max(0, self.number - 1 - self.last_called)


async def take_number(
    session: AsyncSession,
    facility_id: str,
    department_id: uuid.UUID,
    queue_date: dt.date,
    now: dt.datetime,
) -> Taken:
    """The next number of the department's queue that day (creating the queue at its first
    ticket). Holds the queue row's lock until the transaction ends."""
    statement = (
        dialect_of(session)
        .upsert(
            Queue,
            on=[Queue.facility_id, Queue.department_id, Queue.queue_date],
            update={"last_issued": Queue.last_issued + 1, "updated_at": now},
        )
        .values(
            id=uuid.uuid4(),
            facility_id=facility_id,
            department_id=department_id,
            queue_date=queue_date,
            last_issued=1,
            last_called=0,
            created_at=now,
            updated_at=now,
        )
        .returning(Queue.id, Queue.last_issued, Queue.last_called)
    )
    row = (await session.execute(statement)).one()
    return Taken(queue_id=row[0], number=row[1], last_called=row[2])


_NUMBER_AND_TICKET = text(
    """
    WITH q AS (
        INSERT INTO queue (id, facility_id, department_id, queue_date, last_issued, last_called,
                           created_at, updated_at)
        VALUES (:queue_id, :facility_id, :department_id, :queue_date, 1, 0, :now, :now)
        ON CONFLICT (facility_id, department_id, queue_date)
        DO UPDATE SET last_issued = queue.last_issued + 1, updated_at = :now
        RETURNING id, last_issued, last_called
    ), t AS (
        INSERT INTO queue_ticket (id, queue_id, number, citizen_id, appointment_id, source,
                                  status, issued_at, recalls, approaching_told)
        SELECT :ticket_id, q.id, q.last_issued, :citizen_id, :appointment_id, :source,
               :status, :now, 0, q.last_issued - 1 - q.last_called <= :threshold
        FROM q
        RETURNING id
    )
    SELECT q.id, q.last_issued, q.last_called, (SELECT count(*) FROM t) FROM q
    """
).bindparams(
    bindparam("queue_id", type_=Uuid()),
    bindparam("department_id", type_=Uuid()),
    bindparam("queue_date", type_=Date()),
    bindparam("now", type_=UtcDateTime()),
    bindparam("ticket_id", type_=Uuid()),
    bindparam("citizen_id", type_=Uuid()),
    bindparam("appointment_id", type_=Uuid()),
    bindparam("threshold", type_=Integer()),
)


async def issue(
    session: AsyncSession,
    *,
    facility_id: str,
    department_id: uuid.UUID,
    queue_date: dt.date,
    citizen_id: uuid.UUID,
    appointment_id: uuid.UUID | None,
    source: str,
    threshold: int,
    now: dt.datetime,
) -> tuple[Taken, uuid.UUID]:
    """The next number and its ticket (told it is near when ``threshold`` or fewer are ahead).
    One statement where the backend has data-modifying CTEs (PostgreSQL: the counter's upsert and
    the ticket's insert in one round trip, so the queue row's lock is held the shortest time);
    elsewhere two."""
    ticket_id = uuid.uuid4()
    if not dialect_of(session).writable_ctes:
        taken = await take_number(session, facility_id, department_id, queue_date, now)
        await insert_ticket(
            session,
            taken=taken,
            citizen_id=citizen_id,
            appointment_id=appointment_id,
            source=source,
            told_approaching=taken.ahead <= threshold,
            now=now,
            ticket_id=ticket_id,
        )
        return taken, ticket_id
    row = (
        await session.execute(
            _NUMBER_AND_TICKET,
            {
                "queue_id": uuid.uuid4(),
                "facility_id": facility_id,
                "department_id": department_id,
                "queue_date": queue_date,
                "now": now,
                "ticket_id": ticket_id,
                "citizen_id": citizen_id,
                "appointment_id": appointment_id,
                "source": source,
                "status": WAITING,
                "threshold": threshold,
            },
        )
    ).one()
    return Taken(queue_id=uuid.UUID(str(row[0])), number=row[1], last_called=row[2]), ticket_id


async def insert_ticket(
    session: AsyncSession,
    *,
    taken: Taken,
    citizen_id: uuid.UUID,
    appointment_id: uuid.UUID | None,
    source: str,
    told_approaching: bool,
    now: dt.datetime,
    ticket_id: uuid.UUID | None = None,
) -> uuid.UUID:
    ticket_id = ticket_id or uuid.uuid4()
    await session.execute(
        cast(Table, QueueTicket.__table__)
        .insert()
        .values(
            id=ticket_id,
            queue_id=taken.queue_id,
            number=taken.number,
            citizen_id=citizen_id,
            appointment_id=appointment_id,
            source=source,
            status=WAITING,
            issued_at=now,
            recalls=0,
            approaching_told=told_approaching,
        )
    )
    return ticket_id
