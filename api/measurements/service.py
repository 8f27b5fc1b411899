"""Home measurements: a citizen (or a guardian, for a child) records, reads, edits and deletes
readings, and imports them in batches; each reading is an entry of the book (so its charts,
overview, export, IPS and shares show it, marked patient-reported).

Each use case runs in one unit of work: the bookkeeping row, the book's entry and the access-log
row commit together or not at all, and the book's cached overview is dropped after the commit.
Guardians' reads are logged (as every read of someone else's book is); edits, deletes and
imports are logged whoever makes them, and so are readings a guardian records.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import uuid
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any, Protocol

import msgspec
from sqlalchemy import Select, delete, func, insert, select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncSession

from api.core.clock import Clock
from api.core.errors import InvalidInput, NotFound
from api.core.pagination import Cursors
from api.core.uow import UnitOfWorkFactory
from api.measurements import schemas
from api.measurements.apps import sample_from_app
from api.measurements.errors import KeyReused, LimitReached
from api.measurements.fhir import BookReading, book_reading
from api.measurements.kinds import SPECS, kind_of
from api.measurements.models import HomeMeasurement
from api.measurements.readings import Checked, Sample, check, dedup_hash

_CHUNK = 400
_INSERT = insert(HomeMeasurement)
_CURSOR_SCOPE = "home-measurements"
ENTERED = "entered"
IMPORTED = "imported"


class HomeBook(Protocol):
    """Where readings live: the book's home entries (api/health_book/home.py)."""

    def patient_reference(self, citizen_id: uuid.UUID) -> str: ...

    async def add(
        self,
        session: AsyncSession,
        citizen_id: uuid.UUID,
        readings: Sequence[BookReading],
        now: dt.datetime,
    ) -> None: ...

    async def replace(
        self, session: AsyncSession, citizen_id: uuid.UUID, reading: BookReading, now: dt.datetime
    ) -> None: ...

    async def remove(
        self, session: AsyncSession, citizen_id: uuid.UUID, reading_id: uuid.UUID, now: dt.datetime
    ) -> None: ...

    async def stored(
        self, session: AsyncSession, citizen_id: uuid.UUID, ids: Sequence[uuid.UUID]
    ) -> dict[uuid.UUID, tuple[dict[str, Any], bytes]]: ...

    async def discard(
        self, session: AsyncSession, citizen_id: uuid.UUID, ids: Select[uuid.UUID]
    ) -> int: ...

    def log(
        self,
        session: AsyncSession,
        citizen_id: uuid.UUID,
        *,
        actor_kind: str,
        actor_id: str,
        action: str,
        resource: str,
        now: dt.datetime,
        purpose: str | None = None,
        detail: dict[str, Any] | None = None,
    ) -> None: ...


class BookChanged(Protocol):
    """What follows a committed change of a book (``BookChanges``)."""

    async def changed(self, citizen_id: uuid.UUID) -> None: ...


class MeasurementLimits(msgspec.Struct, frozen=True, kw_only=True):
    max_per_citizen: int = 200_000
    max_batch: int = 1000


def _fingerprint(*parts: object) -> str:
    return hashlib.sha256(msgspec.json.encode(parts, order="sorted")).hexdigest()


def _sample(data: schemas.MeasurementCreate) -> Sample:
    return Sample(
        kind=data.kind,
        unit=data.unit,
        start=data.effective_at,
        value=data.value,
        systolic=data.systolic,
        diastolic=data.diastolic,
        end=data.effective_end,
        source=data.source,
        device=data.device,
        meal=data.meal,
        note=data.note,
    )


def _content_hash(sample: Sample) -> str:
    """What a sample says (its key and dedup key left out): a reused key with other content is
    a conflict, with the same content a duplicate."""
    return _fingerprint(
        "sample",
        kind_of(sample.kind) or sample.kind,
        sample.start.isoformat(),
        sample.end.isoformat() if sample.end else None,
        sample.value,
        sample.systolic,
        sample.diastolic,
        sample.unit,
        sample.source,
        sample.meal,
        sample.note,
        msgspec.to_builtins(sample.device) if sample.device else None,
    )


def _datetime(text: Any) -> dt.datetime | None:
    return dt.datetime.fromisoformat(text) if isinstance(text, str) else None


@dataclass(frozen=True, slots=True)
class _Inserted:
    """What :meth:`MeasurementService.record` just inserted (the row's columns it answers)."""

    id: uuid.UUID
    kind: str
    origin: str
    effective_at: dt.datetime
    recorded_by: str
    created_at: dt.datetime
    updated_at: dt.datetime
    version: int


def answer(
    row: HomeMeasurement | _Inserted, home: dict[str, Any], resource: bytes
) -> schemas.Measurement:
    """A reading as the API answers it: the row's bookkeeping, the book's entry."""
    values = home.get("values") or {}
    device = home.get("device")
    entered = home.get("entered")
    return schemas.Measurement(
        id=str(row.id),
        kind=row.kind,
        unit=home.get("unit", ""),
        effective_at=row.effective_at,
        value=values.get("value"),
        systolic=values.get("systolic"),
        diastolic=values.get("diastolic"),
        effective_end=_datetime(home.get("effective_end")),
        meal=home.get("meal"),
        device=msgspec.convert(device, schemas.DeviceInfo) if device else None,
        note=home.get("note"),
        source=home.get("source"),
        entered=msgspec.convert(entered, schemas.Entered) if entered else None,
        origin="imported" if row.origin == IMPORTED else "entered",
        patient_reported=True,
        recorded_by=row.recorded_by,
        created_at=row.created_at,
        updated_at=row.updated_at,
        version=row.version,
        fhir=msgspec.Raw(resource),
    )


class MeasurementService:
    """Home measurements of ``citizen_id``; ``actor`` is who acts (the principal's citizen id),
    ``guardian`` the principal's subject when acting for a dependent."""

    def __init__(
        self,
        *,
        uow: UnitOfWorkFactory,
        clock: Clock,
        book: HomeBook,
        changes: BookChanged,
        cursors: Cursors,
        limits: MeasurementLimits,
    ) -> None:
        self._uow = uow
        self._clock = clock
        self._book = book
        self._changes = changes
        self._cursors = cursors
        self.limits = limits

    # --- helpers ------------------------------------------------------------------------------

    def _reading(
        self,
        citizen_id: uuid.UUID,
        reading_id: uuid.UUID,
        checked: Checked,
        *,
        version: int,
        now: dt.datetime,
        origin: str,
        actor: str,
    ) -> BookReading:
        return book_reading(
            reading_id,
            checked,
            patient=self._book.patient_reference(citizen_id),
            version=version,
            updated=now,
            origin=origin,
            recorded_by=actor,
        )

    def _log(
        self,
        session: AsyncSession,
        citizen_id: uuid.UUID,
        *,
        actor: str,
        guardian: str | None,
        action: str,
        resource: str,
        now: dt.datetime,
        detail: dict[str, Any] | None = None,
    ) -> None:
        self._book.log(
            session,
            citizen_id,
            actor_kind="guardian" if guardian is not None else "citizen",
            actor_id=guardian if guardian is not None else actor,
            action=action,
            resource=resource,
            now=now,
            purpose="guardian access" if guardian is not None else "home measurements",
            detail=detail,
        )

    async def _count(self, session: AsyncSession, citizen_id: uuid.UUID) -> int:
        return int(
            await session.scalar(
                select(func.count())
                .select_from(HomeMeasurement)
                .where(
                    HomeMeasurement.citizen_id == citizen_id,
                    HomeMeasurement.deleted_at.is_(None),
                )
            )
            or 0
        )

    async def _row(
        self, session: AsyncSession, citizen_id: uuid.UUID, reading_id: uuid.UUID
    ) -> HomeMeasurement:
        row = await session.scalar(
            select(HomeMeasurement).where(
                HomeMeasurement.id == reading_id,
                HomeMeasurement.citizen_id == citizen_id,
                HomeMeasurement.deleted_at.is_(None),
            )
        )
        if row is None:
            raise NotFound("no such measurement")
        return row

    async def _answer(
        self, session: AsyncSession, citizen_id: uuid.UUID, row: HomeMeasurement | _Inserted
    ) -> schemas.Measurement:
        stored = await self._book.stored(session, citizen_id, [row.id])
        summary, resource = stored[row.id]
        return answer(row, summary.get("home") or {}, resource)

    # --- one reading --------------------------------------------------------------------------

    async def record(
        self,
        citizen_id: uuid.UUID,
        data: schemas.MeasurementCreate,
        *,
        key: str,
        actor: str,
        guardian: str | None,
    ) -> tuple[schemas.Measurement, bool]:
        """Record one reading once per ``key`` (the request's ``Idempotency-Key``): the same
        request again answers the first one's reading (``False``: not created now); another
        request with that key is refused."""
        fingerprint = _fingerprint("create", msgspec.to_builtins(data))
        sample = _sample(data)
        try:
            return await self._record(
                citizen_id, sample, key=key, fingerprint=fingerprint, actor=actor, guardian=guardian
            )
        except IntegrityError:
            # the same key recorded meanwhile by a concurrent request: answer as a retry
            return await self._record(
                citizen_id, sample, key=key, fingerprint=fingerprint, actor=actor, guardian=guardian
            )

    async def _record(
        self,
        citizen_id: uuid.UUID,
        sample: Sample,
        *,
        key: str,
        fingerprint: str,
        actor: str,
        guardian: str | None,
    ) -> tuple[schemas.Measurement, bool]:
        now = self._clock.now()
        async with self._uow() as uow:
            session = uow.session
            existing = await session.scalar(
                select(HomeMeasurement).where(
                    HomeMeasurement.citizen_id == citizen_id,
                    HomeMeasurement.idempotency_key == key,
                )
            )
            if existing is not None:
                if existing.request_hash != fingerprint:
                    raise KeyReused(
                        "this Idempotency-Key was used for another measurement; use a new key "
                        "per request",
                    )
                if existing.deleted_at is not None:
                    raise NotFound("the measurement this Idempotency-Key recorded was deleted")
                return await self._answer(session, citizen_id, existing), False
            checked = check(sample, now)
            if await self._count(session, citizen_id) >= self.limits.max_per_citizen:
                raise LimitReached(
                    f"this book holds {self.limits.max_per_citizen} home measurements, the most "
                    "it may"
                )
            reading_id = uuid.uuid4()
            reading = self._reading(
                citizen_id, reading_id, checked, version=1, now=now, origin=ENTERED, actor=actor
            )
            row = _Inserted(
                id=reading_id,
                kind=checked.spec.kind,
                origin=ENTERED,
                effective_at=checked.start,
                recorded_by=actor,
                created_at=now,
                updated_at=now,
                version=1,
            )
            # a Core insert: the ORM's unit of work costs more than the rest of the request
            await session.execute(
                _INSERT,
                {
                    "id": reading_id,
                    "citizen_id": citizen_id,
                    "kind": row.kind,
                    "origin": ENTERED,
                    "idempotency_key": key,
                    "request_hash": fingerprint,
                    "dedup_hash": None,
                    "effective_at": row.effective_at,
                    "recorded_by": actor,
                    "created_at": now,
                    "updated_at": now,
                    "deleted_at": None,
                    "version": 1,
                    "import_id": None,
                },
            )
            await self._book.add(session, citizen_id, [reading], now)
            if guardian is not None:
                self._log(
                    session,
                    citizen_id,
                    actor=actor,
                    guardian=guardian,
                    action="create",
                    resource=f"measurements/{reading_id}",
                    now=now,
                )
            uow.after_commit(lambda: self._changes.changed(citizen_id), key=("book", citizen_id))
            return answer(row, reading.home, reading.resource), True

    async def get(
        self, citizen_id: uuid.UUID, reading_id: uuid.UUID, *, actor: str, guardian: str | None
    ) -> schemas.Measurement:
        async with self._uow() as uow:
            row = await self._row(uow.session, citizen_id, reading_id)
            found = await self._answer(uow.session, citizen_id, row)
            if guardian is not None:
                self._log(
                    uow.session,
                    citizen_id,
                    actor=actor,
                    guardian=guardian,
                    action="read",
                    resource=f"measurements/{reading_id}",
                    now=self._clock.now(),
                )
        return found

    async def list(
        self,
        citizen_id: uuid.UUID,
        *,
        kind: str | None,
        limit: int,
        cursor: str | None,
        actor: str,
        guardian: str | None,
    ) -> schemas.MeasurementPage:
        """The citizen's readings, newest first (by when they were measured)."""
        if kind is not None and kind not in SPECS:
            raise InvalidInput(
                "unknown kind; one of: " + ", ".join(SPECS), field="kind", source="query"
            )
        after = self._cursors.decode(_CURSOR_SCOPE, cursor)
        query = select(HomeMeasurement).where(
            HomeMeasurement.citizen_id == citizen_id, HomeMeasurement.deleted_at.is_(None)
        )
        if kind is not None:
            query = query.where(HomeMeasurement.kind == kind)
        if after is not None:
            at, last_id = dt.datetime.fromisoformat(after[0]), uuid.UUID(after[1])
            query = query.where(
                (HomeMeasurement.effective_at < at)
                | ((HomeMeasurement.effective_at == at) & (HomeMeasurement.id < last_id))
            )
        query = query.order_by(HomeMeasurement.effective_at.desc(), HomeMeasurement.id.desc())
        async with self._uow() as uow:
            rows = list((await uow.session.scalars(query.limit(limit + 1))).all())
            more = len(rows) > limit
            rows = rows[:limit]
            stored = await self._book.stored(uow.session, citizen_id, [r.id for r in rows])
            if guardian is not None:
                self._log(
                    uow.session,
                    citizen_id,
                    actor=actor,
                    guardian=guardian,
                    action="read",
                    resource="measurements",
                    now=self._clock.now(),
                )
        items = [
            answer(row, stored[row.id][0].get("home") or {}, stored[row.id][1])
            for row in rows
            if row.id in stored
        ]
        next_cursor = None
        if more and rows:
            last = rows[-1]
            next_cursor = self._cursors.encode(
                _CURSOR_SCOPE, [last.effective_at.isoformat(), str(last.id)]
            )
        return schemas.MeasurementPage(items=items, next_cursor=next_cursor)

    async def update(
        self,
        citizen_id: uuid.UUID,
        reading_id: uuid.UUID,
        data: schemas.MeasurementCreate,
        *,
        actor: str,
        guardian: str | None,
    ) -> schemas.Measurement:
        """Replace a reading's values (its kind stays): a new version of its Observation."""
        now = self._clock.now()
        async with self._uow() as uow:
            session = uow.session
            row = await self._row(session, citizen_id, reading_id)
            if data.kind != row.kind:
                raise InvalidInput(
                    f"this measurement is a {row.kind}; its kind cannot change", field="kind"
                )
            checked = check(_sample(data), now)
            version = row.version + 1
            reading = self._reading(
                citizen_id,
                reading_id,
                checked,
                version=version,
                now=now,
                origin=row.origin,
                actor=row.recorded_by,
            )
            row.version = version
            row.updated_at = now
            row.effective_at = checked.start
            await self._book.replace(session, citizen_id, reading, now)
            self._log(
                session,
                citizen_id,
                actor=actor,
                guardian=guardian,
                action="update",
                resource=f"measurements/{reading_id}",
                now=now,
                detail={"version": version},
            )
            uow.after_commit(lambda: self._changes.changed(citizen_id), key=("book", citizen_id))
            return answer(row, reading.home, reading.resource)

    async def delete(
        self, citizen_id: uuid.UUID, reading_id: uuid.UUID, *, actor: str, guardian: str | None
    ) -> None:
        """Out of the book and every later export and share; the row stays (soft delete)."""
        now = self._clock.now()
        async with self._uow() as uow:
            session = uow.session
            row = await self._row(session, citizen_id, reading_id)
            row.deleted_at = now
            row.updated_at = now
            await self._book.remove(session, citizen_id, reading_id, now)
            self._log(
                session,
                citizen_id,
                actor=actor,
                guardian=guardian,
                action="delete",
                resource=f"measurements/{reading_id}",
                now=now,
            )
            uow.after_commit(lambda: self._changes.changed(citizen_id), key=("book", citizen_id))

    # --- imports ------------------------------------------------------------------------------

    async def import_batch(
        self,
        citizen_id: uuid.UUID,
        batch: schemas.MeasurementBatch,
        *,
        actor: str,
        guardian: str | None,
    ) -> schemas.ImportSummary:
        """A companion app's JSON batch (our sample shape, or Health Connect records' essentials:
        ``metadata.id`` as each sample's key). A sample that does not decode is refused alone."""
        if len(batch.samples) > self.limits.max_batch:
            raise LimitReached(
                f"a batch holds at most {self.limits.max_batch} samples", extra={"field": "samples"}
            )
        samples: list[Sample | schemas.SampleResult] = []
        for index, raw in enumerate(batch.samples):
            try:
                samples.append(sample_from_app(raw, default_source=batch.source))
            except InvalidInput as error:
                field = error.extra.get("errors", [{}])[0].get("field") if error.extra else None
                samples.append(
                    schemas.SampleResult(
                        index=index,
                        outcome="refused",
                        reason=error.detail,
                        field=f"samples[{index}].{field}" if field else f"samples[{index}]",
                    )
                )
        return await self.import_samples(
            citizen_id, samples, actor=actor, guardian=guardian, every=True, label="batch"
        )

    async def import_samples(
        self,
        citizen_id: uuid.UUID,
        samples: Sequence[Sample | schemas.SampleResult],
        *,
        actor: str,
        guardian: str | None = None,
        every: bool = False,
        label: str = "import",
        import_id: uuid.UUID | None = None,
    ) -> schemas.ImportSummary:
        """Import samples (the JSON batch, or the Apple Health import by chunks): each one is
        imported, a duplicate (its key or its dedup key seen before, here or in the book) or
        refused with its reason; one transaction (a refused sample stores nothing). A
        :class:`~api.measurements.schemas.SampleResult` in ``samples`` is a sample refused
        before (it keeps its place). ``every``: a result for each sample, imported ones too.
        ``import_id``: the file import storing them (its readings go if it fails)."""
        try:
            return await self._import(citizen_id, samples, actor, guardian, every, label, import_id)
        except IntegrityError:
            # a concurrent import stored some of these: what it stored is a duplicate now
            return await self._import(citizen_id, samples, actor, guardian, every, label, import_id)

    async def _import(
        self,
        citizen_id: uuid.UUID,
        samples: Sequence[Sample | schemas.SampleResult],
        actor: str,
        guardian: str | None,
        every: bool,
        label: str,
        import_id: uuid.UUID | None,
    ) -> schemas.ImportSummary:
        now = self._clock.now()
        results: list[schemas.SampleResult | None] = [None] * len(samples)
        passing: list[tuple[int, Sample, Checked, str, str]] = []
        for index, sample in enumerate(samples):
            if isinstance(sample, schemas.SampleResult):
                results[index] = sample
                continue
            try:
                checked = check(sample, now, start_field="start")
            except InvalidInput as error:
                field = error.extra.get("errors", [{}])[0].get("field") if error.extra else None
                results[index] = schemas.SampleResult(
                    index=index,
                    outcome="refused",
                    key=sample.key,
                    reason=error.detail,
                    field=f"samples[{index}].{field}" if field else None,
                )
                continue
            passing.append((index, sample, checked, dedup_hash(sample), _content_hash(sample)))
        imported = 0
        async with self._uow() as uow:
            session = uow.session
            keys = sorted({s.key for _, s, _, _, _ in passing if s.key})
            hashes = sorted({h for _, _, _, h, _ in passing})
            by_key: dict[str, tuple[uuid.UUID, str | None]] = {}
            by_hash: dict[str, uuid.UUID] = {}
            for start in range(0, len(keys), _CHUNK):
                for row_id, key, request_hash in await session.execute(
                    select(
                        HomeMeasurement.id,
                        HomeMeasurement.idempotency_key,
                        HomeMeasurement.request_hash,
                    ).where(
                        HomeMeasurement.citizen_id == citizen_id,
                        HomeMeasurement.idempotency_key.in_(keys[start : start + _CHUNK]),
                    )
                ):
                    if key is not None:
                        by_key[key] = (row_id, request_hash)
            for start in range(0, len(hashes), _CHUNK):
                for row_id, found in await session.execute(
                    select(HomeMeasurement.id, HomeMeasurement.dedup_hash).where(
                        HomeMeasurement.citizen_id == citizen_id,
                        HomeMeasurement.dedup_hash.in_(hashes[start : start + _CHUNK]),
                    )
                ):
                    if found is not None:
                        by_hash[found] = row_id
            room = self.limits.max_per_citizen - await self._count(session, citizen_id)
            rows: list[dict[str, Any]] = []
            readings: list[BookReading] = []
            for index, sample, checked, dedup, content in passing:
                seen = by_key.get(sample.key) if sample.key else None
                if seen is not None and seen[1] != content:
                    results[index] = schemas.SampleResult(
                        index=index,
                        outcome="refused",
                        key=sample.key,
                        reason="this key was used for another measurement",
                        field=f"samples[{index}].key",
                    )
                    continue
                duplicate_of = seen[0] if seen is not None else by_hash.get(dedup)
                if duplicate_of is not None:
                    results[index] = schemas.SampleResult(
                        index=index, outcome="duplicate", key=sample.key, id=str(duplicate_of)
                    )
                    continue
                if room <= 0:
                    results[index] = schemas.SampleResult(
                        index=index,
                        outcome="refused",
                        key=sample.key,
                        reason=f"this book holds {self.limits.max_per_citizen} home "
                        "measurements, the most it may",
                    )
                    continue
                room -= 1
                reading_id = uuid.uuid4()
                if sample.key:
                    by_key[sample.key] = (reading_id, content)
                by_hash[dedup] = reading_id
                rows.append(
                    {
                        "id": reading_id,
                        "citizen_id": citizen_id,
                        "kind": checked.spec.kind,
                        "origin": IMPORTED,
                        "idempotency_key": sample.key,
                        "request_hash": content,
                        "dedup_hash": dedup,
                        "effective_at": checked.start,
                        "recorded_by": actor,
                        "created_at": now,
                        "updated_at": now,
                        "deleted_at": None,
                        "version": 1,
                        "import_id": import_id,
                    }
                )
                readings.append(
                    self._reading(
                        citizen_id,
                        reading_id,
                        checked,
                        version=1,
                        now=now,
                        origin=IMPORTED,
                        actor=actor,
                    )
                )
                imported += 1
                if every:
                    results[index] = schemas.SampleResult(
                        index=index, outcome="imported", key=sample.key, id=str(reading_id)
                    )
            if rows:
                await session.execute(insert(HomeMeasurement), rows)
                await self._book.add(session, citizen_id, readings, now)
            done = [r for r in results if r is not None]
            duplicates = sum(1 for r in done if r.outcome == "duplicate")
            refused = sum(1 for r in done if r.outcome == "refused")
            if rows or guardian is not None:
                self._log(
                    session,
                    citizen_id,
                    actor=actor,
                    guardian=guardian,
                    action="import",
                    resource=f"measurements/{label}",
                    now=now,
                    detail={"imported": imported, "duplicates": duplicates, "refused": refused},
                )
            if rows:
                uow.after_commit(
                    lambda: self._changes.changed(citizen_id), key=("book", citizen_id)
                )
        return schemas.ImportSummary(
            imported=imported, duplicates=duplicates, refused=refused, results=done
        )

    async def discard_import(
        self, session: AsyncSession, citizen_id: uuid.UUID, import_id: uuid.UUID
    ) -> int:
        """Delete every reading a file import stored (out of the book and its bookkeeping), in
        the caller's transaction: a failed import leaves nothing. The caller registers the
        book's change after its commit (:meth:`changed`)."""
        ids = select(HomeMeasurement.id).where(
            HomeMeasurement.citizen_id == citizen_id, HomeMeasurement.import_id == import_id
        )
        removed = await self._book.discard(session, citizen_id, ids)
        await session.execute(
            delete(HomeMeasurement).where(
                HomeMeasurement.citizen_id == citizen_id, HomeMeasurement.import_id == import_id
            )
        )
        return removed

    async def changed(self, citizen_id: uuid.UUID) -> None:
        await self._changes.changed(citizen_id)
