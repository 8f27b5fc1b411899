"""Citizen routes of the health book (owner or guardian): overview, lists, visits, access log.

Every read by someone other than the owner (a guardian) is written to the access log before the
data is returned (:class:`~api.health_book.service.BookService`): no unlogged access.
"""

from __future__ import annotations

import uuid
from typing import Annotated, Any

from litestar import Controller, Request, Response, get
from litestar.di import NamedDependency, Provide
from litestar.openapi import ResponseSpec
from litestar.params import FromPath, FromQuery, Parameter
from litestar.response.base import ASGIResponse
from litestar.status_codes import HTTP_304_NOT_MODIFIED
from litestar.types import ASGIApp

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
from api.health_book.service import BookService, EntryFilters

_ERRORS = problem_responses(
    INVALID_TOKEN, INSUFFICIENT_SCOPE, NotFound.problem, InvalidInput.problem
)
Limit = Annotated[int, Parameter(ge=1, le=200)]
Cursor = Annotated[str | None, Parameter(max_length=500)]
Status = Annotated[str | None, Parameter(max_length=40)]
CodeFilter = Annotated[str | None, Parameter(max_length=400, description="`code` or `system|code`")]
FacilityFilter = Annotated[str | None, Parameter(max_length=32)]


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


_JSON = "application/json"
_FILTERS = {"entry_filters": Provide(provide_entry_filters, sync_to_thread=False)}


def guardian_of(request: Request[Any, Any, Any]) -> str | None:
    """Who reads a dependent's book (the principal's subject), or ``None`` for the owner."""
    return provide_principal(request).subject if acting_on_behalf(request) else None


class HealthBookController(Controller):
    path = "/citizens/{citizen_id:str}"
    tags = ("health book",)
    guards = (requires_citizen_access,)
    security = ({"BearerToken": []},)

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
    async def overview(
        self, request: Request[Any, Any, Any], health_book: NamedDependency[BookService]
    ) -> ASGIApp:
        # The hottest book route: the guard's result is read from the request itself (no
        # per-call resolution of the citizen and principal dependencies), and the cached bytes
        # go out as a ready ASGI response (Litestar's path for ASGI return values).
        cached = await health_book.overview(
            provide_citizen_id(request), guardian=guardian_of(request)
        )
        headers = {"ETag": cached.etag, "Cache-Control": "private, no-cache"}
        if request.headers.get("if-none-match") == cached.etag:
            return ASGIResponse(
                body=b"", status_code=HTTP_304_NOT_MODIFIED, headers=headers, media_type=_JSON
            )
        return ASGIResponse(body=cached.body, headers=headers, media_type=_JSON)

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
        health_book: NamedDependency[BookService],
        entry_filters: NamedDependency[EntryFilters],
    ) -> schemas.EntryPage:
        return await health_book.entries(
            target_citizen_id, category, entry_filters, guardian=guardian_of(request)
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
        health_book: NamedDependency[BookService],
        entry_filters: NamedDependency[EntryFilters],
    ) -> schemas.EntryPage:
        return await health_book.entries(
            target_citizen_id, "visits", entry_filters, guardian=guardian_of(request)
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
        health_book: NamedDependency[BookService],
        entry_filters: NamedDependency[EntryFilters],
    ) -> schemas.EntryPage:
        return await health_book.entries(
            target_citizen_id, "observations", entry_filters, guardian=guardian_of(request)
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
        health_book: NamedDependency[BookService],
        format: FromQuery[Annotated[str, Parameter(pattern="^(json|fhir)$")]] = "json",
    ) -> Response[Any]:
        answer = await health_book.visit(
            target_citizen_id, visit_id, fhir=format == "fhir", guardian=guardian_of(request)
        )
        if answer.fhir is not None:
            return Response(answer.fhir, media_type="application/fhir+json")
        return Response(answer.detail)

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
        health_book: NamedDependency[BookService],
        limit: FromQuery[Limit] = 50,
        cursor: FromQuery[Cursor] = None,
    ) -> schemas.AccessLogPage:
        return await health_book.access_log(
            target_citizen_id, limit=limit, cursor=cursor, guardian=guardian_of(request)
        )
