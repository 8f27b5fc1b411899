"""What a queue tells its citizens, through the outbox, in the use case's transaction.

Keys: ``ticket:{id}:issued`` ("checked in", number and place), ``ticket:{id}:approaching`` (once,
when few people are ahead), ``ticket:{id}:call:{recalls}`` ("your turn, room N", again at each
recall). The three share a collapse key on the phone, so the newest replaces the older.
"""

from __future__ import annotations

import datetime as dt
import uuid
from dataclasses import dataclass

from sqlalchemy.ext.asyncio import AsyncSession

from notifications import messages, outbox


@dataclass(frozen=True)
class Place:
    facility_name: str
    department_name: str | None


async def checked_in(
    session: AsyncSession,
    *,
    citizen_id: uuid.UUID,
    ticket_id: uuid.UUID,
    appointment_id: uuid.UUID | None,
    number: int,
    place: Place,
    now: dt.datetime,
) -> None:
    await outbox.enqueue(
        session,
        citizen_id,
        messages.CheckedIn(
            ticket_id=str(ticket_id),
            appointment_id=str(appointment_id) if appointment_id else None,
            facility_name=place.facility_name[:200],
            department_name=place.department_name[:200] if place.department_name else None,
            queue_number=number,
        ),
        dedupe_key=f"ticket:{ticket_id}:issued",
        now=now,
    )


async def approaching(
    session: AsyncSession,
    *,
    citizen_id: uuid.UUID,
    ticket_id: uuid.UUID,
    number: int,
    ahead: int,
    place: Place,
    now: dt.datetime,
) -> None:
    await outbox.enqueue(
        session,
        citizen_id,
        messages.QueueApproaching(
            ticket_id=str(ticket_id),
            facility_name=place.facility_name[:200],
            department_name=place.department_name[:200] if place.department_name else None,
            queue_number=number,
            ahead=ahead,
        ),
        dedupe_key=f"ticket:{ticket_id}:approaching",
        now=now,
    )


async def your_turn(
    session: AsyncSession,
    *,
    citizen_id: uuid.UUID,
    ticket_id: uuid.UUID,
    number: int,
    room: str | None,
    recalls: int,
    place: Place,
    now: dt.datetime,
) -> None:
    await outbox.enqueue(
        session,
        citizen_id,
        messages.YourTurn(
            ticket_id=str(ticket_id),
            facility_name=place.facility_name[:200],
            department_name=place.department_name[:200] if place.department_name else None,
            queue_number=number,
            room=room[:40] if room else None,
        ),
        dedupe_key=f"ticket:{ticket_id}:call:{recalls}",
        now=now,
    )
