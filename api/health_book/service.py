"""A citizen's health book as its owner or a guardian reads it.

Every read by someone other than the owner (a guardian) is written to the access log in a unit of
work of its own that has committed before the answer is returned (:class:`ReadLog`): no unlogged
access. Reads of the database run in a unit of work each; the overview comes from its
materialised copy (:class:`~api.health_book.book.BookReader`).
"""

from __future__ import annotations

import datetime as dt
import uuid
from collections.abc import Collection, Sequence
from typing import Any, Protocol

import msgspec
from sqlalchemy.ext.asyncio import AsyncSession

from api.core.clock import Clock
from api.core.uow import UnitOfWorkFactory
from api.health_book import access_log, charts, export, schemas
from api.health_book.book import BookReader, CachedOverview, fhir_collection


class EntryFilters(msgspec.Struct, frozen=True, kw_only=True):
    """What an entry list is narrowed to, and which page of it."""

    since: dt.datetime | None = None
    until: dt.datetime | None = None
    status: str | None = None
    code: str | None = None
    facility: str | None = None
    limit: int = 50
    cursor: str | None = None


class GuardianReads(Protocol):
    """Where a guardian's read is logged, committed when the call returns (:class:`ReadLog`)."""

    async def guardian_read(self, citizen_id: uuid.UUID, guardian: str, resource: str) -> None: ...


class ConsentSource(Protocol):
    """The citizen's consents (FHIR ``Consent`` resources, one per share), for the export."""

    async def consent_resources(
        self, citizen_id: uuid.UUID, *, patient_reference: str
    ) -> Sequence[tuple[str, bytes]]: ...


class ReadLog:
    """Writes a guardian's read of a dependent's records to the access log, in a unit of work of
    its own that has committed when :meth:`guardian_read` returns."""

    def __init__(self, *, uow: UnitOfWorkFactory, clock: Clock) -> None:
        self._uow = uow
        self._clock = clock

    async def guardian_read(self, citizen_id: uuid.UUID, guardian: str, resource: str) -> None:
        async with self._uow() as uow:
            access_log.record(
                uow.session,
                citizen_id=citizen_id,
                actor_kind="guardian",
                actor_id=guardian,
                action="read",
                now=self._clock.now(),
                resource=resource,
                purpose="guardian access",
            )

    @staticmethod
    async def recipient_read_in(
        session: AsyncSession,
        citizen_id: uuid.UUID,
        recipient: str,
        resource: str,
        detail: dict[str, Any],
        now: dt.datetime,
    ) -> uuid.UUID:
        """A shared link opened by its recipient (the name they gave), written in the caller's
        transaction now (one statement on PostgreSQL: :func:`access_log.append`): committed with
        what it hands out, or not at all. The row's id."""
        return await access_log.append(
            session,
            citizen_id=citizen_id,
            actor_kind="recipient",
            actor_id=recipient,
            action="read",
            now=now,
            resource=resource,
            purpose="SMART Health Link",
            detail=detail,
        )


class VisitAnswer(msgspec.Struct, frozen=True):
    """A visit as the caller asked for it: its detail, or the FHIR ``collection`` Bundle of
    its stored resources (``fhir`` set)."""

    detail: schemas.VisitDetail
    fhir: bytes | None = None


class BookService:
    """The citizen routes of the book: overview, entry lists, visits, the access log, charts
    and the FHIR export. ``guardian`` (the principal's subject) is set when the caller reads a
    dependent's book: each such read is logged before the method returns."""

    def __init__(
        self,
        *,
        uow: UnitOfWorkFactory,
        book: BookReader,
        reads: GuardianReads,
        clock: Clock,
        service_url: str,
        consents: ConsentSource | None = None,
    ) -> None:
        self._uow = uow
        self._book = book
        self._reads = reads
        self._clock = clock
        self._service_url = service_url
        self._consents = consents

    async def _logged(self, citizen_id: uuid.UUID, guardian: str | None, resource: str) -> None:
        if guardian is not None:
            await self._reads.guardian_read(citizen_id, guardian, resource)

    async def overview(self, citizen_id: uuid.UUID, *, guardian: str | None) -> CachedOverview:
        """The book at a glance, encoded once, with its ETag (the hottest route of the book)."""
        cached = await self._book.overview(citizen_id, self._clock.now())
        if guardian is not None:
            await self._reads.guardian_read(citizen_id, guardian, "health-book")
        return cached

    async def entries(
        self,
        citizen_id: uuid.UUID,
        category: str,
        filters: EntryFilters,
        *,
        guardian: str | None,
    ) -> schemas.EntryPage:
        async with self._uow() as uow:
            page = await self._book.entries(
                uow.session, citizen_id, category, **msgspec.structs.asdict(filters)
            )
        await self._logged(citizen_id, guardian, f"health-book/{category}")
        return page

    async def visit(
        self, citizen_id: uuid.UUID, visit_id: uuid.UUID, *, fhir: bool, guardian: str | None
    ) -> VisitAnswer:
        async with self._uow() as uow:
            visit, related, detail = await self._book.visit(uow.session, citizen_id, visit_id)
        await self._logged(citizen_id, guardian, f"visit/{visit_id}")
        if fhir:
            body = fhir_collection([visit.resource, *(e.resource for e in related)])
            return VisitAnswer(detail, body)
        return VisitAnswer(detail)

    async def access_log(
        self, citizen_id: uuid.UUID, *, limit: int, cursor: str | None, guardian: str | None
    ) -> schemas.AccessLogPage:
        async with self._uow() as uow:
            page = await self._book.access_log(uow.session, citizen_id, limit=limit, cursor=cursor)
        await self._logged(citizen_id, guardian, "access-log")
        return page

    async def series(
        self, citizen_id: uuid.UUID, code: str, *, resource: str, guardian: str | None
    ) -> schemas.Series:
        """One observation code over time; ``resource`` names the read in the access log."""
        async with self._uow() as uow:
            series = await charts.observation_series(uow.session, citizen_id, code)
        await self._logged(citizen_id, guardian, resource)
        return series

    async def export(
        self, citizen_id: uuid.UUID, *, kind: export.ExportKind, guardian: str | None
    ) -> bytes:
        """The book as FHIR R4 (a collection Bundle or an IPS document), dated by the clock and
        naming this service as its author. The collection also carries the citizen's Consents
        (their shares)."""
        also: Sequence[tuple[str, bytes]] = ()
        if kind == "collection" and self._consents is not None:
            also = await self._consents.consent_resources(
                citizen_id, patient_reference=export.patient_url(citizen_id)
            )
        async with self._uow() as uow:
            body = await export.export_book(
                uow.session,
                citizen_id,
                kind=kind,
                now=self._clock.now(),
                service_url=self._service_url,
                also=also,
            )
        await self._logged(citizen_id, guardian, f"health-book/export/{kind}")
        return body

    async def export_shared(
        self,
        citizen_id: uuid.UUID,
        *,
        categories: Collection[str] | None,
        visit: uuid.UUID | None,
        include_restricted: bool,
        guardian: str | None,
    ) -> bytes:
        """What a share holds, as an IPS-shaped FHIR R4 ``document``: the whole book, some of
        its categories (:data:`~api.health_book.ingest.CATEGORIES`), or one visit (by the id
        the book's API gives it) with what was recorded for it. Restricted data (documents
        labelled restricted, resources a hospital labelled ``R`` or ``V``) only with
        ``include_restricted``. Unknown categories match nothing; an unknown visit holds only
        the Patient (a long-term share whose visit left the book)."""
        scope = export.ExportScope(
            categories=None if categories is None else frozenset(categories),
            visit=visit,
            include_restricted=include_restricted,
        )
        async with self._uow() as uow:
            body = await export.export_book(
                uow.session,
                citizen_id,
                kind="ips",
                now=self._clock.now(),
                service_url=self._service_url,
                scope=scope,
            )
        resource = "health-book/export/ips"
        if visit is not None:
            resource += f"?visit={visit}"
        elif categories is not None:
            resource += "?categories=" + ",".join(sorted(categories))
        await self._logged(citizen_id, guardian, resource)
        return body

    async def has_visit(self, citizen_id: uuid.UUID, visit_id: uuid.UUID) -> bool:
        """Whether the book shows ``visit_id`` as one of the citizen's visits now."""
        async with self._uow() as uow:
            return await export.has_visit(uow.session, citizen_id, visit_id)
