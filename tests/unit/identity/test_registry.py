"""RegistryService with in-memory fakes: identity providers and API clients."""

from __future__ import annotations

import datetime as dt
from typing import Any

import pytest

from api.core.clock import FrozenClock
from api.core.errors import Conflict, InvalidInput, NotFound
from api.identity.models import Client, IdentityProvider
from api.identity.registry import DEFAULT_CLIENT_SCOPES, RegistryService
from api.identity.schemas import ClientCreate, ClientUpdate, IdentityProviderCreate
from tests.support.idp import SigningKey
from tests.unit.identity.fakes import FakeSession, uow_factory, utc

NOW = utc(2026, 3, 1, 8)


class World:
    def __init__(self, *, production: bool = False) -> None:
        self.log: list[str] = []
        self.session = FakeSession(self.log)
        self.clock = FrozenClock(NOW)
        self.registry = RegistryService(
            uow=uow_factory(self.session), clock=self.clock, production=production
        )


def jwks() -> dict[str, Any]:
    return {"keys": [SigningKey("EdDSA").jwk]}


# -- clients ----------------------------------------------------------------------------------


async def test_a_hospital_client_gets_its_kinds_scopes_and_is_stored_on_commit() -> None:
    world = World()

    view = await world.registry.create_client(
        ClientCreate(kind="hospital", name="HIS", jwks=jwks(), facility_id="01001", id="his-1")
    )

    assert view.id == "his-1"
    assert view.scopes == sorted(DEFAULT_CLIENT_SCOPES["hospital"])
    assert view.enabled is True
    assert view.created_at == NOW
    assert world.log == ["add Client", "commit"]
    stored = world.session.rows[(Client, "his-1")]
    assert (stored.kind, stored.facility_id) == ("hospital", "01001")


async def test_a_client_without_an_id_gets_one_named_by_its_kind() -> None:
    world = World()
    view = await world.registry.create_client(ClientCreate(kind="admin", name="ops", jwks=jwks()))
    assert view.id.startswith("admin-")
    assert view.scopes == ["admin"]


async def test_a_second_client_with_the_same_id_conflicts_and_nothing_is_added() -> None:
    world = World()
    data = ClientCreate(kind="kiosk", name="K", jwks=jwks(), facility_id="01001", id="k-1")
    await world.registry.create_client(data)

    with pytest.raises(Conflict):
        await world.registry.create_client(data)
    assert world.log == ["add Client", "commit", "rollback"]


@pytest.mark.parametrize(
    ("data", "message"),
    [
        (ClientCreate(kind="hospital", name="H", jwks={"keys": []}, facility_id="f"), "at least"),
        (ClientCreate(kind="kiosk", name="K", jwks=jwks()), "facility_id is required"),
        (ClientCreate(kind="admin", name="A", jwks=jwks(), facility_id="f"), "not bound"),
        (
            ClientCreate(kind="kiosk", name="K", jwks=jwks(), facility_id="f", scopes=["admin"]),
            "scopes not available to a kiosk client",
        ),
    ],
)
async def test_an_invalid_client_is_refused(data: ClientCreate, message: str) -> None:
    world = World()
    with pytest.raises(InvalidInput, match=message):
        await world.registry.create_client(data)
    assert "commit" not in world.log


async def test_private_key_material_is_refused() -> None:
    key = SigningKey("EdDSA").jwk | {"d": "c2VjcmV0"}
    with pytest.raises(InvalidInput, match="private"):
        await World().registry.create_client(
            ClientCreate(kind="admin", name="A", jwks={"keys": [key]})
        )


async def test_an_update_changes_what_it_names_and_the_time() -> None:
    world = World()
    await world.registry.create_client(
        ClientCreate(kind="hospital", name="HIS", jwks=jwks(), facility_id="01001", id="his-1")
    )
    world.clock.advance(hours=1)

    view = await world.registry.update_client(
        "his-1", ClientUpdate(enabled=False, scopes=["slots:write"], name="HIS 2")
    )

    assert (view.enabled, view.scopes, view.name) == (False, ["slots:write"], "HIS 2")
    stored = world.session.rows[(Client, "his-1")]
    assert stored.updated_at == NOW + dt.timedelta(hours=1)
    assert world.log[-1] == "commit"


async def test_an_update_of_an_unknown_client_is_not_found() -> None:
    with pytest.raises(NotFound):
        await World().registry.update_client("nobody", ClientUpdate(enabled=False))


async def test_clients_are_read_back() -> None:
    world = World()
    await world.registry.create_client(ClientCreate(kind="admin", name="ops", jwks=jwks(), id="a"))
    assert (await world.registry.get_client("a")).name == "ops"
    with pytest.raises(NotFound):
        await world.registry.get_client("b")


# -- identity providers -------------------------------------------------------------------------


def provider_data(**overrides: Any) -> IdentityProviderCreate:
    values: dict[str, Any] = {
        "id": "vneid",
        "issuer": "https://id.example.gov.vn",
        "jwks_uri": "https://id.example.gov.vn/jwks.json",
        "audiences": ["app"],
    }
    values.update(overrides)
    return IdentityProviderCreate(**values)


async def test_a_provider_is_created_then_replaced() -> None:
    world = World()

    view, created = await world.registry.put_provider(provider_data())
    assert created is True
    assert view.created_at == view.updated_at == NOW

    world.clock.advance(minutes=5)
    world.session.scalar_answers = [None]  # no other provider has this issuer
    view, created = await world.registry.put_provider(provider_data(audiences=["app", "web"]))
    assert created is False
    assert view.audiences == ["app", "web"]
    assert view.created_at == NOW
    assert view.updated_at == NOW + dt.timedelta(minutes=5)
    assert world.log == ["add IdentityProvider", "commit", "commit"]


async def test_an_issuer_belongs_to_one_provider() -> None:
    world = World()
    world.session.scalar_answers = [IdentityProvider(id="other")]
    with pytest.raises(Conflict, match="issuer"):
        await world.registry.put_provider(provider_data())
    assert "commit" not in world.log


async def test_production_refuses_plain_http_and_symmetric_algorithms() -> None:
    plain = provider_data(issuer="http://id.example", jwks_uri="http://id.example/jwks")
    await World().registry.put_provider(plain)  # allowed outside production
    with pytest.raises(InvalidInput):
        await World(production=True).registry.put_provider(plain)
    with pytest.raises(InvalidInput, match="asymmetric"):
        await World().registry.put_provider(provider_data(algorithms=["HS256"]))


async def test_assurance_claim_and_minimum_go_together() -> None:
    with pytest.raises(InvalidInput, match="go together"):
        await World().registry.put_provider(provider_data(assurance_claim="acr"))
