"""Notification kinds and their texts, and the relay's pure rules (no database)."""

from __future__ import annotations

import datetime as dt
import random
import re
from email.utils import format_datetime
from zoneinfo import ZoneInfo

import msgspec
import pytest

from api.core.backoff import retry_delay
from api.core.settings import Settings, SettingsError
from notifications import messages
from notifications.inbox import pick_locale
from notifications.policy import in_quiet_hours, suppression
from notifications.senders.fcm import parse_retry_after
from notifications.templates import TEMPLATES

AT = dt.datetime(2030, 3, 4, 1, 30, tzinfo=dt.UTC)
FACILITY = "Bệnh viện Tâm thần Trung ương"
DEPARTMENT = "Khoa Truyền nhiễm"
SAMPLES: dict[str, messages.NotificationKind] = {
    "appointment_booked": messages.AppointmentBooked(
        appointment_id="a1", facility_name=FACILITY, department_name=DEPARTMENT, starts_at=AT
    ),
    "appointment_cancelled": messages.AppointmentCancelled(
        appointment_id="a1", facility_name=FACILITY, department_name=DEPARTMENT, starts_at=AT
    ),
    "appointment_reminder": messages.AppointmentReminder(
        appointment_id="a1", facility_name=FACILITY, department_name=DEPARTMENT, starts_at=AT
    ),
    "checked_in": messages.CheckedIn(
        ticket_id="t1", facility_name=FACILITY, department_name=DEPARTMENT, queue_number=17
    ),
    "queue_approaching": messages.QueueApproaching(
        ticket_id="t1",
        facility_name=FACILITY,
        department_name=DEPARTMENT,
        queue_number=17,
        ahead=3,
    ),
    "your_turn": messages.YourTurn(
        ticket_id="t1", facility_name=FACILITY, department_name=DEPARTMENT, queue_number=17
    ),
    "health_record_available": messages.HealthRecordAvailable(
        record_id="r1", facility_name=FACILITY, visit_date=dt.date(2030, 3, 1)
    ),
    "follow_up_due": messages.FollowUpDue(
        follow_up_id="f1",
        facility_id="79001",
        facility_name=FACILITY,
        department="K01",
        due_date=dt.date(2030, 3, 1),
    ),
    "health_book_shared": messages.HealthBookShared(
        share_id="s1", shared_with="BS. Nguyễn Văn Bình", expires_at=AT
    ),
    "health_book_viewed": messages.HealthBookViewed(
        share_id="s1", viewer="BS. Nguyễn Văn Bình", viewed_at=AT
    ),
    "share_opened": messages.ShareOpened(
        share_id="s1", recipient="BS. Nguyễn Văn Bình", label="Cho bác sĩ", opened_at=AT
    ),
    "appointment_rescheduled": messages.AppointmentRescheduled(
        appointment_id="a1",
        facility_name=FACILITY,
        department_name=DEPARTMENT,
        starts_at=AT,
        previous_starts_at=AT - dt.timedelta(days=1),
    ),
}
HANOI = ZoneInfo("Asia/Ho_Chi_Minh")
SENSITIVE = (FACILITY, DEPARTMENT, "Nguyễn Văn Bình", "Tâm thần", "Truyền nhiễm")


def test_every_kind_has_a_sample_and_both_languages() -> None:
    assert set(SAMPLES) == set(messages.KINDS) == set(TEMPLATES)
    assert len(messages.KINDS) >= 9
    for kind, templates in TEMPLATES.items():
        assert set(templates) == {"vi", "en"}, kind


@pytest.mark.parametrize("kind", sorted(SAMPLES))
@pytest.mark.parametrize("locale", ["vi", "en"])
def test_texts_render_and_push_texts_reveal_nothing_sensitive(kind: str, locale: str) -> None:
    message = SAMPLES[kind]
    assert message.kind == kind
    for for_dependent in (False, True):
        title, body = message.push_texts(locale, HANOI, for_dependent=for_dependent)
        assert title
        assert body
        assert "{" not in title + body
        for secret in SENSITIVE:
            assert secret not in title + body, (kind, locale, secret)
    title, body = message.inbox_texts(locale, HANOI)
    assert title
    assert body
    assert "{" not in title + body
    # no kind carries a national ID or a diagnosis at all
    assert not any(
        re.search("national|diagnos|icd|condition", f) for f in message.__struct_fields__
    )


def test_texts_are_vietnamese_by_default_and_local_time() -> None:
    message = SAMPLES["appointment_reminder"]
    assert message.push_texts("vi", HANOI).body == "Bạn có lịch khám lúc 08:30 ngày 04/03/2030."
    assert message.push_texts("en", HANOI).body == "You have an appointment at 08:30 on 4 Mar 2030."
    assert message.push_texts("vi", HANOI, for_dependent=True).title == "Người thân: Nhắc lịch khám"
    assert FACILITY in message.inbox_texts("vi", HANOI).body


def test_payloads_round_trip_and_refuse_what_does_not_fit() -> None:
    for message in SAMPLES.values():
        assert messages.from_payload(messages.to_payload(message)) == message
    with pytest.raises(msgspec.ValidationError):
        messages.from_payload({"kind": "appointment_booked", "appointment_id": "a"})
    with pytest.raises(msgspec.ValidationError):
        messages.from_payload({"kind": "unknown_kind"})
    naive = messages.to_payload(SAMPLES["appointment_booked"]) | {"starts_at": "2030-03-04T01:30"}
    with pytest.raises(msgspec.ValidationError):
        messages.from_payload(naive)


def test_categories() -> None:
    assert {"appointment_reminder", "queue_approaching"} == messages.MUTABLE_KINDS
    operational = {k for k, c in messages.KINDS.items() if c.category == "operational"}
    assert operational == {"appointment_cancelled", "your_turn"}


@pytest.mark.parametrize(
    ("header", "locale"),
    [
        (None, "vi"),
        ("", "vi"),
        ("en", "en"),
        ("en-US,en;q=0.9", "en"),
        ("fr, de", "vi"),
        ("vi;q=0.4, en;q=0.6", "en"),
        ("en;q=0, vi", "vi"),
        ("en;q=abc, vi;q=0.2", "vi"),
        ("VI-vn", "vi"),
    ],
)
def test_accept_language(header: str | None, locale: str) -> None:
    assert pick_locale(header) == locale


def _hanoi(hour: int, minute: int = 0) -> dt.datetime:
    return dt.datetime(2030, 3, 4, hour, minute, tzinfo=HANOI)


def test_quiet_hours() -> None:
    tz = "Asia/Ho_Chi_Minh"
    assert in_quiet_hours("22:00", "07:00", tz, _hanoi(23))
    assert in_quiet_hours("22:00", "07:00", tz, _hanoi(6, 59))
    assert not in_quiet_hours("22:00", "07:00", tz, _hanoi(7))
    assert not in_quiet_hours("22:00", "07:00", tz, _hanoi(21, 59))
    assert in_quiet_hours("12:00", "13:30", tz, _hanoi(13, 29))
    assert not in_quiet_hours("12:00", "13:30", tz, _hanoi(13, 30))
    assert not in_quiet_hours(None, None, tz, _hanoi(23))
    # the same instant in UTC is judged in the citizen's zone
    assert in_quiet_hours("22:00", "07:00", tz, _hanoi(23).astimezone(dt.UTC))
    assert not in_quiet_hours("22:00", "07:00", "Europe/Paris", _hanoi(23))


def test_suppression_rules() -> None:
    night = _hanoi(23)
    common = {"quiet_start": "22:00", "quiet_end": "07:00", "timezone": "Asia/Ho_Chi_Minh"}
    reminder = SAMPLES["appointment_reminder"]
    assert suppression(reminder, muted_kinds=["appointment_reminder"], **common, now=_hanoi(12))
    assert suppression(reminder, muted_kinds=[], **common, now=night) == "quiet_hours"
    assert suppression(SAMPLES["your_turn"], muted_kinds=[], **common, now=night) is None
    assert (
        suppression(SAMPLES["appointment_cancelled"], muted_kinds=[], **common, now=night) is None
    )
    assert suppression(reminder, muted_kinds=None, **common, now=_hanoi(12)) is None


def test_retry_delay_is_exponential_jittered_capped_and_honours_retry_after() -> None:
    rng = random.Random(7)
    for attempt in range(1, 12):
        expected = min(600.0, 10 * 2 ** (attempt - 1))
        delays = {retry_delay(attempt, base=10, cap=600, rng=rng) for _ in range(50)}
        assert all(expected / 2 <= d <= expected for d in delays)
        assert len(delays) > 1  # jitter
    assert retry_delay(1, base=10, cap=600, retry_after=120, rng=rng) == 120
    assert retry_delay(8, base=10, cap=600, retry_after=1, rng=rng) >= 300


def test_retry_after_header() -> None:
    assert parse_retry_after("120") == 120
    assert parse_retry_after(None) is None
    assert parse_retry_after("soon") is None
    now = dt.datetime(2030, 1, 1, tzinfo=dt.UTC)
    later = format_datetime(now + dt.timedelta(seconds=90), usegmt=True)
    assert parse_retry_after(later, now=now.timestamp()) == pytest.approx(90)


def test_settings_refuse_an_fcm_endpoint_off_loopback_or_in_production() -> None:
    base = {"fcm_endpoint": "http://127.0.0.1:9999"}
    Settings.from_flat(**base).check()
    with pytest.raises(SettingsError, match="FCM_ENDPOINT"):
        Settings.from_flat(fcm_endpoint="https://fcm.example.com").check()
    with pytest.raises(SettingsError, match="FCM_ENDPOINT"):
        Settings.from_flat(**base, production=True).check()
    with pytest.raises(SettingsError, match="RELAY_BATCH_SIZE"):
        Settings.from_flat(relay_batch_size=0).check()
    assert Settings().relay_in_process is True  # embedded: the relay runs in the API process
    assert Settings.from_flat(database_url="postgresql+asyncpg://db/x").relay_in_process is False
    env = Settings.from_env({"RELAY_EMBEDDED": "true", "DATABASE_URL": "postgresql+asyncpg://x/y"})
    assert env.relay_in_process is True
