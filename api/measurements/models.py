"""Home measurements' bookkeeping: who recorded which reading, under which idempotency key and
deduplication key, and whether it was deleted. The reading itself (values, FHIR Observation) is
an entry of the book (api/health_book/home.py), under the same id."""

from __future__ import annotations

import datetime as dt
import uuid
from typing import Any

from sqlalchemy import (
    JSON,
    BigInteger,
    Boolean,
    ForeignKey,
    Index,
    Integer,
    String,
    UniqueConstraint,
    Uuid,
    text,
)
from sqlalchemy.orm import Mapped, mapped_column

from api.core.db import Base, UtcDateTime


class HomeMeasurement(Base):
    """One reading a citizen (or their guardian) recorded or imported.

    ``idempotency_key`` (the request's ``Idempotency-Key``, or a sample's own id such as Health
    Connect's ``metadata.id``) is unique per citizen, with ``request_hash`` the fingerprint of
    what it first carried; ``dedup_hash`` (SHA-256 of kind, start, end, value, unit and source)
    is unique per citizen for imported samples. A deleted reading keeps its row
    (``deleted_at``): the same sample imported again is a duplicate, not a new reading."""

    __tablename__ = "home_measurement"
    __table_args__ = (
        UniqueConstraint("citizen_id", "idempotency_key"),
        UniqueConstraint("citizen_id", "dedup_hash"),
        Index(None, "citizen_id", "effective_at"),
    )

    id: Mapped[uuid.UUID] = mapped_column(Uuid, primary_key=True)
    citizen_id: Mapped[uuid.UUID] = mapped_column(
        Uuid, ForeignKey("citizen.id", ondelete="CASCADE")
    )
    kind: Mapped[str] = mapped_column(String(24))
    origin: Mapped[str] = mapped_column(String(16))
    """``entered`` (one reading through the API) or ``imported`` (a batch or a file)."""
    idempotency_key: Mapped[str | None] = mapped_column(String(255))
    request_hash: Mapped[str | None] = mapped_column(String(64))
    dedup_hash: Mapped[str | None] = mapped_column(String(64))
    effective_at: Mapped[dt.datetime] = mapped_column(UtcDateTime)
    recorded_by: Mapped[str] = mapped_column(String(64))
    """The principal's subject: the citizen, or the guardian who recorded it."""
    created_at: Mapped[dt.datetime] = mapped_column(UtcDateTime)
    updated_at: Mapped[dt.datetime] = mapped_column(UtcDateTime)
    deleted_at: Mapped[dt.datetime | None] = mapped_column(UtcDateTime)
    version: Mapped[int] = mapped_column(Integer)
    import_id: Mapped[uuid.UUID | None] = mapped_column(Uuid, index=True)
    """The file import (:class:`MeasurementImport`) that stored it, if any: a failed import's
    readings are deleted by this key."""


class MeasurementImport(Base):
    """One uploaded Apple Health export and its background import: its status
    (``queued``, ``running``, ``done``, ``failed``), progress and summary. ``active`` while
    queued or running; at most one active import per citizen (a partial unique index)."""

    __tablename__ = "measurement_import"
    __table_args__ = (
        Index(
            "uq_measurement_import_active",
            "citizen_id",
            unique=True,
            postgresql_where=text("active"),
            sqlite_where=text("active"),
        ),
        Index(None, "citizen_id", "created_at"),
    )

    id: Mapped[uuid.UUID] = mapped_column(Uuid, primary_key=True)
    citizen_id: Mapped[uuid.UUID] = mapped_column(
        Uuid, ForeignKey("citizen.id", ondelete="CASCADE")
    )
    status: Mapped[str] = mapped_column(String(16))
    active: Mapped[bool] = mapped_column(Boolean)
    media_type: Mapped[str] = mapped_column(String(64))
    size: Mapped[int] = mapped_column(BigInteger)
    """Bytes uploaded."""
    bytes_read: Mapped[int] = mapped_column(BigInteger)
    """Bytes of export.xml read so far (decompressed)."""
    bytes_total: Mapped[int | None] = mapped_column(BigInteger)
    samples: Mapped[int] = mapped_column(Integer)
    imported: Mapped[int] = mapped_column(Integer)
    duplicates: Mapped[int] = mapped_column(Integer)
    refused: Mapped[int] = mapped_column(Integer)
    refusals: Mapped[list[dict[str, Any]]] = mapped_column(JSON)
    """The first refusals: ``line``, ``record_type``, ``reason``."""
    skipped: Mapped[dict[str, int]] = mapped_column(JSON)
    problem: Mapped[dict[str, Any] | None] = mapped_column(JSON)
    """Why a failed import failed (a problem detail)."""
    recorded_by: Mapped[str] = mapped_column(String(64))
    guardian: Mapped[str | None] = mapped_column(String(64))
    created_at: Mapped[dt.datetime] = mapped_column(UtcDateTime)
    updated_at: Mapped[dt.datetime] = mapped_column(UtcDateTime)
    finished_at: Mapped[dt.datetime | None] = mapped_column(UtcDateTime)
