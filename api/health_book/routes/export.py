"""Citizen routes for charts and FHIR export of the health book (owner or guardian).

A guardian's read is written to the dependent's access log before the answer leaves
(:class:`~api.health_book.service.BookService`).
"""

from __future__ import annotations

import uuid
from typing import Annotated, Any, Literal

from litestar import Controller, Request, Response, get
from litestar.di import NamedDependency
from litestar.params import FromQuery, Parameter, QueryParameter

from api.core.errors import InvalidInput, NotFound
from api.core.guards import INSUFFICIENT_SCOPE, INVALID_TOKEN, requires_citizen_access
from api.core.openapi import documented, fhir_resource, problem_responses
from api.health_book import charts, schemas
from api.health_book.fhir_http import FHIR_JSON
from api.health_book.routes.citizen import guardian_of
from api.health_book.service import BookService

SVG = "image/svg+xml"
_ERRORS = problem_responses(
    INVALID_TOKEN, INSUFFICIENT_SCOPE, NotFound.problem, InvalidInput.problem
)
SeriesCode = Annotated[
    str,
    Parameter(
        min_length=1,
        max_length=400,
        description="`code` or `system|code`, e.g. `http://loinc.org|29463-7` (body weight)",
    ),
]
ExportType = Annotated[
    Literal["collection", "ips"],
    QueryParameter(
        name="type",
        description="`collection` (everything, default) or `ips` (an IPS `document` Bundle)",
    ),
]


class HealthBookExportController(Controller):
    path = "/citizens/{citizen_id:str}"
    tags = ("health book",)
    guards = (requires_citizen_access,)
    security = ({"BearerToken": []},)

    @get(
        "/health-book/observations/series",
        operation_id="GetObservationSeries",
        summary="One observation code over time, oldest first, ready to plot",
        description=(
            "Active observations of `code` (`code` or `system|code`). Blood pressure "
            "(LOINC 85354-9 or 55284-4) points carry both components keyed by their codes "
            "(8480-6 systolic, 8462-4 diastolic), named in `component_codes`. A code with no "
            "observations answers an empty `points`."
        ),
        responses=_ERRORS,
    )
    async def series(
        self,
        request: Request[Any, Any, Any],
        target_citizen_id: NamedDependency[uuid.UUID],
        health_book: NamedDependency[BookService],
        code: FromQuery[SeriesCode],
    ) -> schemas.Series:
        return await health_book.series(
            target_citizen_id,
            code,
            resource=_resource("series", code),
            guardian=guardian_of(request),
        )

    @get(
        "/health-book/observations/series.svg",
        operation_id="GetObservationSeriesChart",
        summary="The same series drawn as an SVG line chart",
        description="An `image/svg+xml` chart; a code with no observations draws `no data`.",
        media_type=SVG,
        responses=_ERRORS,
    )
    async def series_chart(
        self,
        request: Request[Any, Any, Any],
        target_citizen_id: NamedDependency[uuid.UUID],
        health_book: NamedDependency[BookService],
        code: FromQuery[SeriesCode],
    ) -> Response[bytes]:
        result = await health_book.series(
            target_citizen_id,
            code,
            resource=_resource("series.svg", code),
            guardian=guardian_of(request),
        )
        return Response(
            charts.render_svg(result),
            media_type=SVG,
            headers={"Cache-Control": "private, no-cache", "X-Content-Type-Options": "nosniff"},
        )

    @get(
        "/health-book/export",
        operation_id="ExportHealthBook",
        summary="The whole book as FHIR R4: a collection Bundle, or an IPS document",
        description=(
            "`application/fhir+json`. `collection`: every active entry's resource as the "
            "hospital sent it, the Patient, and what those reference (Medication, Organization, "
            "...), with references resolvable inside the Bundle. `ips`: the same resources as an "
            "International Patient Summary `document` Bundle led by its Composition."
        ),
        media_type=FHIR_JSON,
        responses=_ERRORS,
        operation_class=documented(
            also={200: {FHIR_JSON: fhir_resource("Bundle", "A collection or IPS document Bundle")}}
        ),
    )
    async def export(
        self,
        request: Request[Any, Any, Any],
        target_citizen_id: NamedDependency[uuid.UUID],
        health_book: NamedDependency[BookService],
        kind: ExportType = "collection",
    ) -> Response[bytes]:
        body = await health_book.export(target_citizen_id, kind=kind, guardian=guardian_of(request))
        return Response(body, media_type=FHIR_JSON, headers={"Cache-Control": "private, no-store"})


def _resource(route: str, code: str) -> str:
    return f"health-book/observations/{route}?code={code}"[:300]
