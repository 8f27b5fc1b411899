"""What the insurance domain keeps: facilities' signing certificates, and every accepted episode's
signed file (its provenance: the legal value of the record rests on it, QĐ 31/QĐ-BYT)."""

from __future__ import annotations

import datetime as dt
import uuid

from sqlalchemy import Boolean, Date, ForeignKey, Index, String, Text, UniqueConstraint, Uuid
from sqlalchemy.orm import Mapped, mapped_column

from api.core.db import Base, UtcDateTime
from api.core.encryption import EncryptedBlob


class InsuranceCertificate(Base):
    """A certificate a facility signs its ``GIAMDINHHS`` envelopes with (``CHUKYDONVI``)."""

    __tablename__ = "insurance_certificate"
    __table_args__ = (UniqueConstraint("facility_id", "sha256"),)

    id: Mapped[uuid.UUID] = mapped_column(Uuid, primary_key=True, default=uuid.uuid4)
    facility_id: Mapped[str] = mapped_column(
        String(32), ForeignKey("facility.id", ondelete="CASCADE"), index=True
    )
    sha256: Mapped[str] = mapped_column(String(64))
    """SHA-256 of the certificate's DER (hex): how operators name it."""
    subject: Mapped[str] = mapped_column(String(500))
    not_after: Mapped[dt.datetime] = mapped_column(UtcDateTime)
    pem: Mapped[str] = mapped_column(Text)
    added_at: Mapped[dt.datetime] = mapped_column(UtcDateTime)
    added_by: Mapped[str] = mapped_column(String(64))


class InsuranceEnvelope(Base):
    """A received envelope, byte for byte as signed (encrypted at rest like health documents)."""

    __tablename__ = "insurance_envelope"

    id: Mapped[uuid.UUID] = mapped_column(Uuid, primary_key=True, default=uuid.uuid4)
    facility_id: Mapped[str] = mapped_column(String(32), index=True)
    sha256: Mapped[str] = mapped_column(String(64), index=True)
    signed: Mapped[bool] = mapped_column(Boolean)
    certificate_sha256: Mapped[str | None] = mapped_column(String(64))
    signature_value: Mapped[str | None] = mapped_column(Text)
    received_at: Mapped[dt.datetime] = mapped_column(UtcDateTime)
    received_by: Mapped[str] = mapped_column(String(64))
    body: Mapped[bytes] = mapped_column(EncryptedBlob("insurance_envelope.body", deflate=True))


class InsuranceEpisode(Base):
    """One accepted episode (``HOSO``) version: which envelope carried it, whose book it went to
    and the health document version it became."""

    __tablename__ = "insurance_episode"
    __table_args__ = (
        Index("ix_insurance_episode_facility_ma_lk", "facility_id", "ma_lk"),
        Index("ix_insurance_episode_citizen", "citizen_id", "received_at"),
    )

    id: Mapped[uuid.UUID] = mapped_column(Uuid, primary_key=True, default=uuid.uuid4)
    facility_id: Mapped[str] = mapped_column(String(32))
    ma_lk: Mapped[str] = mapped_column(String(100))
    citizen_id: Mapped[uuid.UUID | None] = mapped_column(Uuid)
    """Whose book it went to; none for a restricted episode (kept, never published)."""
    envelope_id: Mapped[uuid.UUID] = mapped_column(
        Uuid, ForeignKey("insurance_envelope.id", ondelete="CASCADE"), index=True
    )
    hoso_index: Mapped[int]
    """Position of its ``HOSO`` in the envelope."""
    document_id: Mapped[str | None] = mapped_column(String(64))
    version: Mapped[int]
    version_id: Mapped[str | None] = mapped_column(String(64))
    content_sha256: Mapped[str] = mapped_column(String(64))
    """SHA-256 of the episode's FHIR document (the same content again is unchanged)."""
    restricted_tables: Mapped[str | None] = mapped_column(String(100))
    """XML6 / XML15 when the episode carried HIV or TB care, ``R`` for an HIV or TB diagnosis
    alone: the episode is restricted (in the book only if the citizen chooses to show it)."""
    document: Mapped[bytes | None] = mapped_column(
        EncryptedBlob("insurance_episode.document", deflate=True)
    )
    """A restricted episode's FHIR document, kept (encrypted) to enter the book when the citizen
    chooses to show restricted data; none for the others (the book holds theirs)."""
    received_at: Mapped[dt.datetime] = mapped_column(UtcDateTime)


class InsuranceFollowUp(Base):
    """A re-examination the facility asked for (``NGAY_TAI_KHAM``, the XML14 slip), in the book of
    the citizen the episode is about. Its id is derived from (facility, ``MA_LK``, day), so a
    re-sent episode keeps it (and its reminder is not sent twice)."""

    __tablename__ = "insurance_follow_up"
    __table_args__ = (
        Index("ix_insurance_follow_up_facility_ma_lk", "facility_id", "ma_lk"),
        Index("ix_insurance_follow_up_citizen", "citizen_id", "due_date"),
    )

    id: Mapped[uuid.UUID] = mapped_column(Uuid, primary_key=True)
    citizen_id: Mapped[uuid.UUID] = mapped_column(Uuid)
    facility_id: Mapped[str] = mapped_column(String(32))
    ma_lk: Mapped[str] = mapped_column(String(100))
    due_date: Mapped[dt.date] = mapped_column(Date)
    department: Mapped[str | None] = mapped_column(String(50))
    created_at: Mapped[dt.datetime] = mapped_column(UtcDateTime)
