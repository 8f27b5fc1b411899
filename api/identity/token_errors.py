"""Every error of the token endpoint carries the OAuth ``error`` code (RFC 6749 §5.2).

The body is this API's problem document (``application/problem+json``, a JSON object) with the
OAuth members ``error`` and ``error_description`` added, so OAuth clients and problem-details
clients both read it. Errors the identity service raises name their own code (``invalid_grant``,
``invalid_client``...); everything else the endpoint can answer is mapped here:

- a request the endpoint cannot read — a missing or malformed parameter, a NUL character, a body
  that is not UTF-8, one too large (413) or not form-encoded (415) — is ``invalid_request``, with
  its own HTTP status;
- too many requests (429) and a backing service away (503) are ``temporarily_unavailable``;
- an unexpected failure (500) is ``server_error``.
"""

from __future__ import annotations

from typing import Any

from litestar import Request, Response
from litestar.exceptions import HTTPException

from api.core.errors import DomainError
from api.core.problem_handlers import Answer, answer_for, respond


def oauth_code(status: int) -> str:
    if status in (429, 503):
        return "temporarily_unavailable"
    if status >= 500:
        return "server_error"
    return "invalid_request"


def with_oauth_error(answer: Answer) -> Answer:
    if "error" not in answer.extra:
        answer.extra = {
            **answer.extra,
            "error": oauth_code(answer.status),
            "error_description": answer.detail or answer.problem.title,
        }
    return answer


def handle_token_error(request: Request[Any, Any, Any], exc: Exception) -> Response[Any]:
    return respond(request, with_oauth_error(answer_for(request, exc)))


TOKEN_EXCEPTION_HANDLERS: dict[Any, Any] = {
    DomainError: handle_token_error,
    HTTPException: handle_token_error,
    Exception: handle_token_error,
}
