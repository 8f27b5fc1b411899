"""Slots: the hospital publishes (upserts) and blocks them; citizens search the bookable ones.

Each use case runs in the caller's transaction (:class:`SlotService` gives it a unit of work).
Publishing a batch is one transaction: every slot of the request is applied, or (on any error)
none. A slot that is blocked, or whose capacity shrinks below its appointments, cancels the
overflow — the latest booked first — and each of those citizens is told. A slot's time or
department cannot change while it holds appointments (409 ``slot-has-bookings``).
"""

from __future__ import annotations

import datetime as dt
import uuid
from typing import Any

import msgspec
from sqlalchemy import and_, or_, select
from sqlalchemy.ext.asyncio import AsyncSession

from api.appointments import changes, departments, fhir, schemas
from api.appointments.errors import SlotHasBookings
from api.appointments.models import BLOCKED, BOOKED, OPEN, Appointment, Slot
from api.appointments.rules import Limits, local_day
from api.core.dialect import begin_write
from api.core.errors import InvalidInput, NotFound, Unprocessable
from api.core.pagination import Cursors
from api.facilities import service as facilities
from api.facilities.schemas import Department

MAX_PAGE = 200
FHIR_MEDIA_TYPE = "application/fhir+json"


def parse_batch(body: bytes, content_type: str | None) -> list[schemas.SlotPut]:
    """The slots of a ``PUT /hospital/slots`` body: our JSON, or FHIR ``Slot`` resources."""
    if (content_type or "").split(";")[0].strip().lower() == FHIR_MEDIA_TYPE:
        return fhir.slots_from_fhir(body)
    try:
        return msgspec.json.decode(body, type=schemas.SlotBatch).slots
    except msgspec.ValidationError as exc:
        raise InvalidInput(f"invalid slots: {exc}") from exc
    except msgspec.DecodeError as exc:
        raise InvalidInput("the body is not JSON") from exc


def _validate(items: list[schemas.SlotPut]) -> None:
    seen: set[str] = set()
    for index, item in enumerate(items):
        if item.id in seen:
            raise InvalidInput(f"slot {item.id!r} appears twice", extra={"index": index})
        seen.add(item.id)
        if item.end <= item.start:
            raise InvalidInput(f"slot {item.id!r} ends before it starts", extra={"index": index})


async def publish(
    session: AsyncSession,
    facility_id: str,
    items: list[schemas.SlotPut],
    *,
    limits: Limits,
    now: dt.datetime,
) -> schemas.SlotPublishResult:
    _validate(items)
    await facilities.require_active(session, facility_id)
    codes = {item.department for item in items}
    found: dict[str, Department] = {}
    for code in sorted(codes):
        try:
            found[code] = await departments.department_by_code(session, facility_id, code)
        except NotFound as exc:
            raise Unprocessable(
                f"department {code!r} is not registered (active) at facility {facility_id}",
                extra={"department": code},
            ) from exc
    await begin_write(session)
    existing = {
        slot.external_id: slot
        for slot in await session.scalars(
            select(Slot)
            .where(Slot.facility_id == facility_id, Slot.external_id.in_([i.id for i in items]))
            .order_by(Slot.id)
            .with_for_update()
            .execution_options(populate_existing=True)
        )
    }
    outcomes: list[schemas.SlotOutcome] = []
    for item in items:
        department_id = uuid.UUID(found[item.department].id)
        slot = existing.get(item.id)
        if slot is None:
            slot = Slot(
                id=uuid.uuid4(),
                facility_id=facility_id,
                external_id=item.id,
                department_id=department_id,
                service=item.service,
                start_at=item.start,
                end_at=item.end,
                capacity=item.capacity,
                booked=0,
                status=item.status,
                created_at=now,
                updated_at=now,
            )
            session.add(slot)
            outcomes.append(_outcome(slot, "created", 0))
            continue
        wanted = {
            "department_id": department_id,
            "service": item.service,
            "start_at": item.start.astimezone(dt.UTC),
            "end_at": item.end.astimezone(dt.UTC),
            "capacity": item.capacity,
            "status": item.status,
        }
        outcomes.append(await _apply(session, slot, wanted, limits, now))
    return schemas.SlotPublishResult(
        created=sum(1 for o in outcomes if o.result == "created"),
        updated=sum(1 for o in outcomes if o.result == "updated"),
        unchanged=sum(1 for o in outcomes if o.result == "unchanged"),
        cancelled_appointments=sum(o.cancelled_appointments for o in outcomes),
        slots=outcomes,
    )


def _outcome(slot: Slot, result: schemas.SlotResult, cancelled: int) -> schemas.SlotOutcome:
    return schemas.SlotOutcome(
        id=slot.external_id,
        slot_id=str(slot.id),
        result=result,
        booked=slot.booked,
        cancelled_appointments=cancelled,
    )


async def _apply(
    session: AsyncSession,
    slot: Slot,
    wanted: dict[str, Any],
    limits: Limits,
    now: dt.datetime,
) -> schemas.SlotOutcome:
    """Update a locked slot to ``wanted``; cancel the appointments that no longer fit."""
    if all(getattr(slot, name) == value for name, value in wanted.items()):
        return _outcome(slot, "unchanged", 0)
    capacity, ref = wanted["capacity"], slot.external_id
    keep = 0 if wanted["status"] == BLOCKED else capacity
    cancelled = await _cancel_overflow(session, slot, slot.booked - keep, limits, now)
    booked = slot.booked - cancelled
    if booked > capacity:
        raise SlotHasBookings(
            f"slot {ref!r} holds {booked} checked-in or finished appointments, more than "
            f"the capacity {capacity}",
            extra={"slot": ref},
        )
    moved = any(
        getattr(slot, name) != wanted[name] for name in ("department_id", "start_at", "end_at")
    )
    if moved and booked > 0:
        raise SlotHasBookings(
            f"slot {ref!r} holds appointments: its time and department cannot change",
            extra={"slot": ref},
        )
    for name, value in wanted.items():
        setattr(slot, name, value)
    slot.booked = booked
    slot.updated_at = now
    await session.flush()
    return _outcome(slot, "updated", cancelled)


async def _cancel_overflow(
    session: AsyncSession, slot: Slot, overflow: int, limits: Limits, now: dt.datetime
) -> int:
    """Cancel up to ``overflow`` booked appointments of the (locked) slot, latest booked first."""
    if overflow <= 0:
        return 0
    latest = list(
        await session.scalars(
            select(Appointment)
            .where(Appointment.slot_id == slot.id, Appointment.status == BOOKED)
            .order_by(Appointment.created_at.desc(), Appointment.id.desc())
            .limit(overflow)
            .with_for_update()
            .execution_options(populate_existing=True)
        )
    )
    for appointment in latest:
        await changes.cancel_appointment(
            session,
            appointment,
            by="hospital",
            reason="the facility changed the slot",
            limits=limits,
            now=now,
        )
    return len(latest)


async def block(
    session: AsyncSession, facility_id: str, external_id: str, *, limits: Limits, now: dt.datetime
) -> schemas.SlotOutcome:
    """Block one slot (the hospital's id): nothing more is booked there, its appointments are
    cancelled and their citizens told."""
    await begin_write(session)
    slot = await session.scalar(
        select(Slot)
        .where(Slot.facility_id == facility_id, Slot.external_id == external_id)
        .with_for_update()
        .execution_options(populate_existing=True)
    )
    if slot is None:
        raise NotFound("no such slot")
    wanted = {
        name: getattr(slot, name)
        for name in ("department_id", "service", "start_at", "end_at", "capacity")
    }
    return await _apply(session, slot, {**wanted, "status": BLOCKED}, limits, now)


async def search(
    session: AsyncSession,
    cursors: Cursors,
    facility_id: str,
    *,
    department: str | None,
    day: dt.date | None,
    start_from: dt.datetime | None,
    start_to: dt.datetime | None,
    limit: int,
    cursor: str | None,
    limits: Limits,
    now: dt.datetime,
) -> schemas.SlotPage:
    """Bookable slots of a facility: open, starting after now and within the booking window,
    with a free place; ``day`` is a date in the facility's time zone."""
    for name, value in (("from", start_from), ("to", start_to)):
        if value is not None and value.tzinfo is None:
            raise InvalidInput(f"`{name}` needs a time zone (e.g. 2026-12-01T08:00:00+07:00)")
    facility = await facilities.require_active(session, facility_id)
    limit = max(1, min(limit, MAX_PAGE))
    query = select(Slot).where(
        Slot.facility_id == facility_id,
        Slot.status == OPEN,
        Slot.booked < Slot.capacity,
        Slot.start_at > now,
        Slot.start_at <= now + limits.window,
    )
    if department is not None:
        found = await departments.department_by_code(session, facility_id, department)
        query = query.where(Slot.department_id == uuid.UUID(found.id))
    if day is not None:
        first, last = local_day(day, facility.time_zone)
        query = query.where(Slot.start_at >= first, Slot.start_at < last)
    if start_from is not None:
        query = query.where(Slot.start_at >= start_from)
    if start_to is not None:
        query = query.where(Slot.start_at < start_to)
    scope = f"slots|{facility_id}|{department}|{day}|{start_from}|{start_to}"
    after = cursors.decode(scope, cursor)
    if after is not None:
        try:
            at, last_id = dt.datetime.fromisoformat(after[0]), uuid.UUID(after[1])
        except (ValueError, TypeError, IndexError) as exc:
            raise InvalidInput("invalid cursor", field="cursor", source="query") from exc
        query = query.where(or_(Slot.start_at > at, and_(Slot.start_at == at, Slot.id > last_id)))
    rows = list(await session.scalars(query.order_by(Slot.start_at, Slot.id).limit(limit + 1)))
    more = len(rows) > limit
    rows = rows[:limit]
    names = await departments.departments(session, facility_id)
    items = [
        schemas.Slot(
            id=str(slot.id),
            facility_id=slot.facility_id,
            department=departments.view(names[str(slot.department_id)]),
            service=slot.service,
            start=slot.start_at,
            end=slot.end_at,
            capacity=slot.capacity,
            remaining=slot.capacity - slot.booked,
        )
        for slot in rows
    ]
    next_cursor = None
    if more and rows:
        next_cursor = cursors.encode(scope, [rows[-1].start_at.isoformat(), str(rows[-1].id)])
    return schemas.SlotPage(items=items, next_cursor=next_cursor)


async def departments_with_slots(
    session: AsyncSession, facility_id: str, codes: list[str], *, now: dt.datetime
) -> set[str]:
    """Which of ``codes`` (department codes of ``facility_id``) have open slots ahead: where a
    "book near this date" link can lead somewhere."""
    found: set[str] = set()
    for code in sorted(set(codes)):
        try:
            department = await departments.department_by_code(session, facility_id, code)
        except NotFound:
            continue
        open_slot = await session.scalar(
            select(Slot.id)
            .where(
                Slot.facility_id == facility_id,
                Slot.department_id == uuid.UUID(department.id),
                Slot.status == OPEN,
                Slot.start_at > now,
            )
            .limit(1)
        )
        if open_slot is not None:
            found.add(code)
    return found
