"""A citizen's push preferences as the relay applies them (no I/O): defaults for a citizen who
set none, muted reminder kinds, quiet hours in their own time zone, operational kinds always."""

from __future__ import annotations

import datetime as dt
import uuid

from notifications import preferences
from notifications.messages import DEFAULT_TIMEZONE, AppointmentReminder, YourTurn
from notifications.models import Preference
from notifications.policy import suppression
from notifications.schemas import NotificationPreferences, QuietHours

REMINDER = AppointmentReminder(
    appointment_id="a1",
    facility_name="BV Test",
    starts_at=dt.datetime(2026, 3, 3, 2, 0, tzinfo=dt.UTC),
)
YOUR_TURN = YourTurn(ticket_id="t1", facility_name="BV Test", queue_number=3)


def stored(**columns: object) -> Preference:
    row = Preference(citizen_id=uuid.uuid4(), muted_kinds=[], timezone=DEFAULT_TIMEZONE)
    for name, value in columns.items():
        setattr(row, name, value)
    return row


def test_a_citizen_who_set_nothing_has_the_defaults() -> None:
    assert preferences._view(None) == NotificationPreferences()
    assert preferences.timezone_of(None) == DEFAULT_TIMEZONE


def test_stored_preferences_read_back_as_set() -> None:
    row = stored(
        muted_kinds=["queue_approaching"],
        quiet_start="22:00",
        quiet_end="06:30",
        timezone="Asia/Bangkok",
    )
    assert preferences._view(row) == NotificationPreferences(
        muted_kinds=["queue_approaching"],
        quiet_hours=QuietHours(start="22:00", end="06:30"),
        timezone="Asia/Bangkok",
    )
    assert preferences.timezone_of(row) == "Asia/Bangkok"


def _why(message: object, at_local: str, **prefs: object) -> str | None:
    """Why ``message`` is not pushed at ``at_local`` (HH:MM in Ho Chi Minh City, UTC+7)."""
    hours, minutes = map(int, at_local.split(":"))
    now = dt.datetime(2026, 3, 2, hours, minutes, tzinfo=dt.timezone(dt.timedelta(hours=7)))
    return suppression(
        message,  # type: ignore[arg-type]
        muted_kinds=prefs.get("muted"),  # type: ignore[arg-type]
        quiet_start=prefs.get("start"),  # type: ignore[arg-type]
        quiet_end=prefs.get("end"),  # type: ignore[arg-type]
        timezone=DEFAULT_TIMEZONE,
        now=now,
    )


def test_a_muted_reminder_kind_is_not_pushed() -> None:
    assert _why(REMINDER, "12:00", muted=["appointment_reminder"]) == "muted"
    assert _why(REMINDER, "12:00", muted=["queue_approaching"]) is None


def test_quiet_hours_across_midnight_hold_back_reminders_in_local_time() -> None:
    night = {"start": "22:00", "end": "06:30"}
    assert _why(REMINDER, "23:15", **night) == "quiet_hours"
    assert _why(REMINDER, "06:29", **night) == "quiet_hours"
    assert _why(REMINDER, "06:30", **night) is None
    assert _why(REMINDER, "21:59", **night) is None


def test_operational_kinds_go_out_even_in_quiet_hours_and_cannot_be_muted() -> None:
    assert _why(YOUR_TURN, "23:15", start="22:00", end="06:30", muted=["your_turn"]) is None
