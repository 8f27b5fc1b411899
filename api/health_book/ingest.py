"""Publishing a FHIR Bundle into the health book: one transaction, all or nothing.

validate → match the patient by a national-ID identifier → store the document (versioned by
facility + document identity; the same content again is a no-op) and its entries → keep one
active entry per resource identity → access log → "new record" notification. Pushes from
hospitals and summaries pulled from their FHIR APIs take this same path.
"""

from __future__ import annotations

import datetime as dt
import uuid
from collections.abc import Awaitable, Callable, Iterable, Sequence
from functools import partial
from typing import Any, Literal, NamedTuple, cast

import msgspec
from sqlalchemy import Table, delete, select, update
from sqlalchemy.ext.asyncio import AsyncSession

from api.core.errors import Conflict, NotFound
from api.core.uow import UnitOfWork
from api.health_book import access_log, statements
from api.health_book.canonical import canonical_sha256
from api.health_book.fhir import Extraction, FhirError, extract, parse_bundle
from api.health_book.fhir.model import ExtractedEntry
from api.health_book.models import HealthDocument, HealthEntry, RestrictedDataChoice
from api.identity import citizens, national_id
from api.identity.schemas import Demographics
from notifications.messages import HealthRecordAvailable
from notifications.outbox import enqueue

CATEGORIES = (
    "visits",
    "conditions",
    "allergies",
    "medications",
    "immunizations",
    "observations",
    "diagnostic_reports",
    "procedures",
)
_CHUNK = 400
_DOCUMENTS = cast(Table, HealthDocument.__table__)
_ENTRIES = cast(Table, HealthEntry.__table__)


class PublishResult(msgspec.Struct, kw_only=True):
    """What a publish (or a withdrawal) did. ``document_id`` names the document across all its
    versions (it is the id of its first version); ``version`` is the version number and
    ``version_id`` that version's own id (equal to ``document_id`` for version 1)."""

    document_id: str
    version: int
    version_id: str
    outcome: Literal["created", "new_version", "unchanged", "withdrawn"]
    entry_counts: dict[str, int]


class Publication(NamedTuple):
    """A stored (or unchanged) publish: the answer, and the citizen the bundle is about (a pull
    links the facility's patient to them)."""

    result: PublishResult
    citizen_id: uuid.UUID


BookChanged = Callable[[uuid.UUID], Awaitable[object]]
"""Told, after the commit, whose book a publish or a withdrawal changed."""


DocumentStatus = Literal["current", "superseded", "entered_in_error"]


class PublishedVersion(msgspec.Struct, kw_only=True):
    """One stored version of a published document, as its publisher sees it."""

    version: int
    version_id: str
    status: DocumentStatus
    received_at: dt.datetime
    status_changed_at: dt.datetime | None
    content_sha256: str
    bundle_type: str
    title: str | None
    document_date: dt.datetime | None
    entry_counts: dict[str, int]


class PublishedDocument(msgspec.Struct, kw_only=True):
    """A document a facility published: the resource ``POST /hospital/summaries`` creates.

    ``status`` is the newest version's; ``versions`` are listed newest first."""

    document_id: str
    status: DocumentStatus
    versions: list[PublishedVersion]


class IngestConfig(msgspec.Struct, frozen=True, kw_only=True):
    identifier_key: str
    national_id_systems: tuple[str, ...]
    insurance_card_systems: tuple[str, ...]
    max_bytes: int
    max_depth: int


def _effective(entry: Any) -> tuple[dt.datetime | None, dt.datetime | None]:
    """The instant an entry is listed and charted by, and when it ended (where it has one)."""
    for start_field, end_field in (
        ("start", "end"),
        ("effective", "effective_end"),
        ("performed_start", "performed_end"),
        ("effective_start", "effective_end"),
        ("occurred", None),
        ("onset", "abatement"),
        ("authored", None),
        ("issued", None),
        ("recorded", None),
    ):
        start = getattr(entry, start_field, None)
        if start is not None:
            end = getattr(entry, end_field, None) if end_field else None
            return start.at, end.at if end is not None else None
    return None, None


def _summary(entry: ExtractedEntry) -> dict[str, Any]:
    data = {name: getattr(entry, name) for name in entry.__struct_fields__ if name not in ("raw",)}
    return msgspec.to_builtins(data)


def _entry_rows(
    extraction: Extraction,
    *,
    document_id: uuid.UUID,
    citizen_id: uuid.UUID,
    facility_id: str,
    now: dt.datetime,
) -> list[dict[str, Any]]:
    rows: list[dict[str, Any]] = []
    for category in CATEGORIES:
        for entry in getattr(extraction, category):
            primary = entry.codes[0] if entry.codes else None
            start, end = _effective(entry)
            summary = _summary(entry)
            stored_category = category
            statement = statements.classify(entry, category)
            if statement is not None:
                stored_category = statement.category
                summary["statement"] = statement.details
            rows.append(
                {
                    "id": uuid.uuid4(),
                    "document_id": document_id,
                    "citizen_id": citizen_id,
                    "facility_id": facility_id,
                    "category": stored_category,
                    "source_key": entry.key[:500],
                    "resource_type": entry.resource_type,
                    "code_system": (primary.system if primary else None),
                    "code": (primary.code if primary else None),
                    "display": (entry.text or (primary.display if primary else None)),
                    "status": entry.status,
                    "effective_at": start,
                    "effective_end": end,
                    "encounter_key": entry.encounter_key,
                    "summary": summary,
                    "resource": bytes(entry.raw),
                    "active": False,
                    "received_at": now,
                }
            )
    for row in rows:
        for field in ("code_system", "code", "display", "status"):
            limit = {"code_system": 300, "code": 100, "display": 500, "status": 40}[field]
            if row[field] is not None:
                row[field] = row[field][:limit]
    return rows


def _same_content(
    latest: HealthDocument, content_sha256: str, body: bytes, canonical: str | None
) -> bool:
    """The same content as the latest version: byte-for-byte less JSON whitespace (the hash kept
    with every version, cheap), else equal canonical forms (RFC 8785, regenerated elements left
    out: :mod:`.canonical`), computed from both bodies only when a document is sent again with
    other bytes. Versions stored before canonical comparison existed compare the same way."""
    if latest.content_sha256 == content_sha256:
        return True
    if canonical is not None and latest.document_key == f"sha256:{canonical}":
        return True  # keyed by this very canonical form
    return canonical_sha256(latest.body) == (canonical or canonical_sha256(body))


async def first_version_id(session: AsyncSession, document: HealthDocument) -> uuid.UUID:
    """The id that names a document across its versions: that of its version 1."""
    if document.version == 1:
        return document.id
    found = await session.scalar(
        select(HealthDocument.id).where(
            HealthDocument.facility_id == document.facility_id,
            HealthDocument.document_key == document.document_key,
            HealthDocument.version == 1,
        )
    )
    return found or document.id


def entry_counts(rows: list[dict[str, Any]]) -> dict[str, int]:
    """Entries per category; statements ("no known allergies", refuted, withdrawn) are none."""
    counts: dict[str, int] = dict.fromkeys(CATEGORIES, 0)
    for row in rows:
        if row["category"] in counts:
            counts[row["category"]] += 1
    return counts


def _chunks(items: Sequence[str], size: int = _CHUNK) -> Iterable[Sequence[str]]:
    for start in range(0, len(items), size):
        yield items[start : start + size]


async def recompute_active(
    session: AsyncSession, citizen_id: uuid.UUID, facility_id: str, source_keys: Sequence[str]
) -> None:
    """For each (category, source key), make active exactly the entry from the most recently
    received document version that is still current; none when no current document has it.

    One read of every entry of those keys (active or not, current or not), then only the changes:
    the active entries that lost are deactivated, then the winners not active yet activated (in
    that order: one active entry per key at every moment). A new document whose keys no other
    entry has costs one read and one update."""
    for chunk in _chunks(sorted(set(source_keys))):
        rows = (
            await session.execute(
                select(
                    HealthEntry.id,
                    HealthEntry.category,
                    HealthEntry.source_key,
                    HealthEntry.active,
                    HealthDocument.status == "current",
                )
                .join(HealthDocument, HealthDocument.id == HealthEntry.document_id)
                .where(
                    HealthEntry.citizen_id == citizen_id,
                    HealthEntry.facility_id == facility_id,
                    HealthEntry.source_key.in_(chunk),
                )
                .order_by(HealthDocument.received_at.desc(), HealthDocument.version.desc())
            )
        ).all()
        winners: dict[tuple[str, str], uuid.UUID] = {}
        for entry_id, category, source_key, _active, current in rows:
            if current:
                winners.setdefault((category, source_key), entry_id)
        chosen = set(winners.values())
        losers = [
            entry_id for entry_id, _, _, active, _ in rows if active and entry_id not in chosen
        ]
        already = {entry_id for entry_id, _, _, active, _ in rows if active}
        for ids in _chunks(losers):  # type: ignore[arg-type]  # ids: _chunks is typed for str
            await session.execute(
                update(HealthEntry)
                .where(HealthEntry.id.in_(ids))
                .values(active=False)
                .execution_options(synchronize_session=False)
            )
        to_activate = [entry_id for entry_id in winners.values() if entry_id not in already]
        for ids in _chunks(to_activate):  # type: ignore[arg-type]  # ids: _chunks is typed for str
            await session.execute(
                update(HealthEntry)
                .where(HealthEntry.id.in_(ids))
                .values(active=True)
                .execution_options(synchronize_session=False)
            )


async def publish(
    uow: UnitOfWork,
    body: bytes,
    *,
    config: IngestConfig,
    facility_id: str,
    facility_name: str,
    publisher: str,
    source: Literal["push", "pull"],
    now: dt.datetime,
    on_change: BookChanged,
    fhir_version: str | None = None,
    validate: bool = True,
    restricted: bool = False,
    quiet_new_books: bool = False,
) -> Publication:
    """Store a bundle in ``uow``'s transaction (committed when the unit of work ends); raises
    FhirError (nothing stored) when it cannot be accepted. Once the change is committed,
    ``on_change`` is told whose book changed. ``validate=False`` skips the R4 validation of
    :func:`~api.health_book.fhir.parse_bundle` (only for documents this service built itself,
    whose writer is tested to produce valid R4); everything else is checked as ever. A
    ``restricted`` document (HIV/TB care: only for a citizen who shows restricted data,
    :func:`publish_restricted`) labels every version of the document restricted and sends no
    "new record" push. ``quiet_new_books``: ``on_change`` only drops cached copies of a book
    (no rebuild of its own), so it is not told of a citizen this transaction registers: their
    id is new, no copy of their book can exist anywhere (two Redis round trips saved)."""
    extraction = read(body, config=config, fhir_version=fhir_version, validate=validate)
    citizen_id, new_citizen = await match_patient(uow.session, extraction, config=config, now=now)
    return await _store(
        uow,
        body,
        extraction,
        citizen_id=citizen_id,
        new_citizen=new_citizen,
        facility_id=facility_id,
        facility_name=facility_name,
        publisher=publisher,
        source=source,
        now=now,
        on_change=on_change,
        restricted=restricted,
        quiet_new_books=quiet_new_books,
    )


def read(
    body: bytes, *, config: IngestConfig, fhir_version: str | None = None, validate: bool = True
) -> Extraction:
    """A bundle decoded (and validated, unless ``validate`` is False) and what the book keeps of
    it extracted; :class:`FhirError` when it is not acceptable."""
    parsed = parse_bundle(
        body,
        max_bytes=config.max_bytes,
        max_depth=config.max_depth,
        fhir_version=fhir_version,
        validate=validate,
    )
    return extract(parsed, national_id_systems=config.national_id_systems)


async def match_patient(
    session: AsyncSession, extraction: Extraction, *, config: IngestConfig, now: dt.datetime
) -> tuple[uuid.UUID, bool]:
    """The citizen the bundle's patient is (by national ID), registered if new and locked for
    the rest of the transaction; and whether this transaction registered them."""
    try:
        number = national_id.normalise(extraction.patient.national_id.value)
    except national_id.InvalidNationalId as exc:
        raise FhirError.single(
            "value",
            f"the patient's national ID is not usable: {exc}",
            "Bundle.entry.resource.identifier.value",
        ) from exc
    # an existing citizen is locked (publishes for one citizen run one at a time) and gets
    # what the identity provider has not told us yet, in the statement that finds them
    return await citizens.find_or_register(
        session,
        national_id.keyed_hash(config.identifier_key, number),
        national_id.mask(number),
        now,
        demographics=_demographics(extraction, config),
    )


async def _store(
    uow: UnitOfWork,
    body: bytes,
    extraction: Extraction,
    *,
    citizen_id: uuid.UUID,
    new_citizen: bool,
    facility_id: str,
    facility_name: str,
    publisher: str,
    source: Literal["push", "pull"],
    now: dt.datetime,
    on_change: BookChanged,
    restricted: bool,
    quiet_new_books: bool = False,
) -> Publication:
    """The document of a read bundle for its (locked) citizen: unchanged, or a new version with
    its entries, the access log row and the "new record" push."""
    session = uow.session
    document = extraction.document
    document_key, keys, canonical = document.document_key[:500], [document.document_key[:500]], None
    if document.identity_source == "content":
        # A document with no identifier is its content: keyed by the canonical form's hash, so
        # the same content however formatted is found; documents stored before that were keyed
        # by the hash of the body less whitespace, which is looked up as well.
        canonical = canonical_sha256(body)
        document_key = f"sha256:{canonical}"
        keys.append(document_key)
    latest = await session.scalar(
        select(HealthDocument)
        .where(HealthDocument.facility_id == facility_id, HealthDocument.document_key.in_(keys))
        .order_by(HealthDocument.version.desc())
        .limit(1)
    )
    if (
        latest is not None
        and latest.restricted == restricted
        and _same_content(latest, document.content_sha256, body, canonical)
    ):
        if latest.citizen_id != citizen_id:
            raise Conflict("this document identifier was published for another patient")
        unchanged = PublishResult(
            document_id=str(await first_version_id(session, latest)),
            version=latest.version,
            version_id=str(latest.id),
            outcome="unchanged",
            entry_counts=dict(latest.entry_counts),
        )
        await uow.rollback()
        return Publication(unchanged, citizen_id)
    if latest is not None and latest.citizen_id != citizen_id:
        raise Conflict("this document identifier was published for another patient")

    version = 1 if latest is None else latest.version + 1
    affected: list[str] = []
    if latest is not None:
        previous = (
            await session.scalars(
                select(HealthEntry.source_key).where(HealthEntry.document_id == latest.id)
            )
        ).all()
        affected.extend(previous)
        if latest.status == "current":
            latest.status = "superseded"
            latest.status_changed_at = now
        if restricted:  # the episode is restricted now: all of it leaves the book with it
            await _label_restricted(session, facility_id, latest.document_key)
    document_id = uuid.uuid4()
    rows = _entry_rows(
        extraction, document_id=document_id, citizen_id=citizen_id, facility_id=facility_id, now=now
    )
    counts = entry_counts(rows)
    # Core statements, not the ORM's unit of work: the document row and its entries are
    # written as they are built (the ORM's flush of one new object cost more CPU than its
    # round trip). What the session holds pending (an earlier version's new status, the
    # caller's own changes) is written first, as the flush of the document did.
    await session.flush()
    await session.execute(
        _DOCUMENTS.insert(),
        {
            "id": document_id,
            "citizen_id": citizen_id,
            "facility_id": facility_id,
            "document_key": document_key,
            "version": version,
            "status": "current",
            "content_sha256": document.content_sha256,
            "bundle_type": document.bundle_type,
            "title": (document.title or None) and document.title[:300],
            "document_date": dated.at if (dated := document.date or document.timestamp) else None,
            "source": source,
            "published_by": publisher[:64],
            "received_at": now,
            "status_changed_at": None,
            "entry_counts": counts,
            "sections": [msgspec.to_builtins(section) for section in extraction.sections],
            "body": body,
            "restricted": restricted,
        },
    )
    if new_citizen and not restricted:
        # Nobody else's entries can compete: the new document's entries are the book (the last
        # of any duplicates inside the bundle wins, as recompute_active would choose).
        winners = {(row["category"], row["source_key"]): row for row in rows}
        for row in winners.values():
            row["active"] = True
    if rows:
        await session.execute(_ENTRIES.insert(), rows)
    if not new_citizen or restricted:
        affected.extend(row["source_key"] for row in rows)
        await recompute_active(session, citizen_id, facility_id, affected)
    access_log.record(
        session,
        citizen_id=citizen_id,
        actor_kind="hospital" if source == "push" else "system",
        actor_id=publisher,
        action="publish",
        now=now,
        resource=f"document/{document_id}",
        purpose="care record from the facility",
        detail={"facility_id": facility_id, "version": version, "entries": sum(counts.values())},
    )
    if counts["visits"] and not restricted:  # a push about HIV/TB care could be seen by others
        first_visit = min(
            (v.start.at for v in extraction.visits if v.start is not None), default=None
        )
        await enqueue(
            session,
            citizen_id,
            HealthRecordAvailable(
                record_id=str(document_id),
                facility_name=facility_name[:120],
                visit_date=first_visit.date() if first_visit else None,
            ),
            dedupe_key=f"record:{document_id}",
            now=now,
        )
    stable_id = document_id if latest is None else await first_version_id(session, latest)
    if not (new_citizen and quiet_new_books):
        uow.after_commit(partial(on_change, citizen_id), key=("book-changed", citizen_id))
    result = PublishResult(
        document_id=str(stable_id),
        version=version,
        version_id=str(document_id),
        outcome="created" if version == 1 else "new_version",
        entry_counts=counts,
    )
    return Publication(result, citizen_id)


async def _label_restricted(session: AsyncSession, facility_id: str, document_key: str) -> None:
    await session.execute(
        update(HealthDocument)
        .where(
            HealthDocument.facility_id == facility_id, HealthDocument.document_key == document_key
        )
        .values(restricted=True)
        .execution_options(synchronize_session=False)
    )


async def shows_restricted(session: AsyncSession, citizen_id: uuid.UUID) -> bool:
    """Whether the citizen chose to show their restricted (HIV/TB) records in their book."""
    return bool(
        await session.scalar(
            select(RestrictedDataChoice.show).where(RestrictedDataChoice.citizen_id == citizen_id)
        )
    )


async def remove_restricted(
    uow: UnitOfWork,
    citizen_id: uuid.UUID,
    *,
    on_change: BookChanged,
    facility_id: str | None = None,
    document_key: str | None = None,
) -> int:
    """Take documents out of the citizen's book in ``uow``'s transaction: every version of one
    document (``facility_id`` and ``document_key``: an episode that became restricted), or every
    restricted one. Their entries go with them and the book's active entries are recomputed;
    ``on_change`` follows the commit. Answers how many versions left."""
    session = uow.session
    query = select(HealthDocument.id, HealthDocument.facility_id).where(
        HealthDocument.citizen_id == citizen_id
    )
    if document_key is not None:
        query = query.where(
            HealthDocument.facility_id == facility_id, HealthDocument.document_key == document_key
        )
    else:
        query = query.where(HealthDocument.restricted.is_(True))
    documents = (await session.execute(query)).all()
    if not documents:
        return 0
    ids = [document_id for document_id, _ in documents]
    keys = (
        await session.execute(
            select(HealthEntry.facility_id, HealthEntry.source_key).where(
                HealthEntry.document_id.in_(ids)
            )
        )
    ).all()
    await session.execute(
        delete(HealthEntry)
        .where(HealthEntry.document_id.in_(ids))
        .execution_options(synchronize_session=False)
    )
    await session.execute(
        delete(HealthDocument)
        .where(HealthDocument.id.in_(ids))
        .execution_options(synchronize_session=False)
    )
    by_facility: dict[str, list[str]] = {}
    for facility, source_key in keys:
        by_facility.setdefault(facility, []).append(source_key)
    for facility, source_keys in by_facility.items():
        await recompute_active(session, citizen_id, facility, source_keys)
    uow.after_commit(partial(on_change, citizen_id), key=("book-changed", citizen_id))
    return len(ids)


async def publish_restricted(
    uow: UnitOfWork,
    body: bytes,
    *,
    config: IngestConfig,
    facility_id: str,
    facility_name: str,
    publisher: str,
    now: dt.datetime,
    on_change: BookChanged,
) -> tuple[uuid.UUID, Publication | None]:
    """A restricted document (HIV/TB care) for the citizen its patient is: stored as a new
    version (:func:`publish`, ``restricted``) when they show restricted data; otherwise nothing
    of it is stored and the earlier versions of the document leave the book too (an episode
    re-sent with HIV/TB care is hidden whole). Answers the citizen and the publication, if any.
    The bundle is read (validated) and its patient matched once for both."""
    extraction = read(body, config=config)
    citizen_id, new_citizen = await match_patient(uow.session, extraction, config=config, now=now)
    if await shows_restricted(uow.session, citizen_id):
        publication = await _store(
            uow,
            body,
            extraction,
            citizen_id=citizen_id,
            new_citizen=new_citizen,
            facility_id=facility_id,
            facility_name=facility_name,
            publisher=publisher,
            source="push",
            now=now,
            on_change=on_change,
            restricted=True,
        )
        return citizen_id, publication
    await remove_restricted(
        uow,
        citizen_id,
        on_change=on_change,
        facility_id=facility_id,
        document_key=extraction.document.document_key[:500],
    )
    return citizen_id, None


async def choose_restricted(
    uow: UnitOfWork,
    citizen_id: uuid.UUID,
    *,
    show: bool,
    now: dt.datetime,
    on_change: BookChanged,
) -> bool:
    """Record the citizen's choice (and the change in their access log); turning it off takes
    every restricted document out of the book at once. Answers whether the choice changed."""
    session = uow.session
    await citizens.lock_citizen(session, citizen_id)
    choice = await session.get(RestrictedDataChoice, citizen_id)
    if choice is not None and choice.show == show:
        return False
    if choice is None:
        if not show:
            return False
        session.add(RestrictedDataChoice(citizen_id=citizen_id, show=show, changed_at=now))
    else:
        choice.show = show
        choice.changed_at = now
    access_log.record(
        session,
        citizen_id=citizen_id,
        actor_kind="citizen",
        actor_id=str(citizen_id),
        action="restricted_data",
        now=now,
        resource="health-book/restricted-data",
        purpose="the citizen shows their restricted records"
        if show
        else "the citizen hides their restricted records",
        detail={"show": show},
    )
    if not show:
        await remove_restricted(uow, citizen_id, on_change=on_change)
    uow.after_commit(partial(on_change, citizen_id), key=("book-changed", citizen_id))
    return True


async def restricted_choice(
    session: AsyncSession, citizen_id: uuid.UUID
) -> RestrictedDataChoice | None:
    return await session.get(RestrictedDataChoice, citizen_id)


def _demographics(extraction: Extraction, config: IngestConfig) -> Demographics:
    """What the Patient resource says about the person, in the citizen's terms."""
    patient = extraction.patient
    birth = patient.birth_date
    return Demographics(
        full_name=patient.name[:200] if patient.name else None,
        birth_date=birth.at.date()
        if birth is not None and birth.precision in ("day", "second")
        else None,
        sex=patient.gender if patient.gender in ("male", "female", "other", "unknown") else None,
        insurance_card=next(
            (
                identifier.value[:32]
                for identifier in patient.identifiers
                if identifier.system in config.insurance_card_systems
            ),
            None,
        ),
    )


async def describe(
    session: AsyncSession, *, facility_id: str, document_id: uuid.UUID
) -> PublishedDocument:
    """What this facility published under ``document_id`` (the document's id or any of its
    versions' ids): every version's status and counts, never the clinical content."""
    target = await session.get(HealthDocument, document_id)
    if target is None or target.facility_id != facility_id:
        raise NotFound("no such document from this facility")
    versions = (
        await session.scalars(
            select(HealthDocument)
            .where(
                HealthDocument.facility_id == facility_id,
                HealthDocument.document_key == target.document_key,
            )
            .order_by(HealthDocument.version.desc())
        )
    ).all()
    return PublishedDocument(
        document_id=str(versions[-1].id),
        status=cast(DocumentStatus, versions[0].status),
        versions=[
            PublishedVersion(
                version=v.version,
                version_id=str(v.id),
                status=cast(DocumentStatus, v.status),
                received_at=v.received_at,
                status_changed_at=v.status_changed_at,
                content_sha256=v.content_sha256,
                bundle_type=v.bundle_type,
                title=v.title,
                document_date=v.document_date,
                entry_counts=dict(v.entry_counts),
            )
            for v in versions
        ],
    )


async def mark_entered_in_error(
    uow: UnitOfWork,
    *,
    facility_id: str,
    document_id: uuid.UUID,
    publisher: str,
    now: dt.datetime,
    on_change: BookChanged,
) -> PublishResult:
    """Withdraw every version of a document (``document_id`` names the document or any of its
    versions) in ``uow``'s transaction: its entries leave the book, history keeps it;
    ``on_change`` follows the commit."""
    session = uow.session
    target = await session.get(HealthDocument, document_id)
    if target is None or target.facility_id != facility_id:
        raise NotFound("no such document from this facility")
    await citizens.lock_citizen(session, target.citizen_id)
    versions = (
        await session.scalars(
            select(HealthDocument).where(
                HealthDocument.facility_id == facility_id,
                HealthDocument.document_key == target.document_key,
            )
        )
    ).all()
    for version in versions:
        if version.status != "entered_in_error":
            version.status = "entered_in_error"
            version.status_changed_at = now
    await session.flush()
    keys = (
        await session.scalars(
            select(HealthEntry.source_key).where(
                HealthEntry.document_id.in_([v.id for v in versions])
            )
        )
    ).all()
    await recompute_active(session, target.citizen_id, facility_id, list(keys))
    access_log.record(
        session,
        citizen_id=target.citizen_id,
        actor_kind="hospital",
        actor_id=publisher,
        action="entered_in_error",
        now=now,
        resource=f"document/{target.id}",
        purpose="the facility withdrew a document",
    )
    latest = max(versions, key=lambda v: v.version)
    first = min(versions, key=lambda v: v.version)
    result = PublishResult(
        document_id=str(first.id),
        version=latest.version,
        version_id=str(latest.id),
        outcome="withdrawn",
        entry_counts=dict(latest.entry_counts),
    )
    uow.after_commit(partial(on_change, target.citizen_id))
    return result
