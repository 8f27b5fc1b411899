"""Appointments as they are read: loaded with their slot, shown to citizens and hospitals, and
summed up for the texts the citizen receives."""

from __future__ import annotations

import datetime as dt
import uuid
from typing import cast

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from api.appointments import departments, schemas
from api.appointments.models import Appointment, Slot
from api.appointments.notifications import Notice
from api.appointments.rules import Limits
from api.core.errors import NotFound
from api.identity.citizens import CitizenDirectory
from api.questionnaires import forms
from api.questionnaires.schemas import FormToFill


async def load(
    session: AsyncSession,
    appointment_id: uuid.UUID,
    *,
    citizen_id: uuid.UUID | None = None,
    facility_id: str | None = None,
) -> tuple[Appointment, Slot]:
    """The appointment (of that citizen, or at that facility) with its slot, as stored now."""
    query = (
        select(Appointment, Slot)
        .join(Slot, Slot.id == Appointment.slot_id)
        .where(Appointment.id == appointment_id)
        .execution_options(populate_existing=True)
    )
    if citizen_id is not None:
        query = query.where(Appointment.citizen_id == citizen_id)
    if facility_id is not None:
        query = query.where(Appointment.facility_id == facility_id)
    found = (await session.execute(query)).one_or_none()
    if found is None:
        raise NotFound("no such appointment")
    return found[0], found[1]


async def notice(session: AsyncSession, appointment: Appointment) -> Notice:
    department = await departments.department(
        session, appointment.facility_id, appointment.department_id
    )
    return Notice(
        appointment_id=appointment.id,
        citizen_id=appointment.citizen_id,
        facility_name=await departments.facility_name(session, appointment.facility_id),
        department_name=department.name,
        starts_at=appointment.start_at,
        version=appointment.reschedules,
    )


async def citizen_view(
    session: AsyncSession, appointment: Appointment, service: str | None, limits: Limits
) -> schemas.Appointment:
    department = await departments.department(
        session, appointment.facility_id, appointment.department_id
    )
    to_fill = await forms.forms_of(
        session,
        appointment_id=appointment.id,
        facility_id=appointment.facility_id,
        department_code=department.code,
    )
    return schemas.Appointment(
        id=str(appointment.id),
        citizen_id=str(appointment.citizen_id),
        status=cast(schemas.AppointmentStatus, appointment.status),
        slot_id=str(appointment.slot_id),
        facility_id=appointment.facility_id,
        facility_name=await departments.facility_name(session, appointment.facility_id),
        department=department,
        service=service,
        start=appointment.start_at,
        end=appointment.end_at,
        booked_at=appointment.created_at,
        updated_at=appointment.updated_at,
        cancellable_until=appointment.start_at - limits.cutoff,
        cancelled_by=cast(schemas.CancelledBy | None, appointment.cancelled_by),
        cancel_reason=appointment.cancel_reason,
        checked_in_at=appointment.checked_in_at,
        finished_at=appointment.finished_at,
        reschedules=appointment.reschedules,
        forms=[
            FormToFill(**{f: getattr(form, f) for f in FormToFill.__struct_fields__})
            for form in to_fill
        ],
    )


async def hospital_view(
    session: AsyncSession,
    appointment: Appointment,
    slot: Slot,
    directory: CitizenDirectory,
    now: dt.datetime,
    on_read: forms.AnswersRead | None = None,
) -> schemas.HospitalAppointment:
    profile = await directory.profile(appointment.citizen_id, now)
    department = await departments.department(
        session, appointment.facility_id, appointment.department_id
    )
    return schemas.HospitalAppointment(
        id=str(appointment.id),
        status=cast(schemas.AppointmentStatus, appointment.status),
        slot_id=str(slot.id),
        slot_ref=slot.external_id,
        department=department,
        service=slot.service,
        start=appointment.start_at,
        end=appointment.end_at,
        booked_at=appointment.created_at,
        patient=schemas.ExpectedPatient(
            citizen_id=str(appointment.citizen_id),
            full_name=profile.full_name,
            birth_date=profile.birth_date,
            sex=profile.sex,
            phone=profile.phone,
            insurance_card=profile.insurance_card,
            national_id_masked=profile.national_id_masked,
        ),
        cancelled_by=cast(schemas.CancelledBy | None, appointment.cancelled_by),
        checked_in_at=appointment.checked_in_at,
        finished_at=appointment.finished_at,
        forms=await forms.forms_of(
            session,
            appointment_id=appointment.id,
            facility_id=appointment.facility_id,
            department_code=department.code,
            with_answers=True,
            on_read=on_read,
        ),
    )
