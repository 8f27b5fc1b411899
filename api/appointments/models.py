"""Appointment tables: slots published by hospitals, appointments, idempotency keys.

- ``appointment_slot``: a bookable time at a facility's department, upserted by the hospital's own
  id (``external_id``, unique per facility). ``booked`` counts the slot's appointments that are not
  cancelled; it only moves through conditional updates (``booked < capacity``), and a check
  constraint keeps ``0 <= booked <= capacity`` whatever the code does.
- ``appointment``: one booking of one citizen on one slot, moved through the state machine in
  :mod:`api.appointments.states`. A citizen holds at most one non-cancelled appointment per slot
  (a partial unique index on both backends).
- ``idempotency_key``: one row per (citizen, ``Idempotency-Key``): the hash of the request, and
  once answered, the answer to replay. An ``in_progress`` row makes a concurrent duplicate 409.
"""

from __future__ import annotations

import datetime as dt
import uuid

from sqlalchemy import (
    CheckConstraint,
    ForeignKey,
    Index,
    Integer,
    LargeBinary,
    String,
    UniqueConstraint,
    Uuid,
    text,
)
from sqlalchemy.orm import Mapped, mapped_column

from api.core.db import Base, UtcDateTime

OPEN = "open"
BLOCKED = "blocked"

BOOKED = "booked"
CHECKED_IN = "checked_in"
COMPLETED = "completed"
NO_SHOW = "no_show"
CANCELLED = "cancelled"

IN_PROGRESS = "in_progress"
DONE = "done"


class Slot(Base):
    """A bookable time with a capacity, published by a hospital for one of its departments."""

    __tablename__ = "appointment_slot"
    __table_args__ = (
        UniqueConstraint("facility_id", "external_id"),
        Index(None, "facility_id", "start_at"),
        Index(None, "department_id", "start_at"),
        CheckConstraint("booked >= 0 AND booked <= capacity", name="booked_within_capacity"),
    )

    id: Mapped[uuid.UUID] = mapped_column(Uuid, primary_key=True, default=uuid.uuid4)
    facility_id: Mapped[str] = mapped_column(
        String(32), ForeignKey("facility.id", ondelete="CASCADE")
    )
    external_id: Mapped[str] = mapped_column(String(64))
    """The hospital's own id of the slot: what it upserts and blocks by."""
    department_id: Mapped[uuid.UUID] = mapped_column(
        Uuid, ForeignKey("department.id", ondelete="CASCADE")
    )
    service: Mapped[str | None] = mapped_column(String(200))
    """The service or doctor, as shown to citizens."""
    start_at: Mapped[dt.datetime] = mapped_column(UtcDateTime)
    end_at: Mapped[dt.datetime] = mapped_column(UtcDateTime)
    capacity: Mapped[int] = mapped_column(Integer)
    booked: Mapped[int] = mapped_column(Integer, default=0)
    status: Mapped[str] = mapped_column(String(16), default=OPEN)
    created_at: Mapped[dt.datetime] = mapped_column(UtcDateTime)
    updated_at: Mapped[dt.datetime] = mapped_column(UtcDateTime)


class Appointment(Base):
    """A citizen's booking of a slot. Times and department are the slot's at booking (or the last
    reschedule); a slot's time cannot change while it holds appointments."""

    __tablename__ = "appointment"
    __table_args__ = (
        Index(None, "citizen_id", "start_at"),
        Index(None, "facility_id", "start_at"),
        Index(None, "slot_id", "status"),
        Index(
            "uq_appointment_active_citizen_slot",
            "citizen_id",
            "slot_id",
            unique=True,
            postgresql_where=text("status <> 'cancelled'"),
            sqlite_where=text("status <> 'cancelled'"),
        ),
    )

    id: Mapped[uuid.UUID] = mapped_column(Uuid, primary_key=True, default=uuid.uuid4)
    citizen_id: Mapped[uuid.UUID] = mapped_column(
        Uuid, ForeignKey("citizen.id", ondelete="CASCADE")
    )
    booked_by: Mapped[uuid.UUID] = mapped_column(Uuid)
    """The citizen who booked: the patient, or their guardian."""
    slot_id: Mapped[uuid.UUID] = mapped_column(
        Uuid, ForeignKey("appointment_slot.id", ondelete="CASCADE")
    )
    facility_id: Mapped[str] = mapped_column(
        String(32), ForeignKey("facility.id", ondelete="CASCADE")
    )
    department_id: Mapped[uuid.UUID] = mapped_column(
        Uuid, ForeignKey("department.id", ondelete="CASCADE")
    )
    start_at: Mapped[dt.datetime] = mapped_column(UtcDateTime)
    end_at: Mapped[dt.datetime] = mapped_column(UtcDateTime)
    status: Mapped[str] = mapped_column(String(16), default=BOOKED)
    cancelled_by: Mapped[str | None] = mapped_column(String(16))
    """``citizen`` or ``hospital``."""
    cancel_reason: Mapped[str | None] = mapped_column(String(200))
    reschedules: Mapped[int] = mapped_column(Integer, default=0)
    """How often it was moved; part of its reminders' keys, so each move schedules anew."""
    created_at: Mapped[dt.datetime] = mapped_column(UtcDateTime)
    updated_at: Mapped[dt.datetime] = mapped_column(UtcDateTime)
    checked_in_at: Mapped[dt.datetime | None] = mapped_column(UtcDateTime)
    finished_at: Mapped[dt.datetime | None] = mapped_column(UtcDateTime)
    """When it was completed, marked a no-show or cancelled."""


class IdempotencyKey(Base):
    """A citizen's ``Idempotency-Key``: the request it was first used for, and its answer."""

    __tablename__ = "idempotency_key"

    citizen_id: Mapped[uuid.UUID] = mapped_column(
        Uuid, ForeignKey("citizen.id", ondelete="CASCADE"), primary_key=True
    )
    key: Mapped[str] = mapped_column(String(255), primary_key=True)
    request_hash: Mapped[str] = mapped_column(String(64))
    status: Mapped[str] = mapped_column(String(16))
    response_status: Mapped[int | None] = mapped_column(Integer)
    response_body: Mapped[bytes | None] = mapped_column(LargeBinary)
    created_at: Mapped[dt.datetime] = mapped_column(UtcDateTime, index=True)
    locked_at: Mapped[dt.datetime] = mapped_column(UtcDateTime)
    """When the request holding it started; an ``in_progress`` row older than the stale limit
    (a process that died mid-request) may be taken over."""
