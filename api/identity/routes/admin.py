"""Operators' identity administration: trusted identity providers, API clients, guardianships."""

from __future__ import annotations

import uuid
from typing import Annotated, Any

from litestar import Controller, Request, Response, get, patch, post, put
from litestar.di import NamedDependency
from litestar.params import Body, FromPath, FromQuery
from litestar.status_codes import HTTP_200_OK, HTTP_201_CREATED

from api.core.errors import InvalidInput
from api.core.guards import requires_admin
from api.core.openapi import answers
from api.identity.docs import (
    ADMIN_ERRORS,
    AUTH_ERRORS,
    CLIENT_EXAMPLES,
    CLIENT_UPDATE_EXAMPLES,
    GUARDIANSHIP_EXAMPLES,
    PROVIDER_EXAMPLES,
)
from api.identity.guardianships import GuardianshipService
from api.identity.registry import RegistryService
from api.identity.schemas import (
    ClientCreate,
    ClientKind,
    ClientUpdate,
    ClientView,
    GuardianshipCreate,
    GuardianshipView,
    IdentityProviderCreate,
    IdentityProviderView,
)


def _location(path: str) -> dict[str, str]:
    """``Location`` of a created resource (a path on this service)."""
    return {"Location": path}


class AdminIdentityController(Controller):
    path = "/admin"
    tags = ("administration",)
    guards = (requires_admin,)
    security = ({"BearerToken": []},)

    @put(
        "/identity-providers/{provider_id:str}",
        operation_id="PutIdentityProvider",
        summary="Register or replace a trusted identity provider",
        responses={**ADMIN_ERRORS, **answers(201, IdentityProviderView, "Registered")},
    )
    async def put_provider(
        self,
        request: Request[Any, Any, Any],
        provider_id: FromPath[str],
        data: Annotated[IdentityProviderCreate, Body(examples=PROVIDER_EXAMPLES)],
        identity_registry: NamedDependency[RegistryService],
    ) -> Response[IdentityProviderView]:
        if data.id != provider_id:
            raise InvalidInput("the body's id must equal the path's")
        view, created = await identity_registry.put_provider(data)
        if created:
            return Response(view, status_code=HTTP_201_CREATED, headers=_location(request.url.path))
        return Response(view, status_code=HTTP_200_OK)

    @get(
        "/identity-providers",
        operation_id="ListIdentityProviders",
        summary="Trusted identity providers",
        responses=AUTH_ERRORS,
    )
    async def list_providers(
        self, identity_registry: NamedDependency[RegistryService]
    ) -> list[IdentityProviderView]:
        return await identity_registry.list_providers()

    @get(
        "/identity-providers/{provider_id:str}",
        operation_id="GetIdentityProvider",
        summary="One trusted identity provider",
        responses=ADMIN_ERRORS,
    )
    async def get_provider(
        self, provider_id: FromPath[str], identity_registry: NamedDependency[RegistryService]
    ) -> IdentityProviderView:
        return await identity_registry.get_provider(provider_id)

    @post(
        "/clients",
        operation_id="CreateClient",
        summary="Register a hospital, kiosk or operator client by its public key",
        responses=ADMIN_ERRORS,
    )
    async def create_client(
        self,
        data: Annotated[ClientCreate, Body(examples=CLIENT_EXAMPLES)],
        identity_registry: NamedDependency[RegistryService],
    ) -> Response[ClientView]:
        view = await identity_registry.create_client(data)
        return Response(
            view, status_code=HTTP_201_CREATED, headers=_location(f"/admin/clients/{view.id}")
        )

    @get("/clients", operation_id="ListClients", summary="API clients", responses=AUTH_ERRORS)
    async def list_clients(
        self,
        identity_registry: NamedDependency[RegistryService],
        kind: FromQuery[ClientKind | None] = None,
    ) -> list[ClientView]:
        return await identity_registry.list_clients(kind)

    @get(
        "/clients/{client_id:str}",
        operation_id="GetClient",
        summary="One API client",
        responses=ADMIN_ERRORS,
    )
    async def get_client(
        self, client_id: FromPath[str], identity_registry: NamedDependency[RegistryService]
    ) -> ClientView:
        return await identity_registry.get_client(client_id)

    @patch(
        "/clients/{client_id:str}",
        operation_id="UpdateClient",
        summary="Rotate a client's keys, change its scopes, disable or enable it",
        responses=ADMIN_ERRORS,
    )
    async def update_client(
        self,
        client_id: FromPath[str],
        data: Annotated[ClientUpdate, Body(examples=CLIENT_UPDATE_EXAMPLES)],
        identity_registry: NamedDependency[RegistryService],
    ) -> ClientView:
        return await identity_registry.update_client(client_id, data)

    @post(
        "/guardianships",
        operation_id="CreateGuardianship",
        summary="Record that one citizen may act for another",
        responses=ADMIN_ERRORS,
    )
    async def create_guardianship(
        self,
        data: Annotated[GuardianshipCreate, Body(examples=GUARDIANSHIP_EXAMPLES)],
        guardianships: NamedDependency[GuardianshipService],
    ) -> Response[GuardianshipView]:
        view = await guardianships.record(data)
        location = _location(f"/admin/guardianships/{view.id}")
        return Response(view, status_code=HTTP_201_CREATED, headers=location)

    @get(
        "/guardianships/{guardianship_id:uuid}",
        operation_id="GetGuardianship",
        summary="One guardianship",
        responses=ADMIN_ERRORS,
    )
    async def get_guardianship(
        self,
        guardianship_id: FromPath[uuid.UUID],
        guardianships: NamedDependency[GuardianshipService],
    ) -> GuardianshipView:
        return await guardianships.get(guardianship_id)

    @post(
        "/guardianships/{guardianship_id:uuid}/end",
        operation_id="EndGuardianship",
        summary="End a guardianship now",
        status_code=HTTP_200_OK,
        responses=ADMIN_ERRORS,
    )
    async def end_guardianship(
        self,
        guardianship_id: FromPath[uuid.UUID],
        guardianships: NamedDependency[GuardianshipService],
    ) -> GuardianshipView:
        return await guardianships.end(guardianship_id)
