"""Booking: one citizen takes one place, exactly once per ``Idempotency-Key``.

The place is taken by :func:`api.appointments.capacity.take_place` (one conditional update, never
a read-then-write); the appointment, its confirmation and reminders (outbox) and the stored answer
of the key commit together, in the caller's unit of work (:func:`book` commits nothing itself).
"""

from __future__ import annotations

import contextlib
import datetime as dt
import uuid
from typing import NamedTuple

import msgspec
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncSession

from api.appointments import idempotency, notifications, schemas, views
from api.appointments.capacity import (
    ACTIVE_AND_HERE,
    INSERT_APPOINTMENT,
    require_open_facility,
    take_place,
)
from api.appointments.errors import (
    AlreadyBooked,
    IdempotencyInProgress,
    IdempotencyMismatch,
    LimitReached,
)
from api.appointments.idempotency import Answer, RenderError
from api.appointments.locking import lock_booking
from api.appointments.models import BOOKED, Appointment
from api.appointments.rules import Limits
from api.core.errors import DomainError
from api.core.uow import UnitOfWork

CREATED = 201


async def book(
    uow: UnitOfWork,
    *,
    citizen_id: uuid.UUID,
    actor_id: uuid.UUID,
    data: schemas.AppointmentCreate,
    idempotency_key: str,
    limits: Limits,
    now: dt.datetime,
    render_error: RenderError,
) -> Answer | DomainError:
    """Book ``data.slot_id`` for ``citizen_id`` (by ``actor_id``: themselves or a guardian).

    Answers the JSON of the appointment (201), or the stored answer of the first request with
    the same ``Idempotency-Key`` (see :mod:`api.appointments.idempotency`). A refusal is raised;
    when it is stored for replay, ``render_error`` made its document and the error carries those
    bytes (``recorded``).

    Runs in ``uow``, whose commit stores what this did (the booking and its answer, or a
    refusal's answer): a refusal whose answer is stored is returned, for the caller to raise once
    the unit of work has committed; any other refusal is raised at once (nothing to keep)."""
    request = Request(
        actor_id,
        idempotency_key,
        idempotency.request_hash(f"POST /citizens/{citizen_id}/appointments", data),
        render_error,
    )
    return await _book_once(uow, request, citizen_id, data, limits, now)


class Request(NamedTuple):
    """Who sent which ``Idempotency-Key`` with which request."""

    actor_id: uuid.UUID
    key: str
    fingerprint: str
    render_error: RenderError


class Refused(Exception):
    """The booking was refused before anything was written (full, not bookable, limit...)."""

    def __init__(self, error: DomainError) -> None:
        super().__init__(str(error))
        self.error = error


_IDEMPOTENCY_ERRORS = (IdempotencyInProgress, IdempotencyMismatch, idempotency.ReplayedProblem)


async def _book_once(
    uow: UnitOfWork,
    request: Request,
    citizen_id: uuid.UUID,
    data: schemas.AppointmentCreate,
    limits: Limits,
    now: dt.datetime,
) -> Answer | DomainError:
    """One transaction: the request's lock, the stored answer or the booking, and the answer
    stored with it; or a refusal (returned, to raise once its stored answer is committed). The
    locks end with the transaction: whatever fails rolls back before it answers, which frees the
    key for a retry."""
    session = uow.session
    actor, key, fingerprint, render = request
    try:
        if not await lock_booking(session, idempotency.lock_key(actor, key), citizen_id):
            raise IdempotencyInProgress(
                "a request with this Idempotency-Key is in progress",
                headers={"Retry-After": "1"},
            )
        stored = await idempotency.lookup(
            session, actor, key, fingerprint, now=now, ttl=limits.idempotency_ttl
        )
        if stored is not None:
            await uow.rollback()
            return stored
        answer = await _book(session, citizen_id, actor, data, limits, now)
    except _IDEMPOTENCY_ERRORS:
        raise  # the unit of work rolls back
    except Refused as refused:  # nothing written: the refusal is stored in this transaction
        if not idempotency.storable(refused.error):
            raise refused.error from None
        answer = idempotency.error_answer(refused.error, render)
        expired = now - limits.idempotency_ttl
        await idempotency.save(session, actor, key, fingerprint, answer, now=now, only_over=expired)
        return refused.error
    except DomainError as error:
        if not idempotency.storable(error):
            raise
        await idempotency.save_error(
            uow,
            actor,
            key,
            fingerprint,
            idempotency.error_answer(error, render),
            now=now,
            ttl=limits.idempotency_ttl,
        )
        return error
    except Exception:
        # unexpected (database away...): end the transaction now, which frees the key's lock
        # before the answer leaves, so the retry runs the request anew (a connection that is
        # gone has nothing to roll back: the original error is the one to answer)
        with contextlib.suppress(Exception):
            await uow.rollback()
        raise
    await idempotency.save(session, actor, key, fingerprint, answer, now=now)
    await idempotency.maybe_purge(session, now - limits.idempotency_ttl)
    return answer


async def _book(
    session: AsyncSession,
    citizen_id: uuid.UUID,
    actor_id: uuid.UUID,
    data: schemas.AppointmentCreate,
    limits: Limits,
    now: dt.datetime,
) -> Answer:
    """The booking itself, in the caller's transaction (holding the request's and the citizen's
    locks, as a writer): the answer to store."""
    try:
        active, here = (
            await session.execute(
                ACTIVE_AND_HERE, {"slot_id": data.slot_id, "citizen_id": citizen_id, "now": now}
            )
        ).one()
        if here:
            raise AlreadyBooked("you already hold an appointment on this slot")
        if active >= limits.max_active:
            raise LimitReached(
                f"at most {limits.max_active} upcoming appointments at a time",
                extra={"limit": limits.max_active},
            )
        slot = await take_place(session, data.slot_id, limits, now)
    except DomainError as error:
        raise Refused(error) from error
    await require_open_facility(session, slot.facility_id)
    values = {
        "id": uuid.uuid4(),
        "citizen_id": citizen_id,
        "booked_by": actor_id,
        "slot_id": slot.id,
        "facility_id": slot.facility_id,
        "department_id": slot.department_id,
        "start_at": slot.start_at,
        "end_at": slot.end_at,
        "status": BOOKED,
        "cancelled_by": None,
        "cancel_reason": None,
        "reschedules": 0,
        "created_at": now,
        "updated_at": now,
        "checked_in_at": None,
        "finished_at": None,
    }
    try:
        await session.execute(INSERT_APPOINTMENT, values)
    except IntegrityError as exc:  # a concurrent request of the same citizen, same slot
        raise AlreadyBooked("you already hold an appointment on this slot") from exc
    appointment = Appointment(**values)  # what was stored (not attached to the session)
    await notifications.booked(
        session, await views.notice(session, appointment), limits.reminder_minutes, now
    )
    view = await views.citizen_view(session, appointment, slot.service, limits)
    return Answer(CREATED, msgspec.json.encode(view))
