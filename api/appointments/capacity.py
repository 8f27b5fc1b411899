"""A slot's places: taken by one conditional update, given back by one decrement.

``UPDATE appointment_slot SET booked = booked + 1 WHERE id = :id AND status = 'open' AND
booked < capacity AND start_at > :now AND start_at <= :window_end`` either changes the row (a place
is ours) or changes nothing (no place: we find out why and answer 409). There is never a
read-then-write of ``booked``; a check constraint keeps ``0 <= booked <= capacity`` besides.
"""

from __future__ import annotations

import datetime as dt
import uuid
from typing import NamedTuple, NoReturn, cast

from sqlalchemy import Table, bindparam, case, func, insert, select, update
from sqlalchemy.ext.asyncio import AsyncSession

from api.appointments.errors import SlotFull, SlotUnavailable
from api.appointments.models import BLOCKED, OPEN, Appointment, Slot
from api.appointments.rules import ACTIVE, Limits
from api.core.errors import NotFound, Unprocessable
from api.facilities import service as facilities


class Place(NamedTuple):
    """The slot a place was taken on."""

    id: uuid.UUID
    facility_id: str
    department_id: uuid.UUID
    start_at: dt.datetime
    end_at: dt.datetime
    service: str | None


async def lock_slots(session: AsyncSession, slot_ids: list[uuid.UUID]) -> None:
    """Row locks on the slots, in id order (the lock order of every use case)."""
    await session.execute(
        select(Slot.id).where(Slot.id.in_(slot_ids)).order_by(Slot.id).with_for_update()
    )


_slot = cast("Table", Slot.__table__)  # a mapped class's table (typed as any FROM clause)
_appointment = cast("Table", Appointment.__table__)
_TAKE = (
    update(_slot)
    .where(
        _slot.c.id == bindparam("slot_id"),
        _slot.c.status == OPEN,
        _slot.c.booked < _slot.c.capacity,
        _slot.c.start_at > bindparam("now"),
        _slot.c.start_at <= bindparam("window_end"),
    )
    .values(booked=_slot.c.booked + 1)
    .returning(
        _slot.c.id,
        _slot.c.facility_id,
        _slot.c.department_id,
        _slot.c.start_at,
        _slot.c.end_at,
        _slot.c.service,
    )
)
_TAKE_AT_FACILITY = _TAKE.where(_slot.c.facility_id == bindparam("at_facility"))
ACTIVE_AND_HERE = select(
    func.count(),
    func.coalesce(func.sum(case((_appointment.c.slot_id == bindparam("slot_id"), 1), else_=0)), 0),
).where(
    _appointment.c.citizen_id == bindparam("citizen_id"),
    _appointment.c.status.in_(ACTIVE),
    _appointment.c.end_at > bindparam("now"),
)
INSERT_APPOINTMENT = insert(_appointment)
"""Statements of the booking path, built once (no per-request construction or cache keys)."""


async def take_place(
    session: AsyncSession,
    slot_id: uuid.UUID,
    limits: Limits,
    now: dt.datetime,
    *,
    facility_id: str | None = None,
) -> Place:
    """Take one place of the slot with the conditional update, or raise why there is none."""
    params = {"slot_id": slot_id, "now": now, "window_end": now + limits.window}
    if facility_id is None:
        statement = _TAKE
    else:
        statement, params["at_facility"] = _TAKE_AT_FACILITY, facility_id
    taken = (await session.execute(statement, params)).one_or_none()
    if taken is None:
        await _why_not(session, slot_id, limits, now, facility_id)
    return Place(*taken)


async def require_open_facility(session: AsyncSession, facility_id: str) -> None:
    """The slot's facility must be active to take bookings (checked after the place is taken:
    the caller rolls back)."""
    try:
        await facilities.require_active(session, facility_id)
    except NotFound as exc:
        raise SlotUnavailable("the facility does not take bookings now") from exc


async def _why_not(
    session: AsyncSession,
    slot_id: uuid.UUID,
    limits: Limits,
    now: dt.datetime,
    facility_id: str | None,
) -> NoReturn:
    slot = await session.get(Slot, slot_id, populate_existing=True)
    if slot is None:
        raise NotFound("no such slot")
    extra = {"slot_id": str(slot_id)}
    if facility_id is not None and slot.facility_id != facility_id:
        raise Unprocessable(
            "an appointment moves within its facility; book the other facility's slot instead",
            extra=extra,
        )
    if slot.status == BLOCKED:
        raise SlotUnavailable("the slot is blocked by the facility", extra=extra)
    if slot.start_at <= now:
        raise SlotUnavailable("the slot has started", extra=extra)
    if slot.start_at > now + limits.window:
        days = limits.window.days
        raise SlotUnavailable(f"slots can be booked up to {days} days ahead", extra=extra)
    raise SlotFull("every place of the slot is taken", extra={**extra, "capacity": slot.capacity})


async def release_place(session: AsyncSession, slot_id: uuid.UUID) -> None:
    await session.execute(
        update(Slot)
        .where(Slot.id == slot_id)
        .values(booked=Slot.booked - 1)
        .execution_options(synchronize_session=False)
    )
