"""Home measurements' bookkeeping: who recorded which reading, under which idempotency key and
deduplication key, and whether it was deleted. The reading itself (values, FHIR Observation) is
an entry of the book (api/health_book/home.py), under the same id."""

from __future__ import annotations

import datetime as dt
import uuid

from sqlalchemy import ForeignKey, Index, Integer, String, UniqueConstraint, Uuid
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
