"""A citizen's push preferences: muted reminder kinds and quiet hours."""

from __future__ import annotations

import datetime as dt
import uuid
from collections.abc import Iterable
from typing import cast
from zoneinfo import ZoneInfo

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from api.core.errors import InvalidInput
from notifications.messages import DEFAULT_TIMEZONE, MutableKind
from notifications.models import Preference
from notifications.schemas import NotificationPreferences, QuietHours

DEFAULTS = NotificationPreferences()


def _view(row: Preference | None) -> NotificationPreferences:
    if row is None:
        return DEFAULTS
    quiet = None
    if row.quiet_start and row.quiet_end:
        quiet = QuietHours(start=row.quiet_start, end=row.quiet_end)
    return NotificationPreferences(
        muted_kinds=cast("list[MutableKind]", list(row.muted_kinds)),
        quiet_hours=quiet,
        timezone=row.timezone,
    )


def _field_error(field: str, detail: str) -> InvalidInput:
    return InvalidInput(
        detail, extra={"errors": [{"field": field, "source": "body", "detail": detail}]}
    )


async def get(session: AsyncSession, citizen_id: uuid.UUID) -> NotificationPreferences:
    return _view(await session.get(Preference, citizen_id))


def check(data: NotificationPreferences) -> None:
    """Refuse preferences that cannot be stored: an unknown time zone, empty quiet hours."""
    try:
        ZoneInfo(data.timezone)
    except (KeyError, ValueError):
        raise _field_error("timezone", f"unknown time zone {data.timezone!r}") from None
    if data.quiet_hours is not None and data.quiet_hours.start == data.quiet_hours.end:
        raise _field_error("quiet_hours", "quiet hours must not start and end at the same time")


async def put(
    session: AsyncSession, citizen_id: uuid.UUID, data: NotificationPreferences, now: dt.datetime
) -> NotificationPreferences:
    """Replace the preferences in the caller's transaction (:func:`check` them first). The first
    ``PUT`` of two at once fails at the commit with ``IntegrityError``; tried again in a new
    transaction it finds the row and updates it."""
    row = await session.get(Preference, citizen_id)
    if row is None:
        row = Preference(citizen_id=citizen_id)
        session.add(row)
    row.muted_kinds = sorted(set(data.muted_kinds))
    row.quiet_start = data.quiet_hours.start if data.quiet_hours else None
    row.quiet_end = data.quiet_hours.end if data.quiet_hours else None
    row.timezone = data.timezone
    row.updated_at = now
    await session.flush()
    return _view(row)


async def for_citizens(
    session: AsyncSession, citizen_ids: Iterable[uuid.UUID]
) -> dict[uuid.UUID, Preference]:
    """The stored preferences of these citizens (absent: defaults)."""
    ids = list(set(citizen_ids))
    if not ids:
        return {}
    rows = await session.scalars(select(Preference).where(Preference.citizen_id.in_(ids)))
    return {row.citizen_id: row for row in rows}


def timezone_of(row: Preference | None) -> str:
    return row.timezone if row is not None else DEFAULT_TIMEZONE
