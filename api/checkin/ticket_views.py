"""The queue rules and the views of tickets the check-in use cases answer with."""

from __future__ import annotations

import datetime as dt
import uuid
from dataclasses import dataclass
from typing import cast

from api.checkin import queues
from api.checkin.models import QueueTicket
from api.checkin.queue_messages import Place
from api.checkin.schemas import Arrival, CheckedInPatient, Ticket, TicketSource, TicketStatus
from api.core.errors import NotFound
from api.facilities import schemas as facility_schemas
from api.facilities.service import ActiveFacility
from api.identity.citizens import CitizenDirectory


@dataclass(frozen=True)
class QueueRules:
    """The configured queue rules (from the settings)."""

    walk_in_reuse: dt.timedelta = dt.timedelta(minutes=30)
    approaching_threshold: int = 3
    default_service_minutes: float = 10.0


def place(facility: ActiveFacility, department: facility_schemas.Department) -> Place:
    return Place(facility_name=facility.name, department_name=department.name)


def ticket_view(
    *,
    ticket_id: uuid.UUID,
    number: int,
    facility: ActiveFacility,
    department: facility_schemas.Department,
    ahead: int,
    average: float | None,
    rules: QueueRules,
    issued_at: dt.datetime,
    queue_date: dt.date,
    appointment_id: uuid.UUID | None,
    room: str | None = None,
) -> Ticket:
    return Ticket(
        ticket_id=str(ticket_id),
        number=number,
        label=queues.label(department.code, number),
        facility_id=facility.id,
        facility_name=facility.name,
        department=department.code,
        department_name=department.name,
        room=room or department.room,
        people_ahead=ahead,
        estimated_wait_minutes=queues.estimate(ahead, average, rules.default_service_minutes),
        issued_at=issued_at,
        queue_date=queue_date,
        appointment_id=str(appointment_id) if appointment_id else None,
    )


async def patient(
    directory: CitizenDirectory, citizen_id: uuid.UUID, now: dt.datetime
) -> CheckedInPatient:
    """The profile the citizen shares with the facility: name, birth year, sex, insurance card
    (no full birth date, phone or national ID)."""
    try:
        profile = await directory.profile(citizen_id, now)
    except NotFound:
        return CheckedInPatient(
            citizen_id=str(citizen_id),
            full_name=None,
            birth_year=None,
            sex=None,
            insurance_card=None,
        )
    return CheckedInPatient(
        citizen_id=str(citizen_id),
        full_name=profile.full_name,
        birth_year=profile.birth_date.year if profile.birth_date else None,
        sex=profile.sex,
        insurance_card=profile.insurance_card,
    )


async def arrival(
    directory: CitizenDirectory, ticket: QueueTicket, department_code: str, now: dt.datetime
) -> Arrival:
    return Arrival(
        ticket_id=str(ticket.id),
        number=ticket.number,
        label=queues.label(department_code, ticket.number),
        status=cast(TicketStatus, ticket.status),  # the column holds only these values
        source=cast(TicketSource, ticket.source),
        appointment_id=str(ticket.appointment_id) if ticket.appointment_id else None,
        issued_at=ticket.issued_at,
        called_at=ticket.called_at,
        room=ticket.room,
        patient=await patient(directory, ticket.citizen_id, now),
    )
