"""The authorization server: the token endpoint, logout, our keys and our metadata."""

from __future__ import annotations

from typing import Annotated, Any

from litestar import Controller, Response, get, post
from litestar.di import NamedDependency
from litestar.enums import RequestEncodingType
from litestar.params import Body
from litestar.status_codes import HTTP_200_OK, HTTP_204_NO_CONTENT

from api.core.access_tokens import Principal
from api.core.errors import UNAVAILABLE, UNSUPPORTED_MEDIA_TYPE
from api.core.guards import requires_citizen
from api.core.openapi import documented, problem_responses
from api.identity.docs import AUTH_ERRORS, LOGOUT_EXAMPLES, TOKEN_EXAMPLES
from api.identity.errors import (
    OAUTH_INVALID_CLIENT,
    OAUTH_INVALID_GRANT,
    OAUTH_INVALID_REQUEST,
)
from api.identity.schemas import LogoutRequest, TokenRequest, TokenResponse
from api.identity.service import (
    ASSERTION_TYPE_JWT,
    GRANT_CLIENT_CREDENTIALS,
    GRANT_REFRESH,
    GRANT_TOKEN_EXCHANGE,
    IdentityService,
)
from api.identity.token_errors import TOKEN_EXCEPTION_HANDLERS

_NO_STORE = {"Cache-Control": "no-store", "Pragma": "no-cache"}


class AuthController(Controller):
    tags = ("auth",)

    @post(
        "/auth/token",
        operation_id="IssueToken",
        summary="Exchange an ID token, rotate a refresh token, or authenticate a client",
        description=(
            "Form-encoded (application/x-www-form-urlencoded). `grant_type` is one of "
            f"`{GRANT_TOKEN_EXCHANGE}` (citizens: `subject_token` = the identity provider's ID "
            f"token, `subject_token_type` = `urn:ietf:params:oauth:token-type:id_token`), "
            f"`{GRANT_REFRESH}` (`refresh_token`), or `{GRANT_CLIENT_CREDENTIALS}` (hospital, "
            f"kiosk and admin clients: `client_assertion_type` = `{ASSERTION_TYPE_JWT}`, "
            "`client_assertion` = a JWT signed with the client's key, aud = this URL). "
            "Every error carries the OAuth `error` code (RFC 6749 §5.2) beside the problem "
            "members: a request that cannot be read is `invalid_request` (400; 413 too large; "
            "415 not form-encoded); credentials that fail are 401."
        ),
        status_code=HTTP_200_OK,
        responses=problem_responses(
            OAUTH_INVALID_REQUEST,
            OAUTH_INVALID_GRANT,
            OAUTH_INVALID_CLIENT,
            UNSUPPORTED_MEDIA_TYPE,
            UNAVAILABLE,  # the identity provider's keys cannot be fetched
        ),
        request_max_body_size=64 * 1024,
        exception_handlers=TOKEN_EXCEPTION_HANDLERS,
    )
    async def token(
        self,
        data: Annotated[
            TokenRequest,
            Body(media_type=RequestEncodingType.URL_ENCODED, examples=TOKEN_EXAMPLES),
        ],
        identity: NamedDependency[IdentityService],
    ) -> Response[TokenResponse]:
        return Response(await identity.token(data), headers=_NO_STORE)

    @post(
        "/auth/logout",
        operation_id="Logout",
        summary="Revoke the caller's session (its refresh tokens)",
        guards=[requires_citizen],
        status_code=HTTP_204_NO_CONTENT,
        responses=AUTH_ERRORS,
        security=[{"BearerToken": []}],
        operation_class=documented(optional_body=True),
    )
    async def logout(
        self,
        principal: NamedDependency[Principal],
        identity: NamedDependency[IdentityService],
        data: Annotated[LogoutRequest | None, Body(examples=LOGOUT_EXAMPLES)] = None,
    ) -> None:
        await identity.logout(principal, data.refresh_token if data else None)

    @get(
        "/.well-known/jwks.json",
        operation_id="GetJwks",
        summary="Our public signing keys (access tokens, check-in codes, assertions to facilities, "
        "SMART Health Cards)",
        description=(
            "A JWK Set. The SMART Health Card issuer keys (EC P-256, `alg` ES256, `kid` the RFC "
            "7638 thumbprint) carry `crlVersion` once they have revocations. Readable from any "
            "origin (`Access-Control-Allow-Origin: *`): verifier apps fetch it from browsers."
        ),
    )
    async def jwks(self, identity: NamedDependency[IdentityService]) -> Response[dict[str, Any]]:
        return Response(
            await identity.published_keys(),
            headers={"Access-Control-Allow-Origin": "*"},
        )

    @get(
        "/.well-known/oauth-authorization-server",
        operation_id="GetAuthorizationServerMetadata",
        summary="OAuth 2.0 authorization server metadata (RFC 8414)",
    )
    async def metadata(self, identity: NamedDependency[IdentityService]) -> dict[str, Any]:
        return identity.metadata()
