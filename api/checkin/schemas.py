"""Request and response bodies of the check-in and queue routes (see the issue 8 contract)."""

from __future__ import annotations

import datetime as dt
from typing import Annotated, Literal

import msgspec

from api.questionnaires.schemas import MissingForm

ScannedText = Annotated[str, msgspec.Meta(min_length=1, max_length=2048)]
Room = Annotated[str, msgspec.Meta(min_length=1, max_length=40)]
TicketStatus = Literal["waiting", "called", "served", "skipped"]
TicketSource = Literal["appointment", "walk_in"]


class CheckInToken(msgspec.Struct, kw_only=True):
    """What the app shows as a QR code at the kiosk."""

    token: str
    valid_from: dt.datetime
    valid_until: dt.datetime
    kid: str
    """The signing key (in ``/.well-known/jwks.json``), for kiosks that verify offline."""


class KioskCheckIn(msgspec.Struct, kw_only=True, forbid_unknown_fields=True):
    code: ScannedText
    """The text the kiosk scanned from the citizen's QR code."""


class WalkIn(msgspec.Struct, kw_only=True, forbid_unknown_fields=True):
    code: ScannedText
    """The text the app scanned from a facility's printed QR code."""


class Ticket(msgspec.Struct, kw_only=True):
    ticket_id: str
    number: int
    label: str
    """``NOI-007``: the department's code and the number."""
    facility_id: str
    facility_name: str
    department: str
    department_name: str
    room: str | None
    people_ahead: int
    estimated_wait_minutes: int
    issued_at: dt.datetime
    queue_date: dt.date
    appointment_id: str | None
    missing_forms: list[MissingForm] = msgspec.field(default_factory=list)
    """Required intake questionnaires of the visit not completed yet (check-in goes ahead)."""
    message: str | None = None
    """What the kiosk prints on the ticket for the patient (set when forms are missing)."""


class Call(msgspec.Struct, kw_only=True):
    number: int
    label: str
    room: str | None


class RecentCall(Call, kw_only=True):
    called_at: dt.datetime


class QueueStatus(msgspec.Struct, kw_only=True):
    facility_id: str
    department: str
    department_name: str
    queue_date: dt.date
    now_serving: Call | None
    waiting: int
    average_service_minutes: float | None
    """Mean time between calls over the last hour; ``None`` with fewer than two calls."""
    recent_calls: list[RecentCall]
    """Latest first, at most five (recalls included)."""
    updated_at: dt.datetime


class CallNext(msgspec.Struct, kw_only=True, forbid_unknown_fields=True):
    room: Room | None = None
    """Where the patient is called to; the department's room when not given."""


class CheckedInPatient(msgspec.Struct, kw_only=True):
    """What a citizen shares with the facility by checking in or scanning its code."""

    citizen_id: str
    full_name: str | None
    birth_year: int | None
    sex: str | None
    insurance_card: str | None


class Arrival(msgspec.Struct, kw_only=True):
    ticket_id: str
    number: int
    label: str
    status: TicketStatus
    source: TicketSource
    appointment_id: str | None
    issued_at: dt.datetime
    called_at: dt.datetime | None
    room: str | None
    patient: CheckedInPatient


class ArrivalPage(msgspec.Struct, kw_only=True):
    facility_id: str
    department: str
    queue_date: dt.date
    items: list[Arrival]
    next_after: int | None
    """Pass as ``after`` for the next page; ``None`` on the last page."""


class CallOutcome(msgspec.Struct, kw_only=True):
    """What call-next, recall or skip did, and the queue after it."""

    called: Arrival | None
    """The ticket now called (``None``: nobody was waiting)."""
    previous: Arrival | None
    """The ticket that was being called before (now served or skipped), if any."""
    status: QueueStatus
