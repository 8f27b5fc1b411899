"""Identity errors. Token endpoint errors carry the OAuth 2.0 ``error`` code (RFC 6749 §5.2).

The errors of a bearer token presented to any route are in ``api.core.guards``."""

from __future__ import annotations

from api.core.errors import DomainError, problem_type

OAUTH_INVALID_REQUEST = problem_type(
    "oauth-invalid-request",
    "Invalid token request",
    400,
    "The token request is missing a parameter or has a malformed one (OAuth `invalid_request`).",
)
OAUTH_UNSUPPORTED_GRANT = problem_type(
    "oauth-unsupported-grant-type",
    "Unsupported grant type",
    400,
    "`grant_type` is not one this server supports (OAuth `unsupported_grant_type`).",
)
OAUTH_INVALID_SCOPE = problem_type(
    "oauth-invalid-scope",
    "Invalid scope",
    400,
    "A requested scope is unknown or not granted to this client (OAuth `invalid_scope`).",
)
OAUTH_INVALID_GRANT = problem_type(
    "oauth-invalid-grant",
    "Invalid grant",
    401,
    "The presented ID token or refresh token is invalid, expired, revoked or was already used "
    "(OAuth `invalid_grant`).",
)
OAUTH_INVALID_CLIENT = problem_type(
    "oauth-invalid-client",
    "Client authentication failed",
    401,
    "The client assertion is invalid, expired, replayed, or the client is unknown or disabled "
    "(OAuth `invalid_client`).",
)


class OAuthError(DomainError):
    """An error of the token endpoint; ``error`` is the RFC 6749 code."""

    error = "invalid_request"

    def __init__(self, detail: str) -> None:
        super().__init__(detail, extra={"error": self.error, "error_description": detail})


class InvalidRequest(OAuthError):
    problem = OAUTH_INVALID_REQUEST
    error = "invalid_request"


class UnsupportedGrantType(OAuthError):
    problem = OAUTH_UNSUPPORTED_GRANT
    error = "unsupported_grant_type"


class InvalidScope(OAuthError):
    problem = OAUTH_INVALID_SCOPE
    error = "invalid_scope"


class InvalidGrant(OAuthError):
    problem = OAUTH_INVALID_GRANT
    error = "invalid_grant"


class InvalidClient(OAuthError):
    problem = OAUTH_INVALID_CLIENT
    error = "invalid_client"


class TokenRejected(Exception):
    """Internal: why a presented token was refused (never shown in detail to the caller)."""
