"""Check-in use cases: the citizen's check-in code, the kiosk's check-in, walk-ins, the printable
walk-in codes and the queue's public status. The hospital's calls are in
:mod:`api.checkin.services.queue_desk`.

Single use of a check-in code: the kiosk's check-in first claims the code's ``jti`` in Redis
(``SET NX`` with a TTL to the code's expiry), then moves the appointment ``booked → checked_in``
with one conditional update. Redis answers concurrent scans of one code at once (one wins, the
rest 409 ``check-in-code-used``); the database is the truth (a replay after Redis lost its data
finds the appointment checked in: 409 ``appointment-already-checked-in``). When Redis cannot be
reached the kiosk gets 503 and nothing is written.

Every use case runs in a unit of work; the queue board hears of a new ticket once its
transaction has committed (``uow.after_commit``), never after a rollback.
"""

from __future__ import annotations

import asyncio
import contextlib
import datetime as dt
import uuid
from collections.abc import Awaitable, Callable
from typing import Any, Literal, Protocol

from redis.exceptions import RedisError
from sqlalchemy.ext.asyncio import AsyncSession

from api.appointments import service as appointments
from api.appointments.errors import AlreadyCheckedIn, AppointmentCancelled, IllegalTransition
from api.checkin import facility_lookup, qr, queue_messages, queue_numbers, queues
from api.checkin.errors import (
    CheckInCodeSuperseded,
    CheckInCodeUsed,
    CheckInExpired,
    CheckInTooEarly,
    CheckInWrongFacility,
)
from api.checkin.models import APPOINTMENT, WAITING, WALK_IN, Queue, QueueTicket
from api.checkin.schemas import CheckInToken, QueueStatus, Ticket
from api.checkin.status_publisher import StatusPublisher, publish_status
from api.checkin.ticket_views import QueueRules, place, ticket_view
from api.checkin.tokens import CheckInClaims, CheckInTokens, WalkInCodes
from api.core.clock import Clock
from api.core.dialect import begin_write
from api.core.errors import NotFound, ServiceUnavailable
from api.core.uow import UnitOfWork, UnitOfWorkFactory
from api.facilities import schemas as facility_schemas
from api.facilities import service as facilities
from api.questionnaires import forms

MARKER_SLACK_S = 60
"""How long a used code's marker outlives the code's window."""


def used_marker(jti: str) -> str:
    """The Redis key that marks a check-in code as used (hash-tagged by the code's id)."""
    return f"checkin:used:{{{jti}}}"


class SingleUseStore(Protocol):
    """What the single-use check needs of Redis."""

    def set(self, name: str, value: bytes, *, nx: bool, ex: int) -> Awaitable[Any]: ...

    def delete(self, *names: str) -> Awaitable[Any]: ...


AppointmentReader = Callable[
    [AsyncSession, uuid.UUID, uuid.UUID, appointments.Limits], Awaitable[Any]
]
"""Reads a citizen's appointment (:func:`api.appointments.service.get_for_citizen`)."""


def check_window(claims: CheckInClaims, facility_id: str, now: dt.datetime) -> None:
    """The place and time rules of a scanned code: this kiosk's facility, within the code's
    window (``valid_from`` included, ``valid_until`` excluded). Raises
    ``CheckInWrongFacility``, ``CheckInTooEarly`` or ``CheckInExpired``."""
    if claims.facility_id != facility_id:
        raise CheckInWrongFacility(
            "this appointment is at another facility than this kiosk's",
            extra={"facility_id": claims.facility_id},
        )
    if now < claims.valid_from:
        raise CheckInTooEarly(
            "check-in for this appointment has not opened yet",
            extra={"valid_from": claims.valid_from.isoformat()},
        )
    if now >= claims.valid_until:
        raise CheckInExpired(
            "the check-in window of this appointment has closed",
            extra={"valid_until": claims.valid_until.isoformat()},
        )


async def read_queue_status(
    session: AsyncSession, facility_id: str, department: str, now: dt.datetime
) -> QueueStatus:
    """The public status of a department's queue today (404 for an unknown facility or
    department)."""
    facility = await facility_lookup.facility(session, facility_id)
    found = await facility_lookup.department_by_code(
        session, facility.id, department, active_only=False
    )
    queue_date = queues.local_date(now, facility.time_zone)
    return await queues.read_status(session, facility.id, found, queue_date, now)


def missing_forms_message(titles: list[str]) -> str:
    """The kiosk's printed reminder of the required forms still to fill in (check-in is done)."""
    names = "; ".join(titles)
    return (
        f"Bạn chưa hoàn thành phiếu bắt buộc: {names}. Vui lòng điền trong ứng dụng hoặc báo "
        f"nhân viên quầy. (Required form(s) not completed: {names}.)"
    )


def _unavailable() -> ServiceUnavailable:
    return ServiceUnavailable(
        "check-in cannot be confirmed at the moment; please try again shortly",
        headers={"Retry-After": "5"},
    )


class CheckInService:
    """Check-in codes, kiosk check-ins, walk-ins and the queues' public face."""

    def __init__(
        self,
        *,
        uow: UnitOfWorkFactory,
        redis: SingleUseStore,
        tokens: CheckInTokens,
        codes: WalkInCodes,
        publisher: StatusPublisher,
        rules: QueueRules,
        limits: appointments.Limits,
        clock: Clock,
        read_appointment: AppointmentReader = appointments.get_for_citizen,
    ) -> None:
        self._uow = uow
        self.redis = redis
        self.tokens = tokens
        self.codes = codes
        self.publisher = publisher
        self.rules = rules
        self._limits = limits
        self._clock = clock
        self._read_appointment = read_appointment

    def tell_board_after_commit(self, uow: UnitOfWork, facility_id: str, department: str) -> None:
        """Tell the queue's board once the transaction has committed."""

        async def publish() -> None:
            self.publisher.changed(facility_id, department)

        uow.after_commit(publish)

    # --- the citizen's code -------------------------------------------------------------------

    async def check_in_token(
        self, *, citizen_id: uuid.UUID, appointment_id: uuid.UUID
    ) -> CheckInToken:
        """The code the app shows at the kiosk, for a booked appointment of the citizen."""
        now = self._clock.now()
        async with self._uow() as uow:
            view = await self._read_appointment(
                uow.session, citizen_id, appointment_id, self._limits
            )
        extra = {"current_status": view.status}
        if view.status == "cancelled":
            raise AppointmentCancelled("the appointment is cancelled", extra=extra)
        if view.status == "checked_in":
            raise AlreadyCheckedIn("the appointment is checked in already", extra=extra)
        if view.status != "booked":
            raise IllegalTransition(
                f"an appointment that is {view.status} has no check-in", extra=extra
            )
        issued = self.tokens.issue(
            uuid.UUID(view.id), view.facility_id, view.start, version=view.reschedules
        )
        if now >= issued.valid_until:
            raise CheckInExpired(
                "the check-in window of this appointment has closed",
                extra={"valid_until": issued.valid_until.isoformat()},
            )
        return issued

    async def check_in_qr(
        self, *, citizen_id: uuid.UUID, appointment_id: uuid.UUID, image: Literal["png", "svg"]
    ) -> bytes:
        """The check-in code as a QR image (rendered in a worker thread: a few milliseconds of
        CPU that should not hold up the event loop)."""
        issued = await self.check_in_token(citizen_id=citizen_id, appointment_id=appointment_id)
        render = qr.png if image == "png" else qr.svg
        return await asyncio.to_thread(render, issued.token)

    # --- the facility's printed code ------------------------------------------------------------

    async def facility_qr(self, *, facility_id: str, department: str) -> bytes:
        """The printable walk-in QR of an active department, captioned with the facility's and
        the department's names (and its room)."""
        async with self._uow() as uow:
            facility = await facility_lookup.facility(uow.session, facility_id)
            found = await facility_lookup.department_by_code(uow.session, facility.id, department)
        where = f"{found.name} – {found.room}" if found.room else found.name
        text = self.codes.code(facility.id, found.code)
        return await asyncio.to_thread(qr.svg, text, (facility.name, where))

    # --- the kiosk --------------------------------------------------------------------------------

    async def kiosk_check_in(self, *, kiosk_facility_id: str | None, code: str) -> Ticket:
        """Check the appointment in and give it the department's next number. Raises
        ``CheckInCodeInvalid``, ``CheckInWrongFacility``, ``CheckInTooEarly``,
        ``CheckInExpired``, ``CheckInCodeUsed``, ``AppointmentCancelled``, ``AlreadyCheckedIn``,
        ``CheckInCodeSuperseded``, or ``ServiceUnavailable`` (Redis down)."""
        now = self._clock.now()
        claims = self.tokens.verify(code)
        marker = used_marker(claims.jti)
        claimed = keep = False
        try:
            async with self._uow() as uow:
                facility = await facility_lookup.facility(uow.session, kiosk_facility_id)
                await self._check_time_and_place(uow.session, claims, facility.id, now)
                ttl = max(1, int((claims.valid_until - now).total_seconds()) + MARKER_SLACK_S)
                if not await self._claim(marker, ttl):
                    raise CheckInCodeUsed("this check-in code was used already")
                claimed = True
                ticket = await self._check_in(uow, claims, facility, now)
            keep = True  # committed
        except AlreadyCheckedIn:
            keep = True
            raise
        finally:
            if claimed and not keep:  # the code was not used up: let a rescan give the true answer
                with contextlib.suppress(RedisError, OSError):
                    await self.redis.delete(marker)
        return ticket

    async def _check_time_and_place(
        self, session: AsyncSession, claims: CheckInClaims, facility_id: str, now: dt.datetime
    ) -> None:
        try:
            check_window(claims, facility_id, now)
        except CheckInWrongFacility as wrong:
            with contextlib.suppress(NotFound):
                other = await facility_lookup.facility(session, claims.facility_id)
                wrong.extra["facility_name"] = other.name
            raise

    async def _claim(self, marker: str, ttl: int) -> bool:
        """``SET marker NX EX ttl``: whether this request is the first with the code. Redis not
        answering (or no pooled connection free within ``REDIS_TIMEOUT_SECONDS``) is a 503."""
        try:
            return bool(await self.redis.set(marker, b"1", nx=True, ex=ttl))
        except (RedisError, OSError) as exc:
            raise _unavailable() from exc

    async def _check_in(
        self,
        uow: UnitOfWork,
        claims: CheckInClaims,
        facility: facilities.ActiveFacility,
        now: dt.datetime,
    ) -> Ticket:
        """The write of a kiosk check-in, in the caller's unit of work (raising rolls it
        back)."""
        session = uow.session
        appointment = await appointments.check_in(session, claims.appointment_id, facility.id, now)
        if appointment.reschedules != claims.version:  # leaving the block rolls back
            raise CheckInCodeSuperseded("the appointment was moved after this code was shown")
        department = await facility_lookup.department_by_id(
            session, facility.id, appointment.department_id
        )
        queue_date = queues.local_date(now, facility.time_zone)
        average = await queues.average_minutes(
            session, facility.id, appointment.department_id, queue_date, now, cached=True
        )
        taken, ticket_id = await queue_numbers.issue(
            session,
            facility_id=facility.id,
            department_id=appointment.department_id,
            queue_date=queue_date,
            citizen_id=appointment.citizen_id,
            appointment_id=appointment.id,
            source=APPOINTMENT,
            threshold=self.rules.approaching_threshold,
            now=now,
        )
        await queue_messages.checked_in(
            session,
            citizen_id=appointment.citizen_id,
            ticket_id=ticket_id,
            appointment_id=appointment.id,
            number=taken.number,
            place=place(facility, department),
            now=now,
        )
        self.tell_board_after_commit(uow, facility.id, department.code)
        ticket = ticket_view(
            ticket_id=ticket_id,
            number=taken.number,
            facility=facility,
            department=department,
            ahead=taken.ahead,
            average=average,
            rules=self.rules,
            issued_at=now,
            queue_date=queue_date,
            appointment_id=appointment.id,
        )
        missing = await forms.missing_required(
            session,
            appointment_id=appointment.id,
            facility_id=facility.id,
            department_code=department.code,
        )
        if missing:
            ticket.missing_forms = missing
            ticket.message = missing_forms_message(
                [form.title or form.questionnaire_id for form in missing]
            )
        return ticket

    # --- walk-ins ---------------------------------------------------------------------------------

    async def walk_in(self, *, citizen_id: uuid.UUID, code: str) -> tuple[Ticket, bool]:
        """A ticket for the department of the scanned facility code; within the reuse window
        the ticket already issued to this citizen for it. Answers (ticket, created)."""
        now = self._clock.now()
        facility_id, code_department = self.codes.read(code)
        async with self._uow() as uow:
            session = uow.session
            facility = await facility_lookup.facility(session, facility_id)
            department = await facility_lookup.department_by_code(
                session, facility.id, code_department
            )
            department_id = uuid.UUID(department.id)
            since = now - self.rules.walk_in_reuse
            found = await queues.recent_walk_in(
                session, citizen_id, facility.id, department_id, since
            )
            if found is not None:
                return await self._existing(session, facility, department, found, now), False
            await begin_write(session)
            queue_date = queues.local_date(now, facility.time_zone)
            average = await queues.average_minutes(
                session, facility.id, department_id, queue_date, now, cached=True
            )
            taken = await queue_numbers.take_number(
                session, facility.id, department_id, queue_date, now
            )
            # under the queue's lock: a scan of the same code a moment ago is visible now
            found = await queues.recent_walk_in(
                session, citizen_id, facility.id, department_id, since
            )
            if found is not None:
                view = await self._existing(session, facility, department, found, now)
                await uow.rollback()  # gives the number back
                return view, False
            ticket_id = await queue_numbers.insert_ticket(
                session,
                taken=taken,
                citizen_id=citizen_id,
                appointment_id=None,
                source=WALK_IN,
                told_approaching=taken.ahead <= self.rules.approaching_threshold,
                now=now,
            )
            await queue_messages.checked_in(
                session,
                citizen_id=citizen_id,
                ticket_id=ticket_id,
                appointment_id=None,
                number=taken.number,
                place=place(facility, department),
                now=now,
            )
            self.tell_board_after_commit(uow, facility.id, department.code)
        ticket = ticket_view(
            ticket_id=ticket_id,
            number=taken.number,
            facility=facility,
            department=department,
            ahead=taken.ahead,
            average=average,
            rules=self.rules,
            issued_at=now,
            queue_date=queue_date,
            appointment_id=None,
        )
        return ticket, True

    async def _existing(
        self,
        session: AsyncSession,
        facility: facilities.ActiveFacility,
        department: facility_schemas.Department,
        found: tuple[QueueTicket, Queue],
        now: dt.datetime,
    ) -> Ticket:
        ticket, queue = found
        ahead = max(0, ticket.number - 1 - queue.last_called) if ticket.status == WAITING else 0
        average = await queues.average_minutes(
            session, facility.id, uuid.UUID(department.id), queue.queue_date, now, cached=True
        )
        return ticket_view(
            ticket_id=ticket.id,
            number=ticket.number,
            facility=facility,
            department=department,
            ahead=ahead,
            average=average,
            rules=self.rules,
            issued_at=ticket.issued_at,
            queue_date=queue.queue_date,
            appointment_id=None,
            room=ticket.room,
        )

    # --- the queue's public status ----------------------------------------------------------------

    async def queue_status(self, facility_id: str, department: str) -> QueueStatus:
        """The public status of a department's queue today (404 for an unknown facility or
        department)."""
        async with self._uow() as uow:
            return await read_queue_status(uow.session, facility_id, department, self._clock.now())

    async def publish_queue_status(self, facility_id: str, department: str) -> None:
        """Read the queue's status now and publish it on its channel."""
        await publish_status(self.publisher.redis, await self.queue_status(facility_id, department))


__all__ = ["CheckInService", "check_window", "read_queue_status", "used_marker"]
