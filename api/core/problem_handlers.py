"""Litestar exception handlers: every error leaves as ``application/problem+json``."""

from __future__ import annotations

import logging
from typing import Any

from litestar import MediaType, Request, Response
from litestar.exceptions import (
    HTTPException,
    MethodNotAllowedException,
    NotFoundException,
    SerializationException,
    ValidationException,
)
from litestar.status_codes import HTTP_500_INTERNAL_SERVER_ERROR

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


def problem_response(
    problem: ProblemType,
    *,
    detail: str | None = None,
    extra: dict[str, Any] | None = None,
    headers: dict[str, str] | None = None,
    status: int | None = None,
) -> Response[Any]:
    body = problem_body(
        problem,
        detail=detail,
        request_id=request_id_var.get(),
        extra=extra,
        status=status,
    )
    return Response(
        content=body,
        status_code=status or problem.status,
        media_type=PROBLEM_MEDIA_TYPE,
        headers=headers,
    )


def _field_errors(extra: Any) -> list[dict[str, Any]]:
    """Litestar's validation detail ({message, key, source}) as this API's field errors."""
    errors: list[dict[str, Any]] = []
    if isinstance(extra, list):
        for item in extra:
            if not isinstance(item, dict):
                continue
            error: dict[str, Any] = {"detail": str(item.get("message") or "invalid value")}
            if item.get("key"):
                error["field"] = str(item["key"])
            if item.get("source"):
                error["source"] = str(item["source"])
            errors.append(error)
    return errors


def handle_domain_error(_request: Request[Any, Any, Any], exc: DomainError) -> Response[Any]:
    return problem_response(
        exc.problem, detail=exc.detail, extra=exc.extra, headers=exc.headers or None
    )


def handle_http_exception(_request: Request[Any, Any, Any], exc: HTTPException) -> Response[Any]:
    status = exc.status_code
    headers = dict(exc.headers or {})
    if isinstance(exc, ValidationException) or (status == 400 and exc.extra):
        errors = _field_errors(exc.extra)
        return problem_response(
            VALIDATION,
            detail=exc.detail or "invalid request",
            extra={"errors": errors} if errors else None,
            headers=headers or None,
        )
    if isinstance(exc.__cause__, SerializationException):
        # The body did not decode (Litestar wraps the decoder's error in a 400).
        return problem_response(
            MALFORMED_BODY, detail=f"body does not decode: {exc.detail}", headers=headers or None
        )
    if isinstance(exc, NotFoundException):
        return problem_response(NOT_FOUND, detail="no resource at this path")
    if isinstance(exc, MethodNotAllowedException) or status == 405:
        return problem_response(METHOD_NOT_ALLOWED, detail=exc.detail, headers=headers or None)
    if status == 413:
        return problem_response(PAYLOAD_TOO_LARGE, detail=exc.detail, headers=headers or None)
    if status >= 500:
        logger.error("http error %s: %s", status, exc.detail)
        return problem_response(problem_for_status(status), headers=headers or None)
    return problem_response(problem_for_status(status), detail=exc.detail, headers=headers or None)


def handle_unexpected(_request: Request[Any, Any, Any], exc: Exception) -> Response[Any]:
    service = unavailable_service(exc)
    if service is not None:  # PostgreSQL or Redis away: fail fast, say when to retry
        logger.warning("%s unavailable: %s", service, type(exc).__name__)
        return problem_response(
            UNAVAILABLE,
            detail=f"the {service} cannot be reached right now; retry later",
            headers={"Retry-After": str(RETRY_AFTER_SECONDS)},
        )
    logger.error("unhandled %s", type(exc).__name__, exc_info=exc)
    return problem_response(INTERNAL, status=HTTP_500_INTERNAL_SERVER_ERROR)


EXCEPTION_HANDLERS: dict[Any, Any] = {
    DomainError: handle_domain_error,
    HTTPException: handle_http_exception,
    Exception: handle_unexpected,
}

__all__ = ["EXCEPTION_HANDLERS", "MediaType", "problem_response"]
