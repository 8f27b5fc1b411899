"""Identity routes: the token endpoint, our JWKS, citizens' profiles, operators' administration."""

from __future__ import annotations

import uuid
from typing import Annotated, Any

from litestar import Controller, Request, Response, get, patch, post, put
from litestar.datastructures import State
from litestar.di import NamedDependency
from litestar.enums import RequestEncodingType
from litestar.params import Body, FromPath, FromQuery
from litestar.status_codes import HTTP_200_OK, HTTP_201_CREATED, HTTP_204_NO_CONTENT
from sqlalchemy.ext.asyncio import AsyncSession

from api.core.access_tokens import Principal
from api.core.errors import UNSUPPORTED_MEDIA_TYPE, Conflict, InvalidInput, NotFound
from api.core.guards import (
    INSUFFICIENT_SCOPE,
    INVALID_TOKEN,
    provide_citizen_id,
    requires_admin,
    requires_citizen,
    requires_citizen_access,
)
from api.core.openapi import answers, documented, examples, problem_responses
from api.identity import admin, guardians
from api.identity.citizens import CitizenDirectory
from api.identity.errors import (
    OAUTH_INVALID_CLIENT,
    OAUTH_INVALID_GRANT,
    OAUTH_INVALID_REQUEST,
)
from api.identity.schemas import (
    CitizenProfile,
    ClientCreate,
    ClientKind,
    ClientUpdate,
    ClientView,
    GuardianshipCreate,
    GuardianshipView,
    IdentityProviderCreate,
    IdentityProviderView,
    LogoutRequest,
    TokenRequest,
    TokenResponse,
)
from api.identity.service import (
    ASSERTION_TYPE_JWT,
    GRANT_CLIENT_CREDENTIALS,
    GRANT_REFRESH,
    GRANT_TOKEN_EXCHANGE,
    IdentityService,
)
from api.identity.token_errors import TOKEN_EXCEPTION_HANDLERS

_TOKEN_EXAMPLES = examples(
    citizen_login={
        "grant_type": "urn:ietf:params:oauth:grant-type:token-exchange",
        "subject_token": "eyJhbGciOiJSUzI1NiIsImtpZCI6ImsxIn0.e30.c2lnbmF0dXJl",
        "subject_token_type": "urn:ietf:params:oauth:token-type:id_token",
    },
    refresh={"grant_type": "refresh_token", "refresh_token": "rt1.Zk9x2Qa7Lm3PwT8s"},
    hospital_client={
        "grant_type": "client_credentials",
        "client_assertion_type": "urn:ietf:params:oauth:client-assertion-type:jwt-bearer",
        "client_assertion": "eyJhbGciOiJFZERTQSIsImtpZCI6ImhpcyJ9.e30.c2lnbmF0dXJl",
    },
)
_LOGOUT_EXAMPLES = examples(end_this_session={"refresh_token": "rt1.Zk9x2Qa7Lm3PwT8s"})
_PROVIDER_EXAMPLES = examples(
    national_identity_provider={
        "id": "vneid",
        "issuer": "https://id.example.gov.vn",
        "jwks_uri": "https://id.example.gov.vn/.well-known/jwks.json",
        "audiences": ["so-suc-khoe"],
        "algorithms": ["RS256"],
        "assurance_claim": "acr",
        "min_assurance": 2,
        "dependents_claim": "dependents",
    }
)
_CLIENT_EXAMPLES = examples(
    hospital={
        "kind": "hospital",
        "name": "HIS Bệnh viện Đa khoa Tỉnh",
        "facility_id": "01001",
        "jwks": {
            "keys": [
                {
                    "kty": "OKP",
                    "crv": "Ed25519",
                    "x": "11qYAYKxCrfVS_7TyWQHOg7hcvPapiMlrwIaaPcHURo",
                    "kid": "his-2026-01",
                    "alg": "EdDSA",
                    "use": "sig",
                }
            ]
        },
    }
)
_CLIENT_UPDATE_EXAMPLES = examples(disable={"enabled": False}, rename={"name": "HIS mới"})
_GUARDIANSHIP_EXAMPLES = examples(
    parent={
        "guardian_national_id": "001090000001",
        "dependent_national_id": "001218000003",
        "kind": "parent",
        "dependent_birth_date": "2018-06-01",
    }
)

_NO_STORE = {"Cache-Control": "no-store", "Pragma": "no-cache"}


def _location(path: str) -> dict[str, str]:
    """``Location`` of a created resource (a path on this service)."""
    return {"Location": path}


_AUTH_ERRORS = problem_responses(INVALID_TOKEN, INSUFFICIENT_SCOPE)


class AuthController(Controller):
    tags = ["auth"]  # noqa: RUF012

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
            OAUTH_INVALID_REQUEST, OAUTH_INVALID_GRANT, OAUTH_INVALID_CLIENT, UNSUPPORTED_MEDIA_TYPE
        ),
        request_max_body_size=64 * 1024,
        exception_handlers=TOKEN_EXCEPTION_HANDLERS,
    )
    async def token(
        self,
        data: Annotated[
            TokenRequest,
            Body(media_type=RequestEncodingType.URL_ENCODED, examples=_TOKEN_EXAMPLES),
        ],
        db_session: NamedDependency[AsyncSession],
        state: State,
    ) -> Response[TokenResponse]:
        identity: IdentityService = state.identity
        result = await identity.token(db_session, data)
        return Response(result, headers=_NO_STORE)

    @post(
        "/auth/logout",
        operation_id="Logout",
        summary="Revoke the caller's session (its refresh tokens)",
        guards=[requires_citizen],
        status_code=HTTP_204_NO_CONTENT,
        responses=_AUTH_ERRORS,
        security=[{"BearerToken": []}],
        operation_class=documented(optional_body=True),
    )
    async def logout(
        self,
        db_session: NamedDependency[AsyncSession],
        principal: NamedDependency[Principal],
        state: State,
        data: Annotated[LogoutRequest | None, Body(examples=_LOGOUT_EXAMPLES)] = None,
    ) -> None:
        identity: IdentityService = state.identity
        await identity.logout(db_session, principal, data.refresh_token if data else None)

    @get(
        "/.well-known/jwks.json",
        operation_id="GetJwks",
        summary="Our public signing keys (access tokens, check-in codes, assertions to facilities)",
    )
    async def jwks(self, state: State) -> dict[str, Any]:
        return state.signing_keys.jwks()

    @get(
        "/.well-known/oauth-authorization-server",
        operation_id="GetAuthorizationServerMetadata",
        summary="OAuth 2.0 authorization server metadata (RFC 8414)",
    )
    async def metadata(self, state: State) -> dict[str, Any]:
        issuer = state.settings.issuer
        return {
            "issuer": issuer,
            "token_endpoint": state.settings.token_endpoint,
            "jwks_uri": f"{issuer}/.well-known/jwks.json",
            "grant_types_supported": [
                GRANT_TOKEN_EXCHANGE,
                GRANT_REFRESH,
                GRANT_CLIENT_CREDENTIALS,
            ],
            "token_endpoint_auth_methods_supported": ["private_key_jwt", "none"],
            "token_endpoint_auth_signing_alg_values_supported": [
                "RS256",
                "PS256",
                "ES256",
                "EdDSA",
            ],
        }


class CitizenController(Controller):
    path = "/citizens"
    tags = ["citizens"]  # noqa: RUF012
    guards = [requires_citizen_access]  # noqa: RUF012
    security = [{"BearerToken": []}]  # noqa: RUF012

    @get(
        "/{citizen_id:str}",
        operation_id="GetCitizen",
        summary="A citizen's profile (`me`, or a dependent's id)",
        responses=problem_responses(INVALID_TOKEN, INSUFFICIENT_SCOPE, NotFound.problem),
    )
    async def profile(
        self,
        request: Request[Any, Any, Any],
    ) -> CitizenProfile:
        # The hottest citizen route reads the guard's result and app.state from the request: a
        # dependency and a `state` parameter cost ~25 µs of Litestar resolution and validation per
        # call (measured with `bench.run --scenarios citizens_me`).
        state = request.app.state
        directory: CitizenDirectory = state.directory
        return await directory.profile(provide_citizen_id(request), state.clock.now())

    @get(
        "/{citizen_id:str}/guardianships",
        operation_id="ListCitizenGuardianships",
        summary="Who may act for this citizen, and for whom they may act",
        responses=problem_responses(INVALID_TOKEN, INSUFFICIENT_SCOPE, NotFound.problem),
    )
    async def guardianships(
        self,
        target_citizen_id: NamedDependency[uuid.UUID],
        db_session: NamedDependency[AsyncSession],
        state: State,
    ) -> list[GuardianshipView]:
        return await guardians.list_for(
            db_session, target_citizen_id, max_age=state.settings.guardian_child_max_age
        )


_ADMIN_ERRORS = problem_responses(
    INVALID_TOKEN, INSUFFICIENT_SCOPE, NotFound.problem, Conflict.problem, InvalidInput.problem
)


class AdminIdentityController(Controller):
    path = "/admin"
    tags = ["administration"]  # noqa: RUF012
    guards = [requires_admin]  # noqa: RUF012
    security = [{"BearerToken": []}]  # noqa: RUF012

    @put(
        "/identity-providers/{provider_id:str}",
        operation_id="PutIdentityProvider",
        summary="Register or replace a trusted identity provider",
        responses={**_ADMIN_ERRORS, **answers(201, IdentityProviderView, "Registered")},
    )
    async def put_provider(
        self,
        request: Request[Any, Any, Any],
        provider_id: FromPath[str],
        data: Annotated[IdentityProviderCreate, Body(examples=_PROVIDER_EXAMPLES)],
        db_session: NamedDependency[AsyncSession],
        state: State,
    ) -> Response[IdentityProviderView]:
        if data.id != provider_id:
            raise InvalidInput("the body's id must equal the path's")
        view, created = await admin.put_provider(
            db_session, data, production=state.settings.production, now=state.clock.now()
        )
        if created:
            return Response(view, status_code=HTTP_201_CREATED, headers=_location(request.url.path))
        return Response(view, status_code=HTTP_200_OK)

    @get(
        "/identity-providers",
        operation_id="ListIdentityProviders",
        summary="Trusted identity providers",
        responses=_AUTH_ERRORS,
    )
    async def list_providers(
        self, db_session: NamedDependency[AsyncSession]
    ) -> list[IdentityProviderView]:
        return await admin.list_providers(db_session)

    @get(
        "/identity-providers/{provider_id:str}",
        operation_id="GetIdentityProvider",
        summary="One trusted identity provider",
        responses=_ADMIN_ERRORS,
    )
    async def get_provider(
        self, provider_id: FromPath[str], db_session: NamedDependency[AsyncSession]
    ) -> IdentityProviderView:
        return await admin.get_provider(db_session, provider_id)

    @post(
        "/clients",
        operation_id="CreateClient",
        summary="Register a hospital, kiosk or operator client by its public key",
        responses=_ADMIN_ERRORS,
    )
    async def create_client(
        self,
        data: Annotated[ClientCreate, Body(examples=_CLIENT_EXAMPLES)],
        db_session: NamedDependency[AsyncSession],
        state: State,
    ) -> Response[ClientView]:
        view = await admin.create_client(db_session, data, now=state.clock.now())
        return Response(
            view, status_code=HTTP_201_CREATED, headers=_location(f"/admin/clients/{view.id}")
        )

    @get("/clients", operation_id="ListClients", summary="API clients", responses=_AUTH_ERRORS)
    async def list_clients(
        self, db_session: NamedDependency[AsyncSession], kind: FromQuery[ClientKind | None] = None
    ) -> list[ClientView]:
        return await admin.list_clients(db_session, kind)

    @get(
        "/clients/{client_id:str}",
        operation_id="GetClient",
        summary="One API client",
        responses=_ADMIN_ERRORS,
    )
    async def get_client(
        self, client_id: FromPath[str], db_session: NamedDependency[AsyncSession]
    ) -> ClientView:
        return await admin.get_client(db_session, client_id)

    @patch(
        "/clients/{client_id:str}",
        operation_id="UpdateClient",
        summary="Rotate a client's keys, change its scopes, disable or enable it",
        responses=_ADMIN_ERRORS,
    )
    async def update_client(
        self,
        client_id: FromPath[str],
        data: Annotated[ClientUpdate, Body(examples=_CLIENT_UPDATE_EXAMPLES)],
        db_session: NamedDependency[AsyncSession],
        state: State,
    ) -> ClientView:
        return await admin.update_client(db_session, client_id, data, now=state.clock.now())

    @post(
        "/guardianships",
        operation_id="CreateGuardianship",
        summary="Record that one citizen may act for another",
        responses=_ADMIN_ERRORS,
    )
    async def create_guardianship(
        self,
        data: Annotated[GuardianshipCreate, Body(examples=_GUARDIANSHIP_EXAMPLES)],
        db_session: NamedDependency[AsyncSession],
        state: State,
    ) -> Response[GuardianshipView]:
        view = await guardians.record(
            db_session,
            data,
            identifier_key=state.identifier_key,
            max_age=state.settings.guardian_child_max_age,
            directory=state.directory,
            now=state.clock.now(),
        )
        location = _location(f"/admin/guardianships/{view.id}")
        return Response(view, status_code=HTTP_201_CREATED, headers=location)

    @get(
        "/guardianships/{guardianship_id:uuid}",
        operation_id="GetGuardianship",
        summary="One guardianship",
        responses=_ADMIN_ERRORS,
    )
    async def get_guardianship(
        self,
        guardianship_id: FromPath[uuid.UUID],
        db_session: NamedDependency[AsyncSession],
        state: State,
    ) -> GuardianshipView:
        return await guardians.get(
            db_session, guardianship_id, max_age=state.settings.guardian_child_max_age
        )

    @post(
        "/guardianships/{guardianship_id:uuid}/end",
        operation_id="EndGuardianship",
        summary="End a guardianship now",
        status_code=HTTP_200_OK,
        responses=_ADMIN_ERRORS,
    )
    async def end_guardianship(
        self,
        guardianship_id: FromPath[uuid.UUID],
        db_session: NamedDependency[AsyncSession],
        state: State,
    ) -> GuardianshipView:
        return await guardians.end(
            db_session,
            guardianship_id,
            max_age=state.settings.guardian_child_max_age,
            directory=state.directory,
            now=state.clock.now(),
        )


IDENTITY_ROUTES = [AuthController, CitizenController, AdminIdentityController]
