"""Litestar exception handlers: every error leaves as ``application/problem+json``.

Each document's ``type`` is ``{PUBLIC_BASE_URL}/problems/{slug}`` and its ``instance`` the path of
the request (never its query string, which may carry personal data). Validation errors list each
invalid value as ``{field, source, detail}`` (:class:`api.core.errors.FieldError`), whatever part
of the request it came from; nothing of the framework's internals (Python names, enum reprs) is
shown.
"""

from __future__ import annotations

import enum
import logging
import re
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import msgspec
from litestar import MediaType, Request, Response
from litestar.exceptions import (
    HTTPException,
    MethodNotAllowedException,
    NotFoundException,
    SerializationException,
    ValidationException,
)
from litestar.params import ParameterKwarg

from api.core.errors import (
    INTERNAL,
    MALFORMED_BODY,
    METHOD_NOT_ALLOWED,
    NOT_FOUND,
    PAYLOAD_TOO_LARGE,
    PROBLEM_MEDIA_TYPE,
    UNAVAILABLE,
    VALIDATION,
    DomainError,
    ProblemType,
    problem_body,
    problem_for_status,
)
from api.core.observability import request_id_var
from api.core.outages import RETRY_AFTER_SECONDS, unavailable_service

logger = logging.getLogger("healthbook.errors")

_SOURCES = frozenset({"body", "query", "path", "header", "cookie"})
_MISSING = re.compile(r"^Missing required (?P<source>\w+) parameter '(?P<name>[^']*)'")


@dataclass
class Answer:
    """What an error answers, before it is rendered for one request."""

    problem: ProblemType
    status: int
    detail: str | None = None
    extra: dict[str, Any] = field(default_factory=dict)
    headers: dict[str, str] = field(default_factory=dict)


def base_url_of(request: Request[Any, Any, Any]) -> str:
    """``PUBLIC_BASE_URL`` of the app serving ``request`` (its own URL for bare test apps)."""
    settings = getattr(request.app.state, "settings", None)
    if settings is not None:
        return str(settings.http.public_base_url)
    return str(request.base_url)


def problem_document(request: Request[Any, Any, Any], answer: Answer) -> dict[str, Any]:
    return problem_body(
        answer.problem,
        base_url=base_url_of(request),
        detail=answer.detail,
        instance=request.scope.get("path") or None,
        request_id=request_id_var.get(),
        extra=answer.extra or None,
        status=answer.status,
    )


def respond(request: Request[Any, Any, Any], answer: Answer) -> Response[Any]:
    return Response(
        content=problem_document(request, answer),
        status_code=answer.status,
        media_type=PROBLEM_MEDIA_TYPE,
        headers=answer.headers or None,
    )


def problem_response(
    request: Request[Any, Any, Any],
    problem: ProblemType,
    *,
    detail: str | None = None,
    extra: dict[str, Any] | None = None,
    headers: dict[str, str] | None = None,
    status: int | None = None,
) -> Response[Any]:
    answer = Answer(problem, status or problem.status, detail, extra or {}, headers or {})
    return respond(request, answer)


def problem_renderer(request: Request[Any, Any, Any]) -> Callable[[DomainError], bytes]:
    """The exact bytes a domain error answers ``request`` with (for answers that are stored
    and replayed, such as an ``Idempotency-Key``'s)."""

    def render(error: DomainError) -> bytes:
        return msgspec.json.encode(problem_document(request, domain_answer(error)))

    return render


def _source_name(value: Any) -> str | None:
    if isinstance(value, enum.Enum):
        value = value.value
    text = str(value) if value is not None else None
    return text if text in _SOURCES else None


def _where(request: Request[Any, Any, Any], key: str, source: str | None) -> tuple[str, str]:
    """The name a caller knows a value by (the query/header/cookie name, not the handler's
    argument) and where it was (body, query, path, header, cookie)."""
    if key == "data" or key.startswith("data."):
        return key.removeprefix("data").lstrip("."), "body"
    handler = request.scope.get("route_handler")
    parameter = None
    if handler is not None:
        parameter = handler.parsed_fn_signature.parameters.get(key.split(".")[0])
    kwarg = getattr(parameter, "kwarg_definition", None)
    if isinstance(kwarg, ParameterKwarg):
        name = kwarg.query or kwarg.header or kwarg.cookie or getattr(kwarg, "name", None) or key
        return name, source or _source_name(kwarg.param_type) or "query"
    if source is None:
        source = "path" if key in request.path_params else "query"
    return key, source


def field_errors(request: Request[Any, Any, Any], extra: Any) -> list[dict[str, str]]:
    """The framework's validation messages ({message, key, source}) as this API's field errors."""
    errors: list[dict[str, str]] = []
    if not isinstance(extra, list):
        return errors
    for item in extra:
        if not isinstance(item, dict):
            continue
        message = str(item.get("message") or "invalid value")
        source = _source_name(item.get("source"))
        name, where = _where(request, str(item.get("key") or "data"), source)
        errors.append({"field": name, "source": where, "detail": message})
    return errors


def _summary(errors: list[dict[str, str]]) -> str:
    named = [f"{e['field'] or 'the body'} ({e['source']}): {e['detail']}" for e in errors]
    return "invalid request: " + "; ".join(named) if named else "invalid request"


def domain_answer(exc: DomainError) -> Answer:
    return Answer(exc.problem, exc.problem.status, exc.detail, dict(exc.extra), dict(exc.headers))


def http_answer(request: Request[Any, Any, Any], exc: HTTPException) -> Answer:
    """What a framework exception answers (validation, malformed body, 404, 405, 413...)."""
    status = exc.status_code
    headers = dict(exc.headers or {})
    if isinstance(exc.__cause__, SerializationException):
        # The body did not decode (Litestar wraps the decoder's error in a 400).
        return Answer(MALFORMED_BODY, 400, f"body does not decode: {exc.detail}", headers=headers)
    if isinstance(exc, ValidationException) or (status == 400 and exc.extra):
        errors = field_errors(request, exc.extra)
        missing = _MISSING.match(str(exc.detail or ""))
        if not errors and missing is not None:
            name = missing.group("name")
            source = _source_name(missing.group("source")) or "query"
            errors = [{"field": name, "source": source, "detail": "this parameter is required"}]
        detail = str(exc.detail or "")
        if errors or detail.startswith("Validation failed"):  # that one echoes the query string
            detail = _summary(errors)
        return Answer(VALIDATION, 400, detail, {"errors": errors} if errors else {}, headers)
    if isinstance(exc, NotFoundException):
        return Answer(NOT_FOUND, 404, "no resource at this path")
    if isinstance(exc, MethodNotAllowedException) or status == 405:
        return Answer(METHOD_NOT_ALLOWED, 405, exc.detail, headers=headers)
    if status == 413:
        return Answer(PAYLOAD_TOO_LARGE, 413, exc.detail, headers=headers)
    if status >= 500:
        logger.error("http error %s: %s", status, exc.detail)
        return Answer(problem_for_status(status), status, headers=headers)
    return Answer(problem_for_status(status), status, exc.detail, headers=headers)


def unexpected_answer(exc: Exception) -> Answer:
    service = unavailable_service(exc)
    if service is not None:  # PostgreSQL or Redis away: fail fast, say when to retry
        logger.warning("%s unavailable: %s", service, type(exc).__name__)
        return Answer(
            UNAVAILABLE,
            503,
            f"the {service} cannot be reached right now; retry later",
            headers={"Retry-After": str(RETRY_AFTER_SECONDS)},
        )
    logger.error("unhandled %s", type(exc).__name__, exc_info=exc)
    return Answer(INTERNAL, 500)


def answer_for(request: Request[Any, Any, Any], exc: Exception) -> Answer:
    """What any exception answers, as a problem (the one mapping every converter starts from)."""
    if isinstance(exc, DomainError):
        return domain_answer(exc)
    if isinstance(exc, HTTPException):
        return http_answer(request, exc)
    return unexpected_answer(exc)


def handle_domain_error(request: Request[Any, Any, Any], exc: DomainError) -> Response[Any]:
    if exc.recorded is not None:  # stored to be replayed: these very bytes, now and then
        return Response(
            exc.recorded,
            status_code=exc.problem.status,
            media_type=PROBLEM_MEDIA_TYPE,
            headers=exc.headers or None,
        )
    return respond(request, domain_answer(exc))


def handle_http_exception(request: Request[Any, Any, Any], exc: HTTPException) -> Response[Any]:
    return respond(request, http_answer(request, exc))


def handle_unexpected(request: Request[Any, Any, Any], exc: Exception) -> Response[Any]:
    return respond(request, unexpected_answer(exc))


EXCEPTION_HANDLERS: dict[Any, Any] = {
    DomainError: handle_domain_error,
    HTTPException: handle_http_exception,
    Exception: handle_unexpected,
}

__all__ = [
    "EXCEPTION_HANDLERS",
    "Answer",
    "MediaType",
    "answer_for",
    "field_errors",
    "problem_renderer",
    "problem_response",
    "respond",
]
