"""Reading the health book: the materialised overview, entry lists, visits, the access log.

The overview of a citizen is built from the database, encoded once (msgspec JSON) and kept in
Redis (and in each process's memory, kept coherent by invalidations). A publish rebuilds it right
after its transaction commits; a miss rebuilds it on the spot. Its ETag is a hash of the bytes.

Each cached overview carries the book's version it was built from (:func:`book_version`: the
citizen's documents — how many, the last received, the last withdrawn — and profile, as the
database holds them). Where Redis is the embedded in-process one, another process that changes a
book (``healthbook sync``) can reach neither this process's memory nor its Redis: there a reader
compares that version with the database's before serving a cached copy, and rebuilds when they
differ. With a Redis server, the writer's invalidation reaches every process and no check is made.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import logging
import uuid
from collections.abc import Sequence
from typing import Any, cast

import msgspec
from redis.exceptions import RedisError
from sqlalchemy import and_, func, or_, select
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from api.core.cache import Invalidations, LocalCache
from api.core.errors import InvalidInput, NotFound
from api.core.pagination import Cursors
from api.core.redis import RedisClient
from api.facilities import service as facilities
from api.health_book import schemas
from api.health_book.ingest import first_version_id
from api.health_book.models import HOME_FACILITY, AccessLogEntry, HealthDocument, HealthEntry
from api.health_book.statements import STATEMENTS, WITHDRAWN
from api.identity import citizens

logger = logging.getLogger("healthbook.book")

BOOK_CACHE = "book"
BOOK_TTL_S = 3600
ACTIVE_PROBLEM = {"active", "recurrence", "relapse"}
CURRENT_MEDICATION = {"active", "on-hold", "intended"}
_encoder = msgspec.json.Encoder()
_sort_at = func.coalesce(HealthEntry.effective_at, HealthEntry.received_at)


def book_key(citizen_id: uuid.UUID | str) -> str:
    return f"citizen:{{{citizen_id}}}:book"


class CachedOverview(msgspec.Struct, frozen=True, array_like=True):
    body: bytes
    etag: str
    version: str = ""
    """The :func:`book_version` the overview was built from."""


_cached_decoder = msgspec.msgpack.Decoder(CachedOverview)
_cached_encoder = msgspec.msgpack.Encoder()


def entry_brief(entry: HealthEntry) -> schemas.EntryBrief:
    summary = entry.summary
    codes = [
        schemas.Code(system=c.get("system"), code=c.get("code"), display=c.get("display"))
        for c in summary.get("codes", [])
    ]
    return schemas.EntryBrief(
        id=str(entry.id),
        category=entry.category,
        facility_id=entry.facility_id,
        text=entry.display,
        codes=codes,
        status=entry.status,
        effective_at=entry.effective_at,
        effective_end=entry.effective_end,
        details=summary,
    )


def _number(value: Any) -> float | None:
    if isinstance(value, dict) and isinstance(value.get("number"), int | float):
        return float(value["number"])
    return None


async def book_version(session: AsyncSession, citizen_id: uuid.UUID) -> str:
    """What the book's overview is built from, in one cheap query: the citizen's documents (how
    many versions, the last received, the last whose status changed) and profile (its last
    update). Any process that stores, supersedes or withdraws a document changes it."""
    profile = citizens.profile_changed_at(citizen_id)
    home = (
        select(func.count(HealthEntry.id), func.max(HealthEntry.received_at))
        .where(HealthEntry.citizen_id == citizen_id, HealthEntry.facility_id == HOME_FACILITY)
        .subquery()
    )
    row = (
        await session.execute(
            select(
                func.count(HealthDocument.id),
                func.max(HealthDocument.received_at),
                func.max(HealthDocument.status_changed_at),
                profile,
            ).where(HealthDocument.citizen_id == citizen_id)
        )
    ).one()
    readings = (await session.execute(select(home))).one()
    return "|".join("" if value is None else str(value) for value in (*row, *readings))


async def build_overview(
    session: AsyncSession, citizen_id: uuid.UUID, now: dt.datetime
) -> schemas.Overview:
    citizen = await citizens.get_record(session, citizen_id)
    counts = {category: 0 for category in schemas.Category.__args__}  # type: ignore[attr-defined]  # a Literal alias has __args__
    for category, count in (
        await session.execute(
            select(HealthEntry.category, func.count())
            .where(HealthEntry.citizen_id == citizen_id, HealthEntry.active.is_(True))
            .group_by(HealthEntry.category)
        )
    ).all():
        if category in counts:  # statements and withdrawn records are not entries
            counts[category] = count
    rows = (
        await session.scalars(
            select(HealthEntry)
            .where(
                HealthEntry.citizen_id == citizen_id,
                HealthEntry.active.is_(True),
                HealthEntry.category.in_(
                    ("allergies", "conditions", "medications", "immunizations", "observations")
                ),
            )
            .order_by(_sort_at.desc(), HealthEntry.id.desc())
        )
    ).all()
    allergies: list[schemas.EntryBrief] = []
    problems: list[schemas.EntryBrief] = []
    medications: list[schemas.EntryBrief] = []
    immunizations: list[schemas.EntryBrief] = []
    vitals: dict[tuple[str | None, str | None], schemas.VitalSign] = {}
    home_readings: dict[tuple[str | None, str | None], schemas.VitalSign] = {}
    recorded_since: dict[str, dt.datetime] = {}  # topic -> when its newest shown entry came

    def shown(topic: str, entry: HealthEntry) -> schemas.EntryBrief:
        previous = recorded_since.get(topic)
        if previous is None or entry.received_at > previous:
            recorded_since[topic] = entry.received_at
        return entry_brief(entry)

    for entry in rows:
        if entry.category == "allergies":
            allergies.append(shown("allergies", entry))
        elif entry.category == "conditions" and (entry.status or "active") in ACTIVE_PROBLEM:
            problems.append(shown("problems", entry))
        elif entry.category == "medications" and (entry.status or "active") in CURRENT_MEDICATION:
            medications.append(shown("medications", entry))
        elif entry.category == "immunizations" and len(immunizations) < 20:
            immunizations.append(shown("immunizations", entry))
        elif entry.category == "observations":
            summary = entry.summary
            home = entry.facility_id == HOME_FACILITY
            if not home and "vital-signs" not in summary.get("categories", []):
                continue
            shown_in = home_readings if home else vitals
            key = (entry.code_system, entry.code)
            if key in shown_in:
                continue  # rows come newest first: the first one per code is the latest
            value = summary.get("value") or {}
            shown_in[key] = schemas.VitalSign(
                code=schemas.Code(system=entry.code_system, code=entry.code, display=entry.display),
                text=entry.display,
                value=_number(value),
                unit=value.get("unit") if isinstance(value, dict) else None,
                components=[
                    {
                        "code": (c.get("codes") or [{}])[0].get("code"),
                        "text": c.get("text"),
                        "value": _number(c.get("value")),
                        "unit": (c.get("value") or {}).get("unit"),
                    }
                    for c in summary.get("components", [])
                ],
                effective_at=entry.effective_at,
                entry_id=str(entry.id),
                source="home" if home else "clinical",
            )
    statements = await _statements(session, citizen_id, recorded_since)
    names = facilities.names()
    visit_rows = (
        await session.execute(
            select(HealthEntry, names.c.name)
            .join(names, names.c.id == HealthEntry.facility_id)
            .where(
                HealthEntry.citizen_id == citizen_id,
                HealthEntry.active.is_(True),
                HealthEntry.category == "visits",
            )
            .order_by(_sort_at.desc(), HealthEntry.id.desc())
            .limit(5)
        )
    ).all()
    visits = [
        schemas.VisitBrief(
            id=str(entry.id),
            facility_id=entry.facility_id,
            facility_name=facility_name,
            start=entry.effective_at,
            end=entry.effective_end,
            class_code=(entry.summary.get("class_code") or {}).get("code"),
            text=entry.display,
            reasons=[
                r.get("display") or r.get("code") or ""
                for r in entry.summary.get("reason_codes", [])
            ],
        )
        for entry, facility_name in visit_rows
    ]
    return schemas.Overview(
        profile=schemas.BookProfile(
            id=str(citizen.id),
            full_name=citizen.full_name,
            birth_date=citizen.birth_date,
            sex=citizen.sex,
            insurance_card=citizen.insurance_card,
            national_id_masked=citizen.national_id_masked,
        ),
        allergies=allergies,
        active_problems=problems,
        current_medications=medications,
        latest_vital_signs=sorted(vitals.values(), key=lambda v: (v.text or "", v.code.code or "")),
        latest_home_readings=sorted(
            home_readings.values(), key=lambda v: (v.text or "", v.code.code or "")
        ),
        last_visits=visits,
        immunizations=immunizations,
        statements=statements,
        counts=counts,
        built_at=now,
    )


async def _statements(
    session: AsyncSession, citizen_id: uuid.UUID, recorded_since: dict[str, dt.datetime]
) -> list[schemas.BookStatement]:
    """The absent/unknown statements, the one from the most recently received document per
    topic, unless an entry of that topic shown in the overview came later (a later record of an
    allergy outdates "no known allergies"); and every refuted entry."""
    rows = (
        await session.execute(
            select(HealthEntry, HealthDocument)
            .join(HealthDocument, HealthDocument.id == HealthEntry.document_id)
            .where(
                HealthEntry.citizen_id == citizen_id,
                HealthEntry.active.is_(True),
                HealthEntry.category == STATEMENTS,
            )
            .order_by(
                HealthDocument.received_at.desc(),
                HealthDocument.version.desc(),
                HealthEntry.id.desc(),
            )
        )
    ).all()
    found: list[schemas.BookStatement] = []
    topics: set[str] = set()
    for entry, document in rows:
        details = entry.summary.get("statement") or {}
        kind, topic = details.get("kind"), details.get("topic")
        if not isinstance(kind, str) or not isinstance(topic, str):
            continue
        if kind != "refuted":
            if topic in topics:
                continue  # an older document's statement on the same topic
            topics.add(topic)
            if topic in recorded_since and recorded_since[topic] > document.received_at:
                continue  # outdated by an entry received after it
        code = details.get("code")
        found.append(
            schemas.BookStatement(
                kind=kind,
                topic=topic,
                text=details.get("text") or {},
                code=schemas.Code(system=code.get("system"), code=code.get("code"))
                if isinstance(code, dict)
                else None,
                facility_id=entry.facility_id,
                document_id=str(await first_version_id(session, document)),
                version=document.version,
                version_id=str(document.id),
                recorded_at=document.received_at,
                entry_id=str(entry.id),
            )
        )
    return found


class BookReader:
    def __init__(
        self,
        redis: RedisClient,
        sessionmaker: async_sessionmaker[AsyncSession],
        cursors: Cursors,
        invalidations: Invalidations,
        *,
        check_version: bool = False,
    ) -> None:
        self.redis = redis
        self.sessionmaker = sessionmaker
        self.cursors = cursors
        self.invalidations = invalidations
        self.check_version = check_version
        """Compare a cached overview's version with the database's before serving it (where
        other processes' invalidations cannot reach this one: the embedded Redis)."""
        self.local: LocalCache[CachedOverview] = LocalCache(BOOK_CACHE, ttl=30.0)
        invalidations.register(self.local)

    async def rebuild(self, citizen_id: uuid.UUID, now: dt.datetime) -> CachedOverview:
        """Build from the database and store in Redis; every process drops its memory copy."""
        generation = self.local.generation()
        async with self.sessionmaker() as session:
            # the version first: a change committed in between makes the copy look older than
            # it is (rebuilt once more), never newer
            version = await book_version(session, citizen_id)
            overview = await build_overview(session, citizen_id, now)
        body = _encoder.encode(overview)
        cached = CachedOverview(
            body=body, etag=f'"{hashlib.sha256(body).hexdigest()[:32]}"', version=version
        )
        try:
            await self.redis.set(
                book_key(citizen_id), _cached_encoder.encode(cached), ex=BOOK_TTL_S
            )
        except RedisError as exc:
            logger.error("could not store the overview: %s", type(exc).__name__)
        await self.invalidations.publish(BOOK_CACHE, [str(citizen_id)])
        self.local.put(str(citizen_id), cached, generation)
        return cached

    async def changed(self, citizen_id: uuid.UUID) -> bool:
        """The book changed: drop every cached copy now, so no reader sees the old overview.
        Answers whether an overview was materialised (someone reads this book: rebuild it now);
        otherwise the next read builds it."""
        dropped = 1
        try:
            dropped = await self.redis.delete(book_key(citizen_id))
        except RedisError as exc:
            logger.error("could not drop the overview: %s", type(exc).__name__)
        await self.invalidations.publish(BOOK_CACHE, [str(citizen_id)])
        return bool(dropped)

    async def overview(self, citizen_id: uuid.UUID, now: dt.datetime) -> CachedOverview:
        key = str(citizen_id)
        current: str | None = None
        if self.check_version:
            async with self.sessionmaker() as session:
                current = await book_version(session, citizen_id)
        found = self.local.get(key)
        if found is not None and current in (None, found.version):
            return found
        generation = self.local.generation()
        try:
            raw = await self.redis.get(book_key(citizen_id))
        except RedisError as exc:  # Redis away: the database still answers (built, not cached)
            logger.warning("could not read the cached overview: %s", type(exc).__name__)
            raw = None
        if raw is not None:
            found = _cached_decoder.decode(cast(bytes, raw))  # a client without decode_responses
            if current in (None, found.version):
                self.local.put(key, found, generation)
                return found
        return await self.rebuild(citizen_id, now)

    async def entries(
        self,
        session: AsyncSession,
        citizen_id: uuid.UUID,
        category: str,
        *,
        since: dt.datetime | None,
        until: dt.datetime | None,
        status: str | None,
        code: str | None,
        facility: str | None,
        limit: int,
        cursor: str | None,
    ) -> schemas.EntryPage:
        scope = f"book|{citizen_id}|{category}|{since}|{until}|{status}|{code}|{facility}"
        after = self.cursors.decode(scope, cursor)
        query = select(HealthEntry).where(
            HealthEntry.citizen_id == citizen_id,
            HealthEntry.category == category,
            HealthEntry.active.is_(True),
        )
        if since is not None:
            query = query.where(_sort_at >= since)
        if until is not None:
            query = query.where(_sort_at < until)
        if status is not None:
            query = query.where(HealthEntry.status == status)
        if facility is not None:
            query = query.where(HealthEntry.facility_id == facility)
        if code is not None:
            system, _, value = code.rpartition("|")
            query = query.where(HealthEntry.code == value)
            if system:
                query = query.where(HealthEntry.code_system == system)
        if after is not None:
            try:
                last_at = dt.datetime.fromisoformat(after[0])
                last_id = uuid.UUID(after[1])
            except (ValueError, TypeError, IndexError) as exc:
                raise InvalidInput("invalid cursor", field="cursor", source="query") from exc
            query = query.where(
                or_(_sort_at < last_at, and_(_sort_at == last_at, HealthEntry.id < last_id))
            )
        rows = (
            await session.scalars(
                query.order_by(_sort_at.desc(), HealthEntry.id.desc()).limit(limit + 1)
            )
        ).all()
        more = len(rows) > limit
        rows = rows[:limit]
        next_cursor = None
        if more and rows:
            last = rows[-1]
            last_at = last.effective_at or last.received_at
            next_cursor = self.cursors.encode(scope, [last_at.isoformat(), str(last.id)])
        return schemas.EntryPage(items=[entry_brief(e) for e in rows], next_cursor=next_cursor)

    async def entry(
        self, session: AsyncSession, citizen_id: uuid.UUID, entry_id: uuid.UUID, category: str
    ) -> HealthEntry:
        entry = await session.get(HealthEntry, entry_id)
        if entry is None or entry.citizen_id != citizen_id or entry.category != category:
            raise NotFound("no such entry")
        return entry

    async def visit(
        self, session: AsyncSession, citizen_id: uuid.UUID, visit_id: uuid.UUID
    ) -> tuple[HealthEntry, list[HealthEntry], schemas.VisitDetail]:
        visit = await self.entry(session, citizen_id, visit_id, "visits")
        related = (
            await session.scalars(
                select(HealthEntry)
                .where(
                    HealthEntry.citizen_id == citizen_id,
                    HealthEntry.facility_id == visit.facility_id,
                    HealthEntry.encounter_key == visit.source_key,
                    HealthEntry.active.is_(True),
                    HealthEntry.category.not_in((STATEMENTS, WITHDRAWN)),
                )
                .order_by(HealthEntry.category, _sort_at.desc(), HealthEntry.id)
            )
        ).all()
        grouped: dict[str, list[schemas.EntryBrief]] = {}
        for entry in related:
            grouped.setdefault(entry.category, []).append(entry_brief(entry))
        facility = await facilities.find(session, visit.facility_id)
        documents = (
            (
                await session.execute(
                    select(HealthDocument)
                    .join(HealthEntry, HealthEntry.document_id == HealthDocument.id)
                    .where(
                        HealthEntry.citizen_id == citizen_id,
                        HealthEntry.facility_id == visit.facility_id,
                        HealthEntry.source_key == visit.source_key,
                    )
                    .order_by(HealthDocument.received_at, HealthDocument.version)
                )
            )
            .scalars()
            .unique()
            .all()
        )
        detail = schemas.VisitDetail(
            visit=entry_brief(visit),
            facility={
                "id": visit.facility_id,
                "name": facility.name if facility else None,
                "province": facility.province if facility else None,
            },
            entries=grouped,
            documents=[
                schemas.DocumentVersion(
                    document_id=str(await first_version_id(session, d)),
                    version=d.version,
                    version_id=str(d.id),
                    status=d.status,
                    title=d.title,
                    received_at=d.received_at,
                )
                for d in documents
            ],
        )
        return visit, list(related), detail

    async def access_log(
        self, session: AsyncSession, citizen_id: uuid.UUID, *, limit: int, cursor: str | None
    ) -> schemas.AccessLogPage:
        scope = f"access-log|{citizen_id}"
        after = self.cursors.decode(scope, cursor)
        query = select(AccessLogEntry).where(AccessLogEntry.citizen_id == citizen_id)
        if after is not None:
            try:
                last_at = dt.datetime.fromisoformat(after[0])
                last_id = uuid.UUID(after[1])
            except (ValueError, TypeError, IndexError) as exc:
                raise InvalidInput("invalid cursor", field="cursor", source="query") from exc
            query = query.where(
                or_(
                    AccessLogEntry.at < last_at,
                    and_(AccessLogEntry.at == last_at, AccessLogEntry.id < last_id),
                )
            )
        rows = (
            await session.scalars(
                query.order_by(AccessLogEntry.at.desc(), AccessLogEntry.id.desc()).limit(limit + 1)
            )
        ).all()
        more = len(rows) > limit
        rows = rows[:limit]
        next_cursor = (
            self.cursors.encode(scope, [rows[-1].at.isoformat(), str(rows[-1].id)])
            if more and rows
            else None
        )
        return schemas.AccessLogPage(
            items=[
                schemas.AccessLogItem(
                    id=str(r.id),
                    at=r.at,
                    actor_kind=r.actor_kind,
                    actor_id=r.actor_id,
                    action=r.action,
                    purpose=r.purpose,
                    resource=r.resource,
                )
                for r in rows
            ],
            next_cursor=next_cursor,
        )


def fhir_collection(resources: Sequence[bytes]) -> bytes:
    """A ``collection`` Bundle of stored resources, as stored (no re-encoding of each)."""
    parts = [b'{"resourceType":"Bundle","type":"collection","entry":[']
    for index, raw in enumerate(resources):
        if index:
            parts.append(b",")
        parts.append(b'{"resource":' + raw + b"}")
    parts.append(b"]}")
    return b"".join(parts)
