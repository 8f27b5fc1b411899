"""Notification tables: the outbox, the in-app inbox, per-device outcomes, devices, preferences.

- ``notification_outbox``: one row per notification, written in the transaction of the change
  that caused it (``notifications.outbox.enqueue``). The relay claims due rows with a lease
  (``lease_until``, ``claim_token``), and finishes them as ``sent``, ``dead`` or leaves them
  ``pending`` with a later ``due_at`` to retry. ``cancelled`` rows never go out.
- ``notification``: the in-app inbox. Its primary key *is* the outbox row's id, so however often a
  row is claimed (a relay that died after writing the inbox), the inbox gets it once.
- ``notification_delivery``: one row per (outbox row, device): what happened on that device.
  A reclaimed row skips devices whose outcome is final, so a retry only reaches the devices that
  failed, and a normal run never sends twice to a device.
- ``notification_device``: the phones (FCM registration tokens) of a citizen; a token belongs to
  one device row only.
- ``notification_preference``: muted reminder kinds and quiet hours of a citizen.
"""

from __future__ import annotations

import datetime as dt
import uuid
from typing import Any, cast

from sqlalchemy import JSON, ForeignKey, Index, Integer, String, UniqueConstraint, Uuid
from sqlalchemy.engine import CursorResult, Result
from sqlalchemy.orm import Mapped, mapped_column

from api.core.db import Base, UtcDateTime

PENDING = "pending"
SENT = "sent"
DEAD = "dead"
CANCELLED = "cancelled"

DELIVERED = "sent"
FAILED = "failed"
RETRY = "retry"
SKIPPED = "skipped"
FINAL_DELIVERY_STATES = frozenset({DELIVERED, FAILED, SKIPPED})


def rowcount(result: Result[Any]) -> int:
    """How many rows an ``UPDATE`` or ``DELETE`` of these tables touched (the session answers a
    ``CursorResult`` for them; its static type is the general ``Result``)."""
    return int(cast("CursorResult[Any]", result).rowcount or 0)


class OutboxEntry(Base):
    """A notification waiting to go out, going out, or done (kept for the retention period)."""

    __tablename__ = "notification_outbox"
    __table_args__ = (Index(None, "status", "due_at"),)

    id: Mapped[uuid.UUID] = mapped_column(Uuid, primary_key=True)
    citizen_id: Mapped[uuid.UUID] = mapped_column(
        Uuid, ForeignKey("citizen.id", ondelete="CASCADE"), index=True
    )
    kind: Mapped[str] = mapped_column(String(48))
    payload: Mapped[dict[str, Any]] = mapped_column(JSON)
    dedupe_key: Mapped[str | None] = mapped_column(String(200), unique=True)
    status: Mapped[str] = mapped_column(String(16), default=PENDING)
    due_at: Mapped[dt.datetime | None] = mapped_column(UtcDateTime)
    """Not before this time; NULL: as soon as the transaction that wrote it commits."""
    attempts: Mapped[int] = mapped_column(Integer, default=0)
    """Claims so far (each claim is one attempt)."""
    lease_until: Mapped[dt.datetime | None] = mapped_column(UtcDateTime)
    claim_token: Mapped[uuid.UUID | None] = mapped_column(Uuid)
    claimed_by: Mapped[str | None] = mapped_column(String(64))
    last_error: Mapped[str | None] = mapped_column(String(500))
    created_at: Mapped[dt.datetime] = mapped_column(UtcDateTime)
    updated_at: Mapped[dt.datetime] = mapped_column(UtcDateTime)
    finished_at: Mapped[dt.datetime | None] = mapped_column(UtcDateTime, index=True)


class InboxEntry(Base):
    """One notification in a citizen's in-app inbox (rendered in the reader's language)."""

    __tablename__ = "notification"
    __table_args__ = (Index(None, "citizen_id", "created_at", "id"),)

    id: Mapped[uuid.UUID] = mapped_column(Uuid, primary_key=True)
    """The outbox row's id: the primary key is what makes the inbox write exactly-once."""
    citizen_id: Mapped[uuid.UUID] = mapped_column(
        Uuid, ForeignKey("citizen.id", ondelete="CASCADE")
    )
    kind: Mapped[str] = mapped_column(String(48))
    payload: Mapped[dict[str, Any]] = mapped_column(JSON)
    created_at: Mapped[dt.datetime] = mapped_column(UtcDateTime)
    read_at: Mapped[dt.datetime | None] = mapped_column(UtcDateTime)


class Delivery(Base):
    """The outcome of one notification on one device (``sent``, ``failed``, ``retry``,
    ``skipped``). ``device_id`` has no foreign key: the outcome outlives a pruned device."""

    __tablename__ = "notification_delivery"

    outbox_id: Mapped[uuid.UUID] = mapped_column(
        Uuid, ForeignKey("notification_outbox.id", ondelete="CASCADE"), primary_key=True
    )
    device_id: Mapped[uuid.UUID] = mapped_column(Uuid, primary_key=True)
    citizen_id: Mapped[uuid.UUID] = mapped_column(
        Uuid, ForeignKey("citizen.id", ondelete="CASCADE"), index=True
    )
    status: Mapped[str] = mapped_column(String(16))
    attempts: Mapped[int] = mapped_column(Integer, default=1)
    error: Mapped[str | None] = mapped_column(String(64))
    provider_message_id: Mapped[str | None] = mapped_column(String(200))
    updated_at: Mapped[dt.datetime] = mapped_column(UtcDateTime)


class Device(Base):
    """A phone (or browser) of a citizen that receives pushes through its FCM token."""

    __tablename__ = "notification_device"
    __table_args__ = (UniqueConstraint("citizen_id", "installation_id"),)

    id: Mapped[uuid.UUID] = mapped_column(Uuid, primary_key=True, default=uuid.uuid4)
    citizen_id: Mapped[uuid.UUID] = mapped_column(
        Uuid, ForeignKey("citizen.id", ondelete="CASCADE"), index=True
    )
    installation_id: Mapped[str] = mapped_column(String(128))
    token: Mapped[str] = mapped_column(String(1024), unique=True)
    platform: Mapped[str] = mapped_column(String(16))
    locale: Mapped[str] = mapped_column(String(8))
    app_version: Mapped[str | None] = mapped_column(String(32))
    created_at: Mapped[dt.datetime] = mapped_column(UtcDateTime)
    updated_at: Mapped[dt.datetime] = mapped_column(UtcDateTime)
    last_seen_at: Mapped[dt.datetime] = mapped_column(UtcDateTime, index=True)


class Preference(Base):
    """What a citizen does not want pushed: muted reminder kinds, and quiet hours (local time
    ``HH:MM``–``HH:MM`` in ``timezone``; may cross midnight). The inbox is written regardless."""

    __tablename__ = "notification_preference"

    citizen_id: Mapped[uuid.UUID] = mapped_column(
        Uuid, ForeignKey("citizen.id", ondelete="CASCADE"), primary_key=True
    )
    muted_kinds: Mapped[list[str]] = mapped_column(JSON)
    quiet_start: Mapped[str | None] = mapped_column(String(5))
    quiet_end: Mapped[str | None] = mapped_column(String(5))
    timezone: Mapped[str] = mapped_column(String(64))
    updated_at: Mapped[dt.datetime] = mapped_column(UtcDateTime)
