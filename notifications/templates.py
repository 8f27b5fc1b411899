"""The texts of every notification kind, in Vietnamese (the default) and English.

Each kind has two shapes of text (see ``notifications.messages``): the **push** title and body,
shown on a lock screen, which never name a facility, department, person or condition; and the
**inbox** title and body, read inside the app, which may. Placeholders are filled from the kind's
``values(locale, tz)``; a placeholder missing there fails the unit tests, not a send.
"""

from __future__ import annotations

import datetime as dt
from typing import Literal, NamedTuple
from zoneinfo import ZoneInfo

Locale = Literal["vi", "en"]
LOCALES: tuple[Locale, ...] = ("vi", "en")
DEFAULT_LOCALE: Locale = "vi"


class Texts(NamedTuple):
    title: str
    body: str


class Template(NamedTuple):
    """Format strings of one kind in one language."""

    push_title: str
    push_body: str
    inbox_title: str
    inbox_body: str


_MONTHS_EN = ("Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec")

DEPENDENT_PREFIX: dict[Locale, str] = {"vi": "Người thân: ", "en": "Family member: "}
"""Put before the push title when the phone is a guardian's and the notification is about a
dependent (who is never named on a lock screen)."""

DEFAULT_ROOM: dict[Locale, str] = {"vi": "phòng khám", "en": "the consultation room"}


def format_time(moment: dt.datetime, locale: Locale, tz: ZoneInfo) -> str:
    """``08:30 ngày 25/11/2026`` / ``08:30 on 25 Nov 2026`` in the reader's time zone."""
    local = moment.astimezone(tz)
    if locale == "en":
        return f"{local:%H:%M} on {local.day} {_MONTHS_EN[local.month - 1]} {local.year}"
    return f"{local:%H:%M} ngày {local:%d/%m/%Y}"


def format_date(day: dt.date, locale: Locale) -> str:
    if locale == "en":
        return f"{day.day} {_MONTHS_EN[day.month - 1]} {day.year}"
    return f"{day:%d/%m/%Y}"


TEMPLATES: dict[str, dict[Locale, Template]] = {
    "appointment_booked": {
        "vi": Template(
            "Đặt lịch khám thành công",
            "Lịch khám lúc {time} đã được xác nhận. Mở ứng dụng để xem chi tiết.",
            "Đặt lịch khám thành công",
            "Lịch khám tại {place} lúc {time} đã được xác nhận.",
        ),
        "en": Template(
            "Appointment booked",
            "Your appointment at {time} is confirmed. Open the app for details.",
            "Appointment booked",
            "Your appointment at {place} at {time} is confirmed.",
        ),
    },
    "appointment_cancelled": {
        "vi": Template(
            "Lịch khám đã bị hủy",
            "Cơ sở y tế đã hủy lịch khám lúc {time}. Mở ứng dụng để đặt lịch khác.",
            "Lịch khám đã bị hủy",
            "{place} đã hủy lịch khám lúc {time}. Bạn có thể đặt lịch khác trong ứng dụng.",
        ),
        "en": Template(
            "Appointment cancelled",
            "The hospital cancelled your appointment at {time}. Open the app to rebook.",
            "Appointment cancelled",
            "{place} cancelled your appointment at {time}. You can book another in the app.",
        ),
    },
    "appointment_reminder": {
        "vi": Template(
            "Nhắc lịch khám",
            "Bạn có lịch khám lúc {time}.",
            "Nhắc lịch khám",
            "Bạn có lịch khám tại {place} lúc {time}. Vui lòng đến sớm 15 phút để check-in.",
        ),
        "en": Template(
            "Appointment reminder",
            "You have an appointment at {time}.",
            "Appointment reminder",
            "You have an appointment at {place} at {time}. Please arrive 15 minutes early to "
            "check in.",
        ),
    },
    "checked_in": {
        "vi": Template(
            "Check-in thành công",
            "Số thứ tự của bạn là {number}.",
            "Check-in thành công",
            "Bạn đã check-in tại {place}. Số thứ tự của bạn là {number}.",
        ),
        "en": Template(
            "Checked in",
            "Your queue number is {number}.",
            "Checked in",
            "You are checked in at {place}. Your queue number is {number}.",
        ),
    },
    "queue_approaching": {
        "vi": Template(
            "Sắp đến lượt bạn",
            "Còn {ahead} người trước số {number} của bạn.",
            "Sắp đến lượt bạn",
            "Còn {ahead} người trước số {number} của bạn tại {place}. Vui lòng có mặt gần "
            "phòng khám.",
        ),
        "en": Template(
            "Your turn is coming up",
            "{ahead} people ahead of your number {number}.",
            "Your turn is coming up",
            "{ahead} people ahead of your number {number} at {place}. Please stay near the "
            "consultation room.",
        ),
    },
    "your_turn": {
        "vi": Template(
            "Đến lượt bạn",
            "Mời số {number} vào {room}.",
            "Đến lượt bạn",
            "Mời số {number} vào {room} tại {place}.",
        ),
        "en": Template(
            "It's your turn",
            "Number {number}, please go to {room}.",
            "It's your turn",
            "Number {number}, please go to {room} at {place}.",
        ),
    },
    "health_record_available": {
        "vi": Template(
            "Có hồ sơ sức khỏe mới",
            "Sổ sức khỏe của bạn vừa có hồ sơ mới. Mở ứng dụng để xem.",
            "Có hồ sơ sức khỏe mới",
            "{facility} đã gửi hồ sơ lần khám{visit} vào sổ sức khỏe của bạn.",
        ),
        "en": Template(
            "New health record",
            "A new record was added to your health book. Open the app to view it.",
            "New health record",
            "{facility} added the record of a visit{visit} to your health book.",
        ),
    },
    "follow_up_due": {
        "vi": Template(
            "Lịch khám lại",
            "Ngày mai ({date}) bạn có lịch khám lại. Mở ứng dụng để xem.",
            "Lịch khám lại ngày mai",
            "{facility} hẹn bạn khám lại ngày {date}. Bạn có thể đặt lịch khám gần ngày này "
            "trong ứng dụng.",
        ),
        "en": Template(
            "Follow-up visit",
            "You have a follow-up visit tomorrow ({date}). Open the app to view it.",
            "Follow-up visit tomorrow",
            "{facility} asked you to come back on {date}. You can book a slot near that day in "
            "the app.",
        ),
    },
    "health_book_shared": {
        "vi": Template(
            "Đã chia sẻ sổ sức khỏe",
            "Sổ sức khỏe của bạn đã được chia sẻ, hiệu lực đến {until}.",
            "Đã chia sẻ sổ sức khỏe",
            "Sổ sức khỏe của bạn đã được chia sẻ với {who}, hiệu lực đến {until}.",
        ),
        "en": Template(
            "Health book shared",
            "Your health book was shared until {until}.",
            "Health book shared",
            "Your health book was shared with {who} until {until}.",
        ),
    },
    "health_book_viewed": {
        "vi": Template(
            "Sổ sức khỏe vừa được xem",
            "Người được chia sẻ vừa xem sổ sức khỏe của bạn.",
            "Sổ sức khỏe vừa được xem",
            "{who} đã xem sổ sức khỏe của bạn lúc {time}.",
        ),
        "en": Template(
            "Health book viewed",
            "Someone you shared your health book with has viewed it.",
            "Health book viewed",
            "{who} viewed your health book at {time}.",
        ),
    },
    "share_opened": {
        "vi": Template(
            "Liên kết chia sẻ vừa được mở",
            "Một liên kết chia sẻ sổ sức khỏe vừa được mở lần đầu lúc {time}.",
            "Liên kết chia sẻ được mở lần đầu",
            "{who} đã mở liên kết chia sẻ “{label}” lần đầu lúc {time}. Nếu bạn không chia sẻ "
            "với người này, hãy thu hồi liên kết trong ứng dụng.",
        ),
        "en": Template(
            "Shared link opened",
            "A link to your health book was opened for the first time at {time}.",
            "Shared link opened for the first time",
            "{who} opened your shared link “{label}” for the first time at {time}. If you did "
            "not share it with them, revoke the link in the app.",
        ),
    },
    "appointment_rescheduled": {
        "vi": Template(
            "Đã đổi lịch khám",
            "Lịch khám của bạn đã được chuyển sang {time}. Mở ứng dụng để xem chi tiết.",
            "Đã đổi lịch khám",
            "Lịch khám tại {place} đã được chuyển từ {previous} sang {time}.",
        ),
        "en": Template(
            "Appointment rescheduled",
            "Your appointment is now at {time}. Open the app for details.",
            "Appointment rescheduled",
            "Your appointment at {place} moved from {previous} to {time}.",
        ),
    },
}
