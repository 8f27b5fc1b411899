"""What sharing keeps: each SMART Health Link a citizen made, and the short-lived tickets of its
file ``location`` URLs. Shared content is kept only as ciphertext (the JWE); the key of a
one-time link is never stored, that of a long-term (``L``) link only encrypted at rest."""

from __future__ import annotations

import datetime as dt
import uuid

import msgspec
from sqlalchemy import Boolean, ForeignKey, Index, Integer, String, Text, Uuid, false
from sqlalchemy.orm import Mapped, mapped_column

from api.core.db import Base, UtcDateTime
from api.core.encryption import EncryptedBlob

FHIR_JSON = "application/fhir+json"


class ShareLink(Base):
    """One SMART Health Link. Active while not revoked, not expired and not disabled (its
    passcode failures used up: ``attempts_remaining`` 0)."""

    __tablename__ = "share_link"
    __table_args__ = (Index("ix_share_link_citizen", "citizen_id", "created_at"),)

    id: Mapped[uuid.UUID] = mapped_column(Uuid, primary_key=True, default=uuid.uuid4)
    citizen_id: Mapped[uuid.UUID] = mapped_column(
        Uuid, ForeignKey("citizen.id", ondelete="CASCADE")
    )
    created_by: Mapped[uuid.UUID] = mapped_column(Uuid)
    """The citizen who made it: the owner, or a guardian for a dependent."""
    manifest_id: Mapped[str] = mapped_column(String(43), unique=True)
    """The manifest URL's last path segment: 256 random bits."""
    content: Mapped[str] = mapped_column(String(16))
    """What is shared: ``ips`` (the International Patient Summary of the whole book),
    ``visit`` (one visit and what was recorded for it), ``immunizations``, or ``categories``."""
    visit_id: Mapped[uuid.UUID | None] = mapped_column(Uuid)
    """The visit shared (its id in the book's API), for ``content`` ``visit``."""
    categories: Mapped[str | None] = mapped_column(String(200))
    """The book's categories shared, comma-separated, for ``immunizations`` and ``categories``."""
    include_restricted: Mapped[bool] = mapped_column(Boolean, server_default=false())
    """The citizen ticked restricted data (HIV/TB, or labelled restricted by a hospital) for
    this share; without it none is ever shared."""
    recipient: Mapped[str | None] = mapped_column(String(80))
    """Whom the citizen means the link for, as they typed it (the Consent's actor)."""
    label: Mapped[str | None] = mapped_column(String(80))
    flags: Mapped[str] = mapped_column(String(4))
    created_at: Mapped[dt.datetime] = mapped_column(UtcDateTime)
    expires_at: Mapped[dt.datetime] = mapped_column(UtcDateTime)
    revoked_at: Mapped[dt.datetime | None] = mapped_column(UtcDateTime)
    passcode_hash: Mapped[str | None] = mapped_column(String(200))
    attempts_remaining: Mapped[int] = mapped_column(Integer)
    """Wrong passcodes still allowed over the link's life (decremented by one atomic UPDATE)."""
    key: Mapped[bytes | None] = mapped_column(EncryptedBlob("share_link.key"))
    """The link's key, for ``L`` links only (each manifest request encrypts the book anew)."""
    jwe: Mapped[str | None] = mapped_column(Text)
    """The shared file as compact JWE: the only form the content is kept in (erased, with the
    key and the passcode hash, when the link is swept)."""
    jwe_at: Mapped[dt.datetime] = mapped_column(UtcDateTime)
    """When ``jwe`` was made (the file's ``lastUpdated``)."""
    card_jwe: Mapped[str | None] = mapped_column(Text)
    """The share's SMART Health Card file (``application/smart-health-card``) as compact JWE,
    for what a card can hold (immunizations, a visit) when the service signs cards: signed from
    the shared document itself, so it carries nothing the document does not."""
    pdf_jwe: Mapped[str | None] = mapped_column(Text)
    """The share's content also as a PDF (``application/pdf``) as compact JWE, when the citizen
    asked for it (``pdf``): drawn from the same choice as the document, restricted data only
    when ticked."""
    first_accessed_at: Mapped[dt.datetime | None] = mapped_column(UtcDateTime)
    """The first manifest (or ``U`` file) answer; set once, by ``… WHERE first_accessed_at IS
    NULL``, in the transaction that enqueues the owner's push."""
    swept_at: Mapped[dt.datetime | None] = mapped_column(UtcDateTime)
    """When the sweep erased the content of this expired or revoked link."""


class RecipientLink(msgspec.Struct, kw_only=True):
    """What a recipient's answer reads of a link: its columns but the ciphertexts (the card's
    and the PDF's are loaded with the document's, only when they are embedded or
    re-encrypted)."""

    id: uuid.UUID
    citizen_id: uuid.UUID
    content: str
    visit_id: uuid.UUID | None
    categories: str | None
    include_restricted: bool
    label: str | None
    flags: str
    jwe_at: dt.datetime
    passcode_hash: str | None
    attempts_remaining: int
    key: bytes | None
    first_accessed_at: dt.datetime | None
    has_card: bool
    has_pdf: bool = False
    card_jwe: str | None = None
    pdf_jwe: str | None = None


class ShareTicket(Base):
    """A file ``location`` handed out by a manifest request: valid until ``expires_at``."""

    __tablename__ = "share_ticket"

    token: Mapped[str] = mapped_column(String(43), primary_key=True)
    link_id: Mapped[uuid.UUID] = mapped_column(
        Uuid, ForeignKey("share_link.id", ondelete="CASCADE"), index=True
    )
    expires_at: Mapped[dt.datetime] = mapped_column(UtcDateTime, index=True)
    content_type: Mapped[str] = mapped_column(String(40), server_default=FHIR_JSON)
    """Which of the link's files it opens: the FHIR document or the health card file."""
    """Past it the ticket answers 404; the sweep deletes it (by this index)."""
