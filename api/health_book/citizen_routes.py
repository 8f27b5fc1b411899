"""Citizen routes of the health book (owner or guardian): overview, lists, visits, access log.

Every read by someone other than the owner (a guardian) is written to the access log in a
transaction of its own that commits before the data is returned (:class:`ReadLog`): no unlogged
access.
"""

from __future__ import annotations

import datetime as dt
import uuid
from typing import Annotated, Any

import msgspec
from litestar import Controller, Request, Response, get
from litestar.di import NamedDependency, Provide
from litestar.openapi import ResponseSpec
from litestar.params import FromPath, FromQuery, Parameter
from litestar.status_codes import HTTP_304_NOT_MODIFIED
from sqlalchemy.ext.asyncio import AsyncSession

from api.core.errors import InvalidInput, NotFound
from api.core.guards import (
    INSUFFICIENT_SCOPE,
    INVALID_TOKEN,
    acting_on_behalf,
    provide_citizen_id,
    provide_principal,
    requires_citizen_access,
)
from api.core.openapi import documented, fhir_resource, problem_responses
from api.core.params import Instant, instant
from api.health_book import schemas
from api.health_book.book import BookReader, fhir_collection
from api.health_book.reads import ReadLog

_ERRORS = problem_responses(
    INVALID_TOKEN, INSUFFICIENT_SCOPE, NotFound.problem, InvalidInput.problem
)
Limit = Annotated[int, Parameter(ge=1, le=200)]
Cursor = Annotated[str | None, Parameter(max_length=500)]
Status = Annotated[str | None, Parameter(max_length=40)]
CodeFilter = Annotated[str | None, Parameter(max_length=400, description="`code` or `system|code`")]
FacilityFilter = Annotated[str | None, Parameter(max_length=32)]


class EntryFilters(msgspec.Struct, frozen=True, kw_only=True):
    since: dt.datetime | None
    until: dt.datetime | None
    status: str | None
    code: str | None
    facility: str | None
    limit: int
    cursor: str | None


def provide_entry_filters(
    since: Instant = None,
    until: Instant = None,
    status: FromQuery[Status] = None,
    code: FromQuery[CodeFilter] = None,
    facility: FromQuery[FacilityFilter] = None,
    limit: FromQuery[Limit] = 50,
    cursor: FromQuery[Cursor] = None,
) -> EntryFilters:
    """The query parameters every entry list takes."""
    return EntryFilters(
        since=instant(since, "since"),
        until=instant(until, "until"),
        status=status,
        code=code,
        facility=facility,
        limit=limit,
        cursor=cursor,
    )


_FILTERS = {"entry_filters": Provide(provide_entry_filters, sync_to_thread=False)}


async def audit_read(request: Request[Any, Any, Any], citizen_id: uuid.UUID, resource: str) -> None:
    """Log a guardian's read of a dependent's records, committed before the answer leaves."""
    if not acting_on_behalf(request):
        return
    reads: ReadLog = request.app.state.read_log
    await reads.guardian_read(citizen_id, provide_principal(request).subject, resource)


class HealthBookController(Controller):
    path = "/citizens/{citizen_id:str}"
    tags = ["health book"]  # noqa: RUF012
    guards = [requires_citizen_access]  # noqa: RUF012
    security = [{"BearerToken": []}]  # noqa: RUF012

    @get(
        "/health-book",
        operation_id="GetHealthBookOverview",
        summary="The book at a glance: profile, allergies, problems, medications, vitals, visits",
        description="Send `If-None-Match` with the last `ETag` to get 304 when nothing changed.",
        responses={
            **_ERRORS,
            200: ResponseSpec(
                data_container=schemas.Overview,
                description="The overview; `ETag` revalidates it",
                generate_examples=False,
            ),
            304: ResponseSpec(data_container=None, description="Not modified since that ETag"),
        },
    )
    async def overview(self, request: Request[Any, Any, Any]) -> Response[bytes]:
        # The hottest book route reads the guard's result and app.state from the request, as
        # GET /citizens/{id} does (no per-call dependency resolution).
        state = request.app.state
        citizen_id = provide_citizen_id(request)
        reader: BookReader = state.book
        cached = await reader.overview(citizen_id, state.clock.now())
        await audit_read(request, citizen_id, "health-book")
        headers = {"ETag": cached.etag, "Cache-Control": "private, no-cache"}
        if request.headers.get("if-none-match") == cached.etag:
            return Response(b"", status_code=HTTP_304_NOT_MODIFIED, headers=headers)
        return Response(cached.body, media_type="application/json", headers=headers)

    @staticmethod
    async def _entries(
        request: Request[Any, Any, Any],
        category: str,
        citizen_id: uuid.UUID,
        session: AsyncSession,
        book: BookReader,
        filters: EntryFilters,
    ) -> schemas.EntryPage:
        page = await book.entries(session, citizen_id, category, **msgspec.structs.asdict(filters))
        await audit_read(request, citizen_id, f"health-book/{category}")
        return page

    @get(
        "/health-book/{category:str}",
        operation_id="ListHealthBookEntries",
        summary="One category of the book, newest first, with filters and cursor pagination",
        responses=_ERRORS,
        dependencies=_FILTERS,
    )
    async def entries(
        self,
        request: Request[Any, Any, Any],
        category: FromPath[schemas.Category],
        target_citizen_id: NamedDependency[uuid.UUID],
        db_session: NamedDependency[AsyncSession],
        book: NamedDependency[BookReader],
        entry_filters: NamedDependency[EntryFilters],
    ) -> schemas.EntryPage:
        return await self._entries(
            request, category, target_citizen_id, db_session, book, entry_filters
        )

    # "visits" and "observations" also start longer paths (a visit, a series); the router
    # matches static segments first, so their lists are routes of their own.
    @get(
        "/health-book/visits",
        operation_id="ListVisits",
        summary="Visits, newest first (the visits category of ListHealthBookEntries)",
        responses=_ERRORS,
        dependencies=_FILTERS,
    )
    async def visits(
        self,
        request: Request[Any, Any, Any],
        target_citizen_id: NamedDependency[uuid.UUID],
        db_session: NamedDependency[AsyncSession],
        book: NamedDependency[BookReader],
        entry_filters: NamedDependency[EntryFilters],
    ) -> schemas.EntryPage:
        return await self._entries(
            request, "visits", target_citizen_id, db_session, book, entry_filters
        )

    @get(
        "/health-book/observations",
        operation_id="ListObservations",
        summary="Observations, newest first (the observations category of ListHealthBookEntries)",
        responses=_ERRORS,
        dependencies=_FILTERS,
    )
    async def observations(
        self,
        request: Request[Any, Any, Any],
        target_citizen_id: NamedDependency[uuid.UUID],
        db_session: NamedDependency[AsyncSession],
        book: NamedDependency[BookReader],
        entry_filters: NamedDependency[EntryFilters],
    ) -> schemas.EntryPage:
        return await self._entries(
            request, "observations", target_citizen_id, db_session, book, entry_filters
        )

    @get(
        "/health-book/visits/{visit_id:uuid}",
        operation_id="GetVisit",
        summary="One visit: everything recorded for it, the facility, the document versions",
        description="`?format=fhir` returns the stored FHIR resources as a collection Bundle.",
        responses={
            **_ERRORS,
            200: ResponseSpec(
                data_container=schemas.VisitDetail,
                description="The visit (`application/fhir+json` with `format=fhir`)",
                generate_examples=False,
            ),
        },
        operation_class=documented(
            also={200: {"application/fhir+json": fhir_resource("Bundle", "A collection Bundle")}}
        ),
    )
    async def visit(
        self,
        request: Request[Any, Any, Any],
        visit_id: FromPath[uuid.UUID],
        target_citizen_id: NamedDependency[uuid.UUID],
        db_session: NamedDependency[AsyncSession],
        book: NamedDependency[BookReader],
        format: FromQuery[Annotated[str, Parameter(pattern="^(json|fhir)$")]] = "json",
    ) -> Response[Any]:
        visit, related, detail = await book.visit(db_session, target_citizen_id, visit_id)
        await audit_read(request, target_citizen_id, f"visit/{visit_id}")
        if format == "fhir":
            body = fhir_collection([visit.resource, *(e.resource for e in related)])
            return Response(body, media_type="application/fhir+json")
        return Response(detail)

    @get(
        "/access-log",
        operation_id="ListAccessLog",
        summary="Who read or published this citizen's records, when and why",
        responses=_ERRORS,
    )
    async def access_log(
        self,
        request: Request[Any, Any, Any],
        target_citizen_id: NamedDependency[uuid.UUID],
        db_session: NamedDependency[AsyncSession],
        book: NamedDependency[BookReader],
        limit: FromQuery[Limit] = 50,
        cursor: FromQuery[Cursor] = None,
    ) -> schemas.AccessLogPage:
        page = await book.access_log(db_session, target_citizen_id, limit=limit, cursor=cursor)
        await audit_read(request, target_citizen_id, "access-log")
        return page
