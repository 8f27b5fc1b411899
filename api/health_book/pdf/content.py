"""What a PDF of the book shows, gathered from the database into plain Structs (:class:`Sheet`).

One episode (a visit) carries what QĐ 31/QĐ-BYT lists for the health book's episode download:
the facility, the dates, the diagnoses with their text, the prescriptions with their dosage, the
results (value, unit, reference range), the summary and discharge notes and the follow-up
appointment. The notes and the follow-ups are read from the document the visit came in: the
narrative of its Composition's summary sections, and its proposed or booked Appointments.

The Sheet holds no generation time and no document id: its canonical encoding is what the PDF's
verification line hashes (:func:`content_sha256`), the same for the same book content.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import html
import re
import unicodedata
import uuid
from collections.abc import Collection, Iterable
from typing import Any

import msgspec
from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import AsyncSession
from sqlalchemy.orm import defer

from api.core.errors import InvalidInput, NotFound
from api.facilities import service as facilities
from api.health_book.export import labelled_restricted
from api.health_book.models import HealthDocument, HealthEntry
from api.health_book.statements import STATEMENTS, WITHDRAWN
from api.identity import citizens

MAX_ENTRIES = 5000
"""At most this many entries in one PDF: a longer book is asked for by date range."""

NOTE_SECTIONS = frozenset(
    {
        "29548-5",  # diagnosis narrative
        "8648-8",  # hospital course
        "30954-2",  # relevant diagnostic tests
        "18842-5",  # discharge summary
        "18776-5",  # plan of care
        "11535-2",  # hospital discharge diagnosis
        "10164-2",  # history of present illness
        "69730-0",  # instructions
        "42349-1",  # reason for referral
    }
)
"""Composition sections whose narrative is a note the PDF prints (LOINC section codes)."""

_FOLLOW_UP_STATUS = frozenset({"proposed", "pending", "booked"})
_sort_at = func.coalesce(HealthEntry.effective_at, HealthEntry.received_at)


class Item(msgspec.Struct, kw_only=True, omit_defaults=True):
    """One line of a list: a diagnosis, a drug, a result, a procedure..."""

    text: str
    code: str | None = None
    value: str | None = None
    reference: str | None = None
    detail: list[str] = []
    at: dt.datetime | None = None
    date_only: bool = False


class Note(msgspec.Struct, kw_only=True):
    title: str
    lines: list[str]


class FollowUp(msgspec.Struct, kw_only=True, omit_defaults=True):
    when: str
    text: str | None = None


class Episode(msgspec.Struct, kw_only=True, omit_defaults=True):
    id: str
    facility_id: str
    facility_name: str | None = None
    province: str | None = None
    kind: str | None = None
    class_code: str | None = None
    start: dt.datetime | None = None
    end: dt.datetime | None = None
    reasons: list[str] = []
    diagnoses: list[Item] = []
    prescriptions: list[Item] = []
    results: list[Item] = []
    procedures: list[Item] = []
    immunizations: list[Item] = []
    allergies: list[Item] = []
    notes: list[Note] = []
    follow_ups: list[FollowUp] = []


class Patient(msgspec.Struct, kw_only=True):
    full_name: str | None
    birth_date: dt.date | None
    sex: str | None
    national_id_masked: str | None
    insurance_card: str | None


class Sheet(msgspec.Struct, kw_only=True, omit_defaults=True):
    """Everything a PDF shows. ``kind`` ``visit`` (one episode) or ``book``."""

    kind: str
    patient: Patient
    episodes: list[Episode] = []
    others: dict[str, list[Item]] = {}
    """Entries of the chosen categories outside any printed episode, by category."""
    date_from: dt.date | None = None
    date_to: dt.date | None = None
    categories: list[str] = []


_encoder = msgspec.json.Encoder(order="sorted")


def content_sha256(sheet: Sheet) -> str:
    """The SHA-256 of the sheet's canonical JSON (keys sorted): what the PDF says it renders."""
    return hashlib.sha256(_encoder.encode(sheet)).hexdigest()


def clean(text: str | None) -> str:
    """NFC (precomposed Vietnamese letters, which the font draws without shaping), one line."""
    if not text:
        return ""
    return " ".join(unicodedata.normalize("NFC", text).split())


# --- summaries of entries -------------------------------------------------------------------


def _number(value: Any) -> str:
    if isinstance(value, float) and value.is_integer():
        return str(int(value))
    return str(value)


def _coding_text(codes: Any) -> str | None:
    for coding in codes or ():
        if isinstance(coding, dict) and (coding.get("display") or coding.get("code")):
            return coding.get("display") or coding.get("code")
    return None


def _value(value: Any) -> str | None:
    if not isinstance(value, dict):
        return None
    if value.get("number") is not None:
        unit = value.get("unit") or value.get("unit_code") or ""
        return clean(f"{value.get('comparator') or ''}{_number(value['number'])} {unit}")
    if value.get("text"):
        return clean(value["text"])
    if value.get("boolean") is not None:
        return "+" if value["boolean"] else "−"
    return clean(_coding_text(value.get("codes")))


def _reference(ranges: Any) -> str | None:
    parts: list[str] = []
    for found in ranges or ():
        if not isinstance(found, dict):
            continue
        if found.get("text"):
            parts.append(clean(found["text"]))
            continue
        low, high, unit = found.get("low"), found.get("high"), found.get("unit") or ""
        if low is not None and high is not None:
            parts.append(clean(f"{_number(low)}–{_number(high)} {unit}"))
        elif low is not None:
            parts.append(clean(f"≥ {_number(low)} {unit}"))
        elif high is not None:
            parts.append(clean(f"≤ {_number(high)} {unit}"))
    return "; ".join(parts) or None


def _code(summary: dict[str, Any]) -> str | None:
    codes = summary.get("codes") or []
    first = codes[0] if codes and isinstance(codes[0], dict) else {}
    return first.get("code")


def _date_only(summary: dict[str, Any], *fields: str) -> bool:
    for name in fields:
        when = summary.get(name)
        if isinstance(when, dict) and when.get("precision"):
            return when["precision"] in ("year", "month", "day")
    return False


def item(entry: HealthEntry) -> Item:
    """An entry as a line of the PDF, by its category."""
    summary = entry.summary
    text = clean(entry.display) or clean(_coding_text(summary.get("codes"))) or "—"
    found = Item(text=text, code=_code(summary), at=entry.effective_at)
    if entry.category == "medications":
        found.detail = [clean(line) for line in summary.get("dosage") or () if clean(line)]
        found.date_only = _date_only(summary, "effective_start", "authored")
    elif entry.category == "observations":
        found.value = _value(summary.get("value"))
        if found.value is None and summary.get("components"):
            found.value = "; ".join(
                f"{clean(c.get('text') or _coding_text(c.get('codes')))} {_value(c.get('value'))}"
                for c in summary["components"]
                if isinstance(c, dict) and _value(c.get("value"))
            )
        found.reference = _reference(summary.get("reference_ranges"))
        flags = [_coding_text([c]) for c in summary.get("interpretation") or ()]
        found.detail = [clean(f) for f in flags if f] + [
            clean(n) for n in summary.get("notes") or () if clean(n)
        ]
        found.date_only = _date_only(summary, "effective")
    elif entry.category == "diagnostic_reports":
        conclusion = clean(summary.get("conclusion"))
        found.detail = [conclusion] if conclusion else []
        found.date_only = _date_only(summary, "effective", "issued")
    elif entry.category in ("conditions", "allergies", "procedures"):
        found.detail = [clean(n) for n in summary.get("notes") or () if clean(n)]
        found.date_only = _date_only(summary, "onset", "recorded", "performed_start")
        reactions = [_coding_text([c]) for c in summary.get("reactions") or ()]
        found.detail += [clean(r) for r in reactions if r]
    elif entry.category == "immunizations":
        lot = summary.get("lot_number")
        found.detail = [f"Lot {lot}"] if lot else []
        found.date_only = _date_only(summary, "occurred")
    return found


# --- notes and follow-ups from the document -------------------------------------------------

_BREAK = re.compile(r"<\s*(?:/p|br\s*/?|/li|/tr|/h\d|/div)\s*>", re.IGNORECASE)
_TAG = re.compile(r"<[^>]+>")


def narrative_lines(div: str) -> list[str]:
    """The lines of an XHTML narrative: paragraphs, list items, rows; tags dropped."""
    lines = (clean(html.unescape(_TAG.sub(" ", part))) for part in _BREAK.split(div))
    return [line for line in lines if line]


def _section_notes(sections: Any, out: list[Note]) -> None:
    for section in sections or ():
        if not isinstance(section, dict):
            continue
        codes = {c.get("code") for c in (section.get("code") or {}).get("coding") or () if c} - {
            None
        }
        title = clean(section.get("title"))
        div = (section.get("text") or {}).get("div")
        wanted = bool(codes & NOTE_SECTIONS) or (not codes and not section.get("entry"))
        if wanted and isinstance(div, str):
            lines = [line for line in narrative_lines(div) if line != title]
            if lines:
                out.append(Note(title=title or "—", lines=lines))
        _section_notes(section.get("section"), out)


def _follow_up(resource: dict[str, Any]) -> FollowUp | None:
    if resource.get("status") not in _FOLLOW_UP_STATUS:
        return None
    when = resource.get("start")
    for period in resource.get("requestedPeriod") or ():
        if isinstance(period, dict) and period.get("start"):
            when = when or period["start"]
    if not isinstance(when, str):
        return None
    text = clean(resource.get("description")) or clean(
        _coding_text(
            [c for concept in resource.get("serviceType") or () for c in concept.get("coding", [])]
        )
    )
    return FollowUp(when=when, text=text or None)


def document_notes(body: bytes) -> tuple[list[Note], list[FollowUp]]:
    """The summary notes (Composition sections) and follow-up Appointments of a stored Bundle."""
    try:
        bundle = msgspec.json.decode(body)
    except msgspec.DecodeError:
        return [], []
    notes: list[Note] = []
    follow_ups: list[FollowUp] = []
    for entry in bundle.get("entry") or () if isinstance(bundle, dict) else ():
        resource = entry.get("resource") if isinstance(entry, dict) else None
        if not isinstance(resource, dict):
            continue
        if resource.get("resourceType") == "Composition":
            _section_notes(resource.get("section"), notes)
        elif resource.get("resourceType") == "Appointment":
            found = _follow_up(resource)
            if found is not None:
                follow_ups.append(found)
    follow_ups.sort(key=lambda f: f.when)
    return notes, follow_ups


# --- gathering ------------------------------------------------------------------------------

_EPISODE_LISTS = {
    "conditions": "diagnoses",
    "medications": "prescriptions",
    "observations": "results",
    "diagnostic_reports": "results",
    "procedures": "procedures",
    "immunizations": "immunizations",
    "allergies": "allergies",
}


async def _patient(session: AsyncSession, citizen_id: uuid.UUID) -> Patient:
    record = await citizens.get_record(session, citizen_id)
    return Patient(
        full_name=clean(record.full_name) or None,
        birth_date=record.birth_date,
        sex=record.sex,
        national_id_masked=record.national_id_masked,
        insurance_card=record.insurance_card,
    )


class _Gatherer:
    def __init__(self, session: AsyncSession, citizen_id: uuid.UUID, include_restricted: bool):
        self.session = session
        self.citizen_id = citizen_id
        self.include_restricted = include_restricted
        self.facilities: dict[str, Any] = {}

    def query(self) -> Any:
        query = select(HealthEntry).where(
            HealthEntry.citizen_id == self.citizen_id,
            HealthEntry.active.is_(True),
            HealthEntry.category.not_in((STATEMENTS, WITHDRAWN)),
        )
        if self.include_restricted:
            query = query.options(defer(HealthEntry.resource))
        return query

    async def rows(self, query: Any) -> list[HealthEntry]:
        rows = list(
            (
                await self.session.scalars(
                    query.order_by(_sort_at.desc(), HealthEntry.id.desc()).limit(MAX_ENTRIES + 1)
                )
            ).all()
        )
        if len(rows) > MAX_ENTRIES:
            raise InvalidInput(
                f"more than {MAX_ENTRIES} entries: choose a shorter period",
                field="from",
                source="query",
            )
        return rows

    async def documents(
        self, ids: Iterable[uuid.UUID | None]
    ) -> dict[uuid.UUID | None, HealthDocument]:
        """The documents of these ids (a home reading has none: ``None`` is skipped)."""
        wanted = {id_ for id_ in ids if id_ is not None}
        if not wanted:
            return {}
        found = (
            await self.session.scalars(select(HealthDocument).where(HealthDocument.id.in_(wanted)))
        ).all()
        return {d.id: d for d in found}

    def shown(self, entry: HealthEntry, documents: dict[uuid.UUID | None, HealthDocument]) -> bool:
        if self.include_restricted:
            return True
        document = documents.get(entry.document_id)
        return not (
            (document is not None and document.restricted) or labelled_restricted(entry.resource)
        )

    async def episode(
        self, visit: HealthEntry, related: list[HealthEntry], document: HealthDocument | None
    ) -> Episode:
        facility = self.facilities.get(visit.facility_id)
        if visit.facility_id not in self.facilities:
            facility = self.facilities[visit.facility_id] = await facilities.find(
                self.session, visit.facility_id
            )
        return episode_of(
            visit,
            related,
            facility_name=facility.name if facility else None,
            province=facility.province if facility else None,
            document=document.body if document is not None else None,
        )


def episode_of(
    visit: HealthEntry,
    related: list[HealthEntry],
    *,
    facility_name: str | None,
    province: str | None,
    document: bytes | None,
) -> Episode:
    """A visit, the entries recorded for it and the document it came in, as an episode."""
    summary = visit.summary
    reasons = [
        clean(r.get("display") or r.get("code"))
        for r in summary.get("reason_codes") or ()
        if isinstance(r, dict) and (r.get("display") or r.get("code"))
    ]
    if not reasons and summary.get("reason_text"):
        reasons = [clean(summary["reason_text"])]
    episode = Episode(
        id=str(visit.id),
        facility_id=visit.facility_id,
        facility_name=clean(facility_name or summary.get("facility_name")) or None,
        province=province or None,
        kind=clean(visit.display) or None,
        class_code=(summary.get("class_code") or {}).get("code"),
        start=visit.effective_at,
        end=visit.effective_end,
        reasons=reasons,
    )
    for entry in sorted(related, key=_in_episode):
        target = _EPISODE_LISTS.get(entry.category)
        if target is not None:
            getattr(episode, target).append(item(entry))
    if document is not None:
        episode.notes, episode.follow_ups = document_notes(document)
    return episode


def _in_episode(entry: HealthEntry) -> tuple[dt.datetime, str, str]:
    """Entries of an episode by date, then by name (what was done at once reads in order)."""
    return (entry.effective_at or entry.received_at, clean(entry.display), str(entry.id))


def _by_encounter(rows: list[HealthEntry]) -> dict[tuple[str, str], list[HealthEntry]]:
    grouped: dict[tuple[str, str], list[HealthEntry]] = {}
    for entry in rows:
        if entry.category != "visits" and entry.encounter_key:
            grouped.setdefault((entry.facility_id, entry.encounter_key), []).append(entry)
    return grouped


async def visit_sheet(
    session: AsyncSession,
    citizen_id: uuid.UUID,
    visit_id: uuid.UUID,
    *,
    include_restricted: bool = True,
) -> Sheet:
    """One episode; ``NotFound`` when the book shows no such visit of this citizen."""
    gatherer = _Gatherer(session, citizen_id, include_restricted)
    visits = await gatherer.rows(
        gatherer.query().where(HealthEntry.id == visit_id, HealthEntry.category == "visits")
    )
    if not visits:
        raise NotFound("no such visit")
    visit = visits[0]
    related = await gatherer.rows(
        gatherer.query().where(
            HealthEntry.facility_id == visit.facility_id,
            HealthEntry.encounter_key == visit.source_key,
        )
    )
    documents = await gatherer.documents([visit.document_id, *(e.document_id for e in related)])
    if not gatherer.shown(visit, documents):
        raise NotFound("no such visit")
    related = [e for e in related if e.category != "visits" and gatherer.shown(e, documents)]
    episode = await gatherer.episode(visit, related, documents.get(visit.document_id))
    return Sheet(kind="visit", patient=await _patient(session, citizen_id), episodes=[episode])


async def book_sheet(
    session: AsyncSession,
    citizen_id: uuid.UUID,
    *,
    since: dt.datetime | None,
    until: dt.datetime | None,
    categories: Collection[str],
    date_from: dt.date | None = None,
    date_to: dt.date | None = None,
    include_restricted: bool = True,
) -> Sheet:
    """The book, or the part of it between ``since`` and ``until`` (by each entry's date) in
    ``categories``. Each visit is an episode with everything recorded for it; the other entries
    of the chosen categories follow, by category."""
    gatherer = _Gatherer(session, citizen_id, include_restricted)
    patient = await _patient(session, citizen_id)
    query = gatherer.query()
    if since is not None:
        query = query.where(_sort_at >= since)
    if until is not None:
        query = query.where(_sort_at < until)
    in_range = await gatherer.rows(query.where(HealthEntry.category.in_(tuple(categories))))
    visits = [e for e in in_range if e.category == "visits"]
    related: dict[tuple[str, str], list[HealthEntry]] = {}
    if visits:
        keys = {v.source_key for v in visits}
        linked = await gatherer.rows(
            gatherer.query().where(
                HealthEntry.category != "visits", HealthEntry.encounter_key.in_(keys)
            )
        )
        related = _by_encounter(linked)
    documents = await gatherer.documents(
        [e.document_id for e in in_range]
        + [e.document_id for group in related.values() for e in group]
    )
    episodes: list[Episode] = []
    printed: set[uuid.UUID] = set()
    for visit in sorted(visits, key=lambda v: (v.effective_at or v.received_at, str(v.id))):
        if not gatherer.shown(visit, documents):
            continue
        own = [
            e
            for e in related.get((visit.facility_id, visit.source_key), [])
            if gatherer.shown(e, documents)
        ]
        printed.update(e.id for e in own)
        episodes.append(await gatherer.episode(visit, own, documents.get(visit.document_id)))
    others: dict[str, list[Item]] = {}
    for entry in sorted(in_range, key=lambda e: (e.effective_at or e.received_at, str(e.id))):
        if entry.category == "visits" or entry.id in printed:
            continue
        if gatherer.shown(entry, documents):
            others.setdefault(entry.category, []).append(item(entry))
    return Sheet(
        kind="book",
        patient=patient,
        episodes=episodes,
        others=others,
        date_from=date_from,
        date_to=date_to,
        categories=list(categories),
    )
