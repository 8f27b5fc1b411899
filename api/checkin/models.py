"""Queue tables: one queue per facility, department and local day, and its tickets.

- ``queue``: the counter of one department's day. ``last_issued`` is the number of the latest
  ticket (numbers start at 1 and have no gaps: a number is taken by an ``INSERT … ON CONFLICT DO
  UPDATE SET last_issued = last_issued + 1 … RETURNING`` in the same transaction that stores its
  ticket, so a rolled-back check-in gives its number back). ``last_called`` is the highest number
  called so far: tickets are called in number order, so every ticket above it is waiting and
  ``last_issued - last_called`` people wait.
- ``queue_ticket``: one arrival, from a kiosk check-in (``appointment_id`` set, unique) or a
  walk-in scan. ``waiting`` → ``called`` → ``served`` (the next call) or ``skipped``.
"""

from __future__ import annotations

import datetime as dt
import uuid

from sqlalchemy import Boolean, Date, ForeignKey, Index, Integer, String, UniqueConstraint, Uuid
from sqlalchemy.orm import Mapped, mapped_column

from api.core.db import Base, UtcDateTime

WAITING = "waiting"
CALLED = "called"
SERVED = "served"
SKIPPED = "skipped"

APPOINTMENT = "appointment"
WALK_IN = "walk_in"


class Queue(Base):
    """One department's queue on one local day: its ticket counter and how far it has called."""

    __tablename__ = "queue"
    __table_args__ = (UniqueConstraint("facility_id", "department_id", "queue_date"),)

    id: Mapped[uuid.UUID] = mapped_column(Uuid, primary_key=True, default=uuid.uuid4)
    facility_id: Mapped[str] = mapped_column(
        String(32), ForeignKey("facility.id", ondelete="CASCADE")
    )
    department_id: Mapped[uuid.UUID] = mapped_column(
        Uuid, ForeignKey("department.id", ondelete="CASCADE")
    )
    queue_date: Mapped[dt.date] = mapped_column(Date)
    """The day in the facility's time zone."""
    last_issued: Mapped[int] = mapped_column(Integer, default=0)
    last_called: Mapped[int] = mapped_column(Integer, default=0)
    created_at: Mapped[dt.datetime] = mapped_column(UtcDateTime)
    updated_at: Mapped[dt.datetime] = mapped_column(UtcDateTime)


class QueueTicket(Base):
    """A numbered place in a queue, held by a citizen."""

    __tablename__ = "queue_ticket"
    __table_args__ = (
        UniqueConstraint("queue_id", "number"),
        Index(None, "queue_id", "called_at"),
        Index(None, "citizen_id", "issued_at"),
    )

    id: Mapped[uuid.UUID] = mapped_column(Uuid, primary_key=True, default=uuid.uuid4)
    queue_id: Mapped[uuid.UUID] = mapped_column(Uuid, ForeignKey("queue.id", ondelete="CASCADE"))
    number: Mapped[int] = mapped_column(Integer)
    citizen_id: Mapped[uuid.UUID] = mapped_column(
        Uuid, ForeignKey("citizen.id", ondelete="CASCADE")
    )
    appointment_id: Mapped[uuid.UUID | None] = mapped_column(
        Uuid, ForeignKey("appointment.id", ondelete="CASCADE"), unique=True
    )
    """Set for a kiosk check-in (one ticket per appointment); empty for a walk-in."""
    source: Mapped[str] = mapped_column(String(16))
    status: Mapped[str] = mapped_column(String(16), default=WAITING)
    issued_at: Mapped[dt.datetime] = mapped_column(UtcDateTime)
    called_at: Mapped[dt.datetime | None] = mapped_column(UtcDateTime)
    """First call (what the average service time is measured from)."""
    announced_at: Mapped[dt.datetime | None] = mapped_column(UtcDateTime)
    """Latest call or recall (what the board lists)."""
    recalls: Mapped[int] = mapped_column(Integer, default=0)
    room: Mapped[str | None] = mapped_column(String(64))
    """Where it was called to."""
    finished_at: Mapped[dt.datetime | None] = mapped_column(UtcDateTime)
    approaching_told: Mapped[bool] = mapped_column(Boolean, default=False)
    """Whether the citizen has been told that few people are ahead (at issue, or once later)."""
