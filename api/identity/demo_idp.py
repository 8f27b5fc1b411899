"""The demo identity provider: mounted only in demo mode (``healthbook demo``).

It stands in for the national identity provider so a newcomer can log in with curl: it publishes
its JWKS, and issues ID tokens for a fixed set of demo citizens (never for anyone else). At start
in demo mode it registers itself as a trusted provider with issuer ``<PUBLIC_BASE_URL>/demo-idp``.
Its routes are in :mod:`api.identity.routes.demo_idp`.
"""

from __future__ import annotations

import json
import time
from pathlib import Path
from typing import Any

import jwt
import msgspec
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
from jwt.algorithms import OKPAlgorithm

from api.core.errors import NotFound
from api.core.settings import Settings
from api.identity.registry import RegistryService
from api.identity.schemas import IdentityProviderCreate

DEMO_PROVIDER_ID = "demo"
DEMO_AUDIENCE = "healthbook-demo-app"
DEMO_PATH = "/demo-idp"


class DemoPerson(msgspec.Struct, frozen=True):
    national_id: str
    name: str
    birthdate: str
    gender: str
    phone: str
    dependents: tuple[str, ...] = ()


DEMO_PEOPLE: tuple[DemoPerson, ...] = (
    DemoPerson(
        national_id="001090000001",
        name="Nguyễn Thị Lan",
        birthdate="1990-04-12",
        gender="female",
        phone="+84901000001",
        dependents=("001218000003",),
    ),
    DemoPerson(
        national_id="079085000002",
        name="Trần Văn Minh",
        birthdate="1985-09-30",
        gender="male",
        phone="+84901000002",
    ),
    DemoPerson(
        national_id="001218000003",
        name="Nguyễn Minh An",
        birthdate="2018-06-01",
        gender="male",
        phone="",
    ),
)


class IdTokenRequest(msgspec.Struct, forbid_unknown_fields=True):
    national_id: str


class IdTokenResponse(msgspec.Struct):
    id_token: str
    expires_in: int


class DemoIdentityProvider:
    """The demo provider's Ed25519 key (kept in DATA_DIR) and its token minting."""

    def __init__(self, settings: Settings) -> None:
        self.base_url = settings.issuer
        self.issuer = f"{settings.issuer}{DEMO_PATH}"
        path = Path(settings.data_dir) / "demo-idp-key.pem"
        if path.exists():
            key = serialization.load_pem_private_key(path.read_bytes(), password=None)
            assert isinstance(key, Ed25519PrivateKey)
        else:
            key = Ed25519PrivateKey.generate()
            path.parent.mkdir(parents=True, exist_ok=True)
            path.write_bytes(
                key.private_bytes(
                    serialization.Encoding.PEM,
                    serialization.PrivateFormat.PKCS8,
                    serialization.NoEncryption(),
                )
            )
            path.chmod(0o600)
        self.key = key
        self.kid = "demo-1"

    def jwks(self) -> dict[str, Any]:
        jwk = json.loads(OKPAlgorithm.to_jwk(self.key.public_key()))
        jwk.update({"kid": self.kid, "use": "sig", "alg": "EdDSA"})
        return {"keys": [jwk]}

    def id_token(self, person: DemoPerson, ttl: int = 600) -> str:
        now = int(time.time())
        claims = {
            "iss": self.issuer,
            "aud": DEMO_AUDIENCE,
            "sub": f"demo-{person.national_id}",
            "iat": now,
            "exp": now + ttl,
            "national_id": person.national_id,
            "name": person.name,
            "birthdate": person.birthdate,
            "gender": person.gender,
            "phone_number": person.phone or None,
            "dependents": [
                {"national_id": number, "birthdate": _birthdate(number)}
                for number in person.dependents
            ],
            "acr": "2",
        }
        return jwt.encode(claims, self.key, algorithm="EdDSA", headers={"kid": self.kid})

    def issue(self, national_id: str) -> IdTokenResponse:
        """An ID token for the demo citizen with this number (``NotFound`` for anyone else)."""
        person = next((p for p in DEMO_PEOPLE if p.national_id == national_id), None)
        if person is None:
            raise NotFound("not a demo citizen; see GET /demo-idp for the list")
        return IdTokenResponse(id_token=self.id_token(person), expires_in=600)

    def configuration(self) -> dict[str, Any]:
        """OpenID Connect discovery."""
        return {
            "issuer": self.issuer,
            "jwks_uri": f"{self.issuer}/jwks.json",
            "id_token_signing_alg_values_supported": ["EdDSA"],
            "claims_supported": ["national_id", "name", "birthdate", "gender", "dependents"],
        }

    def registration(self) -> IdentityProviderCreate:
        """The demo provider as the registry trusts it."""
        return IdentityProviderCreate(
            id=DEMO_PROVIDER_ID,
            issuer=self.issuer,
            jwks_uri=f"{self.issuer}/jwks.json",
            audiences=[DEMO_AUDIENCE],
            algorithms=["EdDSA"],
            national_id_claim="national_id",
            assurance_claim="acr",
            min_assurance=2,
            dependents_claim="dependents",
        )

    async def register(self, registry: RegistryService) -> None:
        """Trust the demo provider (at start, in demo mode)."""
        await registry.put_provider(self.registration(), production=False)


def _birthdate(national_id: str) -> str | None:
    return next((p.birthdate for p in DEMO_PEOPLE if p.national_id == national_id), None)
