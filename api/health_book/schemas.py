"""What citizens read: the book's overview, entries, visits, series, and the access log."""

from __future__ import annotations

import datetime as dt
from typing import Any, Literal

import msgspec

from api.core.pagination import Page

Category = Literal[
    "visits",
    "conditions",
    "allergies",
    "medications",
    "immunizations",
    "observations",
    "diagnostic_reports",
    "procedures",
]


class Code(msgspec.Struct, kw_only=True, omit_defaults=True):
    """One coding as the source sent it (ICD-10, LOINC, SNOMED CT, ATC, CVX...)."""

    system: str | None = None
    code: str | None = None
    display: str | None = None


class EntryBrief(msgspec.Struct, kw_only=True):
    """One entry as lists and the overview show it; ``details`` holds everything extracted."""

    id: str
    category: str
    facility_id: str
    text: str | None
    codes: list[Code]
    status: str | None
    effective_at: dt.datetime | None
    effective_end: dt.datetime | None
    details: dict[str, Any]


class VitalSign(msgspec.Struct, kw_only=True):
    code: Code
    text: str | None
    value: float | None
    unit: str | None
    components: list[dict[str, Any]]
    effective_at: dt.datetime | None
    entry_id: str
    source: Literal["clinical", "home"] = "clinical"
    """``home``: the citizen's own reading (patient-reported)."""


class VisitBrief(msgspec.Struct, kw_only=True):
    id: str
    facility_id: str
    facility_name: str | None
    start: dt.datetime | None
    end: dt.datetime | None
    class_code: str | None
    text: str | None
    reasons: list[str]


class BookProfile(msgspec.Struct, kw_only=True):
    id: str
    full_name: str | None
    birth_date: dt.date | None
    sex: str | None
    insurance_card: str | None
    national_id_masked: str | None


class BookStatement(msgspec.Struct, kw_only=True):
    """What a record says is absent, unknown or ruled out ("No known allergies"), shown as such:
    never an entry, never counted. ``kind``: ``none-known``, ``no-information`` or ``refuted``;
    ``topic``: ``allergies``, ``problems``, ``medications``, ``immunizations``, ``procedures``,
    ``devices``, ``results``; ``text`` in English (``en``) and Vietnamese (``vi``)."""

    kind: str
    topic: str
    text: dict[str, str]
    code: Code | None
    facility_id: str
    document_id: str
    """The document that says so (its id across versions), its version and that version's id."""
    version: int
    version_id: str
    recorded_at: dt.datetime
    """When that version was received."""
    entry_id: str


class Overview(msgspec.Struct, kw_only=True):
    profile: BookProfile
    allergies: list[EntryBrief]
    active_problems: list[EntryBrief]
    current_medications: list[EntryBrief]
    latest_vital_signs: list[VitalSign]
    last_visits: list[VisitBrief]
    immunizations: list[EntryBrief]
    statements: list[BookStatement]
    """Absent/unknown statements (the latest per topic) and refuted ones; not entries."""
    counts: dict[str, int]
    built_at: dt.datetime
    latest_home_readings: list[VitalSign] = []
    """The newest reading of each kind the citizen took at home (patient-reported; not in
    ``latest_vital_signs``, which holds a facility's)."""


class EntryPage(Page, kw_only=True):
    items: list[EntryBrief]


class DocumentVersion(msgspec.Struct, kw_only=True):
    document_id: str
    """The document across its versions (the id of version 1), as the publish answer names it."""
    version: int
    version_id: str
    """This version's own id."""
    status: str
    title: str | None
    received_at: dt.datetime


class VisitDetail(msgspec.Struct, kw_only=True):
    visit: EntryBrief
    facility: dict[str, Any]
    entries: dict[str, list[EntryBrief]]
    documents: list[DocumentVersion]


class SeriesPoint(msgspec.Struct, kw_only=True, omit_defaults=True):
    source: Literal["clinical", "home", ""] = ""
    """``home``: a reading the citizen took (patient-reported); ``clinical``: from a facility.
    Every point the API answers has one (the empty default is for points made by hand)."""
    at: dt.datetime
    value: float | None = None
    unit: str | None = None
    text: str | None = None
    low: float | None = None
    high: float | None = None
    interpretation: list[str] = []
    components: dict[str, float | None] = {}
    entry_id: str


class Series(msgspec.Struct, kw_only=True):
    code: str
    text: str | None
    unit: str | None
    component_codes: dict[str, str]
    """For panels such as blood pressure: component code -> its display (systolic, diastolic)."""
    points: list[SeriesPoint]


class AccessLogItem(msgspec.Struct, kw_only=True):
    id: str
    at: dt.datetime
    actor_kind: str
    actor_id: str
    action: str
    purpose: str | None
    resource: str | None


class AccessLogPage(Page, kw_only=True):
    items: list[AccessLogItem]
