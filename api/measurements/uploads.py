"""Apple Health file imports: an uploaded ``export.zip`` or ``export.xml`` is streamed to a
temporary file under DATA_DIR, then read by the streaming parser (api/measurements/apple_health)
in the background and imported by chunks through :meth:`MeasurementService.import_samples`.

The import's job row (``measurement_import``) says where it is — status ``queued``, ``running``,
``done`` or ``failed`` (with a problem detail), bytes read of the total, samples imported,
duplicates, refused (the first refusals with their line and reason) — and any replica answers
from it. Each chunk commits on its own (one transaction for a gigabyte file would hold locks for
minutes); every reading it stores carries the import's id, so a file found malformed mid-way
(the parser's ``ExportInvalid``), or any other failure, deletes that import's readings in the
transaction that marks the job failed: the upload is refused as a whole and leaves nothing. A
job whose process died (its row not updated for ``stale_after``) is reported failed, and its
readings deleted, when it is read or when the citizen starts another import.

Limits: one active import per citizen (409; a partial unique index makes it hold across
replicas), ``per_day`` imports started per citizen in 24 hours (429), the upload's size
(``max_bytes``, 413), and the book's own limit (each sample past it is refused, saying so).
"""

from __future__ import annotations

import asyncio
import datetime as dt
import logging
import os
import uuid
from collections.abc import AsyncIterable, Iterator
from pathlib import Path
from typing import Any

import msgspec
from sqlalchemy import func, select, update
from sqlalchemy.exc import IntegrityError

from api.core.background import BackgroundTasks
from api.core.clock import Clock
from api.core.errors import (
    PAYLOAD_TOO_LARGE,
    Conflict,
    DomainError,
    NotFound,
    TooManyRequests,
    UnsupportedMediaType,
    problem_type,
)
from api.core.uow import UnitOfWork, UnitOfWorkFactory
from api.measurements import apple_health, schemas
from api.measurements.models import MeasurementImport
from api.measurements.readings import Sample
from api.measurements.service import MeasurementService

logger = logging.getLogger("healthbook.measurements.imports")

MEDIA_TYPES = {
    "application/zip": "zip",
    "application/x-zip-compressed": "zip",
    "application/xml": "xml",
    "text/xml": "xml",
}
QUEUED, RUNNING, DONE, FAILED = "queued", "running", "done", "failed"
_ACTIVE = (QUEUED, RUNNING)
CHUNK = 500
_WRITE_EVERY = 1 << 20

IMPORT_FAILED = problem_type(
    "measurement-import-failed",
    "Measurement import failed",
    500,
    "The import stopped before its end (the process stopped, or an unexpected error); none of "
    "its readings were kept. Upload the file again.",
)
IMPORT_TOO_LARGE = PAYLOAD_TOO_LARGE


class UploadTooLarge(DomainError):
    problem = PAYLOAD_TOO_LARGE


class ImportLimits(msgspec.Struct, frozen=True, kw_only=True):
    max_bytes: int = 4 * 1024**3
    per_day: int = 10
    stale_after: dt.timedelta = dt.timedelta(minutes=10)


def _problem(error: DomainError) -> dict[str, Any]:
    return {
        "type": error.problem.uri,
        "title": error.problem.title,
        "status": error.problem.status,
        "detail": error.detail or error.problem.title,
        **error.extra,
    }


def _device(device: apple_health.Device | None) -> schemas.DeviceInfo | None:
    if device is None:
        return None

    def cut(text: str | None) -> str | None:
        return text[:200] if text else None

    found = schemas.DeviceInfo(
        manufacturer=cut(device.manufacturer), model=cut(device.model), name=cut(device.name)
    )
    return found if (found.manufacturer or found.model or found.name) else None


def to_sample(found: apple_health.Sample) -> Sample:
    """A parsed HealthKit sample as the measurements domain imports it (its dedup key kept)."""
    pressure = found.kind == "blood_pressure"
    return Sample(
        kind=found.kind,
        unit=found.unit,
        start=found.start,
        end=found.end,
        value=None if pressure else found.value,
        systolic=found.value if pressure else None,
        diastolic=found.diastolic if pressure else None,
        source=found.source.name[:200] or None,
        device=_device(found.device),
        meal=found.meal,
        dedup_key=found.dedup_key,
    )


async def _remove(path: Path) -> None:
    await asyncio.to_thread(path.unlink, True)


def _take(samples: Iterator[apple_health.Sample], count: int) -> list[apple_health.Sample]:
    chunk: list[apple_health.Sample] = []
    for found in samples:
        chunk.append(found)
        if len(chunk) >= count:
            break
    return chunk


def answer(row: MeasurementImport) -> schemas.MeasurementImportJob:
    return schemas.MeasurementImportJob(
        id=str(row.id),
        status=msgspec.convert(row.status, schemas.ImportStatus),
        media_type=row.media_type,
        size=row.size,
        bytes_read=row.bytes_read,
        bytes_total=row.bytes_total,
        samples=row.samples,
        imported=row.imported,
        duplicates=row.duplicates,
        refused=row.refused,
        refusals=[msgspec.convert(r, schemas.ImportRefusal) for r in row.refusals],
        skipped=dict(row.skipped),
        problem=row.problem,
        created_at=row.created_at,
        updated_at=row.updated_at,
        finished_at=row.finished_at,
    )


class MeasurementImports:
    """Apple Health exports uploaded by a citizen (or their guardian) and imported in the
    background of this process; their job rows answer from any replica."""

    def __init__(
        self,
        *,
        uow: UnitOfWorkFactory,
        clock: Clock,
        measurements: MeasurementService,
        background: BackgroundTasks,
        directory: Path,
        limits: ImportLimits,
        parser_limits: apple_health.Limits = apple_health.DEFAULT_LIMITS,
    ) -> None:
        self._uow = uow
        self._clock = clock
        self._measurements = measurements
        self._background = background
        self._directory = directory
        self.limits = limits
        self._parser_limits = parser_limits

    # --- starting -----------------------------------------------------------------------------

    @staticmethod
    def media_type(content_type: str | None) -> str:
        """The upload's media type, or 415."""
        media = (content_type or "").split(";", 1)[0].strip().lower()
        if media not in MEDIA_TYPES:
            raise UnsupportedMediaType(
                "send the export as the raw body: Content-Type application/zip (export.zip) or "
                "application/xml (export.xml)",
                extra={"accepted": sorted(MEDIA_TYPES)},
            )
        return media

    async def _expire_stale(self, uow: UnitOfWork, citizen_id: uuid.UUID) -> None:
        """Active imports not updated for ``stale_after`` (their process died): failed, their
        readings deleted."""
        limit = self._clock.now() - self.limits.stale_after
        stale = (
            await uow.session.scalars(
                select(MeasurementImport).where(
                    MeasurementImport.citizen_id == citizen_id,
                    MeasurementImport.active.is_(True),
                    MeasurementImport.updated_at < limit,
                )
            )
        ).all()
        for row in stale:
            await self._fail(
                uow,
                row,
                {
                    "type": IMPORT_FAILED.uri,
                    "title": IMPORT_FAILED.title,
                    "status": IMPORT_FAILED.status,
                    "detail": "the import stopped making progress (its process stopped); none "
                    "of its readings were kept",
                },
            )

    async def _fail(self, uow: UnitOfWork, row: MeasurementImport, problem: dict[str, Any]) -> None:
        now = self._clock.now()
        removed = await self._measurements.discard_import(uow.session, row.citizen_id, row.id)
        row.status = FAILED
        row.active = False
        row.problem = {**problem, "readings_removed": removed}
        row.imported = 0
        row.updated_at = now
        row.finished_at = now
        citizen_id = row.citizen_id
        if removed:
            uow.after_commit(
                lambda: self._measurements.changed(citizen_id), key=("book", citizen_id)
            )

    async def check_can_start(self, citizen_id: uuid.UUID) -> None:
        """409 while another import of this citizen runs, 429 past the day's cap: said before
        the body is received."""
        async with self._uow() as uow:
            await self._expire_stale(uow, citizen_id)
            await self._check(uow, citizen_id)

    async def _check(self, uow: UnitOfWork, citizen_id: uuid.UUID) -> None:
        running = await uow.session.scalar(
            select(MeasurementImport.id).where(
                MeasurementImport.citizen_id == citizen_id, MeasurementImport.active.is_(True)
            )
        )
        if running is not None:
            raise Conflict(
                "an import of this book is already running; wait for it to end",
                extra={"running": str(running)},
            )
        since = self._clock.now() - dt.timedelta(days=1)
        started = await uow.session.scalar(
            select(func.count())
            .select_from(MeasurementImport)
            .where(
                MeasurementImport.citizen_id == citizen_id,
                MeasurementImport.created_at >= since,
            )
        )
        if (started or 0) >= self.limits.per_day:
            raise TooManyRequests(
                f"at most {self.limits.per_day} imports a day; try again tomorrow",
                headers={"Retry-After": "3600"},
            )

    async def receive(
        self, body: AsyncIterable[bytes], *, declared: int | None, job_id: uuid.UUID
    ) -> tuple[Path, int]:
        """The body written to a temporary file under DATA_DIR (never held in memory); 413
        (the file removed) past ``max_bytes``."""
        cap = self.limits.max_bytes
        too_large = UploadTooLarge(
            f"the upload is larger than {cap:,} bytes (MEASUREMENTS_IMPORT_MAX_BYTES)",
            extra={"max_bytes": cap},
        )
        if declared is not None and declared > cap:
            raise too_large
        await asyncio.to_thread(self._directory.mkdir, parents=True, exist_ok=True)
        path = self._directory / f"{job_id}.upload"
        size = 0
        pending: list[bytes] = []
        pending_size = 0
        try:
            out = await asyncio.to_thread(path.open, "wb")
            try:
                async for piece in body:
                    size += len(piece)
                    if size > cap:
                        raise too_large
                    pending.append(piece)
                    pending_size += len(piece)
                    if pending_size >= _WRITE_EVERY:
                        await asyncio.to_thread(out.write, b"".join(pending))
                        pending, pending_size = [], 0
                if pending:
                    await asyncio.to_thread(out.write, b"".join(pending))
            finally:
                await asyncio.to_thread(out.close)
        except BaseException:
            await _remove(path)
            raise
        return path, size

    async def start(
        self,
        citizen_id: uuid.UUID,
        *,
        job_id: uuid.UUID,
        path: Path,
        media_type: str,
        size: int,
        actor: str,
        guardian: str | None,
    ) -> schemas.MeasurementImportJob:
        """Record the job and start it in the background (the file is its now)."""
        now = self._clock.now()
        row = MeasurementImport(
            id=job_id,
            citizen_id=citizen_id,
            status=QUEUED,
            active=True,
            media_type=media_type,
            size=size,
            bytes_read=0,
            bytes_total=None,
            samples=0,
            imported=0,
            duplicates=0,
            refused=0,
            refusals=[],
            skipped={},
            problem=None,
            recorded_by=actor,
            guardian=guardian,
            created_at=now,
            updated_at=now,
            finished_at=None,
        )
        try:
            async with self._uow() as uow:
                await self._expire_stale(uow, citizen_id)
                await self._check(uow, citizen_id)
                uow.session.add(row)
            found = answer(row)
        except IntegrityError:
            await _remove(path)
            raise Conflict(
                "an import of this book is already running; wait for it to end"
            ) from None
        except BaseException:
            await _remove(path)
            raise
        started = self._background.start(
            f"measurement-import-{job_id}",
            self.run(job_id, citizen_id, path, actor=actor, guardian=guardian),
        )
        if not started:
            await _remove(path)
            async with self._uow() as uow:
                stored = await uow.session.get(MeasurementImport, job_id)
                if stored is not None:
                    await self._fail(
                        uow,
                        stored,
                        {
                            "type": IMPORT_FAILED.uri,
                            "title": IMPORT_FAILED.title,
                            "status": 503,
                            "detail": "the service is too busy to import now; upload again later",
                        },
                    )
        return found

    # --- running ------------------------------------------------------------------------------

    async def run(
        self,
        job_id: uuid.UUID,
        citizen_id: uuid.UUID,
        path: Path,
        *,
        actor: str,
        guardian: str | None,
    ) -> None:
        """Read the file and import it by chunks, recording the progress; on any failure the
        job is failed and its readings deleted. The file is removed at the end."""
        try:
            await self._run(job_id, citizen_id, path, actor=actor, guardian=guardian)
        except apple_health.ExportRefused as error:
            await self._failed(job_id, _problem(error))
        except asyncio.CancelledError:
            await asyncio.shield(
                self._failed(
                    job_id,
                    {
                        "type": IMPORT_FAILED.uri,
                        "title": IMPORT_FAILED.title,
                        "status": IMPORT_FAILED.status,
                        "detail": "the service stopped during the import; none of its readings "
                        "were kept",
                    },
                )
            )
            raise
        except Exception:
            logger.exception("measurement import failed", extra={"job": str(job_id)})
            await self._failed(
                job_id,
                {
                    "type": IMPORT_FAILED.uri,
                    "title": IMPORT_FAILED.title,
                    "status": IMPORT_FAILED.status,
                    "detail": "the import failed unexpectedly; none of its readings were kept",
                },
            )
        finally:
            await _remove(path)

    async def _failed(self, job_id: uuid.UUID, problem: dict[str, Any]) -> None:
        async with self._uow() as uow:
            row = await uow.session.get(MeasurementImport, job_id)
            if row is not None and row.active:
                await self._fail(uow, row, problem)

    async def _progress(self, job_id: uuid.UUID, **values: Any) -> None:
        async with self._uow() as uow:
            await uow.session.execute(
                update(MeasurementImport)
                .where(MeasurementImport.id == job_id, MeasurementImport.active.is_(True))
                .values(updated_at=self._clock.now(), **values)
            )

    async def _run(
        self,
        job_id: uuid.UUID,
        citizen_id: uuid.UUID,
        path: Path,
        *,
        actor: str,
        guardian: str | None,
    ) -> None:
        file = await asyncio.to_thread(path.open, "rb")
        try:
            reader = apple_health.read_export(file, limits=self._parser_limits)
            samples = iter(reader)
            await self._progress(job_id, status=RUNNING)
            kept = self._parser_limits.max_refusals_kept
            import_refusals: list[dict[str, Any]] = []
            counted = {"samples": 0, "imported": 0, "duplicates": 0, "import_refused": 0}
            while True:
                chunk = await asyncio.to_thread(_take, samples, CHUNK)
                if chunk:
                    summary = await self._measurements.import_samples(
                        citizen_id,
                        [to_sample(found) for found in chunk],
                        actor=actor,
                        guardian=guardian,
                        label=f"imports/{job_id}",
                        import_id=job_id,
                    )
                    counted["samples"] += len(chunk)
                    counted["imported"] += summary.imported
                    counted["duplicates"] += summary.duplicates
                    counted["import_refused"] += summary.refused
                    for result in summary.results:
                        if result.outcome == "refused" and len(import_refusals) < kept:
                            found = chunk[result.index]
                            import_refusals.append(
                                {
                                    "line": found.line,
                                    "record_type": found.record_type,
                                    "reason": result.reason or "refused",
                                }
                            )
                parsed = reader.summary
                refusals = [msgspec.to_builtins(r) for r in parsed.refusals]
                await self._progress(
                    job_id,
                    bytes_read=reader.bytes_read,
                    bytes_total=reader.total_bytes,
                    samples=counted["samples"],
                    imported=counted["imported"],
                    duplicates=counted["duplicates"],
                    refused=parsed.refused + counted["import_refused"],
                    refusals=(refusals + import_refusals)[:kept],
                    skipped=dict(parsed.skipped),
                )
                if len(chunk) < CHUNK:
                    break
        finally:
            await asyncio.to_thread(file.close)
        now = self._clock.now()
        await self._progress(job_id, status=DONE, active=False, finished_at=now)

    # --- reading ------------------------------------------------------------------------------

    async def get(self, citizen_id: uuid.UUID, job_id: uuid.UUID) -> schemas.MeasurementImportJob:
        async with self._uow() as uow:
            await self._expire_stale(uow, citizen_id)
            row = await uow.session.scalar(
                select(MeasurementImport).where(
                    MeasurementImport.id == job_id, MeasurementImport.citizen_id == citizen_id
                )
            )
            if row is None:
                raise NotFound("no such import")
            return answer(row)

    async def list(self, citizen_id: uuid.UUID, *, limit: int = 50) -> schemas.MeasurementImports:
        async with self._uow() as uow:
            await self._expire_stale(uow, citizen_id)
            rows = (
                await uow.session.scalars(
                    select(MeasurementImport)
                    .where(MeasurementImport.citizen_id == citizen_id)
                    .order_by(MeasurementImport.created_at.desc(), MeasurementImport.id.desc())
                    .limit(limit)
                )
            ).all()
            return schemas.MeasurementImports(items=[answer(row) for row in rows])


def directory_of(data_dir: Path) -> Path:
    """Where uploads wait for their import (removed once read)."""
    return Path(os.fspath(data_dir)) / "measurement-imports"
