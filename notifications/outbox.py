"""The transactional outbox: how every domain sends a notification.

Call :func:`enqueue` with your use case's session, inside its transaction::

    from notifications import messages, outbox

    await outbox.enqueue(
        session,
        citizen_id,
        messages.AppointmentBooked(appointment_id=..., facility_name=..., starts_at=...),
        dedupe_key=f"appointment:{appointment.id}:booked",
    )
    # the use case's unit of work commits; the relays are woken once it has

The row is written in *your* transaction: if it rolls back, nothing is ever sent; once it commits,
the relay delivers it (inbox once, each device once). ``due_at`` schedules it (reminders);
``dedupe_key`` makes a repeated enqueue a no-op and lets :func:`cancel` withdraw a scheduled row.
A cancelled key stays taken (a late retry of the same request cannot resurrect it): schedule a
new reminder under a new key, e.g. one that includes the new start time.

After the commit, relays are woken through Redis (see :class:`Wakeup`) instead of waiting for
their next poll.
"""

from __future__ import annotations

import asyncio
import datetime as dt
import logging
import uuid
from collections.abc import Callable
from typing import Any

import msgspec
from redis.asyncio import Redis
from redis.asyncio.cluster import RedisCluster
from redis.exceptions import RedisError
from sqlalchemy import event, update
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker
from sqlalchemy.orm import Session

from api.core.db import session_class_of
from api.core.dialect import PerDialect
from notifications.messages import (
    DEFAULT_TIMEZONE,
    KIND_TYPES,
    LOCALES,
    NotificationKind,
    from_payload,
    to_payload,
    zone,
)
from notifications.models import CANCELLED, PENDING, OutboxEntry, rowcount
from notifications.senders.base import MAX_PAYLOAD_BYTES, payload_bytes

logger = logging.getLogger("healthbook.notifications.outbox")

WAKE_CHANNEL = "notifications:{relay}:wake"
"""Pub/sub channel relays listen on (hash-tagged like every key of the relay)."""

_PENDING_WAKE = "hb_notifications_wake"


class NotificationTooLarge(ValueError):
    """A message whose push would exceed FCM's 4 KB payload limit."""


def push_data(
    message: NotificationKind, notification_id: uuid.UUID, citizen_id: uuid.UUID
) -> dict[str, str]:
    """The data members of a push: ids only, for the app to open the inbox item."""
    return {
        "notification_id": str(notification_id),
        "kind": message.kind,
        "citizen_id": str(citizen_id),
        **message.refs(),
    }


def check_size(message: NotificationKind) -> None:
    """Refuse a message whose push text would not fit FCM's payload limit in some language."""
    tz = zone(DEFAULT_TIMEZONE)
    data = push_data(message, uuid.UUID(int=0), uuid.UUID(int=0))
    for locale in LOCALES:
        for for_dependent in (False, True):
            title, body = message.push_texts(locale, tz, for_dependent=for_dependent)
            if payload_bytes(title, body, data) > MAX_PAYLOAD_BYTES:
                raise NotificationTooLarge(
                    f"the {message.kind} push would exceed {MAX_PAYLOAD_BYTES} bytes"
                )


class Pending(msgspec.Struct, frozen=True, kw_only=True):
    """One notification for :func:`enqueue_many` (the arguments of :func:`enqueue`)."""

    citizen_id: uuid.UUID
    message: NotificationKind
    due_at: dt.datetime | None = None
    dedupe_key: str | None = None


async def enqueue(
    session: AsyncSession,
    citizen_id: uuid.UUID,
    message: NotificationKind,
    *,
    due_at: dt.datetime | None = None,
    dedupe_key: str | None = None,
    now: dt.datetime | None = None,
) -> uuid.UUID | None:
    """Write ``message`` for ``citizen_id`` to the outbox, in the session's transaction.

    ``citizen_id`` is who the notification is about: their inbox gets it, their devices and (when
    they are someone's dependent) their current guardians' devices get the push. ``due_at``: not
    before then (aware datetime); ``None``: as soon as the transaction commits. ``dedupe_key``: a
    second enqueue with the same key does nothing. ``now``: the caller's clock, for
    ``created_at``. Returns the notification's id, or ``None`` when the key was already used.
    Raises ``TypeError``/``ValueError`` for a message that is not a valid notification kind.
    """
    pending = Pending(citizen_id=citizen_id, message=message, due_at=due_at, dedupe_key=dedupe_key)
    return (await enqueue_many(session, [pending], now=now))[0]


async def enqueue_many(
    session: AsyncSession, items: list[Pending], *, now: dt.datetime | None = None
) -> list[uuid.UUID | None]:
    """:func:`enqueue` for several notifications at once, in one database round trip (a booking
    writes its confirmation and its reminders together). Answers each one's id, or ``None`` where
    the dedupe key was already used. Every item is checked before anything is written."""
    created = now or dt.datetime.now(dt.UTC)
    rows = [_row(item, created) for item in items]
    if not rows:
        return []
    await session.flush()  # the caller's pending rows (the citizen, an appointment) go first
    result = await session.execute(_INSERT.of(session), rows)
    inserted = set(result.scalars().all())
    ids: list[uuid.UUID | None] = [row["id"] if row["id"] in inserted else None for row in rows]
    if any(
        notification_id is not None and (item.due_at is None or item.due_at <= created)
        for notification_id, item in zip(ids, items, strict=True)
    ):
        _wake_after_commit(session)
    return ids


def _row(item: Pending, created: dt.datetime) -> dict[str, Any]:
    message, due_at, dedupe_key = item.message, item.due_at, item.dedupe_key
    if not isinstance(message, KIND_TYPES):
        raise TypeError(f"not a notification kind: {type(message).__name__}")
    if due_at is not None and due_at.tzinfo is None:
        raise ValueError("due_at must be timezone-aware")
    if dedupe_key is not None and not 1 <= len(dedupe_key) <= 200:
        raise ValueError("dedupe_key must have 1 to 200 characters")
    payload = to_payload(message)
    try:
        from_payload(payload)  # constructors do not validate; the stored form must decode
    except msgspec.ValidationError as exc:
        raise ValueError(f"invalid {message.kind} notification: {exc}") from exc
    check_size(message)
    return {
        "id": uuid.uuid4(),
        "citizen_id": item.citizen_id,
        "kind": message.kind,
        "payload": payload,
        "dedupe_key": dedupe_key,
        "status": PENDING,
        "due_at": due_at,
        "attempts": 0,
        "created_at": created,
        "updated_at": created,
    }


_INSERT = PerDialect(
    lambda dialect: dialect.insert_ignoring(OutboxEntry.__table__).returning(
        OutboxEntry.__table__.c.id
    )
)
"""``INSERT … ON CONFLICT DO NOTHING RETURNING id`` on the outbox table, built once per dialect (a
Core statement: executed with a list of rows, SQLAlchemy sends them as one multi-row insert)."""


async def cancel(session: AsyncSession, dedupe_key: str, *, now: dt.datetime | None = None) -> bool:
    """Withdraw the not-yet-sent notification enqueued under ``dedupe_key``, in the caller's
    transaction. Returns whether there was one to withdraw. (One a relay is sending at this very
    moment may still arrive; it is not retried afterwards.)"""
    moment = now or dt.datetime.now(dt.UTC)
    result = await session.execute(
        update(OutboxEntry)
        .where(OutboxEntry.dedupe_key == dedupe_key, OutboxEntry.status == PENDING)
        .values(status=CANCELLED, finished_at=moment, updated_at=moment, lease_until=None)
        .execution_options(synchronize_session=False)
    )
    return rowcount(result) > 0


# --- waking relays after the commit -------------------------------------------------------------


def bind_wakeup(
    sessionmaker: async_sessionmaker[AsyncSession], signal: Callable[[], None]
) -> Callable[[], None]:
    """Call ``signal`` after each commit of a session of ``sessionmaker`` that enqueued something
    due (sessions of other sessionmakers are left alone). Answers the function that unbinds it."""
    session_class = session_class_of(sessionmaker)

    def after_commit(sync_session: Session) -> None:
        if sync_session.info.pop(_PENDING_WAKE, False):
            signal()

    event.listen(session_class, "after_commit", after_commit)
    event.listen(session_class, "after_rollback", _after_rollback)

    def unbind() -> None:
        event.remove(session_class, "after_commit", after_commit)
        event.remove(session_class, "after_rollback", _after_rollback)

    return unbind


def _wake_after_commit(session: AsyncSession) -> None:
    session.sync_session.info[_PENDING_WAKE] = True


def _after_rollback(sync_session: Session) -> None:
    sync_session.info.pop(_PENDING_WAKE, None)


WAKE_COALESCE_SECONDS = 0.02
"""Commits within this long share one wake-up publish (a busy API process would otherwise publish
once per booking; a relay claims every due row at each wake-up anyway)."""


class Wakeup:
    """Publishes a wake-up on Redis (coalesced: at most one publish per
    :data:`WAKE_COALESCE_SECONDS`) and wakes the relay of this process directly, if there is one."""

    def __init__(
        self, redis: Redis | RedisCluster, local: Callable[[], None] | None = None
    ) -> None:
        self.redis = redis
        self.local = local
        self._scheduled = False
        self._timer: asyncio.TimerHandle | None = None
        self._tasks: set[asyncio.Task[None]] = set()

    def __call__(self) -> None:
        if self.local is not None:
            self.local()
        if self._scheduled:
            return
        try:
            loop = asyncio.get_running_loop()
        except RuntimeError:  # committed outside an event loop: the relays' poll finds it
            return
        self._scheduled = True
        self._timer = loop.call_later(WAKE_COALESCE_SECONDS, self._start_publish, loop)

    def _start_publish(self, loop: asyncio.AbstractEventLoop) -> None:
        self._timer = None
        task = loop.create_task(self._publish())
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)

    async def _publish(self) -> None:
        self._scheduled = False
        try:
            await self.redis.publish(WAKE_CHANNEL, b"1")
        except (RedisError, OSError) as exc:
            logger.warning("could not publish a relay wake-up: %s", type(exc).__name__)

    async def aclose(self) -> None:
        if self._timer is not None:  # a wake-up still waiting for its window: send it now
            self._timer.cancel()
            self._timer = None
            await self._publish()
        if self._tasks:
            await asyncio.gather(*self._tasks, return_exceptions=True)
