"""Citizen routes for the book as PDF (owner or guardian): one episode, or the whole book.

A guardian's read is written to the dependent's access log before the PDF leaves
(:class:`~api.health_book.service.BookService`).
"""

from __future__ import annotations

import datetime as dt
import uuid
from typing import TYPE_CHECKING, Annotated, Any

from litestar import Controller, Request, Response, get
from litestar.di import NamedDependency
from litestar.openapi import ResponseSpec
from litestar.params import FromPath, QueryParameter

from api.core.errors import InvalidInput, NotFound
from api.core.guards import INSUFFICIENT_SCOPE, INVALID_TOKEN, requires_citizen_access
from api.core.openapi import problem_responses
from api.health_book import schemas
from api.health_book.pdf.labels import Language
from api.health_book.routes.citizen import guardian_of
from api.health_book.service import BookService

if TYPE_CHECKING:
    from api.health_book.pdf.render import Rendered

PDF = "application/pdf"
_ERRORS = problem_responses(
    INVALID_TOKEN, INSUFFICIENT_SCOPE, NotFound.problem, InvalidInput.problem
)
_PDF_ANSWER = {
    **_ERRORS,
    200: ResponseSpec(
        data_container=bytes,
        media_type=PDF,
        description=(
            "An A4 PDF; `X-Document-Id` and `X-Content-SHA256` repeat its verification line"
        ),
        generate_examples=False,
    ),
}
Lang = Annotated[
    Language, QueryParameter(name="lang", description="`vi` (default) or `en`: the labels")
]
From = Annotated[
    dt.date | None,
    QueryParameter(name="from", description="First day (YYYY-MM-DD, Vietnam time), included"),
]
To = Annotated[
    dt.date | None,
    QueryParameter(name="to", description="Last day (YYYY-MM-DD, Vietnam time), included"),
]
Categories = Annotated[
    list[schemas.Category] | None,
    QueryParameter(
        name="category", description="Only these categories (repeat it); all when absent"
    ),
]


def _answer(rendered: Rendered, name: str) -> Response[bytes]:
    return Response(
        rendered.body,
        media_type=PDF,
        headers={
            "Content-Disposition": f'inline; filename="{name}"',
            "Cache-Control": "private, no-store",
            "X-Content-Type-Options": "nosniff",
            "X-Document-Id": rendered.document_id,
            "X-Content-SHA256": rendered.sha256,
        },
    )


class HealthBookPdfController(Controller):
    path = "/citizens/{citizen_id:str}"
    tags = ("health book",)
    guards = (requires_citizen_access,)
    security = ({"BearerToken": []},)

    @get(
        "/health-book/visits/{visit_id:uuid}/visit.pdf",
        operation_id="GetVisitPdf",
        summary="One episode as a printable PDF (QĐ 31/QĐ-BYT's episode download)",
        description=(
            "Facility, dates, diagnoses with their text, prescriptions with their dosage, "
            "results with units and reference ranges, summary and discharge notes, follow-up "
            "appointments. A4, Vietnamese (or `lang=en`), page numbers, the time it was made "
            "and a verification line (document id, SHA-256 of the content); the national ID "
            "masked."
        ),
        media_type=PDF,
        responses=_PDF_ANSWER,
    )
    async def visit_pdf(
        self,
        request: Request[Any, Any, Any],
        visit_id: FromPath[uuid.UUID],
        target_citizen_id: NamedDependency[uuid.UUID],
        health_book: NamedDependency[BookService],
        language: Lang = "vi",
    ) -> Response[bytes]:
        rendered = await health_book.visit_pdf(
            target_citizen_id, visit_id, language=language, guardian=guardian_of(request)
        )
        return _answer(rendered, f"visit-{visit_id}.pdf")

    @get(
        "/health-book.pdf",
        operation_id="GetHealthBookPdf",
        summary="The whole book, or some days and categories of it, as a printable PDF",
        description=(
            "Every visit as an episode (what `GetVisitPdf` prints), then the other entries of "
            "the chosen categories. `from`/`to` narrow it to days (Vietnam time, both "
            "included), `category` (repeated) to categories."
        ),
        media_type=PDF,
        responses=_PDF_ANSWER,
    )
    async def book_pdf(
        self,
        request: Request[Any, Any, Any],
        target_citizen_id: NamedDependency[uuid.UUID],
        health_book: NamedDependency[BookService],
        date_from: From = None,
        date_to: To = None,
        categories: Categories = None,
        language: Lang = "vi",
    ) -> Response[bytes]:
        rendered = await health_book.book_pdf(
            target_citizen_id,
            date_from=date_from,
            date_to=date_to,
            categories=categories,
            language=language,
            guardian=guardian_of(request),
        )
        return _answer(rendered, "so-suc-khoe.pdf")
