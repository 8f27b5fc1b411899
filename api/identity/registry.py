"""The operators' registry: trusted identity providers and API clients (hospital systems,
kiosks, operators), each registered by its public keys."""

from __future__ import annotations

import re
import secrets
from typing import Any, cast

import jwt
from jwt import PyJWK
from sqlalchemy import select

from api.core.clock import Clock
from api.core.errors import Conflict, InvalidInput, NotFound
from api.core.uow import UnitOfWorkFactory
from api.core.urls import check_url
from api.identity.jwks import ASYMMETRIC_ALGORITHMS
from api.identity.models import Client, IdentityProvider
from api.identity.schemas import (
    ClientCreate,
    ClientKind,
    ClientUpdate,
    ClientView,
    IdentityProviderCreate,
    IdentityProviderView,
)

DEFAULT_CLIENT_SCOPES: dict[str, frozenset[str]] = {
    "hospital": frozenset(
        {
            "summaries:write",
            "slots:write",
            "appointments:read",
            "appointments:write",
            "queues:write",
            "insurance-xml:write",
            "questionnaires:write",
        }
    ),
    "kiosk": frozenset({"checkin:write"}),
    "admin": frozenset({"admin"}),
}
"""The scopes each kind of client may hold (and gets when none are asked for)."""

_PRIVATE_MEMBERS = frozenset({"d", "p", "q", "dp", "dq", "qi", "oth", "k"})


def check_jwks(jwks: dict[str, Any]) -> None:
    """Public asymmetric keys only; each must parse."""
    keys = jwks.get("keys")
    if not isinstance(keys, list) or not keys:
        raise InvalidInput("jwks must hold at least one key in `keys`")
    for index, item in enumerate(keys):
        if _PRIVATE_MEMBERS.intersection(item):
            raise InvalidInput(f"jwks.keys[{index}] holds private or symmetric key material")
        if item.get("alg") and item["alg"] not in ASYMMETRIC_ALGORITHMS:
            raise InvalidInput(f"jwks.keys[{index}].alg must be an asymmetric algorithm")
        try:
            PyJWK.from_dict(item)
        except (jwt.PyJWKError, jwt.InvalidKeyError, ValueError, TypeError) as exc:
            raise InvalidInput(f"jwks.keys[{index}] is not a usable public key") from exc


def provider_view(provider: IdentityProvider) -> IdentityProviderView:
    return IdentityProviderView(
        id=provider.id,
        issuer=provider.issuer,
        jwks_uri=provider.jwks_uri,
        audiences=list(provider.audiences),
        algorithms=list(provider.algorithms),
        national_id_claim=provider.national_id_claim,
        national_id_pattern=provider.national_id_pattern,
        name_claim=provider.name_claim,
        birth_date_claim=provider.birth_date_claim,
        sex_claim=provider.sex_claim,
        phone_claim=provider.phone_claim,
        assurance_claim=provider.assurance_claim,
        min_assurance=provider.min_assurance,
        dependents_claim=provider.dependents_claim,
        enabled=provider.enabled,
        created_at=provider.created_at,
        updated_at=provider.updated_at,
    )


def client_view(client: Client) -> ClientView:
    return ClientView(
        id=client.id,
        kind=cast("ClientKind", client.kind),  # written from a ClientKind only
        name=client.name,
        facility_id=client.facility_id,
        scopes=sorted(client.scopes),
        jwks=client.jwks,
        enabled=client.enabled,
        created_at=client.created_at,
    )


def _scopes(kind: str, requested: list[str] | None) -> list[str]:
    allowed = DEFAULT_CLIENT_SCOPES[kind]
    scopes = set(requested) if requested is not None else set(allowed)
    if not scopes <= allowed:
        raise InvalidInput(
            f"scopes not available to a {kind} client: {sorted(scopes - allowed)}",
            extra={"allowed": sorted(allowed)},
        )
    return sorted(scopes)


def _validate_provider(data: IdentityProviderCreate, *, production: bool) -> None:
    check_url(data.issuer, "issuer", allow_plain_http=not production)
    check_url(data.jwks_uri, "jwks_uri", allow_plain_http=not production)
    bad = set(data.algorithms) - ASYMMETRIC_ALGORITHMS
    if bad or not data.algorithms:
        raise InvalidInput(f"algorithms must be asymmetric JWS algorithms (not {sorted(bad)})")
    try:
        re.compile(data.national_id_pattern)
    except re.error as exc:
        raise InvalidInput("national_id_pattern is not a valid regular expression") from exc
    if (data.assurance_claim is None) != (data.min_assurance is None):
        raise InvalidInput("assurance_claim and min_assurance go together")


def _validate_client(data: ClientCreate) -> None:
    check_jwks(data.jwks)
    if data.kind in ("hospital", "kiosk") and not data.facility_id:
        raise InvalidInput(f"a {data.kind} client is bound to a facility: facility_id is required")
    if data.kind == "admin" and data.facility_id:
        raise InvalidInput("an admin client is not bound to a facility")


class RegistryService:
    """Operators' use cases on identity providers and API clients."""

    def __init__(self, *, uow: UnitOfWorkFactory, clock: Clock, production: bool) -> None:
        self._uow = uow
        self._clock = clock
        self._production = production

    # -- identity providers -----------------------------------------------------------------

    async def put_provider(
        self, data: IdentityProviderCreate, *, production: bool | None = None
    ) -> tuple[IdentityProviderView, bool]:
        """Create or replace the provider ``data.id``; returns (view, created). ``production``
        (plain-HTTP URLs refused) defaults to the service's mode."""
        _validate_provider(data, production=self._production if production is None else production)
        now = self._clock.now()
        async with self._uow() as uow:
            session = uow.session
            clash = await session.scalar(
                select(IdentityProvider).where(
                    IdentityProvider.issuer == data.issuer, IdentityProvider.id != data.id
                )
            )
            if clash is not None:
                raise Conflict("another provider has this issuer")
            provider = await session.get(IdentityProvider, data.id)
            created = provider is None
            if provider is None:
                provider = IdentityProvider(id=data.id, created_at=now)
                session.add(provider)
            for field in IdentityProviderCreate.__struct_fields__:
                if field != "id":
                    setattr(provider, field, getattr(data, field))
            provider.updated_at = now
            await session.flush()
            view = provider_view(provider)
        return view, created

    async def list_providers(self) -> list[IdentityProviderView]:
        async with self._uow() as uow:
            providers = await uow.session.scalars(
                select(IdentityProvider).order_by(IdentityProvider.id)
            )
            return [provider_view(p) for p in providers]

    async def get_provider(self, provider_id: str) -> IdentityProviderView:
        async with self._uow() as uow:
            provider = await uow.session.get(IdentityProvider, provider_id)
            if provider is None:
                raise NotFound("no such identity provider")
            return provider_view(provider)

    # -- API clients --------------------------------------------------------------------------

    async def create_client(self, data: ClientCreate) -> ClientView:
        _validate_client(data)
        client_id = data.id or f"{data.kind}-{secrets.token_hex(8)}"
        now = self._clock.now()
        async with self._uow() as uow:
            session = uow.session
            if await session.get(Client, client_id) is not None:
                raise Conflict("a client with this id exists")
            scopes = _scopes(data.kind, data.scopes)
            client = Client(
                id=client_id,
                kind=data.kind,
                name=data.name,
                facility_id=data.facility_id,
                scopes=scopes,
                jwks=data.jwks,
                enabled=True,
                created_at=now,
                updated_at=now,
            )
            session.add(client)
            await session.flush()
            view = client_view(client)
        return view

    async def update_client(self, client_id: str, data: ClientUpdate) -> ClientView:
        now = self._clock.now()
        async with self._uow() as uow:
            client = await uow.session.get(Client, client_id)
            if client is None:
                raise NotFound("no such client")
            if data.jwks is not None:
                check_jwks(data.jwks)
                client.jwks = data.jwks
            if data.scopes is not None:
                client.scopes = _scopes(client.kind, data.scopes)
            if data.name is not None:
                client.name = data.name
            if data.enabled is not None:
                client.enabled = data.enabled
            client.updated_at = now
            await uow.session.flush()
            view = client_view(client)
        return view

    async def list_clients(self, kind: str | None = None) -> list[ClientView]:
        query = select(Client).order_by(Client.id)
        if kind is not None:
            query = query.where(Client.kind == kind)
        async with self._uow() as uow:
            return [client_view(c) for c in await uow.session.scalars(query)]

    async def get_client(self, client_id: str) -> ClientView:
        async with self._uow() as uow:
            client = await uow.session.get(Client, client_id)
            if client is None:
                raise NotFound("no such client")
            return client_view(client)
