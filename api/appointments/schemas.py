"""Request and response bodies of the appointment routes."""

from __future__ import annotations

import datetime as dt
import uuid
from typing import Annotated, Literal

import msgspec

from api.core.pagination import Page
from api.questionnaires.schemas import FormAnswers, FormToFill

Moment = Annotated[dt.datetime, msgspec.Meta(tz=True)]
"""A timestamp with its offset (``2026-12-01T08:30:00+07:00``); naive times are refused."""
SlotRef = Annotated[str, msgspec.Meta(min_length=1, max_length=64, pattern=r"^[A-Za-z0-9._:\-]+$")]
Code = Annotated[str, msgspec.Meta(min_length=1, max_length=32, pattern=r"^[A-Za-z0-9._\-]+$")]
Label = Annotated[str, msgspec.Meta(min_length=1, max_length=200)]
Reason = Annotated[str, msgspec.Meta(min_length=1, max_length=200)]

SlotStatus = Literal["open", "blocked"]
AppointmentStatus = Literal["booked", "checked_in", "completed", "no_show", "cancelled"]
CancelledBy = Literal["citizen", "hospital"]
SlotResult = Literal["created", "updated", "unchanged"]
HospitalStatus = Literal["checked_in", "completed", "no_show", "cancelled"]
MAX_SLOTS_PER_REQUEST = 1000


class SlotPut(msgspec.Struct, kw_only=True, forbid_unknown_fields=True):
    """One slot as the hospital publishes it (upserted by ``id``, the hospital's own id)."""

    id: SlotRef
    department: Code
    """The department's code (registered by an operator)."""
    service: Label | None = None
    """The service or doctor, as citizens see it."""
    start: Moment
    end: Moment
    capacity: Annotated[int, msgspec.Meta(ge=1, le=1000)]
    status: SlotStatus = "open"
    """``blocked``: not bookable; its appointments are cancelled and the citizens told."""


class SlotBatch(msgspec.Struct, kw_only=True, forbid_unknown_fields=True):
    slots: Annotated[list[SlotPut], msgspec.Meta(min_length=1, max_length=MAX_SLOTS_PER_REQUEST)]


class SlotOutcome(msgspec.Struct, kw_only=True):
    id: str
    """The hospital's id of the slot."""
    slot_id: str
    """Ours: what citizens book."""
    result: SlotResult
    booked: int
    cancelled_appointments: int


class SlotPublishResult(msgspec.Struct, kw_only=True):
    created: int
    updated: int
    unchanged: int
    cancelled_appointments: int
    slots: list[SlotOutcome]


class SlotDepartment(msgspec.Struct, kw_only=True):
    """Where a slot or an appointment is: the department of the facility, with its room."""

    code: str
    name: str
    name_en: str | None = None
    room: str | None = None


class Slot(msgspec.Struct, kw_only=True):
    """A bookable slot, as citizens search them."""

    id: str
    facility_id: str
    department: SlotDepartment
    service: str | None
    start: dt.datetime
    end: dt.datetime
    capacity: int
    remaining: int


class SlotPage(Page, kw_only=True):
    items: list[Slot]


class AppointmentCreate(msgspec.Struct, kw_only=True, forbid_unknown_fields=True):
    slot_id: uuid.UUID


class AppointmentReschedule(msgspec.Struct, kw_only=True, forbid_unknown_fields=True):
    slot_id: uuid.UUID
    """The slot to move to (same facility). It is taken before the current one is released."""


class Appointment(msgspec.Struct, kw_only=True):
    id: str
    citizen_id: str
    status: AppointmentStatus
    slot_id: str
    facility_id: str
    facility_name: str
    department: SlotDepartment
    service: str | None
    start: dt.datetime
    end: dt.datetime
    booked_at: dt.datetime
    updated_at: dt.datetime
    cancellable_until: dt.datetime
    """Cancelling or moving it is possible until then (and while it is ``booked``)."""
    cancelled_by: CancelledBy | None = None
    cancel_reason: str | None = None
    checked_in_at: dt.datetime | None = None
    finished_at: dt.datetime | None = None
    reschedules: int = 0
    forms: list[FormToFill] = msgspec.field(default_factory=list)
    """The department's questionnaires to fill in before the visit (``…/questionnaires/{id}``),
    each ``not_answered``, ``in_progress`` or ``answered``."""


class AppointmentPage(Page, kw_only=True):
    items: list[Appointment]


class ExpectedPatient(msgspec.Struct, kw_only=True):
    """Who the hospital will see (never the national ID number, which is not stored)."""

    citizen_id: str
    full_name: str | None
    birth_date: dt.date | None
    sex: str | None
    phone: str | None
    insurance_card: str | None
    national_id_masked: str | None


class HospitalAppointment(msgspec.Struct, kw_only=True):
    id: str
    status: AppointmentStatus
    slot_id: str
    slot_ref: str
    """The hospital's own id of the slot."""
    department: SlotDepartment
    service: str | None
    start: dt.datetime
    end: dt.datetime
    booked_at: dt.datetime
    patient: ExpectedPatient
    cancelled_by: CancelledBy | None = None
    checked_in_at: dt.datetime | None = None
    finished_at: dt.datetime | None = None
    forms: list[FormAnswers] = msgspec.field(default_factory=list)
    """The intake questionnaires of the visit, with the patient's answers."""


class HospitalAppointmentPage(Page, kw_only=True):
    day: dt.date
    """The facility's local day listed."""
    items: list[HospitalAppointment]


class AppointmentStatusChange(msgspec.Struct, kw_only=True, forbid_unknown_fields=True):
    status: HospitalStatus
    reason: Reason | None = None
    """For ``cancelled``: shown to the citizen in the app."""
