"""Health facilities and their departments."""

from __future__ import annotations

import datetime as dt
import uuid

from sqlalchemy import Boolean, ForeignKey, String, UniqueConstraint, Uuid
from sqlalchemy.orm import Mapped, mapped_column

from api.core.db import Base, UtcDateTime


class Facility(Base):
    """A hospital or clinic, identified by its Vietnamese facility code (mã cơ sở KCB)."""

    __tablename__ = "facility"

    id: Mapped[str] = mapped_column(String(32), primary_key=True)
    name: Mapped[str] = mapped_column(String(300))
    name_normalised: Mapped[str] = mapped_column(String(300), index=True)
    province: Mapped[str] = mapped_column(String(100), index=True)
    address: Mapped[str | None] = mapped_column(String(500))
    time_zone: Mapped[str] = mapped_column(String(64))
    phone: Mapped[str | None] = mapped_column(String(32))
    fhir_base_url: Mapped[str | None] = mapped_column(String(1000))
    fhir_token_url: Mapped[str | None] = mapped_column(String(1000))
    fhir_client_id: Mapped[str | None] = mapped_column(String(200))
    fhir_assertion_alg: Mapped[str] = mapped_column(
        String(8), default="ES384", server_default="ES384"
    )
    """What our client assertions to ``fhir_token_url`` are signed with: ES384 (the default),
    RS384 or EdDSA."""
    active: Mapped[bool] = mapped_column(Boolean, default=True)
    created_at: Mapped[dt.datetime] = mapped_column(UtcDateTime)
    updated_at: Mapped[dt.datetime] = mapped_column(UtcDateTime)


class Department(Base):
    """A department (khoa) of a facility: where queues and appointment slots live."""

    __tablename__ = "department"
    __table_args__ = (UniqueConstraint("facility_id", "code"),)

    id: Mapped[uuid.UUID] = mapped_column(Uuid, primary_key=True, default=uuid.uuid4)
    facility_id: Mapped[str] = mapped_column(
        String(32), ForeignKey("facility.id", ondelete="CASCADE")
    )
    code: Mapped[str] = mapped_column(String(32))
    name: Mapped[str] = mapped_column(String(200))
    name_en: Mapped[str | None] = mapped_column(String(200))
    room: Mapped[str | None] = mapped_column(String(64))
    active: Mapped[bool] = mapped_column(Boolean, default=True)
    created_at: Mapped[dt.datetime] = mapped_column(UtcDateTime)
    updated_at: Mapped[dt.datetime] = mapped_column(UtcDateTime)
