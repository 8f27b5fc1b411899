"""Domain errors and their one conversion to RFC 9457 problem details.

Services raise :class:`DomainError` subclasses and never import Litestar. The handlers at the bottom
turn every error the app can produce (domain errors, framework errors, validation errors, unknown
routes, oversized bodies, unexpected exceptions) into ``application/problem+json`` with a stable
``type``. The registry of types is served at ``/problems`` so each ``type`` URI dereferences to its
description.
"""

from __future__ import annotations

import logging
from typing import Any, ClassVar

import msgspec

PROBLEM_MEDIA_TYPE = "application/problem+json"
PROBLEM_BASE = "/problems/"

logger = logging.getLogger("healthbook.errors")


class ProblemType(msgspec.Struct, frozen=True):
    slug: str
    title: str
    status: int
    description: str

    @property
    def uri(self) -> str:
        return PROBLEM_BASE + self.slug


PROBLEM_TYPES: dict[str, ProblemType] = {}


def problem_type(slug: str, title: str, status: int, description: str) -> ProblemType:
    """Register a problem type once; the registry is what ``/problems`` documents."""
    existing = PROBLEM_TYPES.get(slug)
    if existing is not None:
        if existing.status != status or existing.title != title:
            raise ValueError(f"problem type {slug!r} registered twice with different meaning")
        return existing
    registered = ProblemType(slug=slug, title=title, status=status, description=description)
    PROBLEM_TYPES[slug] = registered
    return registered


BAD_REQUEST = problem_type(
    "bad-request", "Bad request", 400, "The request could not be understood as sent."
)
MALFORMED_BODY = problem_type(
    "malformed-body",
    "Malformed request body",
    400,
    "The body is not well-formed for its content type (for example, JSON that does not parse).",
)
VALIDATION = problem_type(
    "validation-error",
    "Invalid request",
    400,
    "One or more fields are missing or invalid; `errors` names each field and why.",
)
UNAUTHORIZED = problem_type(
    "unauthorized", "Not authenticated", 401, "Credentials are missing, invalid or expired."
)
FORBIDDEN = problem_type(
    "forbidden", "Not allowed", 403, "The caller is authenticated but may not do this."
)
NOT_FOUND = problem_type(
    "not-found", "Not found", 404, "Nothing is here, or nothing the caller may see."
)
METHOD_NOT_ALLOWED = problem_type(
    "method-not-allowed",
    "Method not allowed",
    405,
    "The resource exists but does not accept this HTTP method; `Allow` lists those it does.",
)
NOT_ACCEPTABLE = problem_type(
    "not-acceptable", "Not acceptable", 406, "No representation matches the Accept header."
)
CONFLICT = problem_type(
    "conflict", "Conflict", 409, "The request conflicts with the current state of the resource."
)
PAYLOAD_TOO_LARGE = problem_type(
    "payload-too-large",
    "Request body too large",
    413,
    "The body is larger than this endpoint accepts; `max_bytes` says the limit.",
)
UNSUPPORTED_MEDIA_TYPE = problem_type(
    "unsupported-media-type",
    "Unsupported media type",
    415,
    "The Content-Type of the body is not one this endpoint accepts.",
)
UNPROCESSABLE = problem_type(
    "unprocessable",
    "Unprocessable request",
    422,
    "The request is well-formed but cannot be acted on as it stands.",
)
TOO_MANY_REQUESTS = problem_type(
    "too-many-requests", "Too many requests", 429, "Slow down; `Retry-After` says when to retry."
)
INTERNAL = problem_type(
    "internal-error",
    "Internal error",
    500,
    "Something failed on our side. The request id in `X-Request-ID` lets operators find it.",
)
UNAVAILABLE = problem_type(
    "service-unavailable",
    "Service unavailable",
    503,
    "A backing service (database, Redis, an upstream) cannot be reached right now; retry later.",
)
NOT_READY = problem_type(
    "not-ready",
    "Not ready",
    503,
    "The instance cannot serve traffic: `failing` names the backing services that do not answer.",
)

_BY_STATUS: dict[int, ProblemType] = {
    400: BAD_REQUEST,
    401: UNAUTHORIZED,
    403: FORBIDDEN,
    404: NOT_FOUND,
    405: METHOD_NOT_ALLOWED,
    406: NOT_ACCEPTABLE,
    409: CONFLICT,
    413: PAYLOAD_TOO_LARGE,
    415: UNSUPPORTED_MEDIA_TYPE,
    422: UNPROCESSABLE,
    429: TOO_MANY_REQUESTS,
    500: INTERNAL,
    503: UNAVAILABLE,
}


def problem_for_status(status: int) -> ProblemType:
    found = _BY_STATUS.get(status)
    if found is not None:
        return found
    generic = problem_type(
        f"http-{status}", f"HTTP {status}", status, f"The server answered HTTP {status}."
    )
    _BY_STATUS[status] = generic
    return generic


class DomainError(Exception):
    """Base of every error a service raises. Subclasses set ``problem``; instances add detail.

    ``extra`` members become top-level members of the problem document (RFC 9457 extensions);
    ``headers`` go on the response (``Retry-After``, ``WWW-Authenticate``...).
    """

    problem: ClassVar[ProblemType] = BAD_REQUEST

    def __init__(
        self,
        detail: str | None = None,
        *,
        extra: dict[str, Any] | None = None,
        headers: dict[str, str] | None = None,
    ) -> None:
        super().__init__(detail or self.problem.title)
        self.detail = detail
        self.extra = extra or {}
        self.headers = headers or {}


class InvalidInput(DomainError):
    problem = VALIDATION


class NotAuthenticated(DomainError):
    problem = UNAUTHORIZED


class Forbidden(DomainError):
    problem = FORBIDDEN


class NotFound(DomainError):
    problem = NOT_FOUND


class Conflict(DomainError):
    problem = CONFLICT


class Unprocessable(DomainError):
    problem = UNPROCESSABLE


class UnsupportedMediaType(DomainError):
    problem = UNSUPPORTED_MEDIA_TYPE


class TooManyRequests(DomainError):
    problem = TOO_MANY_REQUESTS


class ServiceUnavailable(DomainError):
    problem = UNAVAILABLE


class Problem(msgspec.Struct, omit_defaults=True):
    """RFC 9457 problem details document, with the members this API adds."""

    type: str
    title: str
    status: int
    detail: str | None = None
    instance: str | None = None
    request_id: str | None = None
    errors: list[FieldError] | None = None


class FieldError(msgspec.Struct, omit_defaults=True):
    """One invalid field: where (``body``, ``query``, ``path``, ``header``), which, and why."""

    detail: str
    field: str | None = None
    source: str | None = None


def problem_body(
    problem: ProblemType,
    *,
    detail: str | None = None,
    instance: str | None = None,
    request_id: str | None = None,
    extra: dict[str, Any] | None = None,
    status: int | None = None,
) -> dict[str, Any]:
    body: dict[str, Any] = {
        "type": problem.uri,
        "title": problem.title,
        "status": status or problem.status,
    }
    if detail:
        body["detail"] = detail
    if instance:
        body["instance"] = instance
    if request_id:
        body["request_id"] = request_id
    if extra:
        for key, value in extra.items():
            body.setdefault(key, value)
    return body
