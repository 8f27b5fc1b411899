"""The access log: written inside the transaction of the access it records, never changed."""

from __future__ import annotations

import datetime as dt
import uuid
from typing import Any

from sqlalchemy.ext.asyncio import AsyncSession

from api.health_book.models import AccessLogEntry


def record(
    session: AsyncSession,
    *,
    citizen_id: uuid.UUID,
    actor_kind: str,
    actor_id: str,
    action: str,
    now: dt.datetime,
    resource: str | None = None,
    purpose: str | None = None,
    detail: dict[str, Any] | None = None,
) -> None:
    session.add(
        AccessLogEntry(
            id=uuid.uuid4(),
            citizen_id=citizen_id,
            at=now,
            actor_kind=actor_kind,
            actor_id=actor_id[:64],
            action=action,
            purpose=purpose,
            resource=resource,
            detail=detail,
        )
    )
