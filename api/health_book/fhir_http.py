"""HTTP plumbing of the FHIR endpoints: bounded body reading, content types, and every error as a
FHIR ``OperationOutcome`` (``application/fhir+json``) instead of problem details."""

from __future__ import annotations

import logging
from typing import Any, Literal

import msgspec
from litestar import Request, Response
from litestar.exceptions import HTTPException

from api.core.errors import DomainError, UnsupportedMediaType
from api.core.inputs import NUL_REFUSED, contains_nul, utf8_error
from api.core.observability import request_id_var
from api.core.outages import RETRY_AFTER_SECONDS, unavailable_service
from api.core.problem_handlers import Answer, domain_answer, http_answer
from api.health_book.fhir import FhirError, Issue

FHIR_JSON = "application/fhir+json"
_ACCEPTED = ("application/fhir+json", "application/json", "application/json+fhir")
logger = logging.getLogger("healthbook.fhir")

_STATUS_CODES = {
    400: "invalid",
    401: "login",
    403: "forbidden",
    404: "not-found",
    405: "not-supported",
    409: "conflict",
    413: "too-costly",
    415: "not-supported",
    422: "processing",
    429: "throttled",
    503: "transient",
}


class OutcomeIssue(msgspec.Struct, omit_defaults=True):
    severity: Literal["fatal", "error", "warning", "information"]
    code: str
    """From the R4 IssueType value set."""
    diagnostics: str | None = None
    expression: list[str] | None = None
    """FHIRPath expressions saying where in the request the issue is."""


class OperationOutcome(msgspec.Struct, omit_defaults=True):
    """A FHIR R4 OperationOutcome, as the FHIR endpoints answer errors (the schema documented
    for them; ``id`` is the request id)."""

    resourceType: Literal["OperationOutcome"]
    issue: list[OutcomeIssue]
    id: str | None = None


def outcome_response(
    status: int, body: dict[str, Any], headers: dict[str, str] | None = None
) -> Response[Any]:
    request_id = request_id_var.get()
    if request_id is not None:
        body = {**body, "id": request_id}
    return Response(body, status_code=status, media_type=FHIR_JSON, headers=headers)


def _single(status: int, diagnostics: str, code: str | None = None) -> dict[str, Any]:
    return {
        "resourceType": "OperationOutcome",
        "issue": [
            {
                "severity": "error" if status < 500 else "fatal",
                "code": code or _STATUS_CODES.get(status, "exception"),
                "diagnostics": diagnostics,
            }
        ],
    }


def handle_fhir_error(_request: Request[Any, Any, Any], exc: FhirError) -> Response[Any]:
    return outcome_response(exc.status, exc.operation_outcome())


def _answer_outcome(answer: Answer) -> Response[Any]:
    """A problem answer as an OperationOutcome: one issue per invalid value when it names them
    (``field (source): why``), else one with the problem's detail."""
    status = answer.status
    outcome = _single(status, answer.detail or answer.problem.title)
    errors = answer.extra.get("errors")
    if isinstance(errors, list) and errors:
        template = outcome["issue"][0]
        outcome["issue"] = [
            {
                **template,
                "diagnostics": f"{error['field'] or 'the body'} ({error['source']}): "
                f"{error['detail']}",
            }
            for error in errors
        ]
    return outcome_response(status, outcome, headers=answer.headers or None)


def handle_domain_error(_request: Request[Any, Any, Any], exc: DomainError) -> Response[Any]:
    return _answer_outcome(domain_answer(exc))


def handle_http_exception(request: Request[Any, Any, Any], exc: HTTPException) -> Response[Any]:
    return _answer_outcome(http_answer(request, exc))


def handle_unexpected(_request: Request[Any, Any, Any], exc: Exception) -> Response[Any]:
    service = unavailable_service(exc)
    if service is not None:  # PostgreSQL or Redis away: a transient 503, not a 500
        logger.warning("%s unavailable on a FHIR endpoint: %s", service, type(exc).__name__)
        return outcome_response(
            503,
            _single(503, f"the {service} cannot be reached right now; retry later"),
            headers={"Retry-After": str(RETRY_AFTER_SECONDS)},
        )
    logger.error("unhandled %s on a FHIR endpoint", type(exc).__name__, exc_info=exc)
    return outcome_response(500, _single(500, "internal error; quote the request id", "exception"))


FHIR_EXCEPTION_HANDLERS: dict[Any, Any] = {
    FhirError: handle_fhir_error,
    DomainError: handle_domain_error,
    HTTPException: handle_http_exception,
    Exception: handle_unexpected,
}


def fhir_version_of(content_type: str) -> str | None:
    """The ``fhirVersion`` media-type parameter, when the caller sends one."""
    for part in content_type.split(";")[1:]:
        name, _, value = part.strip().partition("=")
        if name.strip().lower() == "fhirversion":
            return value.strip().strip('"')
    return None


async def read_fhir_body(request: Request[Any, Any, Any], limit: int) -> tuple[bytes, str | None]:
    """The body, refused early when its type is wrong or it grows past ``limit``."""
    content_type = request.headers.get("content-type", "")
    media = content_type.split(";")[0].strip().lower()
    if media not in _ACCEPTED:
        raise UnsupportedMediaType(f"send application/fhir+json, not {media or 'no content type'}")
    declared = request.headers.get("content-length")
    if declared is not None and declared.isdigit() and int(declared) > limit:
        raise FhirError(
            [Issue(code="too-costly", diagnostics=f"the body is larger than {limit} bytes")]
        )
    chunks: list[bytes] = []
    size = 0
    async for chunk in request.stream():
        size += len(chunk)
        if size > limit:
            raise FhirError(
                [Issue(code="too-costly", diagnostics=f"the body is larger than {limit} bytes")]
            )
        chunks.append(chunk)
    body = b"".join(chunks)
    not_utf8 = utf8_error(body, "application/json")
    if not_utf8 is not None:
        raise FhirError([Issue(code="invalid", diagnostics=not_utf8)])
    if contains_nul(body, "application/json"):
        raise FhirError([Issue(code="invalid", diagnostics=NUL_REFUSED)])
    return body, fhir_version_of(content_type)
