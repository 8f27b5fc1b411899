"""What a queue tells its citizens, through the outbox, in the use case's transaction.

Keys: ``ticket:{id}:issued`` ("checked in", number and place), ``ticket:{id}:approaching`` (once,
when few people are ahead), ``ticket:{id}:call:{recalls}`` ("your turn, room N", again at each
recall). The three share a collapse key on the phone, so the newest replaces the older.
"""

from __future__ import annotations

import datetime as dt
import uuid
from dataclasses import dataclass
from typing import TypedDict

from sqlalchemy.ext.asyncio import AsyncSession

from notifications import messages, outbox


@dataclass(frozen=True)
class Place:
    facility_name: str
    department_name: str | None


class _TicketFields(TypedDict):
    ticket_id: str
    facility_name: str
    department_name: str | None
    queue_number: int


def _about(ticket_id: uuid.UUID, number: int, place: Place) -> _TicketFields:
    """The fields every message about a ticket carries, names cut to what a message holds."""
    return _TicketFields(
        ticket_id=str(ticket_id),
        facility_name=place.facility_name[:200],
        department_name=place.department_name[:200] if place.department_name else None,
        queue_number=number,
    )


async def _enqueue(
    session: AsyncSession,
    citizen_id: uuid.UUID,
    message: messages.CheckedIn | messages.QueueApproaching | messages.YourTurn,
    *,
    event: str,
    now: dt.datetime,
) -> None:
    """Enqueue ``message``, once per ``event`` of its ticket."""
    await outbox.enqueue(
        session, citizen_id, message, dedupe_key=f"ticket:{message.ticket_id}:{event}", now=now
    )


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
    message = messages.CheckedIn(
        **_about(ticket_id, number, place),
        appointment_id=str(appointment_id) if appointment_id else None,
    )
    await _enqueue(session, citizen_id, message, event="issued", now=now)


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
    message = messages.QueueApproaching(**_about(ticket_id, number, place), ahead=ahead)
    await _enqueue(session, citizen_id, message, event="approaching", now=now)


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
    message = messages.YourTurn(
        **_about(ticket_id, number, place), room=room[:40] if room else None
    )
    await _enqueue(session, citizen_id, message, event=f"call:{recalls}", now=now)
