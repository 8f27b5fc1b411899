"""The demo identity provider: mounted only in demo mode (``healthbook demo``).

It stands in for the national identity provider so a newcomer can log in with curl: it publishes
its JWKS, and issues ID tokens for a fixed set of demo citizens (never for anyone else). At start
in demo mode it registers itself as a trusted provider with issuer ``<PUBLIC_BASE_URL>/demo-idp``.
"""

from __future__ import annotations

import datetime as dt
import html
import json
import time
from pathlib import Path
from typing import Annotated, Any

import jwt
import msgspec
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
from jwt.algorithms import OKPAlgorithm
from litestar import Controller, MediaType, Response, get, post
from litestar.datastructures import State
from litestar.params import Body
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from api.core.errors import NotFound
from api.core.openapi import examples, problem_responses
from api.core.settings import Settings
from api.identity import admin
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


def _birthdate(national_id: str) -> str | None:
    return next((p.birthdate for p in DEMO_PEOPLE if p.national_id == national_id), None)


async def register_demo_provider(
    settings: Settings, sessionmaker: async_sessionmaker[AsyncSession]
) -> None:
    issuer = f"{settings.issuer}{DEMO_PATH}"
    async with sessionmaker() as session:
        await admin.put_provider(
            session,
            IdentityProviderCreate(
                id=DEMO_PROVIDER_ID,
                issuer=issuer,
                jwks_uri=f"{issuer}/jwks.json",
                audiences=[DEMO_AUDIENCE],
                algorithms=["EdDSA"],
                national_id_claim="national_id",
                assurance_claim="acr",
                min_assurance=2,
                dependents_claim="dependents",
            ),
            production=False,
            now=dt.datetime.now(dt.UTC),
        )


class DemoIdpController(Controller):
    path = DEMO_PATH
    tags = ["demo identity provider"]  # noqa: RUF012

    @get("/jwks.json", operation_id="GetDemoIdpJwks", summary="The demo provider's keys")
    async def jwks(self, state: State) -> dict[str, Any]:
        return state.demo_idp.jwks()

    @get(
        "/.well-known/openid-configuration",
        operation_id="GetDemoIdpConfiguration",
        summary="OpenID Connect discovery for the demo provider",
    )
    async def configuration(self, state: State) -> dict[str, Any]:
        issuer = state.demo_idp.issuer
        return {
            "issuer": issuer,
            "jwks_uri": f"{issuer}/jwks.json",
            "id_token_signing_alg_values_supported": ["EdDSA"],
            "claims_supported": ["national_id", "name", "birthdate", "gender", "dependents"],
        }

    @post(
        "/id-token",
        operation_id="IssueDemoIdToken",
        summary="An ID token for one of the demo citizens",
        responses=problem_responses(NotFound.problem),
        status_code=200,
    )
    async def issue(
        self,
        data: Annotated[
            IdTokenRequest, Body(examples=examples(demo_citizen={"national_id": "001090000001"}))
        ],
        state: State,
    ) -> IdTokenResponse:
        person = next((p for p in DEMO_PEOPLE if p.national_id == data.national_id), None)
        if person is None:
            raise NotFound("not a demo citizen; see GET /demo-idp for the list")
        return IdTokenResponse(id_token=state.demo_idp.id_token(person), expires_in=600)

    @get("/", operation_id="GetDemoIdpPage", summary="Demo citizens and how to log in as them")
    async def page(self, state: State) -> Response[str]:
        base = state.settings.issuer
        rows = "".join(
            f"<tr><td>{html.escape(p.name)}</td><td>{p.national_id}</td><td>{p.birthdate}</td>"
            f"<td>{'guardian of ' + ', '.join(p.dependents) if p.dependents else ''}</td></tr>"
            for p in DEMO_PEOPLE
        )
        curl = (
            f"ID=$(curl -s -X POST {base}{DEMO_PATH}/id-token -H 'content-type: application/json' "
            f'-d \'{{"national_id":"{DEMO_PEOPLE[0].national_id}"}}\' | jq -r .id_token)\n'
            f"curl -s -X POST {base}/auth/token "
            "-d grant_type=urn:ietf:params:oauth:grant-type:token-exchange "
            '-d subject_token="$ID" '
            "-d subject_token_type=urn:ietf:params:oauth:token-type:id_token"
        )
        body = (
            "<!doctype html><html lang='vi'><meta charset='utf-8'>"
            "<title>Demo identity provider</title>"
            "<style>body{font:18px system-ui;margin:2rem;max-width:60rem}"
            "td,th{padding:.3rem 1rem;border-bottom:1px solid #ccc}</style>"
            "<h1>Demo identity provider</h1><p>Stands in for the national identity provider in "
            "demo mode only. It issues ID tokens for these citizens:</p>"
            f"<table><tr><th>Name</th><th>National ID</th><th>Born</th><th></th></tr>{rows}"
            f"</table><h2>Log in with curl</h2><pre>{html.escape(curl)}</pre></html>"
        )
        return Response(body, media_type=MediaType.HTML)


def demo_routes(settings: Settings) -> list[type[Controller]]:
    return [DemoIdpController] if settings.demo else []
