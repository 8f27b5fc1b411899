"""What a pull does with the Bundles a FHIR server answers: read pages, collect one patient's
resources across them, and make the one Bundle the ingestion stores. Pure functions, no I/O.

The Bundle built for the ingestion is a ``collection`` (a ``document`` for ``$summary``) of the
resources exactly as the server sent them (``msgspec.Raw``, never re-encoded), with the stable
identifier ``urn:healthbook:pull|Patient/{id}``: each pull of one patient at one facility is a
version of one document, so a pull that finds changes supersedes the previous pull and resources
the server no longer has leave the book. Entries are de-duplicated against pushed documents by
resource identity (``Type/id``), as for any two documents of a facility.
"""

from __future__ import annotations

import datetime as dt
import email.utils
import hashlib
from collections.abc import Sequence
from dataclasses import dataclass, field

import msgspec

from api.health_book.pull.errors import UnusableContent
from api.identity import national_id

PULL_IDENTIFIER_SYSTEM = "urn:healthbook:pull"

_VOLATILE_COMPOSITION = ("id", "identifier", "date", "meta", "text")
"""What a server regenerates in each ``$summary``: not part of the fingerprint."""


class _Link(msgspec.Struct):
    relation: str = ""
    url: str = ""


class _Search(msgspec.Struct):
    mode: str | None = None


class _Meta(msgspec.Struct):
    lastUpdated: str | None = None


class _Entry(msgspec.Struct):
    fullUrl: str | None = None
    resource: msgspec.Raw = msgspec.Raw(b"")
    """Empty when the entry has none (``null`` is kept as the 4 bytes ``null``)."""
    search: _Search | None = None


class Page(msgspec.Struct):
    """A Bundle as a FHIR server answers it (searchset page or ``$summary`` document)."""

    resourceType: str
    type: str | None = None
    meta: _Meta | None = None
    link: list[_Link] = msgspec.field(default_factory=list)
    entry: list[_Entry] = msgspec.field(default_factory=list)


class _Head(msgspec.Struct):
    resourceType: str = ""
    id: str | None = None
    meta: _Meta | None = None


class _Identifier(msgspec.Struct):
    system: str | None = None
    value: str | None = None


class _Patient(msgspec.Struct):
    resourceType: str = ""
    id: str | None = None
    identifier: list[_Identifier] = msgspec.field(default_factory=list)


class _Issue(msgspec.Struct):
    diagnostics: str | None = None


class _Outcome(msgspec.Struct):
    resourceType: str = ""
    issue: list[_Issue] = msgspec.field(default_factory=list)


class _OutIdentifier(msgspec.Struct):
    system: str
    value: str


class _OutEntry(msgspec.Struct, omit_defaults=True):
    resource: msgspec.Raw
    fullUrl: str | None = None


class _OutBundle(msgspec.Struct):
    resourceType: str
    type: str
    identifier: _OutIdentifier
    entry: list[_OutEntry]


_PAGE = msgspec.json.Decoder(Page)
_HEAD = msgspec.json.Decoder(_Head)
_PATIENT = msgspec.json.Decoder(_Patient)
_OUTCOME = msgspec.json.Decoder(_Outcome)
_ENCODER = msgspec.json.Encoder()


def read_page(body: bytes, what: str) -> Page:
    """The Bundle in ``body``; UnusableContent when it is not one."""
    try:
        page = _PAGE.decode(body)
    except msgspec.DecodeError as exc:
        raise UnusableContent(
            f"{what}: the server did not answer with a FHIR Bundle ({exc})"
        ) from exc
    if page.resourceType != "Bundle":
        raise UnusableContent(f"{what}: the server answered a {page.resourceType}, not a Bundle")
    return page


def _has_resource(entry: _Entry) -> bool:
    """An entry with a resource that is not the search's own OperationOutcome."""
    raw = bytes(entry.resource)
    if not raw or raw == b"null":
        return False
    return not (entry.search is not None and entry.search.mode == "outcome")


def outcome_text(body: bytes) -> str:
    """The diagnostics of an OperationOutcome error body, for messages ('' when none)."""
    try:
        outcome = _OUTCOME.decode(body)
    except msgspec.DecodeError:
        return ""
    texts = [issue.diagnostics for issue in outcome.issue if issue.diagnostics]
    return ("; ".join(texts))[:300]


def next_link(page: Page) -> str | None:
    return next((link.url for link in page.link if link.relation == "next" and link.url), None)


def instant(moment: dt.datetime) -> str:
    """A FHIR instant (UTC, milliseconds)."""
    return moment.astimezone(dt.UTC).isoformat(timespec="milliseconds").replace("+00:00", "Z")


def parse_instant(text: str | None) -> dt.datetime | None:
    if not text:
        return None
    try:
        moment = dt.datetime.fromisoformat(text)
    except ValueError:
        return None
    return moment.astimezone(dt.UTC) if moment.tzinfo is not None else None


def server_time(page: Page, date_header: str | None, fallback: dt.datetime) -> dt.datetime:
    """As of when the server answered: ``Bundle.meta.lastUpdated``, else the ``Date`` header,
    else our own clock when we asked (the ``_since`` of the next pull)."""
    stamped = parse_instant(page.meta.lastUpdated if page.meta else None)
    if stamped is not None:
        return stamped
    if date_header:
        try:
            return email.utils.parsedate_to_datetime(date_header).astimezone(dt.UTC)
        except (TypeError, ValueError):
            pass
    return fallback


def search_value(identifiers: Sequence[tuple[str, str]]) -> str:
    """``identifier`` search parameter: ``system|value`` pairs, OR-ed with commas (escaped)."""

    def escape(text: str) -> str:
        for char in ("\\", ",", "|", "$"):
            text = text.replace(char, "\\" + char)
        return text

    return ",".join(f"{escape(system)}|{escape(value)}" for system, value in identifiers)


def _same_value(found: str, wanted: str) -> bool:
    if found == wanted:
        return True
    try:
        return national_id.normalise(found) == national_id.normalise(wanted)
    except national_id.InvalidNationalId:
        return False


def matching_patients(page: Page, identifiers: Sequence[tuple[str, str]]) -> set[str]:
    """Ids of the Patients in a search answer that really carry one of ``identifiers`` (a server
    that ignores the search parameter must not hand us someone else)."""
    found: set[str] = set()
    for entry in page.entry:
        if not _has_resource(entry):
            continue
        try:
            patient = _PATIENT.decode(entry.resource)
        except msgspec.DecodeError:
            continue
        if patient.resourceType != "Patient" or not patient.id:
            continue
        for carried in patient.identifier:
            if (
                carried.system
                and carried.value
                and any(
                    carried.system == system and _same_value(carried.value, value)
                    for system, value in identifiers
                )
            ):
                found.add(patient.id)
    return found


@dataclass(slots=True)
class Resource:
    key: str
    """``Type/id`` (else the fullUrl, else its place): one resource however many pages name it."""
    resource_type: str
    last_updated: dt.datetime | None
    full_url: str | None
    raw: msgspec.Raw


@dataclass(slots=True)
class Collected:
    """One patient's resources, gathered from the pages of an answer, in the server's order."""

    resources: dict[str, Resource] = field(default_factory=dict)
    pages: int = 0

    def add(self, page: Page) -> None:
        self.pages += 1
        for index, entry in enumerate(page.entry):
            if not _has_resource(entry):
                continue
            try:
                head = _HEAD.decode(entry.resource)
            except msgspec.DecodeError as exc:
                raise UnusableContent(
                    f"entry {index} of page {self.pages} is not JSON: {exc}"
                ) from exc
            if not head.resourceType or head.resourceType == "OperationOutcome":
                continue
            key = (
                f"{head.resourceType}/{head.id}"
                if head.id
                else entry.fullUrl or f"page{self.pages}.entry[{index}]"
            )
            self.resources.setdefault(
                key,
                Resource(
                    key=key,
                    resource_type=head.resourceType,
                    last_updated=parse_instant(head.meta.lastUpdated if head.meta else None),
                    full_url=entry.fullUrl,
                    raw=entry.resource,
                ),
            )

    def has(self, key: str) -> bool:
        return key in self.resources

    def others_than(self, patient_key: str) -> list[Resource]:
        return [r for key, r in self.resources.items() if key != patient_key]

    def changed_since(self, patient_key: str, since: dt.datetime, more_pages: bool) -> bool:
        """Whether a ``_since`` answer shows a change: any resource but the patient, more pages,
        or the patient itself updated since (or not saying when: then assume it was)."""
        if more_pages or self.others_than(patient_key):
            return True
        patient = self.resources.get(patient_key)
        return patient is not None and (
            patient.last_updated is None or patient.last_updated >= since
        )

    def bundle(self, remote_patient_id: str, *, bundle_type: str) -> bytes:
        """The Bundle the ingestion stores: these resources, our stable identifier."""
        return _ENCODER.encode(
            _OutBundle(
                resourceType="Bundle",
                type=bundle_type,
                identifier=_OutIdentifier(
                    system=PULL_IDENTIFIER_SYSTEM, value=f"Patient/{remote_patient_id}"
                ),
                entry=[
                    _OutEntry(resource=r.raw, fullUrl=r.full_url) for r in self.resources.values()
                ],
            )
        )

    def fingerprint(self) -> str:
        """SHA-256 of the resources in key order, without ``meta`` (version ids, timestamps)
        and without what ``$summary`` regenerates in its Composition each time."""
        digest = hashlib.sha256()
        for key in sorted(self.resources):
            resource = self.resources[key]
            content = msgspec.json.decode(resource.raw)
            label = key
            if isinstance(content, dict):
                content.pop("meta", None)
                if resource.resource_type == "Composition":
                    for name in _VOLATILE_COMPOSITION:
                        content.pop(name, None)
                    label = "Composition"
            digest.update(label.encode() + b"\0")
            digest.update(msgspec.json.encode(content, order="sorted") + b"\n")
        return digest.hexdigest()
