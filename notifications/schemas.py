"""Request and response bodies of the notification routes."""

from __future__ import annotations

import datetime as dt
from typing import Annotated, Literal

import msgspec

from notifications.messages import DEFAULT_TIMEZONE, Category, Locale, MutableKind

Platform = Literal["android", "ios", "web"]
FcmToken = Annotated[
    str, msgspec.Meta(min_length=16, max_length=1024, pattern=r"^[A-Za-z0-9_:\-.]+$")
]
HhMm = Annotated[str, msgspec.Meta(pattern=r"^([01]\d|2[0-3]):[0-5]\d$")]
AppVersion = Annotated[str, msgspec.Meta(min_length=1, max_length=32, pattern=r"^[\x21-\x7e]+$")]
TimeZoneName = Annotated[str, msgspec.Meta(min_length=1, max_length=64)]


class DeviceRegistration(msgspec.Struct, kw_only=True, forbid_unknown_fields=True):
    """``PUT /citizens/me/devices/{installation_id}``: the FCM token and what the app is."""

    token: FcmToken
    platform: Platform
    locale: Locale = "vi"
    app_version: AppVersion | None = None


class DeviceView(msgspec.Struct, kw_only=True):
    """A registered device. The token is never sent back."""

    installation_id: str
    platform: str
    locale: str
    app_version: str | None
    created_at: dt.datetime
    updated_at: dt.datetime
    last_seen_at: dt.datetime


class InboxItem(msgspec.Struct, kw_only=True):
    """One notification, in the language asked for (``Accept-Language``: vi or en)."""

    id: str
    citizen_id: str
    kind: str
    category: Category
    title: str
    body: str
    data: dict[str, str]
    created_at: dt.datetime
    read_at: dt.datetime | None


class InboxPage(msgspec.Struct, kw_only=True):
    items: list[InboxItem]
    next_cursor: str | None
    """Pass as ``cursor`` for the next (older) page; ``null`` on the last page."""
    unread_count: int


class ReadAllResult(msgspec.Struct, kw_only=True):
    marked: int
    unread_count: int


class QuietHours(msgspec.Struct, kw_only=True, forbid_unknown_fields=True):
    """Local times ``HH:MM``; ``start`` after ``end`` spans midnight (22:00–07:00)."""

    start: HhMm
    end: HhMm


class NotificationPreferences(msgspec.Struct, kw_only=True, forbid_unknown_fields=True):
    """What not to push. Muted reminder kinds and quiet hours stop the push, never the inbox;
    operational kinds (cancellation by the hospital, your turn) ignore quiet hours."""

    muted_kinds: list[MutableKind] = msgspec.field(default_factory=list)
    quiet_hours: QuietHours | None = None
    timezone: TimeZoneName = DEFAULT_TIMEZONE
