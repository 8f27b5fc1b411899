"""How the appointment use cases serialise where they must.

Lock order, everywhere: slots (by id) before appointments. Booking takes one slot with its
conditional update; cancelling and rescheduling lock their slot(s) first (by id), then update the
appointment; blocking or shrinking a slot locks the slot, then cancels its overflow. No two use
cases wait for each other in opposite orders, so PostgreSQL never has to break a deadlock.

A write use case starts with :func:`api.core.dialect.begin_write` (SQLite's single writer: writers
queue instead of failing when a reader upgrades).
"""

from __future__ import annotations

import uuid

from sqlalchemy.ext.asyncio import AsyncSession

from api.core.dialect import dialect_of

_CITIZEN_LOCK_SPACE = 0x0A990117  # the lock namespace of "a citizen's bookings"


def _lock_key(citizen_id: uuid.UUID) -> int:
    return int.from_bytes(citizen_id.bytes[:8], "big", signed=True) ^ _CITIZEN_LOCK_SPACE


async def lock_booking(session: AsyncSession, request_lock: int, citizen_id: uuid.UUID) -> bool:
    """Take the request's lock (an ``Idempotency-Key``) and then the citizen's bookings lock, both
    until the transaction ends, and open it as a writer (one round trip on PostgreSQL).
    ``False``: a duplicate is in flight."""
    return await dialect_of(session).lock_request(session, request_lock, _lock_key(citizen_id))
