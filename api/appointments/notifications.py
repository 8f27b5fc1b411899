"""What an appointment tells its citizen, through the outbox, in the use case's transaction.

Keys: ``appointment:{id}:booked``; reminders ``appointment:{id}:v{reschedules}:reminder:{minutes}``
(the version makes each move schedule anew: a withdrawn key stays taken);
``appointment:{id}:v{reschedules}:rescheduled``; ``appointment:{id}:cancelled``.
"""

from __future__ import annotations

import datetime as dt
import uuid
from collections.abc import Sequence
from dataclasses import dataclass
from typing import TypedDict

from sqlalchemy.ext.asyncio import AsyncSession

from notifications import messages, outbox


@dataclass(frozen=True)
class Notice:
    """What the texts of one appointment need."""

    appointment_id: uuid.UUID
    citizen_id: uuid.UUID
    facility_name: str
    department_name: str | None
    starts_at: dt.datetime
    version: int


def reminder_key(appointment_id: uuid.UUID, version: int, minutes: int) -> str:
    return f"appointment:{appointment_id}:v{version}:reminder:{minutes}"


class _Common(TypedDict):
    """What every appointment message says."""

    appointment_id: str
    facility_name: str
    department_name: str | None
    starts_at: dt.datetime


def _common(notice: Notice) -> _Common:
    return {
        "appointment_id": str(notice.appointment_id),
        "facility_name": notice.facility_name[:200],
        "department_name": notice.department_name[:200] if notice.department_name else None,
        "starts_at": notice.starts_at,
    }


def reminders(notice: Notice, minutes: Sequence[int], now: dt.datetime) -> list[outbox.Pending]:
    """One reminder per offset still ahead (a booking two hours out gets no 24-hour reminder)."""
    items = []
    for offset in sorted(set(minutes), reverse=True):
        due = notice.starts_at - dt.timedelta(minutes=offset)
        if due <= now:
            continue
        items.append(
            outbox.Pending(
                citizen_id=notice.citizen_id,
                message=messages.AppointmentReminder(**_common(notice)),
                due_at=due,
                dedupe_key=reminder_key(notice.appointment_id, notice.version, offset),
            )
        )
    return items


async def withdraw_reminders(
    session: AsyncSession,
    appointment_id: uuid.UUID,
    version: int,
    minutes: Sequence[int],
    now: dt.datetime,
) -> None:
    for offset in set(minutes):
        await outbox.cancel(session, reminder_key(appointment_id, version, offset), now=now)


async def booked(
    session: AsyncSession, notice: Notice, reminder_minutes: Sequence[int], now: dt.datetime
) -> None:
    confirmation = outbox.Pending(
        citizen_id=notice.citizen_id,
        message=messages.AppointmentBooked(**_common(notice)),
        dedupe_key=f"appointment:{notice.appointment_id}:booked",
    )
    await outbox.enqueue_many(
        session, [confirmation, *reminders(notice, reminder_minutes, now)], now=now
    )


async def rescheduled(
    session: AsyncSession,
    notice: Notice,
    previous_starts_at: dt.datetime,
    reminder_minutes: Sequence[int],
    now: dt.datetime,
) -> None:
    """``notice.version`` is the new one; the previous version's reminders are withdrawn."""
    await withdraw_reminders(
        session, notice.appointment_id, notice.version - 1, reminder_minutes, now
    )
    moved = outbox.Pending(
        citizen_id=notice.citizen_id,
        message=messages.AppointmentRescheduled(
            **_common(notice), previous_starts_at=previous_starts_at
        ),
        dedupe_key=f"appointment:{notice.appointment_id}:v{notice.version}:rescheduled",
    )
    await outbox.enqueue_many(session, [moved, *reminders(notice, reminder_minutes, now)], now=now)


async def cancelled(
    session: AsyncSession,
    notice: Notice,
    *,
    by_hospital: bool,
    reminder_minutes: Sequence[int],
    now: dt.datetime,
) -> None:
    """Withdraw the reminders; tell the citizen when it was the hospital (they know otherwise)."""
    await withdraw_reminders(session, notice.appointment_id, notice.version, reminder_minutes, now)
    if by_hospital:
        await outbox.enqueue(
            session,
            notice.citizen_id,
            messages.AppointmentCancelled(**_common(notice)),
            dedupe_key=f"appointment:{notice.appointment_id}:cancelled",
            now=now,
        )
