"""The appointments domain's use cases, and what it publishes to other domains.

:class:`AppointmentService` (citizens' bookings, changes and lists; the hospital's day list and
status changes) and :class:`SlotService` (the hospital's slots, the public slot search) run each
use case in a unit of work of its own: the unit of work owns the commit, and nothing here
commits. Other domains call :func:`check_in` and :func:`get_for_citizen` in their own
transaction, with :class:`Limits` (the configured booking rules).
"""

from __future__ import annotations

import datetime as dt
import uuid
from collections.abc import Callable
from dataclasses import dataclass

from sqlalchemy import select, update
from sqlalchemy.ext.asyncio import AsyncSession

from api.appointments import booking, changes, queries, schemas, slots, views
from api.appointments.capacity import lock_slots
from api.appointments.changes import cancel_appointment
from api.appointments.errors import IllegalTransition
from api.appointments.idempotency import Answer, RenderError
from api.appointments.models import BOOKED, CANCELLED, CHECKED_IN, NO_SHOW, Appointment
from api.appointments.rules import TRANSITIONS, Limits, illegal
from api.core.clock import Clock
from api.core.dialect import begin_write
from api.core.errors import DomainError
from api.core.pagination import Cursors
from api.core.uow import UnitOfWorkFactory
from api.identity.citizens import CitizenDirectory

__all__ = [
    "AppointmentService",
    "CheckedIn",
    "Limits",
    "SlotService",
    "check_in",
    "departments_with_slots",
    "get_for_citizen",
    "set_status",
]

MAX_PAGE = queries.MAX_PAGE
departments_with_slots = slots.departments_with_slots


@dataclass(frozen=True, slots=True)
class CheckedIn:
    """What a check-in changed: the appointment, whose it is, where, and how often it was moved
    (the check-in code names the version it was issued for)."""

    id: uuid.UUID
    citizen_id: uuid.UUID
    department_id: uuid.UUID
    reschedules: int


async def check_in(
    session: AsyncSession, appointment_id: uuid.UUID, facility_id: str, now: dt.datetime
) -> CheckedIn:
    """Move a ``booked`` appointment at ``facility_id`` to ``checked_in``, in the caller's
    transaction (the caller commits, with whatever else its check-in writes).

    One conditional update (``WHERE status = 'booked'``) that returns what the caller needs: of
    two concurrent check-ins one wins, and the row is read again only to explain a refusal.
    Raises ``NotFound`` (no such appointment at this facility), ``AppointmentCancelled``,
    ``AlreadyCheckedIn``, or ``IllegalTransition`` (completed, no-show).
    """
    await begin_write(session)
    done = await session.execute(
        update(Appointment)
        .where(
            Appointment.id == appointment_id,
            Appointment.facility_id == facility_id,
            Appointment.status == BOOKED,
        )
        .values(status=CHECKED_IN, checked_in_at=now, updated_at=now)
        .returning(
            Appointment.id,
            Appointment.citizen_id,
            Appointment.department_id,
            Appointment.reschedules,
        )
        .execution_options(synchronize_session=False)
    )
    row = done.one_or_none()
    if row is None:
        appointment, _ = await views.load(session, appointment_id, facility_id=facility_id)
        raise illegal(appointment.status, CHECKED_IN)
    return CheckedIn(*row)


async def _finish(
    session: AsyncSession,
    appointment: Appointment,
    target: str,
    now: dt.datetime,
) -> None:
    """completed (from checked_in) or no_show (from booked or checked_in, after the start)."""
    allowed = [s for s, targets in TRANSITIONS.items() if target in targets]
    if appointment.status not in allowed:
        raise illegal(appointment.status, target)
    if target == NO_SHOW and now < appointment.start_at:
        raise IllegalTransition(
            "a no-show can be recorded from the appointment's start",
            extra={"current_status": appointment.status},
        )
    done = await session.execute(
        update(Appointment)
        .where(Appointment.id == appointment.id, Appointment.status.in_(allowed))
        .values(status=target, finished_at=now, updated_at=now)
        .returning(Appointment.id)
        .execution_options(synchronize_session=False)
    )
    if done.scalar_one_or_none() is None:  # changed since it was read
        current = await session.scalar(
            select(Appointment.status).where(Appointment.id == appointment.id)
        )
        raise illegal(str(current), target)


async def set_status(
    session: AsyncSession,
    *,
    facility_id: str,
    appointment_id: uuid.UUID,
    data: schemas.AppointmentStatusChange,
    limits: Limits,
    now: dt.datetime,
) -> None:
    """The hospital records what happened: checked in, completed, no-show, or cancels it (the
    citizen is told); in the caller's transaction."""
    await begin_write(session)
    if data.status == CHECKED_IN:
        await check_in(session, appointment_id, facility_id, now)
    else:
        appointment, _ = await views.load(session, appointment_id, facility_id=facility_id)
        if data.status == CANCELLED:
            if appointment.status != BOOKED:
                raise illegal(appointment.status, CANCELLED)
            await lock_slots(session, [appointment.slot_id])
            await cancel_appointment(
                session, appointment, by="hospital", reason=data.reason, limits=limits, now=now
            )
        else:
            await _finish(session, appointment, data.status, now)


async def get_for_citizen(
    session: AsyncSession, citizen_id: uuid.UUID, appointment_id: uuid.UUID, limits: Limits
) -> schemas.Appointment:
    """The citizen's view of one of their appointments (in the caller's transaction)."""
    appointment, slot = await views.load(session, appointment_id, citizen_id=citizen_id)
    return await views.citizen_view(session, appointment, slot.service, limits)


class AppointmentService:
    """Citizens' bookings, cancellations, moves and lists; the hospital's day list and the
    statuses it records. Each method is one use case in a unit of work of its own."""

    def __init__(
        self,
        *,
        uow: UnitOfWorkFactory,
        cursors: Cursors,
        directory: CitizenDirectory,
        limits: Limits,
        clock: Clock,
        record_access: Callable[..., None] | None = None,
    ) -> None:
        self._uow = uow
        self._cursors = cursors
        self._directory = directory
        self.limits = limits
        self._clock = clock
        self._record_access = record_access
        """Writes a row of a citizen's access log in a session (the hospital's reads of intake
        answers in its day list)."""

    async def book(
        self,
        *,
        citizen_id: uuid.UUID,
        actor_id: uuid.UUID,
        data: schemas.AppointmentCreate,
        idempotency_key: str,
        render_error: RenderError,
    ) -> Answer:
        """Book ``data.slot_id`` for ``citizen_id`` once per ``Idempotency-Key`` (see
        :func:`api.appointments.booking.book`). A refusal whose answer is kept for replay is
        raised once that answer is committed."""
        async with self._uow() as uow:
            outcome = await booking.book(
                uow,
                citizen_id=citizen_id,
                actor_id=actor_id,
                data=data,
                idempotency_key=idempotency_key,
                limits=self.limits,
                now=self._clock.now(),
                render_error=render_error,
            )
        if isinstance(outcome, DomainError):
            raise outcome
        return outcome

    async def cancel(
        self, *, citizen_id: uuid.UUID, appointment_id: uuid.UUID
    ) -> schemas.Appointment:
        async with self._uow() as uow:
            return await changes.cancel(
                uow.session,
                citizen_id=citizen_id,
                appointment_id=appointment_id,
                limits=self.limits,
                now=self._clock.now(),
            )

    async def reschedule(
        self,
        *,
        citizen_id: uuid.UUID,
        appointment_id: uuid.UUID,
        data: schemas.AppointmentReschedule,
    ) -> schemas.Appointment:
        async with self._uow() as uow:
            return await changes.reschedule(
                uow.session,
                citizen_id=citizen_id,
                appointment_id=appointment_id,
                data=data,
                limits=self.limits,
                now=self._clock.now(),
            )

    async def get_for_citizen(
        self, citizen_id: uuid.UUID, appointment_id: uuid.UUID
    ) -> schemas.Appointment:
        async with self._uow() as uow:
            return await get_for_citizen(uow.session, citizen_id, appointment_id, self.limits)

    async def list_for_citizen(
        self, citizen_id: uuid.UUID, *, when: str, limit: int, cursor: str | None
    ) -> schemas.AppointmentPage:
        async with self._uow() as uow:
            return await queries.list_for_citizen(
                uow.session,
                self._cursors,
                citizen_id,
                when=when,
                limit=limit,
                cursor=cursor,
                limits=self.limits,
                now=self._clock.now(),
            )

    async def list_for_facility(
        self,
        *,
        facility_id: str | None,
        day: dt.date | None,
        department: str | None,
        status: str | None,
        limit: int,
        cursor: str | None,
        reader: str | None = None,
    ) -> schemas.HospitalAppointmentPage:
        """The day list; each patient's intake answers it shows are logged as read by
        ``reader`` (the hospital client), committed with the answer."""
        async with self._uow() as uow:
            record, session, now = self._record_access, uow.session, self._clock.now()
            on_read: Callable[[uuid.UUID, str], None] | None = None
            if reader is not None and record is not None:

                def log_read(citizen_id: uuid.UUID, resource: str) -> None:
                    record(
                        session,
                        citizen_id=citizen_id,
                        actor_kind="facility",
                        actor_id=reader,
                        action="read",
                        now=now,
                        resource=resource,
                        purpose="intake questionnaire (day list)",
                        detail={"facility_id": facility_id},
                    )

                on_read = log_read

            return await queries.list_for_facility(
                uow.session,
                self._cursors,
                self._directory,
                facility_id=facility_id,
                day=day,
                department=department,
                status=status,
                limit=limit,
                cursor=cursor,
                now=now,
                on_read=on_read,
            )

    async def set_status(
        self,
        *,
        facility_id: str,
        appointment_id: uuid.UUID,
        data: schemas.AppointmentStatusChange,
    ) -> schemas.HospitalAppointment:
        """The hospital's change, committed; then the appointment as it now stands."""
        now = self._clock.now()
        async with self._uow() as uow:
            await set_status(
                uow.session,
                facility_id=facility_id,
                appointment_id=appointment_id,
                data=data,
                limits=self.limits,
                now=now,
            )
        async with self._uow() as uow:
            appointment, slot = await views.load(uow.session, appointment_id)
            return await views.hospital_view(uow.session, appointment, slot, self._directory, now)


class SlotService:
    """The hospital's slots (publish, block) and the public search of bookable ones. Each method
    is one use case in a unit of work of its own."""

    def __init__(
        self, *, uow: UnitOfWorkFactory, cursors: Cursors, limits: Limits, clock: Clock
    ) -> None:
        self._uow = uow
        self._cursors = cursors
        self._limits = limits
        self._clock = clock

    async def publish(
        self, facility_id: str, body: bytes, content_type: str | None
    ) -> schemas.SlotPublishResult:
        """Upsert the slots of a ``PUT /hospital/slots`` body (our JSON or FHIR), all or none."""
        items = slots.parse_batch(body, content_type)
        async with self._uow() as uow:
            return await slots.publish(
                uow.session, facility_id, items, limits=self._limits, now=self._clock.now()
            )

    async def block(self, facility_id: str, slot_ref: str) -> schemas.SlotOutcome:
        async with self._uow() as uow:
            return await slots.block(
                uow.session, facility_id, slot_ref, limits=self._limits, now=self._clock.now()
            )

    async def search(
        self,
        facility_id: str,
        *,
        department: str | None,
        day: dt.date | None,
        start_from: dt.datetime | None,
        start_to: dt.datetime | None,
        limit: int,
        cursor: str | None,
    ) -> schemas.SlotPage:
        async with self._uow() as uow:
            return await slots.search(
                uow.session,
                self._cursors,
                facility_id,
                department=department,
                day=day,
                start_from=start_from,
                start_to=start_to,
                limit=limit,
                cursor=cursor,
                limits=self._limits,
                now=self._clock.now(),
            )
