"""The health book's storage: documents as received (versioned), their extracted entries, and
the access log of everything done with a citizen's records."""

from __future__ import annotations

import datetime as dt
import uuid
from typing import Any

from sqlalchemy import (
    JSON,
    Boolean,
    ForeignKey,
    Index,
    Integer,
    String,
    UniqueConstraint,
    Uuid,
    false,
    text,
)
from sqlalchemy.orm import Mapped, mapped_column

from api.core.db import Base, UtcDateTime
from api.core.encryption import EncryptedBlob

HOME_FACILITY = "~home"
"""The facility of the citizen's own readings (api/health_book/home.py): no facility code can
have a ``~``."""


class HealthDocument(Base):
    """One version of a document a facility published (or we pulled) about a citizen.

    A document is identified by facility + ``document_key`` (Bundle.identifier, else
    Composition.identifier, else a content hash); each changed publish adds a version and the
    previous one becomes ``superseded``; ``entered_in_error`` removes it from the book.
    """

    __tablename__ = "health_document"
    __table_args__ = (
        UniqueConstraint("facility_id", "document_key", "version"),
        Index(None, "citizen_id", "received_at"),
    )

    id: Mapped[uuid.UUID] = mapped_column(Uuid, primary_key=True, default=uuid.uuid4)
    citizen_id: Mapped[uuid.UUID] = mapped_column(
        Uuid, ForeignKey("citizen.id", ondelete="CASCADE")
    )
    facility_id: Mapped[str] = mapped_column(String(32), ForeignKey("facility.id"))
    document_key: Mapped[str] = mapped_column(String(500))
    version: Mapped[int] = mapped_column(Integer)
    status: Mapped[str] = mapped_column(String(20))
    content_sha256: Mapped[str] = mapped_column(String(64))
    bundle_type: Mapped[str] = mapped_column(String(20))
    title: Mapped[str | None] = mapped_column(String(300))
    document_date: Mapped[dt.datetime | None] = mapped_column(UtcDateTime)
    source: Mapped[str] = mapped_column(String(10))
    published_by: Mapped[str] = mapped_column(String(64))
    received_at: Mapped[dt.datetime] = mapped_column(UtcDateTime)
    status_changed_at: Mapped[dt.datetime | None] = mapped_column(UtcDateTime)
    entry_counts: Mapped[dict[str, int]] = mapped_column(JSON)
    sections: Mapped[list[dict[str, Any]]] = mapped_column(JSON)
    body: Mapped[bytes] = mapped_column(EncryptedBlob("health_document.body", deflate=True))
    """The document as received, encrypted at rest (api/core/encryption.py)."""
    restricted: Mapped[bool] = mapped_column(Boolean, default=False, server_default=false())
    """Labelled restricted (HIV or TB care, from the insurance XML): in the book only while the
    citizen chooses to show restricted data (:class:`RestrictedDataChoice`); removed from it when
    they stop (the signed file it came from is kept by the insurance domain)."""


class HealthEntry(Base):
    """One clinical entry extracted from a document version.

    ``active`` marks the entry the book shows: for one citizen, facility, category and resource
    identity (``source_key``) at most one entry is active — the one from the most recently
    received document that is still current.
    """

    __tablename__ = "health_entry"
    __table_args__ = (
        Index(None, "citizen_id", "category", "active", "effective_at"),
        Index(None, "citizen_id", "facility_id", "source_key"),
        Index(
            "uq_health_entry_active_source",
            "citizen_id",
            "facility_id",
            "category",
            "source_key",
            unique=True,
            postgresql_where=text("active"),
            sqlite_where=text("active"),
        ),
    )

    id: Mapped[uuid.UUID] = mapped_column(Uuid, primary_key=True, default=uuid.uuid4)
    document_id: Mapped[uuid.UUID | None] = mapped_column(
        Uuid, ForeignKey("health_document.id", ondelete="CASCADE"), index=True
    )
    """The document version it was extracted from; none for a home reading (facility
    ``~home``, api/health_book/home.py)."""
    citizen_id: Mapped[uuid.UUID] = mapped_column(
        Uuid, ForeignKey("citizen.id", ondelete="CASCADE")
    )
    facility_id: Mapped[str] = mapped_column(String(32))
    category: Mapped[str] = mapped_column(String(24))
    source_key: Mapped[str] = mapped_column(String(500))
    resource_type: Mapped[str] = mapped_column(String(40))
    code_system: Mapped[str | None] = mapped_column(String(300))
    code: Mapped[str | None] = mapped_column(String(100))
    display: Mapped[str | None] = mapped_column(String(500))
    status: Mapped[str | None] = mapped_column(String(40))
    effective_at: Mapped[dt.datetime | None] = mapped_column(UtcDateTime)
    effective_end: Mapped[dt.datetime | None] = mapped_column(UtcDateTime)
    encounter_key: Mapped[str | None] = mapped_column(String(500))
    summary: Mapped[dict[str, Any]] = mapped_column(JSON)
    resource: Mapped[bytes] = mapped_column(EncryptedBlob("health_entry.resource"))
    """The entry's FHIR resource as received, encrypted at rest."""
    active: Mapped[bool] = mapped_column(Boolean)
    received_at: Mapped[dt.datetime] = mapped_column(UtcDateTime)


class AccessLogEntry(Base):
    """Who did what with a citizen's records, when, and why. Written in the same transaction as
    the access it records; no API changes or deletes it.

    Append-only and hash-chained per citizen (api/health_book/access_log.py): ``seq`` numbers a
    citizen's rows 1, 2, 3...; ``row_hash`` is the SHA-256 of the row's canonical content, which
    includes ``prev_hash``, the ``row_hash`` of the row before it. ``healthbook audit verify``
    recomputes the chains."""

    __tablename__ = "access_log"
    __table_args__ = (
        Index(None, "citizen_id", "at"),
        UniqueConstraint("citizen_id", "seq"),
    )

    id: Mapped[uuid.UUID] = mapped_column(Uuid, primary_key=True, default=uuid.uuid4)
    citizen_id: Mapped[uuid.UUID] = mapped_column(
        Uuid, ForeignKey("citizen.id", ondelete="CASCADE")
    )
    at: Mapped[dt.datetime] = mapped_column(UtcDateTime)
    actor_kind: Mapped[str] = mapped_column(String(16))
    actor_id: Mapped[str] = mapped_column(String(64))
    action: Mapped[str] = mapped_column(String(32))
    purpose: Mapped[str | None] = mapped_column(String(200))
    resource: Mapped[str | None] = mapped_column(String(300))
    detail: Mapped[dict[str, Any] | None] = mapped_column(JSON)
    seq: Mapped[int] = mapped_column(Integer)
    prev_hash: Mapped[str] = mapped_column(String(64))
    row_hash: Mapped[str] = mapped_column(String(64))


class AccessLogHead(Base):
    """The end of each citizen's access-log chain: its last ``seq`` and ``row_hash``. Appending
    updates it in the same transaction (the row lock serialises appends for one citizen); a chain
    that does not end where its head says lost rows at the end."""

    __tablename__ = "access_log_head"

    citizen_id: Mapped[uuid.UUID] = mapped_column(
        Uuid, ForeignKey("citizen.id", ondelete="CASCADE"), primary_key=True
    )
    seq: Mapped[int] = mapped_column(Integer)
    hash: Mapped[str] = mapped_column(String(64))
    prev_hash: Mapped[str | None] = mapped_column(String(64))
    """The last row's ``prev_hash`` (the hash this head's ``hash`` replaced): the one-statement
    append (api/health_book/access_log.py) reads it back from ``RETURNING``. None on heads last
    written before it was kept."""


class PullLink(Base):
    """A patient record at a facility's FHIR API whose summaries we pull into a citizen's book.

    Keyed by the server's own Patient id (never the national ID number). ``last_synced_at`` is
    the server's instant as of which the last sync holds everything: the ``_since`` of the next
    one. ``content_sha256`` fingerprints what the last sync stored (resource metadata and the
    generated parts of a ``$summary`` left out), so an unchanged record is not stored again.
    """

    __tablename__ = "pull_link"

    facility_id: Mapped[str] = mapped_column(
        String(32), ForeignKey("facility.id", ondelete="CASCADE"), primary_key=True
    )
    remote_patient_id: Mapped[str] = mapped_column(String(64), primary_key=True)
    citizen_id: Mapped[uuid.UUID] = mapped_column(
        Uuid, ForeignKey("citizen.id", ondelete="CASCADE"), index=True
    )
    last_synced_at: Mapped[dt.datetime | None] = mapped_column(UtcDateTime)
    content_sha256: Mapped[str | None] = mapped_column(String(64))
    checked_at: Mapped[dt.datetime] = mapped_column(UtcDateTime)
    """When we last tried (our clock), successfully or not."""
    last_error: Mapped[str | None] = mapped_column(String(500))
    """Why the last attempt failed; none after a success."""
    created_at: Mapped[dt.datetime] = mapped_column(UtcDateTime)


class RestrictedDataChoice(Base):
    """Whether a citizen shows their restricted (HIV/TB) records in their book. No row: they do
    not (the default). Only the citizen changes it; each change is in their access log."""

    __tablename__ = "restricted_data_choice"

    citizen_id: Mapped[uuid.UUID] = mapped_column(
        Uuid, ForeignKey("citizen.id", ondelete="CASCADE"), primary_key=True
    )
    show: Mapped[bool] = mapped_column(Boolean)
    changed_at: Mapped[dt.datetime] = mapped_column(UtcDateTime)
