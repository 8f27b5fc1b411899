"""How the appointment use cases start their write transactions and serialise where they must.

Lock order, everywhere: slots (by id) before appointments. Booking takes one slot with its
conditional update; cancelling and rescheduling lock their slot(s) first (by id), then update the
appointment; blocking or shrinking a slot locks the slot, then cancels its overflow. No two use
cases wait for each other in opposite orders, so PostgreSQL never has to break a deadlock.

SQLite has one writer at a time: a write use case starts with ``BEGIN IMMEDIATE``, so concurrent
writers queue on the database lock (``busy_timeout``) instead of failing with "database is locked"
when a reading transaction tries to become a writing one.
"""

from __future__ import annotations

import uuid

from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncSession

_CITIZEN_LOCK_SPACE = 0x0A990117  # the advisory-lock namespace of "a citizen's bookings"


async def begin_write(session: AsyncSession) -> None:
    """Open the session's transaction as a writer (a no-op on PostgreSQL, or when SQLite already
    is in a writing transaction)."""
    connection = await session.connection()
    if connection.dialect.name != "sqlite":
        return
    raw = await connection.get_raw_connection()
    if not raw.driver_connection.in_transaction:  # type: ignore[union-attr]
        await connection.exec_driver_sql("BEGIN IMMEDIATE")


def _lock_key(citizen_id: uuid.UUID) -> int:
    return int.from_bytes(citizen_id.bytes[:8], "big", signed=True) ^ _CITIZEN_LOCK_SPACE


_BOOKING_LOCKS = text(
    "SELECT CASE WHEN pg_try_advisory_xact_lock(:request) "
    "THEN (SELECT true FROM pg_advisory_xact_lock(:citizen)) ELSE false END"
)


async def lock_booking(session: AsyncSession, request_lock: int, citizen_id: uuid.UUID) -> bool:
    """PostgreSQL, one round trip: try the request's lock (an ``Idempotency-Key``); when it is
    free, wait for the citizen's bookings lock too. ``False``: a duplicate is in flight."""
    taken = await session.scalar(
        _BOOKING_LOCKS, {"request": request_lock, "citizen": _lock_key(citizen_id)}
    )
    return bool(taken)
