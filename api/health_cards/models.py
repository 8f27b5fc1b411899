"""What health cards keep: only their revocations (the cards themselves are not stored)."""

from __future__ import annotations

import datetime as dt
import uuid

from sqlalchemy import BigInteger, Index, String, Uuid
from sqlalchemy.orm import Mapped, mapped_column

from api.core.db import Base, UtcDateTime


class HealthCardRevocation(Base):
    """One entry of an issuer key's revocation list: every card of that key with this ``rid``
    and an ``nbf`` before ``revoked_before`` is revoked. ``citizen_id`` has no foreign key on
    purpose: the cards outlive an account, so must their revocation."""

    __tablename__ = "health_card_revocation"
    __table_args__ = (Index("ix_health_card_revocation_kid", "kid", "created_at"),)

    id: Mapped[uuid.UUID] = mapped_column(Uuid, primary_key=True, default=uuid.uuid4)
    kid: Mapped[str] = mapped_column(String(43))
    rid: Mapped[str] = mapped_column(String(24))
    revoked_before: Mapped[int] = mapped_column(BigInteger)
    """Seconds since the epoch: cards issued before it are revoked (the CRL's ``rid.<epoch>``)."""
    citizen_id: Mapped[uuid.UUID] = mapped_column(Uuid)
    created_at: Mapped[dt.datetime] = mapped_column(UtcDateTime)
