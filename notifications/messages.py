"""Notification kinds: one msgspec Struct per kind, a tagged union over them, and their texts.

A kind carries the data its texts need and the ids the app needs to open the right screen. Every
kind has a template in Vietnamese (the default) and English, in two shapes:

- the **push** text, shown on a lock screen: no diagnosis, no national ID, no name, no facility or
  department (a facility's name can reveal a condition). Times and queue numbers only.
- the **inbox** text, read inside the app after login: may name the facility and department.

``category`` decides how preferences apply: ``operational`` kinds (the hospital cancelled, your
turn) ignore quiet hours; ``reminder`` kinds can be muted; the rest are ``informational``.
Payloads are stored as JSON (``to_payload``) and read back with ``from_payload``.
"""

from __future__ import annotations

import datetime as dt
from typing import Annotated, Any, ClassVar, Literal, get_args
from zoneinfo import ZoneInfo

import msgspec

from notifications.templates import (
    DEFAULT_LOCALE,
    DEFAULT_ROOM,
    DEPENDENT_PREFIX,
    LOCALES,
    TEMPLATES,
    Locale,
    Texts,
    format_date,
    format_time,
)

Category = Literal["operational", "reminder", "informational"]
Priority = Literal["high", "normal"]

DEFAULT_TIMEZONE = "Asia/Ho_Chi_Minh"

Name = Annotated[str, msgspec.Meta(min_length=1, max_length=200)]
Ref = Annotated[str, msgspec.Meta(min_length=1, max_length=64, pattern=r"^[A-Za-z0-9._:\-]+$")]
QueueNumber = Annotated[int, msgspec.Meta(ge=0, le=999_999)]
Moment = Annotated[dt.datetime, msgspec.Meta(tz=True)]

__all__ = ["DEFAULT_LOCALE", "LOCALES", "Locale", "Texts"]


def _place(facility: str, department: str | None) -> str:
    return f"{facility} – {department}" if department else facility


class NotificationKind(
    msgspec.Struct, frozen=True, kw_only=True, forbid_unknown_fields=True, tag_field="kind"
):
    """Base of every kind. Subclasses set ``tag``, their fields, ``values`` and ``refs``; their
    texts are ``notifications.templates.TEMPLATES[tag]``."""

    category: ClassVar[Category] = "informational"
    priority: ClassVar[Priority] = "normal"
    ttl_seconds: ClassVar[int] = 86_400

    @property
    def kind(self) -> str:
        return str(self.__struct_config__.tag)

    def values(self, locale: Locale, tz: ZoneInfo) -> dict[str, str]:
        """What the kind's templates fill in (none here; every kind with placeholders in its
        templates says what goes in them, and the tests render every template of every kind)."""
        return {}

    def refs(self) -> dict[str, str]:
        """Ids the app uses to open the right screen (strings, as push data requires)."""
        return {}

    def collapse_key(self) -> str | None:
        """Pushes with the same key replace each other on the phone (queue updates)."""
        return None

    def push_texts(self, locale: Locale, tz: ZoneInfo, *, for_dependent: bool = False) -> Texts:
        """Lock-screen text. ``for_dependent``: the phone is a guardian's, so the title says the
        notification is about a family member (without naming them)."""
        template = TEMPLATES[self.kind][locale]
        values = self.values(locale, tz)
        title = template.push_title.format(**values)
        if for_dependent:
            title = DEPENDENT_PREFIX[locale] + title
        return Texts(title, template.push_body.format(**values))

    def inbox_texts(self, locale: Locale, tz: ZoneInfo) -> Texts:
        template = TEMPLATES[self.kind][locale]
        values = self.values(locale, tz)
        return Texts(template.inbox_title.format(**values), template.inbox_body.format(**values))


class _AboutAppointment(NotificationKind, frozen=True, kw_only=True):
    """Fields, texts and refs the appointment kinds share (not a kind itself)."""

    appointment_id: Ref
    facility_name: Name
    department_name: Name | None = None
    starts_at: Moment

    def values(self, locale: Locale, tz: ZoneInfo) -> dict[str, str]:
        return {
            "time": format_time(self.starts_at, locale, tz),
            "place": _place(self.facility_name, self.department_name),
        }

    def refs(self) -> dict[str, str]:
        return {"appointment_id": self.appointment_id}


class AppointmentBooked(_AboutAppointment, tag="appointment_booked", frozen=True, kw_only=True):
    """The citizen (or their guardian) booked."""


class AppointmentCancelled(
    _AboutAppointment, tag="appointment_cancelled", frozen=True, kw_only=True
):
    """The hospital cancelled the appointment (operational: ignores quiet hours)."""

    category: ClassVar[Category] = "operational"
    priority: ClassVar[Priority] = "high"


class AppointmentReminder(_AboutAppointment, tag="appointment_reminder", frozen=True, kw_only=True):
    """Scheduled before the appointment (a reminder: can be muted)."""

    category: ClassVar[Category] = "reminder"


class _AboutTicket(NotificationKind, frozen=True, kw_only=True):
    """Fields, texts, refs and collapsing the queue-ticket kinds share (not a kind itself):
    a newer push about one ticket replaces the older on the phone."""

    ticket_id: Ref
    facility_name: Name
    department_name: Name | None = None
    queue_number: QueueNumber

    def values(self, locale: Locale, tz: ZoneInfo) -> dict[str, str]:
        return {
            "number": str(self.queue_number),
            "place": _place(self.facility_name, self.department_name),
        }

    def refs(self) -> dict[str, str]:
        return {"ticket_id": self.ticket_id}

    def collapse_key(self) -> str | None:
        return f"ticket-{self.ticket_id}"


class CheckedIn(_AboutTicket, tag="checked_in", frozen=True, kw_only=True):
    """A ticket was issued (at the kiosk for an appointment, or for a walk-in)."""

    priority: ClassVar[Priority] = "high"

    appointment_id: Ref | None = None

    def refs(self) -> dict[str, str]:
        refs = super().refs()
        if self.appointment_id:
            refs["appointment_id"] = self.appointment_id
        return refs


class QueueApproaching(_AboutTicket, tag="queue_approaching", frozen=True, kw_only=True):
    """A few people ahead (a reminder: can be muted)."""

    category: ClassVar[Category] = "reminder"
    priority: ClassVar[Priority] = "high"
    ttl_seconds: ClassVar[int] = 1800

    ahead: Annotated[int, msgspec.Meta(ge=0, le=10_000)]

    def values(self, locale: Locale, tz: ZoneInfo) -> dict[str, str]:
        return {**super().values(locale, tz), "ahead": str(self.ahead)}


class YourTurn(_AboutTicket, tag="your_turn", frozen=True, kw_only=True):
    """Called now (operational: ignores quiet hours)."""

    category: ClassVar[Category] = "operational"
    priority: ClassVar[Priority] = "high"
    ttl_seconds: ClassVar[int] = 600

    room: Annotated[str, msgspec.Meta(min_length=1, max_length=40)] | None = None

    def values(self, locale: Locale, tz: ZoneInfo) -> dict[str, str]:
        return {**super().values(locale, tz), "room": self.room or DEFAULT_ROOM[locale]}


class HealthRecordAvailable(
    NotificationKind, tag="health_record_available", frozen=True, kw_only=True
):
    """A hospital published a visit summary. The push never says what it contains."""

    record_id: Ref
    facility_name: Name
    visit_date: dt.date | None = None

    def values(self, locale: Locale, tz: ZoneInfo) -> dict[str, str]:
        visit = ""
        if self.visit_date is not None:
            visit = f" {'ngày' if locale == 'vi' else 'on'} {format_date(self.visit_date, locale)}"
        return {"facility": self.facility_name, "visit": visit}

    def refs(self) -> dict[str, str]:
        return {"record_id": self.record_id}


class FollowUpDue(NotificationKind, tag="follow_up_due", kw_only=True, frozen=True):
    """The day before a re-examination the facility asked for (insurance XML ``NGAY_TAI_KHAM``
    or the XML14 slip). ``refs`` carry what the app pre-fills the slots search with."""

    follow_up_id: Ref
    facility_id: Ref
    facility_name: Name
    department: Ref | None = None
    due_date: dt.date

    def values(self, locale: Locale, tz: ZoneInfo) -> dict[str, str]:
        return {"facility": self.facility_name, "date": format_date(self.due_date, locale)}

    def refs(self) -> dict[str, str]:
        refs = {
            "follow_up_id": self.follow_up_id,
            "facility_id": self.facility_id,
            "date": self.due_date.isoformat(),
        }
        if self.department:
            refs["department"] = self.department
        return refs


class HealthBookShared(NotificationKind, tag="health_book_shared", frozen=True, kw_only=True):
    share_id: Ref
    shared_with: Name
    expires_at: Moment

    def values(self, locale: Locale, tz: ZoneInfo) -> dict[str, str]:
        return {"who": self.shared_with, "until": format_time(self.expires_at, locale, tz)}

    def refs(self) -> dict[str, str]:
        return {"share_id": self.share_id}


class HealthBookViewed(NotificationKind, tag="health_book_viewed", frozen=True, kw_only=True):
    share_id: Ref
    viewer: Name
    viewed_at: Moment

    def values(self, locale: Locale, tz: ZoneInfo) -> dict[str, str]:
        return {"who": self.viewer, "time": format_time(self.viewed_at, locale, tz)}

    def refs(self) -> dict[str, str]:
        return {"share_id": self.share_id}


class ShareOpened(NotificationKind, tag="share_opened", frozen=True, kw_only=True):
    """A SMART Health Link of the book answered its first recipient (once per link). The push
    names neither the recipient nor the link; the inbox does."""

    share_id: Ref
    recipient: Name
    label: Annotated[str, msgspec.Meta(max_length=80)] | None = None
    opened_at: Moment

    def values(self, locale: Locale, tz: ZoneInfo) -> dict[str, str]:
        label = self.label or ("không tên" if locale == "vi" else "untitled")
        return {
            "who": self.recipient,
            "label": label,
            "time": format_time(self.opened_at, locale, tz),
        }

    def refs(self) -> dict[str, str]:
        return {"share_id": self.share_id}


class AppointmentRescheduled(
    _AboutAppointment, tag="appointment_rescheduled", frozen=True, kw_only=True
):
    """The citizen (or their guardian) moved the appointment to another slot."""

    previous_starts_at: Moment

    def values(self, locale: Locale, tz: ZoneInfo) -> dict[str, str]:
        return {
            **super().values(locale, tz),
            "previous": format_time(self.previous_starts_at, locale, tz),
        }


Notification = (
    AppointmentBooked
    | AppointmentCancelled
    | AppointmentReminder
    | CheckedIn
    | QueueApproaching
    | YourTurn
    | HealthRecordAvailable
    | HealthBookShared
    | HealthBookViewed
    | ShareOpened
    | AppointmentRescheduled
    | FollowUpDue
)
"""Every notification kind; ``kind`` is the tag."""

KIND_TYPES: tuple[type[NotificationKind], ...] = get_args(Notification)
KINDS: dict[str, type[NotificationKind]] = {
    str(cls.__struct_config__.tag): cls for cls in KIND_TYPES
}
MUTABLE_KINDS = frozenset(name for name, cls in KINDS.items() if cls.category == "reminder")
MutableKind = Literal["appointment_reminder", "queue_approaching"]
assert frozenset(get_args(MutableKind)) == MUTABLE_KINDS  # kept in step with the categories


def to_payload(message: NotificationKind) -> dict[str, Any]:
    return msgspec.to_builtins(message)


def from_payload(payload: Any) -> NotificationKind:
    """Decode a stored payload (raises ``msgspec.ValidationError`` when it does not fit)."""
    # Notification is a union of Struct types, which msgspec decodes; its stub wants one type
    return msgspec.convert(payload, Notification)  # type: ignore[arg-type]


def zone(name: str | None) -> ZoneInfo:
    try:
        return ZoneInfo(name or DEFAULT_TIMEZONE)
    except (KeyError, ValueError):
        return ZoneInfo(DEFAULT_TIMEZONE)
