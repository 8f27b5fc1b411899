"""Hospital-facing FHIR routes of the health book: publish summaries, withdraw documents."""

from __future__ import annotations

import uuid
from typing import Any

from litestar import Controller, Request, Response, get, post
from litestar.di import NamedDependency
from litestar.openapi import ResponseSpec
from litestar.params import FromPath
from litestar.status_codes import HTTP_200_OK, HTTP_201_CREATED

from api.core.access_tokens import Principal
from api.core.guards import requires_client
from api.core.openapi import documented, raw_body
from api.health_book import ingest
from api.health_book.docs import BUNDLE_SCHEMA, VISIT_SUMMARY_EXAMPLE
from api.health_book.fhir_http import (
    FHIR_EXCEPTION_HANDLERS,
    FHIR_JSON,
    OperationOutcome,
    read_fhir_body,
)
from api.health_book.publishing import SummaryService

_OUTCOME = ResponseSpec(
    data_container=OperationOutcome,
    media_type=FHIR_JSON,
    description="FHIR OperationOutcome: what was wrong and where (issue.expression)",
    generate_examples=False,
)
_FHIR_ERRORS = {status: _OUTCOME for status in (400, 401, 403, 404, 409, 413, 415, 422)}
_FHIR_READ_ERRORS = {status: _OUTCOME for status in (400, 401, 403, 404)}
_UNCHANGED = ResponseSpec(
    data_container=ingest.PublishResult,
    description="The same content again: nothing changed (`outcome` = `unchanged`)",
    generate_examples=False,
)


class HospitalSummaryController(Controller):
    path = "/hospital/summaries"
    tags = ("hospital: health records",)
    guards = (requires_client("hospital", "summaries:write"),)
    exception_handlers = FHIR_EXCEPTION_HANDLERS
    security = ({"BearerToken": []},)

    @post(
        "/",
        operation_id="PublishSummary",
        summary="Publish a FHIR R4 Bundle (document, collection or transaction) about a patient",
        description=(
            "Body: `application/fhir+json`, a Bundle of type `document` (IPS or visit summary), "
            "`collection` or `transaction`. The patient is matched by an identifier in one of "
            "the configured national-ID systems. The Bundle is validated against FHIR R4 (unknown "
            "elements, required codes, cardinality, formats): 422 with one OperationOutcome "
            "listing every issue. The same content again (compared on its RFC 8785 canonical "
            "form) is a no-op (200, same document id); changed content is a new version (201, "
            "same `document_id`, a new `version` and `version_id`). Errors are OperationOutcome."
        ),
        request_max_body_size=None,
        responses={200: _UNCHANGED, **_FHIR_ERRORS},
        status_code=HTTP_201_CREATED,
        operation_class=documented(
            body=raw_body(
                "A FHIR R4 Bundle (`application/fhir+json`; `application/json` is accepted too)",
                {FHIR_JSON: (BUNDLE_SCHEMA, [VISIT_SUMMARY_EXAMPLE])},
            )
        ),
    )
    async def publish(
        self,
        request: Request[Any, Any, Any],
        principal: NamedDependency[Principal],
        summaries: NamedDependency[SummaryService],
    ) -> Response[ingest.PublishResult]:
        body, fhir_version = await read_fhir_body(request, summaries.max_body_bytes)
        result = await summaries.publish(
            body,
            facility_id=principal.facility_id,
            publisher=principal.subject,
            fhir_version=fhir_version,
        )
        if result.outcome == "unchanged":
            return Response(result, status_code=HTTP_200_OK)
        location = f"/hospital/summaries/{result.document_id}"  # where its withdrawal is posted
        return Response(result, status_code=HTTP_201_CREATED, headers={"Location": location})

    @get(
        # str in the path, UUID in the signature: a malformed id is refused by this route (an
        # OperationOutcome), not by the router (problem details)
        "/{document_id:str}",
        operation_id="ReadPublishedSummary",
        summary="A document this facility published: its versions, their status and counts",
        description=(
            "Where `Location` of a publish points. `document_id` is the document's id or any of "
            "its versions' ids. Lists every version newest first (status `current`, "
            "`superseded` or `entered_in_error`), with entry counts and content hash; the "
            "clinical content is not sent back. Another facility's document is 404."
        ),
        responses=_FHIR_READ_ERRORS,
    )
    async def read(
        self,
        document_id: FromPath[uuid.UUID],
        principal: NamedDependency[Principal],
        summaries: NamedDependency[SummaryService],
    ) -> ingest.PublishedDocument:
        return await summaries.describe(document_id, facility_id=principal.facility_id)

    @post(
        # as above: a malformed id is an OperationOutcome
        "/{document_id:str}/entered-in-error",
        operation_id="MarkSummaryEnteredInError",
        summary="Withdraw a published document (all its versions) from the book",
        responses=_FHIR_ERRORS,
        status_code=HTTP_200_OK,
    )
    async def entered_in_error(
        self,
        document_id: FromPath[uuid.UUID],
        principal: NamedDependency[Principal],
        summaries: NamedDependency[SummaryService],
    ) -> ingest.PublishResult:
        return await summaries.withdraw(
            document_id, facility_id=principal.facility_id, publisher=principal.subject
        )
