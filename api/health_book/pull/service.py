"""Pull use cases: sync one patient, a facility's known patients, a citizen at first login.

One patient's sync (:meth:`PullService._pull`):

1. With a link from an earlier sync, ask ``Patient/{id}/$everything?_since=<last sync>&_count=1``:
   when nothing changed since, record the check and stop (nothing fetched, nothing stored).
2. Otherwise fetch ``$everything`` whole, following ``Bundle.link[next]`` (same origin, at most
   ``PULL_MAX_PAGES``), or ``$summary`` when the server does not do ``$everything`` (400, 404,
   405, 501).
3. Fingerprint the resources (:meth:`Collected.fingerprint`): the same as the last sync stored
   means nothing to store. Otherwise publish them through :func:`ingest.publish` as the next
   version of the facility's document ``urn:healthbook:pull|Patient/{id}``.
4. Record the link: the server's Patient id (never the national ID number), the server's time of
   this answer (the next ``_since``), the fingerprint.

Why a ``_since`` answer is only a probe: published as a version, a delta would supersede what it
leaves out; published as a document of its own, it would keep what the server deleted, and it
may reference resources it does not carry (which the ingestion refuses). A change costs one
fetch of the whole record, and the book then matches the server. Network I/O happens outside
database sessions; each write is a short transaction of its own.
"""

from __future__ import annotations

import asyncio
import contextlib
import datetime as dt
import logging
import uuid
from collections.abc import Sequence
from typing import Literal, Protocol

import msgspec

from api.core.clock import Clock
from api.core.observability import EventCounter
from api.core.progress import Progress
from api.core.settings import Settings
from api.core.uow import UnitOfWorkFactory
from api.health_book import ingest
from api.health_book.models import PullLink
from api.health_book.pull.errors import (
    PatientNotFound,
    PullError,
    PullNotConfigured,
    UnusableContent,
)
from api.health_book.pull.fetch import Fetcher, Target
from api.health_book.pull.http import Budget, FhirHttp
from api.health_book.pull.store import PullStore
from api.identity import national_id

logger = logging.getLogger("healthbook.pull")

Outcome = Literal["created", "new_version", "unchanged", "up_to_date", "no_data", "failed"]


class SyncResult(msgspec.Struct, kw_only=True):
    """What one patient's sync did.

    ``outcome``: ``created`` / ``new_version`` (a document version was stored), ``unchanged``
    (fetched, the same as what we hold: nothing stored), ``up_to_date`` (``_since`` showed no
    change: nothing fetched), ``no_data`` (the server holds only the Patient: nothing stored),
    ``failed`` (``error`` says why)."""

    facility_id: str
    remote_patient_id: str | None
    outcome: Outcome
    operation: Literal["everything", "summary", "none"] = "none"
    citizen_id: str | None = None
    document_id: str | None = None
    version: int | None = None
    entry_counts: dict[str, int] = msgspec.field(default_factory=dict)
    pages: int = 0
    downloaded_bytes: int = 0
    error: str | None = None


class OverviewRebuilder(Protocol):
    """What rebuilds a citizen's book overview once a pull's publish is committed
    (``BookChanges``)."""

    async def rebuilt(self, citizen_id: uuid.UUID) -> object: ...


def pull_ingest_config(settings: Settings, identifier_key: str) -> ingest.IngestConfig:
    """The ingestion's settings, with room for a pull as large as ``PULL_MAX_BYTES``."""
    return ingest.IngestConfig(
        identifier_key=identifier_key,
        national_id_systems=tuple(settings.fhir.national_id_systems),
        insurance_card_systems=tuple(settings.fhir.insurance_card_systems),
        max_bytes=max(settings.fhir.max_body_bytes, settings.pull.max_bytes),
        max_depth=settings.fhir.max_depth,
    )


class PullService:
    """Pulls from facilities' FHIR APIs; one per process (it caches their access tokens)."""

    def __init__(
        self,
        *,
        uow: UnitOfWorkFactory,
        http: FhirHttp,
        settings: Settings,
        ingest_config: ingest.IngestConfig,
        clock: Clock,
        book: OverviewRebuilder,
        outcomes: EventCounter | None = None,
    ) -> None:
        # pulls by facility and outcome: healthbook_pulls_total
        self._outcomes = outcomes or EventCounter("healthbook_pulls", "", ("facility", "outcome"))
        self._store = PullStore(uow, ingest_config, on_change=book.rebuilt)
        self._fetcher = Fetcher(http, settings)
        self._settings = settings
        self._clock = clock

    async def sync_patient_identifier(
        self, facility_id: str, system: str, value: str
    ) -> SyncResult:
        """Find ``Patient?identifier=system|value`` at the facility and sync that patient.
        Raises :class:`PullError` (nothing stored) when it cannot."""
        target = await self._store.target(facility_id)
        return await self._sync_by_identifiers(target, [(system, value)])

    async def sync_national_id(self, number: str) -> list[SyncResult]:
        """The first-login trigger: look for the citizen under every national-ID system at each
        facility with a FHIR API, and sync where found. ``number`` stays in memory (never logged
        or stored); a malformed one raises ``national_id.InvalidNationalId``. Failures are
        returned, not raised; facilities that do not know the citizen are left out.

        A FHIR server matches identifier values exactly, and hospitals hold the number as it
        was issued (``999-37-3544``): the search asks for it as the identity provider gave it
        and, when that differs, in its normalised form too (one search, the values OR-ed)."""
        normalised = national_id.normalise(number)
        values = list(dict.fromkeys((number, normalised)))
        identifiers = [
            (system, value)
            for system in self._settings.fhir.national_id_systems
            for value in values
        ]
        results: list[SyncResult] = []
        for target in await self._store.pulling_targets():
            try:
                results.append(await self._sync_by_identifiers(target, identifiers))
            except PatientNotFound:
                continue
            except PullError as exc:
                results.append(_failure(target.facility_id, None, exc))
        return results

    async def sync_known_patients(
        self, facility_id: str, progress: Progress | None = None
    ) -> list[SyncResult]:
        """Re-sync every patient linked at the facility (least recently checked first), each with
        ``_since`` its last sync. Raises PullNotConfigured for a facility that does not pull;
        failures of single patients are returned, not raised. ``progress`` hears the number of
        patients first, then one step per patient done."""
        target = await self._store.target(facility_id)
        results: list[SyncResult] = []
        linked = await self._store.linked_patients(facility_id)
        if progress is not None:
            progress.start(len(linked))
        for remote_id in linked:
            try:
                results.append(await self._sync_remote(target, remote_id))
            except PullError as exc:
                results.append(_failure(facility_id, remote_id, exc))
            if progress is not None:
                progress.advance(1)
        return results

    async def sync_all_known(self) -> list[SyncResult]:
        """:meth:`sync_known_patients` for every facility with links (the periodic job)."""
        results: list[SyncResult] = []
        for facility_id in await self._store.linked_facilities():
            try:
                results.extend(await self.sync_known_patients(facility_id))
            except PullNotConfigured as exc:
                logger.warning(
                    "facility no longer pulls", extra={"facility_id": facility_id, "why": str(exc)}
                )
        return results

    async def run_periodic(self, stop: asyncio.Event) -> None:
        """Run :meth:`sync_all_known` every ``PULL_INTERVAL_SECONDS`` until ``stop`` is set."""
        while not stop.is_set():
            try:
                results = await self.sync_all_known()
            except Exception:
                logger.exception("periodic pull failed")
            else:
                failed = sum(1 for result in results if result.outcome == "failed")
                logger.info(
                    "periodic pull done", extra={"patients": len(results), "failed": failed}
                )
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(stop.wait(), timeout=self._settings.pull.interval_seconds)

    async def _sync_by_identifiers(
        self, target: Target, identifiers: Sequence[tuple[str, str]]
    ) -> SyncResult:
        budget = Budget(self._settings.pull.max_bytes)
        try:
            remote_id = await self._fetcher.find_patient(target, identifiers, budget)
        except PatientNotFound:
            self._outcomes.inc(target.facility_id, "not_found")
            raise
        except PullError:
            self._outcomes.inc(target.facility_id, "failed")
            raise
        return await self._sync_remote(target, remote_id, budget)

    async def _sync_remote(
        self, target: Target, remote_id: str, budget: Budget | None = None
    ) -> SyncResult:
        link = await self._store.link(target.facility_id, remote_id)
        try:
            result = await self._pull(
                target, remote_id, link, budget or Budget(self._settings.pull.max_bytes)
            )
        except PullError as exc:
            self._outcomes.inc(target.facility_id, "failed")
            logger.warning(
                "pull failed",
                extra={"facility_id": target.facility_id, "patient": remote_id, "why": str(exc)},
            )
            if link is not None:
                await self._store.record_failure(
                    target.facility_id, remote_id, str(exc), self._clock.now()
                )
            raise
        self._outcomes.inc(target.facility_id, result.outcome)
        logger.info(
            "pulled",
            extra={
                "facility_id": target.facility_id,
                "patient": remote_id,
                "outcome": result.outcome,
                "operation": result.operation,
                "pages": result.pages,
            },
        )
        return result

    async def _pull(
        self, target: Target, remote_id: str, link: PullLink | None, budget: Budget
    ) -> SyncResult:
        started = self._clock.now()
        endpoint = target.endpoint
        patient_key = f"Patient/{remote_id}"
        result = SyncResult(
            facility_id=target.facility_id, remote_patient_id=remote_id, outcome="failed"
        )
        everything = True
        if link is not None and link.last_synced_at is not None:
            probe = await self._fetcher.probe(
                endpoint, remote_id, link.last_synced_at, budget, started
            )
            if probe.changed is False:
                await self._save(
                    target, remote_id, link.citizen_id, probe.as_of, link.content_sha256
                )
                result.operation, result.pages = "everything", 1
                return _finish(result, "up_to_date", link.citizen_id, budget)
            everything = probe.everything_supported
        fetched = await self._fetcher.fetch(
            endpoint, remote_id, budget, started, everything=everything
        )
        collected = fetched.collected
        result.operation, result.pages = fetched.operation, collected.pages
        if not collected.has(patient_key):
            raise UnusableContent(f"the {fetched.operation} answer does not hold {patient_key}")
        fingerprint = collected.fingerprint()
        if link is not None and link.content_sha256 == fingerprint:
            await self._save(target, remote_id, link.citizen_id, fetched.as_of, fingerprint)
            return _finish(result, "unchanged", link.citizen_id, budget)
        body = collected.bundle(
            remote_id, bundle_type="document" if fetched.operation == "summary" else "collection"
        )
        outcome: Outcome = "no_data"
        if not collected.others_than(patient_key):
            citizen_id = await self._store.citizen_of(body, self._clock.now())
        else:
            published, citizen_id = await self._store.publish(target, body, self._clock.now())
            assert published.outcome != "withdrawn"  # a publish never withdraws
            outcome = published.outcome
            result.document_id, result.version = published.document_id, published.version
            result.entry_counts = published.entry_counts
        await self._save(target, remote_id, citizen_id, fetched.as_of, fingerprint)
        return _finish(result, outcome, citizen_id, budget)

    async def _save(
        self,
        target: Target,
        remote_id: str,
        citizen_id: uuid.UUID,
        as_of: dt.datetime,
        fingerprint: str | None,
    ) -> None:
        await self._store.save_link(
            target.facility_id,
            remote_id,
            citizen_id=citizen_id,
            as_of=as_of,
            fingerprint=fingerprint,
            now=self._clock.now(),
        )


def _finish(
    result: SyncResult, outcome: Outcome, citizen_id: uuid.UUID, budget: Budget
) -> SyncResult:
    result.outcome = outcome
    result.citizen_id = str(citizen_id)
    result.downloaded_bytes = budget.used
    return result


def _failure(facility_id: str, remote_id: str | None, exc: PullError) -> SyncResult:
    return SyncResult(
        facility_id=facility_id,
        remote_patient_id=remote_id,
        outcome="failed",
        error=f"{exc.problem.slug}: {exc.detail or exc.problem.title}",
    )
