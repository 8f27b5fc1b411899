"""A citizen's health book as its owner or a guardian reads it.

Every read by someone other than the owner (a guardian) is written to the access log in a unit of
work of its own that has committed before the answer is returned (:class:`ReadLog`): no unlogged
access. Reads of the database run in a unit of work each; the overview comes from its
materialised copy (:class:`~api.health_book.book.BookReader`).
"""

from __future__ import annotations

import asyncio
import datetime as dt
import uuid
from collections.abc import Collection, Sequence
from typing import TYPE_CHECKING, Any, Protocol

import msgspec
from sqlalchemy.ext.asyncio import AsyncSession

from api.core.clock import Clock
from api.core.errors import InvalidInput, NotFound
from api.core.uow import UnitOfWorkFactory
from api.health_book import access_log, charts, export, schemas
from api.health_book.book import BookReader, CachedOverview, fhir_collection
from api.health_book.pdf import content as pdf_content
from api.health_book.pdf.labels import VIETNAM, Language

if TYPE_CHECKING:
    from api.health_book.pdf.render import Rendered


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

    # --- PDF ------------------------------------------------------------------------------

    async def _rendered(self, sheet: pdf_content.Sheet, language: Language) -> Rendered:
        """Drawn off the event loop, with a new document id and the clock's time."""
        return await asyncio.to_thread(
            _draw,
            sheet,
            document_id=str(uuid.uuid4()),
            generated_at=self._clock.now(),
            language=language,
        )

    async def visit_pdf(
        self,
        citizen_id: uuid.UUID,
        visit_id: uuid.UUID,
        *,
        language: Language = "vi",
        guardian: str | None,
    ) -> Rendered:
        """One episode as a PDF (:mod:`api.health_book.pdf`); ``NotFound`` for no such visit."""
        async with self._uow() as uow:
            sheet = await pdf_content.visit_sheet(uow.session, citizen_id, visit_id)
        await self._logged(citizen_id, guardian, f"visit/{visit_id}.pdf")
        return await self._rendered(sheet, language)

    async def book_pdf(
        self,
        citizen_id: uuid.UUID,
        *,
        date_from: dt.date | None = None,
        date_to: dt.date | None = None,
        categories: Sequence[str] | None = None,
        language: Language = "vi",
        guardian: str | None,
    ) -> Rendered:
        """The book (or the days ``date_from`` to ``date_to``, both included, in Vietnam's time,
        and some of its categories) as a PDF."""
        if date_from is not None and date_to is not None and date_from > date_to:
            raise InvalidInput("to is before from", field="to", source="query")
        chosen = list(dict.fromkeys(categories or CATEGORIES))
        async with self._uow() as uow:
            sheet = await pdf_content.book_sheet(
                uow.session,
                citizen_id,
                since=_day_start(date_from),
                until=_day_start(date_to + dt.timedelta(days=1)) if date_to else None,
                categories=chosen,
                date_from=date_from,
                date_to=date_to,
            )
        resource = "health-book.pdf"
        query = [
            *([f"from={date_from}"] if date_from else []),
            *([f"to={date_to}"] if date_to else []),
            *([f"category={','.join(chosen)}"] if categories else []),
        ]
        if query:
            resource += "?" + "&".join(query)
        await self._logged(citizen_id, guardian, resource[:300])
        return await self._rendered(sheet, language)

    async def pdf_shared(
        self,
        citizen_id: uuid.UUID,
        *,
        categories: Collection[str] | None,
        visit: uuid.UUID | None,
        include_restricted: bool,
    ) -> bytes:
        """What a share holds, as a PDF: one visit, some categories or the whole book; restricted
        data only with ``include_restricted``. An unknown visit is a PDF of the patient only.
        The share logs its recipients' reads itself."""
        async with self._uow() as uow:
            if visit is not None:
                try:
                    sheet = await pdf_content.visit_sheet(
                        uow.session, citizen_id, visit, include_restricted=include_restricted
                    )
                except NotFound:
                    sheet = await pdf_content.book_sheet(
                        uow.session, citizen_id, since=None, until=None, categories=()
                    )
            else:
                sheet = await pdf_content.book_sheet(
                    uow.session,
                    citizen_id,
                    since=None,
                    until=None,
                    categories=[c for c in CATEGORIES if categories is None or c in categories],
                    include_restricted=include_restricted,
                )
        return (await self._rendered(sheet, "vi")).body


CATEGORIES: tuple[str, ...] = schemas.Category.__args__  # type: ignore[attr-defined]  # a Literal alias has __args__


def _draw(
    sheet: pdf_content.Sheet, *, document_id: str, generated_at: dt.datetime, language: Language
) -> Rendered:
    """:func:`~api.health_book.pdf.render.render`, imported on first use: fpdf2 and fontTools
    stay out of the start of every process (the worker, the CLI) until a PDF is asked for."""
    from api.health_book.pdf.render import render

    return render(sheet, document_id=document_id, generated_at=generated_at, language=language)


def _day_start(day: dt.date | None) -> dt.datetime | None:
    """Midnight of ``day`` in Vietnam, in UTC."""
    if day is None:
        return None
    return dt.datetime.combine(day, dt.time(), VIETNAM).astimezone(dt.UTC)
