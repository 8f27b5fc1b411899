"""Domain errors and their one conversion to RFC 9457 problem details.

Services raise :class:`DomainError` subclasses and never import Litestar. The handlers at the bottom
turn every error the app can produce (domain errors, framework errors, validation errors, unknown
routes, oversized bodies, unexpected exceptions) into ``application/problem+json`` with a stable
``type``. A ``type`` is an absolute URI under the service's public base URL
(``{PUBLIC_BASE_URL}/problems/{slug}``), served at that address, so each ``type`` dereferences to
its description; ``instance`` is the path of the request that failed.
"""

from __future__ import annotations

import logging
import re
from collections.abc import Iterable, Iterator, Mapping
from types import MappingProxyType
from typing import Any, ClassVar, Literal

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
        """The path of this type's description on the service (``/problems/{slug}``)."""
        return PROBLEM_BASE + self.slug

    def type_uri(self, base_url: str) -> str:
        """The ``type`` of a problem document: the absolute URI under ``base_url``."""
        return base_url.rstrip("/") + self.uri


def problem_type(slug: str, title: str, status: int, description: str) -> ProblemType:
    """Declare a problem type. A domain names its types in its ``errors`` module and attaches
    each to a :class:`DomainError` subclass; :class:`ProblemCatalogue` gathers them from there
    for ``/problems``, so nothing is registered anywhere."""
    return ProblemType(slug=slug, title=title, status=status, description=description)


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

CORE_PROBLEMS: tuple[ProblemType, ...] = (
    BAD_REQUEST,
    MALFORMED_BODY,
    VALIDATION,
    UNAUTHORIZED,
    FORBIDDEN,
    NOT_FOUND,
    METHOD_NOT_ALLOWED,
    NOT_ACCEPTABLE,
    CONFLICT,
    PAYLOAD_TOO_LARGE,
    UNSUPPORTED_MEDIA_TYPE,
    UNPROCESSABLE,
    TOO_MANY_REQUESTS,
    INTERNAL,
    UNAVAILABLE,
    NOT_READY,
)
"""The types of errors the framework and the app's plumbing answer with, whatever the domain."""

_BY_STATUS: Mapping[int, ProblemType] = MappingProxyType(
    {
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
)

_GENERIC_SLUG = re.compile(r"http-([1-5][0-9][0-9])")


def _generic(status: int) -> ProblemType:
    return ProblemType(
        slug=f"http-{status}",
        title=f"HTTP {status}",
        status=status,
        description=f"The server answered HTTP {status}.",
    )


def problem_for_status(status: int) -> ProblemType:
    """The type of a framework error with this HTTP status (``http-{status}`` when no named
    type covers it)."""
    found = _BY_STATUS.get(status)
    return found if found is not None else _generic(status)


class DomainError(Exception):
    """Base of every error a service raises. Subclasses set ``problem``; instances add detail.

    ``extra`` members become top-level members of the problem document (RFC 9457 extensions);
    ``headers`` go on the response (``Retry-After``, ``WWW-Authenticate``...). ``recorded``, when
    a use case stored the answer to replay it (an ``Idempotency-Key``'s), is the exact body the
    error answers with.
    """

    recorded: bytes | None = None

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
    """Invalid input. With ``field`` (and ``source``), the problem's ``errors`` names it."""

    problem = VALIDATION

    def __init__(
        self,
        detail: str | None = None,
        *,
        field: str | None = None,
        source: FieldSource = "body",
        errors: list[FieldError] | None = None,
        extra: dict[str, Any] | None = None,
        headers: dict[str, str] | None = None,
    ) -> None:
        if field is not None and errors is None:
            errors = [FieldError(field=field, source=source, detail=detail or VALIDATION.title)]
        extra = dict(extra or {})
        if errors:
            extra["errors"] = [msgspec.to_builtins(error) for error in errors]
        super().__init__(detail, extra=extra, headers=headers)


class MalformedBody(DomainError):
    """The body does not decode for its content type (JSON that does not parse, not UTF-8...)."""

    problem = MALFORMED_BODY


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


FieldSource = Literal["body", "query", "path", "header", "cookie"]


class FieldError(msgspec.Struct):
    """One invalid value: which (``field``), where (``source``) and why (``detail``).

    ``field`` is the parameter's name (query, path, header, cookie), or for the body the dotted
    path of the member (``slots.0.start``; empty when the body as a whole is at fault)."""

    field: str
    source: FieldSource
    detail: str


class Problem(msgspec.Struct, omit_defaults=True):
    """RFC 9457 problem details document, with the members this API adds."""

    type: str
    """``{PUBLIC_BASE_URL}/problems/{slug}``: dereference it for the description."""
    title: str
    status: int
    detail: str | None = None
    instance: str | None = None
    """The path of the request that failed (no query string)."""
    request_id: str | None = None
    errors: list[FieldError] | None = None


def problem_body(
    problem: ProblemType,
    *,
    base_url: str,
    detail: str | None = None,
    instance: str | None = None,
    request_id: str | None = None,
    extra: dict[str, Any] | None = None,
    status: int | None = None,
) -> dict[str, Any]:
    body: dict[str, Any] = {
        "type": problem.type_uri(base_url),
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


class ProblemCatalogue(Mapping[str, ProblemType]):
    """Every problem type the app answers with, by slug: what ``/problems`` documents. Immutable;
    built from the types of the plumbing (:data:`CORE_PROBLEMS`) and those attached to the
    :class:`DomainError` subclasses of the domains loaded (:meth:`loaded`). A generic
    ``http-{status}`` slug resolves too (it is not listed)."""

    __slots__ = ("_by_slug",)

    def __init__(self, problems: Iterable[ProblemType]) -> None:
        by_slug: dict[str, ProblemType] = {}
        for problem in problems:
            existing = by_slug.get(problem.slug)
            if existing is not None and (
                existing.status != problem.status or existing.title != problem.title
            ):
                raise ValueError(
                    f"problem type {problem.slug!r} declared twice with different meaning"
                )
            by_slug.setdefault(problem.slug, problem)
        self._by_slug: Mapping[str, ProblemType] = MappingProxyType(dict(sorted(by_slug.items())))

    @classmethod
    def loaded(cls) -> ProblemCatalogue:
        """The core types and those of every :class:`DomainError` subclass defined so far (the
        composition root builds it once every domain is imported)."""
        return cls((*CORE_PROBLEMS, *_attached(DomainError)))

    def __getitem__(self, slug: str) -> ProblemType:
        found = self._by_slug.get(slug)
        if found is not None:
            return found
        generic = _GENERIC_SLUG.fullmatch(slug)
        if generic is None:
            raise KeyError(slug)
        return _generic(int(generic.group(1)))

    def __iter__(self) -> Iterator[str]:
        """The listed slugs, in order."""
        return iter(self._by_slug)

    def __len__(self) -> int:
        return len(self._by_slug)


def _attached(root: type[DomainError]) -> Iterator[ProblemType]:
    """The problem types the subclasses of ``root`` declare, depth first."""
    for subclass in root.__subclasses__():
        problem = subclass.__dict__.get("problem")
        if isinstance(problem, ProblemType):
            yield problem
        yield from _attached(subclass)
