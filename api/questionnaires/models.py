"""Questionnaire tables.

- ``questionnaire``: one version of a facility's Questionnaire for one of its departments, by the
  facility's own id of it (``logical_id``). Publishing changed content adds the next version and
  makes it the ``current`` one; retiring clears ``current`` and marks the version retired. A
  version is never changed otherwise, so a response keeps pointing at the version it answered.
- ``questionnaire_response``: a citizen's answers to one questionnaire (by logical id) for one
  appointment, pointing at the version answered; amended in place before the visit. The resource
  and its display lines are encrypted at rest.
"""

from __future__ import annotations

import datetime as dt
import uuid
from typing import Any

from sqlalchemy import JSON, Boolean, ForeignKey, Index, Integer, String, UniqueConstraint, Uuid
from sqlalchemy.orm import Mapped, mapped_column

from api.core.db import Base, UtcDateTime
from api.core.encryption import EncryptedBlob

ACTIVE = "active"
RETIRED = "retired"
COMPLETED = "completed"
IN_PROGRESS = "in-progress"


class QuestionnaireVersion(Base):
    __tablename__ = "questionnaire"
    __table_args__ = (
        UniqueConstraint("facility_id", "logical_id", "version"),
        Index(None, "facility_id", "department_code", "current"),
    )

    id: Mapped[uuid.UUID] = mapped_column(Uuid, primary_key=True, default=uuid.uuid4)
    facility_id: Mapped[str] = mapped_column(
        String(32), ForeignKey("facility.id", ondelete="CASCADE")
    )
    logical_id: Mapped[str] = mapped_column(String(64))
    """The facility's id of the questionnaire (the FHIR ``id``)."""
    version: Mapped[int] = mapped_column(Integer)
    department_code: Mapped[str] = mapped_column(String(32))
    required: Mapped[bool] = mapped_column(Boolean)
    """Whether the visit expects it filled in (the kiosk says so when it is not)."""
    current: Mapped[bool] = mapped_column(Boolean)
    status: Mapped[str] = mapped_column(String(16))
    title: Mapped[str | None] = mapped_column(String(500))
    url: Mapped[str | None] = mapped_column(String(500))
    resource: Mapped[dict[str, Any]] = mapped_column(JSON)
    content_hash: Mapped[str] = mapped_column(String(64))
    published_by: Mapped[str] = mapped_column(String(64))
    created_at: Mapped[dt.datetime] = mapped_column(UtcDateTime)
    retired_at: Mapped[dt.datetime | None] = mapped_column(UtcDateTime)


class QuestionnaireAnswer(Base):
    __tablename__ = "questionnaire_response"
    __table_args__ = (
        UniqueConstraint("appointment_id", "logical_id"),
        Index(None, "facility_id", "citizen_id"),
    )

    id: Mapped[uuid.UUID] = mapped_column(Uuid, primary_key=True, default=uuid.uuid4)
    appointment_id: Mapped[uuid.UUID] = mapped_column(
        Uuid, ForeignKey("appointment.id", ondelete="CASCADE")
    )
    citizen_id: Mapped[uuid.UUID] = mapped_column(
        Uuid, ForeignKey("citizen.id", ondelete="CASCADE")
    )
    facility_id: Mapped[str] = mapped_column(String(32))
    logical_id: Mapped[str] = mapped_column(String(64))
    questionnaire_id: Mapped[uuid.UUID] = mapped_column(
        Uuid, ForeignKey("questionnaire.id", ondelete="CASCADE")
    )
    """The version answered."""
    status: Mapped[str] = mapped_column(String(16))
    resource: Mapped[bytes] = mapped_column(EncryptedBlob("questionnaire_response.resource"))
    lines: Mapped[bytes] = mapped_column(EncryptedBlob("questionnaire_response.lines"))
    """The answered items as display lines (JSON), for the hospital's day list."""
    authored_by: Mapped[uuid.UUID] = mapped_column(Uuid)
    """The citizen who answered: the patient, or their guardian."""
    revision: Mapped[int] = mapped_column(Integer)
    created_at: Mapped[dt.datetime] = mapped_column(UtcDateTime)
    updated_at: Mapped[dt.datetime] = mapped_column(UtcDateTime)
