"""Citizens, guardianships, refresh tokens, API clients and trusted identity providers."""

from __future__ import annotations

import datetime as dt
import uuid
from typing import Any

from sqlalchemy import JSON, Boolean, Date, ForeignKey, Index, Integer, String, Uuid
from sqlalchemy.orm import Mapped, mapped_column

from api.core.db import Base, UtcDateTime


class Citizen(Base):
    """A person, known by the keyed hash of their national ID number (never the number)."""

    __tablename__ = "citizen"

    id: Mapped[uuid.UUID] = mapped_column(Uuid, primary_key=True, default=uuid.uuid4)
    national_id_hash: Mapped[str] = mapped_column(String(64), unique=True)
    national_id_masked: Mapped[str | None] = mapped_column(String(32))
    full_name: Mapped[str | None] = mapped_column(String(200))
    birth_date: Mapped[dt.date | None] = mapped_column(Date)
    sex: Mapped[str | None] = mapped_column(String(16))
    phone: Mapped[str | None] = mapped_column(String(32))
    insurance_card: Mapped[str | None] = mapped_column(String(32))
    locale: Mapped[str] = mapped_column(String(8), default="vi")
    created_at: Mapped[dt.datetime] = mapped_column(UtcDateTime)
    updated_at: Mapped[dt.datetime] = mapped_column(UtcDateTime)
    first_login_at: Mapped[dt.datetime | None] = mapped_column(UtcDateTime)
    last_login_at: Mapped[dt.datetime | None] = mapped_column(UtcDateTime)


class Guardianship(Base):
    """``guardian`` may act for ``dependent`` between ``valid_from`` and ``valid_until``.

    ``kind`` is ``parent`` (also bounded by the child's age) or ``legal_representative``;
    ``source`` says who recorded it (``operator`` or ``identity_provider``).
    """

    __tablename__ = "guardianship"
    __table_args__ = (Index(None, "guardian_id", "dependent_id"),)

    id: Mapped[uuid.UUID] = mapped_column(Uuid, primary_key=True, default=uuid.uuid4)
    guardian_id: Mapped[uuid.UUID] = mapped_column(
        Uuid, ForeignKey("citizen.id", ondelete="CASCADE")
    )
    dependent_id: Mapped[uuid.UUID] = mapped_column(
        Uuid, ForeignKey("citizen.id", ondelete="CASCADE"), index=True
    )
    kind: Mapped[str] = mapped_column(String(32))
    source: Mapped[str] = mapped_column(String(32))
    valid_from: Mapped[dt.datetime] = mapped_column(UtcDateTime)
    valid_until: Mapped[dt.datetime | None] = mapped_column(UtcDateTime)
    note: Mapped[str | None] = mapped_column(String(500))
    created_at: Mapped[dt.datetime] = mapped_column(UtcDateTime)


class RefreshToken(Base):
    """One refresh token (stored as a SHA-256 digest) in a rotation family."""

    __tablename__ = "refresh_token"

    id: Mapped[uuid.UUID] = mapped_column(Uuid, primary_key=True, default=uuid.uuid4)
    family_id: Mapped[uuid.UUID] = mapped_column(Uuid, index=True)
    citizen_id: Mapped[uuid.UUID] = mapped_column(
        Uuid, ForeignKey("citizen.id", ondelete="CASCADE"), index=True
    )
    token_hash: Mapped[str] = mapped_column(String(64), unique=True)
    created_at: Mapped[dt.datetime] = mapped_column(UtcDateTime)
    expires_at: Mapped[dt.datetime] = mapped_column(UtcDateTime)
    used_at: Mapped[dt.datetime | None] = mapped_column(UtcDateTime)
    revoked_at: Mapped[dt.datetime | None] = mapped_column(UtcDateTime)


class Client(Base):
    """A hospital system, kiosk or operator, authenticating with a signed JWT assertion."""

    __tablename__ = "client"

    id: Mapped[str] = mapped_column(String(64), primary_key=True)
    kind: Mapped[str] = mapped_column(String(16))
    name: Mapped[str] = mapped_column(String(200))
    facility_id: Mapped[str | None] = mapped_column(String(64), index=True)
    scopes: Mapped[list[str]] = mapped_column(JSON)
    jwks: Mapped[dict[str, Any]] = mapped_column(JSON)
    enabled: Mapped[bool] = mapped_column(Boolean, default=True)
    created_at: Mapped[dt.datetime] = mapped_column(UtcDateTime)
    updated_at: Mapped[dt.datetime] = mapped_column(UtcDateTime)


class IdentityProvider(Base):
    """A trusted OpenID Connect issuer whose ID tokens we exchange for our own tokens."""

    __tablename__ = "identity_provider"

    id: Mapped[str] = mapped_column(String(64), primary_key=True)
    issuer: Mapped[str] = mapped_column(String(500), unique=True)
    jwks_uri: Mapped[str] = mapped_column(String(1000))
    audiences: Mapped[list[str]] = mapped_column(JSON)
    algorithms: Mapped[list[str]] = mapped_column(JSON)
    national_id_claim: Mapped[str] = mapped_column(String(100))
    national_id_pattern: Mapped[str] = mapped_column(String(200))
    name_claim: Mapped[str | None] = mapped_column(String(100))
    birth_date_claim: Mapped[str | None] = mapped_column(String(100))
    sex_claim: Mapped[str | None] = mapped_column(String(100))
    phone_claim: Mapped[str | None] = mapped_column(String(100))
    assurance_claim: Mapped[str | None] = mapped_column(String(100))
    min_assurance: Mapped[int | None] = mapped_column(Integer)
    dependents_claim: Mapped[str | None] = mapped_column(String(100))
    enabled: Mapped[bool] = mapped_column(Boolean, default=True)
    created_at: Mapped[dt.datetime] = mapped_column(UtcDateTime)
    updated_at: Mapped[dt.datetime] = mapped_column(UtcDateTime)
