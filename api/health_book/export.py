"""FHIR R4 export of a citizen's health book: a ``collection`` Bundle, or an IPS ``document``.

Both hold every active entry's stored resource, one Patient (the one of the most recently
received current document), and what those reference that their source documents contain
(Medication, Organization, ...: found with :func:`parse_bundle` in the stored bodies),
transitively. Superseded and entered-in-error documents contribute nothing.

Every fullUrl is a ``urn:uuid:`` derived from citizen, facility and source key (stable across
exports); resources keep their ids. A reference that resolved inside its source document is
rewritten to what it points at in the export: the Patient, the active entry of the same facility
and source key, or the included copy. One to something the export must not carry (another
Patient, a clinical resource with no active entry) keeps only a ``display`` (valid FHIR);
references outside their document (other servers, ``#contained``) are kept as written.
Resources are spliced in as stored, reference strings replaced in the bytes; only one that
loses a reference is decoded and encoded again.

An :class:`ExportScope` narrows the export (what a citizen shares): to some of the book's
categories, or to one visit and what was recorded for it; and it may leave out restricted data,
the entries of documents labelled restricted (HIV/TB care from the insurance XML) and every
resource a hospital labelled restricted or very restricted (``meta.security``, v3
Confidentiality ``R`` or ``V``, on the resource or on its whole document). A narrowed IPS says
``withheld`` in the required sections it leaves out.
"""

from __future__ import annotations

import datetime as dt
import re
import uuid
from collections.abc import Sequence
from typing import Any, Literal

import msgspec
from sqlalchemy import and_, func, literal, or_, select
from sqlalchemy.ext.asyncio import AsyncSession

from api.health_book.book import ACTIVE_PROBLEM
from api.health_book.charts import escape_xml
from api.health_book.fhir import FhirError, ParsedBundle, ParsedEntry, parse_bundle
from api.health_book.fhir.context import Context
from api.health_book.fhir.resources import Composition
from api.health_book.fhir.validate import KEPT_TYPES
from api.health_book.ingest import CATEGORIES
from api.health_book.models import HOME_FACILITY, HealthDocument, HealthEntry
from api.health_book.statements import STATEMENTS, WITHDRAWN
from api.identity import citizens
from api.identity.schemas import CitizenRecord

ExportKind = Literal["collection", "ips"]
CONFIDENTIALITY_SYSTEMS = frozenset(
    {"http://terminology.hl7.org/CodeSystem/v3-Confidentiality", "urn:oid:2.16.840.1.113883.5.25"}
)
RESTRICTED_CODES = frozenset({"R", "V"})
"""v3 Confidentiality codes that keep data out of a share unless the citizen ticks them."""
CATEGORY_OF_TYPE = {
    "Encounter": "visits",
    "Condition": "conditions",
    "AllergyIntolerance": "allergies",
    "MedicationRequest": "medications",
    "MedicationStatement": "medications",
    "Immunization": "immunizations",
    "Observation": "observations",
    "DiagnosticReport": "diagnostic_reports",
    "Procedure": "procedures",
}
NEVER_INCLUDED = frozenset({"Patient", "Composition", "Bundle"})
"""Types never carried by reference: other people, and other documents' structure."""
SERVICE_NAME = "Sổ Sức Khỏe"
_NAMESPACE = uuid.UUID("6f0b1f5e-2a4c-5b8e-9d1a-5e3c7a9b2d40")
_REFERENCE = re.compile(rb'"reference"\s*:\s*"((?:[^"\\]|\\.)*)"')
_CHUNK = 400
_MAX_DEPTH = 256  # stored bodies passed the configured limit when received; never refuse them now
_DROP = object()
_encoder = msgspec.json.Encoder()
_sort_at = func.coalesce(HealthEntry.effective_at, HealthEntry.received_at)


class ExportScope(msgspec.Struct, frozen=True, kw_only=True):
    """What an export holds: every category or only ``categories``; the whole book or only the
    visit whose entry id is ``visit``; restricted data or not."""

    categories: frozenset[str] | None = None
    visit: uuid.UUID | None = None
    include_restricted: bool = True

    @property
    def narrowed(self) -> bool:
        return self.categories is not None or self.visit is not None


WHOLE_BOOK = ExportScope()


class _Coding(msgspec.Struct):
    system: str | None = None
    code: str | None = None


class _Meta(msgspec.Struct):
    security: list[_Coding] = []


class _Labelled(msgspec.Struct):
    meta: _Meta | None = None


_labels = msgspec.json.Decoder(_Labelled)


def labelled_restricted(raw: bytes) -> bool:
    """Whether a resource (or a Bundle) carries a restricted or very restricted confidentiality
    label in ``meta.security``."""
    try:
        found = _labels.decode(raw)
    except msgspec.ValidationError:
        return False  # validated when received: a meta of another shape carries no label
    return found.meta is not None and any(
        label.system in CONFIDENTIALITY_SYSTEMS and label.code in RESTRICTED_CODES
        for label in found.meta.security
    )


class ExportEntry(msgspec.Struct):
    """An active entry as exported: where it comes from, what the IPS narrative shows."""

    document_id: uuid.UUID | None
    """None for the citizen's own readings (facility ``~home``)."""
    facility_id: str
    category: str
    source_key: str
    resource_type: str
    display: str | None
    status: str | None
    effective_at: dt.datetime | None
    encounter_key: str | None
    received_at: dt.datetime
    resource: bytes
    summary: dict[str, Any]
    full_url: str = ""


_COLUMNS = ExportEntry.__struct_fields__[: ExportEntry.__struct_fields__.index("summary")]


class _Document:
    """A current document's parsed body: entries by address, and the patient it is about."""

    __slots__ = ("context", "facility_id", "parsed", "patient", "restricted")

    def __init__(self, facility_id: str, body: bytes, restricted: bool = False) -> None:
        self.facility_id = facility_id
        self.restricted = restricted or labelled_restricted(body)
        self.parsed: ParsedBundle = parse_bundle(
            body, max_bytes=len(body), max_depth=_MAX_DEPTH, validate=False
        )
        self.context = Context(self.parsed)
        self.patient = self._patient()

    def lookup(self, reference: str) -> ParsedEntry | None:
        try:
            return self.context.lookup(reference, "Bundle", "reference")
        except FhirError:
            return None  # dangling in the source too (an element ingestion does not read)

    def _patient(self) -> ParsedEntry | None:
        """As ingestion decided: the first Composition's subject, else the only Patient."""
        for entry in self.parsed.entries:
            if isinstance(entry.resource, Composition) and entry.resource.subject is not None:
                target = self.lookup(entry.resource.subject.reference or "")
                if target is not None and target.resource_type == "Patient":
                    return target
        patients = [e for e in self.parsed.entries if e.resource_type == "Patient"]
        return patients[0] if len(patients) == 1 else None


class _Assembly:
    """Hands out fullUrls, rewrites references, and collects the resources they pull in."""

    def __init__(
        self,
        citizen_id: uuid.UUID,
        documents: dict[uuid.UUID, _Document],
        include_restricted: bool = True,
    ) -> None:
        self.citizen_id = citizen_id
        self.documents = documents
        self.include_restricted = include_restricted
        self.active: dict[tuple[str, str, str], str] = {}
        self.patient_url = self.url("patient", "")
        self.included: dict[tuple[str, str], str] = {}
        self.pending: list[tuple[_Document, ParsedEntry, str]] = []

    def url(self, *parts: str) -> str:
        name = "|".join((str(self.citizen_id), *parts))
        return f"urn:uuid:{uuid.uuid5(_NAMESPACE, name)}"

    def target(self, document: _Document, reference: str) -> str | object | None:
        """The new reference, ``None`` to keep it as written, or ``_DROP``."""
        found = document.lookup(reference)
        if found is None:
            return None
        if found is document.patient:
            return self.patient_url
        category = CATEGORY_OF_TYPE.get(found.resource_type)
        if category is not None:
            return self.active.get((document.facility_id, category, found.key[:500]), _DROP)
        if found.resource_type in NEVER_INCLUDED or found.resource_type not in KEPT_TYPES:
            return _DROP  # only resources validated when received go out
        if not self.include_restricted and (
            document.restricted or labelled_restricted(bytes(found.raw))
        ):
            return _DROP
        identity = (document.facility_id, found.key)
        url = self.included.get(identity)
        if url is None:
            url = self.included[identity] = self.url(document.facility_id, "resource", found.key)
            self.pending.append((*self._newest(document, found), url))
        return url

    def _newest(self, document: _Document, found: ParsedEntry) -> tuple[_Document, ParsedEntry]:
        """The copy of a resource in the most recently received document of its facility."""
        for other in self.documents.values():  # newest first
            if other.facility_id == document.facility_id:
                copy = other.lookup(found.key)
                if copy is not None and copy.resource_type == found.resource_type:
                    return other, copy
        return document, found

    def rewrite(self, document: _Document, raw: bytes) -> bytes:
        dropped = False

        def replace(match: re.Match[bytes]) -> bytes:
            nonlocal dropped
            text = match.group(1)
            reference = msgspec.json.decode(b'"' + text + b'"') if b"\\" in text else text.decode()
            new = self.target(document, reference)
            if new is _DROP:
                dropped = True
            if not isinstance(new, str):
                return match.group(0)
            return b'"reference":' + _encoder.encode(new)

        spliced = _REFERENCE.sub(replace, raw)
        if not dropped:
            return spliced
        resource = msgspec.json.decode(raw)
        self._walk(document, resource)
        return _encoder.encode(resource)

    def _walk(self, document: _Document, node: Any) -> None:
        if isinstance(node, list):
            for item in node:
                self._walk(document, item)
            return
        if not isinstance(node, dict):
            return
        reference = node.get("reference")
        if isinstance(reference, str):
            new = self.target(document, reference)
            if new is _DROP:
                del node["reference"]
                node.setdefault("display", "not included in this export")
            elif isinstance(new, str):
                node["reference"] = new
        for value in node.values():
            self._walk(document, value)

    def drain(self) -> list[bytes]:
        """The resources pulled in by reference, and those they pull in, as Bundle entries."""
        parts: list[bytes] = []
        while self.pending:
            document, entry, url = self.pending.pop(0)
            parts.append(bundle_entry(url, self.rewrite(document, bytes(entry.raw))))
        return parts


PROVENANCE_AGENT = "http://terminology.hl7.org/CodeSystem/provenance-participant-type"


def home_provenance(entry: ExportEntry, *, patient_reference: str) -> dict[str, Any]:
    """The ``Provenance`` of one of the citizen's own readings: the patient its author (and its
    source, the patient-entered data of an app or a meter, is the Observation's ``device``)."""
    return {
        "resourceType": "Provenance",
        "target": [{"reference": entry.full_url}],
        "recorded": instant(entry.received_at),
        "agent": [
            {
                "type": {
                    "coding": [{"system": PROVENANCE_AGENT, "code": "author", "display": "Author"}]
                },
                "who": {"reference": patient_reference},
            }
        ],
    }


def patient_url(citizen_id: uuid.UUID) -> str:
    """The fullUrl of the citizen's Patient in every export of their book."""
    return _Assembly(citizen_id, {}).patient_url


def bundle_entry(full_url: str, raw: bytes) -> bytes:
    return b'{"fullUrl":' + _encoder.encode(full_url) + b',"resource":' + raw + b"}"


def instant(at: dt.datetime) -> str:
    return at.astimezone(dt.UTC).isoformat(timespec="seconds").replace("+00:00", "Z")


async def _visit(
    session: AsyncSession, citizen_id: uuid.UUID, visit_id: uuid.UUID
) -> tuple[str, str] | None:
    """The facility and source key of one of the citizen's visits (stable across the versions
    of its document), by the id of any of its entries."""
    found = (
        await session.execute(
            select(HealthEntry.facility_id, HealthEntry.source_key).where(
                HealthEntry.id == visit_id,
                HealthEntry.citizen_id == citizen_id,
                HealthEntry.category == "visits",
            )
        )
    ).first()
    return None if found is None else (found[0], found[1])


async def has_visit(session: AsyncSession, citizen_id: uuid.UUID, visit_id: uuid.UUID) -> bool:
    """Whether ``visit_id`` is a visit the citizen's book shows now."""
    found = await session.scalar(
        select(HealthEntry.id)
        .join(HealthDocument, HealthDocument.id == HealthEntry.document_id)
        .where(
            HealthEntry.id == visit_id,
            HealthEntry.citizen_id == citizen_id,
            HealthEntry.category == "visits",
            HealthEntry.active.is_(True),
            HealthDocument.status == "current",
        )
    )
    return found is not None


def _in_scope(
    entry: ExportEntry, scope: ExportScope, visit: tuple[str, str] | None, restricted: bool
) -> bool:
    if not scope.include_restricted and (restricted or labelled_restricted(entry.resource)):
        return False
    if scope.categories is not None and entry.category not in scope.categories:
        return False
    if scope.visit is not None:
        if visit is None or entry.facility_id != visit[0]:
            return False
        if entry.category == "visits":
            return entry.source_key == visit[1]
        return entry.encounter_key == visit[1]
    return True


async def _load(
    session: AsyncSession, citizen_id: uuid.UUID, with_summary: bool, scope: ExportScope
) -> tuple[list[ExportEntry], dict[uuid.UUID, _Document], uuid.UUID | None]:
    """Active entries of current documents in ``scope`` (category order, oldest first); those
    documents and the most recently received current one (the Patient's source), parsed, newest
    first."""
    columns = [getattr(HealthEntry, name) for name in _COLUMNS]
    visit = None if scope.visit is None else await _visit(session, citizen_id, scope.visit)
    rows = (
        await session.execute(
            select(
                *columns,
                HealthEntry.summary if with_summary else literal(None),
                HealthDocument.restricted,
            )
            .outerjoin(HealthDocument, HealthDocument.id == HealthEntry.document_id)
            .where(
                HealthEntry.citizen_id == citizen_id,
                HealthEntry.active.is_(True),
                or_(
                    and_(
                        HealthEntry.document_id.is_(None), HealthEntry.facility_id == HOME_FACILITY
                    ),
                    and_(
                        HealthDocument.citizen_id == citizen_id,
                        HealthDocument.status == "current",
                    ),
                ),
            )
            .order_by(_sort_at, HealthEntry.id)
        )
    ).all()
    entries = []
    for row in rows:
        entry = ExportEntry(*row[:-2], summary=row[-2] or {})
        if entry.category == WITHDRAWN:
            continue  # entered in error: shown nowhere
        if entry.category == STATEMENTS:  # "no known allergies" and the like: as received
            entry.category = CATEGORY_OF_TYPE.get(entry.resource_type, "")
            if entry.category not in CATEGORIES:
                continue
        if not _in_scope(entry, scope, visit, bool(row[-1])):
            continue
        entries.append(entry)
    entries.sort(key=lambda e: CATEGORIES.index(e.category))
    current = (
        select(HealthDocument.id)
        .where(HealthDocument.citizen_id == citizen_id, HealthDocument.status == "current")
        .order_by(HealthDocument.received_at.desc(), HealthDocument.version.desc())
    )
    latest = await session.scalar(current.limit(1))
    wanted = sorted(
        {entry.document_id for entry in entries if entry.document_id is not None}
        | ({latest} if latest else set())
    )
    found: list[HealthDocument] = []
    for start in range(0, len(wanted), _CHUNK):
        chunk = wanted[start : start + _CHUNK]
        found += await session.scalars(
            select(HealthDocument).where(
                HealthDocument.id.in_(chunk),
                HealthDocument.citizen_id == citizen_id,
                HealthDocument.status == "current",
            )
        )
    found.sort(key=lambda d: (d.received_at, d.version), reverse=True)
    documents = {d.id: _Document(d.facility_id, d.body, d.restricted) for d in found}
    if not scope.include_restricted:  # and those a hospital labelled restricted as a whole
        entries = [
            e
            for e in entries
            if e.document_id is None
            or e.document_id not in documents
            or not documents[e.document_id].restricted
        ]
    return entries, documents, latest


def _profile_patient(citizen: CitizenRecord) -> bytes:
    """A Patient for a book with no current document: what the identity provider told us."""
    patient = {
        "resourceType": "Patient",
        "id": str(citizen.id),
        "name": [{"text": citizen.full_name}] if citizen.full_name else None,
        "gender": citizen.sex,
        "birthDate": citizen.birth_date.isoformat() if citizen.birth_date else None,
    }
    return _encoder.encode({key: value for key, value in patient.items() if value is not None})


LOINC = "http://loinc.org"
EMPTY_REASON = "http://terminology.hl7.org/CodeSystem/list-empty-reason"
IPS_SECTIONS: tuple[tuple[str, str, str, bool], ...] = (
    # LOINC code, its display, the section's title, required by the IPS
    ("11450-4", "Problem list - Reported", "Active problems", True),
    ("48765-2", "Allergies and adverse reactions Document", "Allergies and intolerances", True),
    ("10160-0", "History of Medication use Narrative", "Medication summary", True),
    ("11369-6", "History of Immunization Narrative", "Immunizations", False),
    ("30954-2", "Relevant diagnostic tests/laboratory data Narrative", "Results", False),
    ("47519-4", "History of Procedures Document", "History of procedures", False),
    ("8716-3", "Vital signs", "Vital signs", False),
    ("11348-0", "History of Past illness Narrative", "History of past illness", False),
    ("29762-2", "Social history Narrative", "Social history", False),
    ("46240-8", "History of Hospitalizations+Outpatient visits Narrative", "Encounters", False),
)
_SECTION_OF_CATEGORY = {
    "visits": "46240-8",
    "allergies": "48765-2",
    "medications": "10160-0",
    "immunizations": "11369-6",
    "diagnostic_reports": "30954-2",
    "procedures": "47519-4",
}
_XHTML = '<div xmlns="http://www.w3.org/1999/xhtml">'


def ips_section(entry: ExportEntry) -> str:
    """The LOINC code of the IPS section an entry belongs to: every category has one."""
    if entry.category == "observations":
        categories = entry.summary.get("categories") or []
        if "vital-signs" in categories:
            return "8716-3"
        return "29762-2" if "social-history" in categories else "30954-2"
    if entry.category == "conditions":
        return "11450-4" if (entry.status or "active") in ACTIVE_PROBLEM else "11348-0"
    return _SECTION_OF_CATEGORY[entry.category]


def _narrative(entries: list[ExportEntry]) -> dict[str, str]:
    items = "".join(
        "<li>"
        + (f"{entry.effective_at.date().isoformat()}: " if entry.effective_at else "")
        + escape_xml(entry.display or entry.source_key)
        + (f" ({escape_xml(entry.status)})" if entry.status else "")
        + "</li>"
        for entry in entries
    )
    return {"status": "generated", "div": f"{_XHTML}<ul>{items}</ul></div>"}


WITHHELD = {"system": EMPTY_REASON, "code": "withheld", "display": "Information Withheld"}
UNAVAILABLE = {"system": EMPTY_REASON, "code": "unavailable", "display": "Unavailable"}
VISIT_SUMMARY = {"system": LOINC, "code": "34133-9", "display": "Summary of episode note"}
PATIENT_SUMMARY = {"system": LOINC, "code": "60591-5", "display": "Patient summary Document"}


def ips_composition(
    entries: list[ExportEntry],
    *,
    patient_url: str,
    author_url: str,
    now: dt.datetime,
    scope: ExportScope = WHOLE_BOOK,
) -> dict[str, Any]:
    """The IPS Composition: the required sections always (``emptyReason`` when the book has
    nothing for them: ``withheld`` when the scope left them out), the optional ones with data;
    each entry in exactly one section. One visit: a summary of that episode, about it."""
    grouped: dict[str, list[ExportEntry]] = {}
    for entry in entries:
        grouped.setdefault(ips_section(entry), []).append(entry)
    sections: list[dict[str, Any]] = []
    for code, display, title, required in IPS_SECTIONS:
        items = grouped.get(code, [])
        if not items and not required:
            continue
        section: dict[str, Any] = {
            "title": title,
            "code": {"coding": [{"system": LOINC, "code": code, "display": display}]},
        }
        if items:
            section["text"] = _narrative(items)
            section["entry"] = [{"reference": entry.full_url} for entry in items]
        else:
            withheld = scope.narrowed
            note = "Not shared." if withheld else "No information."
            section["text"] = {"status": "generated", "div": f"{_XHTML}{note}</div>"}
            section["emptyReason"] = {"coding": [WITHHELD if withheld else UNAVAILABLE]}
        sections.append(section)
    composition_id = str(uuid.uuid4())
    visit = next((e for e in entries if e.category == "visits"), None)
    one_visit = scope.visit is not None
    title = f"Patient summary from {SERVICE_NAME}"
    if one_visit:
        title = f"Visit summary from {SERVICE_NAME}"
    elif scope.categories is not None:
        title = f"Patient summary from {SERVICE_NAME} (chosen sections)"
    composition: dict[str, Any] = {
        "resourceType": "Composition",
        "id": composition_id,
        "identifier": {"system": "urn:ietf:rfc:3986", "value": f"urn:uuid:{composition_id}"},
        "status": "final",
        "type": {"coding": [VISIT_SUMMARY if one_visit else PATIENT_SUMMARY]},
        "subject": {"reference": patient_url},
    }
    if one_visit and visit is not None:
        composition["encounter"] = {"reference": visit.full_url}
    composition |= {
        "date": instant(now),
        "author": [{"reference": author_url, "display": SERVICE_NAME}],
        "title": title,
        "section": sections,
    }
    return composition


async def export_book(
    session: AsyncSession,
    citizen_id: uuid.UUID,
    *,
    kind: ExportKind,
    now: dt.datetime,
    service_url: str,
    scope: ExportScope = WHOLE_BOOK,
    also: Sequence[tuple[str, bytes]] = (),
) -> bytes:
    """The citizen's book (or the part ``scope`` says) as FHIR R4 JSON: a ``collection``
    Bundle, or an IPS ``document``. ``also``: more resources (fullUrl, JSON) a collection
    carries after the book's (the citizen's Consents)."""
    citizen = await citizens.get_record(session, citizen_id)
    entries, documents, latest = await _load(
        session, citizen_id, with_summary=kind == "ips", scope=scope
    )
    assembly = _Assembly(citizen_id, documents, include_restricted=scope.include_restricted)
    for entry in entries:
        entry.full_url = assembly.url(entry.facility_id, entry.category, entry.source_key)
        assembly.active[(entry.facility_id, entry.category, entry.source_key)] = entry.full_url
    parts: list[bytes] = []
    provenances: list[bytes] = []
    for entry in entries:
        document = documents.get(entry.document_id) if entry.document_id else None
        raw = entry.resource if document is None else assembly.rewrite(document, entry.resource)
        parts.append(bundle_entry(entry.full_url, raw))
        if entry.facility_id == HOME_FACILITY:
            provenances.append(
                bundle_entry(
                    assembly.url(HOME_FACILITY, "provenance", entry.source_key),
                    _encoder.encode(home_provenance(entry, patient_reference=assembly.patient_url)),
                )
            )
    parts += provenances
    patient_document = documents.get(latest) if latest else None
    if patient_document is not None and patient_document.patient is not None:
        patient_raw = assembly.rewrite(patient_document, bytes(patient_document.patient.raw))
    else:
        patient_raw = _profile_patient(citizen)
    included = assembly.drain()
    patient = bundle_entry(assembly.patient_url, patient_raw)
    bundle_id = str(uuid.uuid4())
    head: dict[str, Any] = {
        "resourceType": "Bundle",
        "id": bundle_id,
        "identifier": {"system": "urn:ietf:rfc:3986", "value": f"urn:uuid:{bundle_id}"},
        "type": "collection" if kind == "collection" else "document",
        "timestamp": instant(now),
    }
    if kind == "collection":
        parts = [patient, *parts, *included, *(bundle_entry(url, raw) for url, raw in also)]
    else:
        author_url = f"urn:uuid:{uuid.uuid5(_NAMESPACE, 'service|' + service_url)}"
        author = {
            "resourceType": "Organization",
            "id": "healthbook",
            "identifier": [{"system": "urn:ietf:rfc:3986", "value": service_url}],
            "name": SERVICE_NAME,
        }
        composition = ips_composition(
            entries, patient_url=assembly.patient_url, author_url=author_url, now=now, scope=scope
        )
        parts = [
            bundle_entry(f"urn:uuid:{composition['id']}", _encoder.encode(composition)),
            patient,
            bundle_entry(author_url, _encoder.encode(author)),
            *parts,
            *included,
        ]
    return _encoder.encode(head)[:-1] + b',"entry":[' + b",".join(parts) + b"]}"
