"""The in-app inbox: newest first, cursor-paginated, with the unread count; read marks.

Entries are written by the relay (once per notification) and rendered when read, in the language
the app asks for (``Accept-Language``: ``vi``, the default, or ``en``) and the reader's time zone.
"""

from __future__ import annotations

import base64
import binascii
import datetime as dt
import uuid

import msgspec
from sqlalchemy import and_, func, or_, select, update
from sqlalchemy.ext.asyncio import AsyncSession

from api.core.errors import InvalidInput, NotFound
from notifications import preferences
from notifications.messages import DEFAULT_LOCALE, KINDS, LOCALES, Locale, from_payload, zone
from notifications.models import InboxEntry, rowcount
from notifications.outbox import push_data
from notifications.schemas import InboxItem, InboxPage, ReadAllResult

MAX_PAGE = 100


def pick_locale(accept_language: str | None) -> Locale:
    """The best of our languages for an ``Accept-Language`` header (RFC 9110 §12.5.4)."""
    if not accept_language:
        return DEFAULT_LOCALE
    best: tuple[float, int, Locale] | None = None
    for position, part in enumerate(accept_language.split(",")):
        tag, _, params = part.strip().partition(";")
        primary = tag.strip().lower().split("-")[0]
        if primary not in LOCALES:
            continue
        quality = 1.0
        for param in params.split(";"):
            name, _, value = param.strip().partition("=")
            if name.strip().lower() == "q":
                try:
                    quality = float(value)
                except ValueError:
                    quality = 0.0
        if quality <= 0:
            continue
        candidate = (-quality, position, primary)
        if best is None or candidate < best:
            best = candidate  # type: ignore[assignment]  # a tuple of the same shape as best's
    return best[2] if best else DEFAULT_LOCALE


class _Cursor(msgspec.Struct, array_like=True):
    created_at: dt.datetime
    id: uuid.UUID


def encode_cursor(entry: InboxEntry) -> str:
    raw = msgspec.json.encode(_Cursor(entry.created_at, entry.id))
    return base64.urlsafe_b64encode(raw).decode().rstrip("=")


def decode_cursor(cursor: str) -> _Cursor:
    try:
        raw = base64.urlsafe_b64decode(cursor + "=" * (-len(cursor) % 4))
        decoded = msgspec.json.decode(raw, type=_Cursor)
    except (binascii.Error, ValueError, msgspec.DecodeError):
        raise InvalidInput(
            "the cursor is not one this API returned",
            extra={"errors": [{"field": "cursor", "source": "query", "detail": "invalid cursor"}]},
        ) from None
    if decoded.created_at.tzinfo is None:
        raise InvalidInput("the cursor is not one this API returned")
    return decoded


def render(entry: InboxEntry, locale: Locale, timezone: str) -> InboxItem:
    message = from_payload(entry.payload)
    title, body = message.inbox_texts(locale, zone(timezone))
    return InboxItem(
        id=str(entry.id),
        citizen_id=str(entry.citizen_id),
        kind=entry.kind,
        category=KINDS[entry.kind].category,
        title=title,
        body=body,
        data=push_data(message, entry.id, entry.citizen_id),
        created_at=entry.created_at,
        read_at=entry.read_at,
    )


async def _unread(session: AsyncSession, citizen_id: uuid.UUID) -> int:
    count = await session.scalar(
        select(func.count())
        .select_from(InboxEntry)
        .where(InboxEntry.citizen_id == citizen_id, InboxEntry.read_at.is_(None))
    )
    return int(count or 0)


async def page(
    session: AsyncSession,
    citizen_id: uuid.UUID,
    *,
    cursor: str | None,
    limit: int,
    unread_only: bool,
    locale: Locale,
) -> InboxPage:
    if not 1 <= limit <= MAX_PAGE:
        raise InvalidInput(
            f"limit must be between 1 and {MAX_PAGE}",
            extra={"errors": [{"field": "limit", "source": "query", "detail": "1..100"}]},
        )
    query = select(InboxEntry).where(InboxEntry.citizen_id == citizen_id)
    if unread_only:
        query = query.where(InboxEntry.read_at.is_(None))
    if cursor:
        after = decode_cursor(cursor)
        query = query.where(
            or_(
                InboxEntry.created_at < after.created_at,
                and_(InboxEntry.created_at == after.created_at, InboxEntry.id < after.id),
            )
        )
    rows = list(
        await session.scalars(
            query.order_by(InboxEntry.created_at.desc(), InboxEntry.id.desc()).limit(limit + 1)
        )
    )
    more = len(rows) > limit
    rows = rows[:limit]
    timezone = preferences.timezone_of(
        (await preferences.for_citizens(session, [citizen_id])).get(citizen_id)
    )
    return InboxPage(
        items=[render(row, locale, timezone) for row in rows],
        next_cursor=encode_cursor(rows[-1]) if more and rows else None,
        unread_count=await _unread(session, citizen_id),
    )


async def mark_read(
    session: AsyncSession,
    citizen_id: uuid.UUID,
    notification_id: uuid.UUID,
    *,
    locale: Locale,
    now: dt.datetime,
) -> InboxItem:
    entry = await session.scalar(
        select(InboxEntry).where(
            InboxEntry.id == notification_id, InboxEntry.citizen_id == citizen_id
        )
    )
    if entry is None:
        raise NotFound("no such notification")
    if entry.read_at is None:
        entry.read_at = now
        await session.flush()
    timezone = preferences.timezone_of(
        (await preferences.for_citizens(session, [citizen_id])).get(citizen_id)
    )
    return render(entry, locale, timezone)


async def mark_all_read(
    session: AsyncSession, citizen_id: uuid.UUID, *, now: dt.datetime
) -> ReadAllResult:
    result = await session.execute(
        update(InboxEntry)
        .where(InboxEntry.citizen_id == citizen_id, InboxEntry.read_at.is_(None))
        .values(read_at=now)
        .execution_options(synchronize_session=False)
    )
    return ReadAllResult(
        marked=rowcount(result),
        unread_count=await _unread(session, citizen_id),
    )
