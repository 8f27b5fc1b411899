"""Logging in as each kind of caller in tests: operators, hospitals, kiosks, citizens."""

from __future__ import annotations

import secrets
import time
from typing import Any

import httpx
from litestar import Litestar

from api.identity.schemas import ClientCreate
from tests.support.idp import SigningKey, TestIdentityProvider

TOKEN_EXCHANGE = "urn:ietf:params:oauth:grant-type:token-exchange"
ID_TOKEN_TYPE = "urn:ietf:params:oauth:token-type:id_token"
JWT_BEARER = "urn:ietf:params:oauth:client-assertion-type:jwt-bearer"


class ClientCredentials:
    def __init__(self, client_id: str, key: SigningKey, token_url: str) -> None:
        self.client_id = client_id
        self.key = key
        self.token_url = token_url

    def assertion(self, **overrides: Any) -> str:
        now = int(time.time())
        claims: dict[str, Any] = {
            "iss": self.client_id,
            "sub": self.client_id,
            "aud": self.token_url,
            "iat": now,
            "exp": now + 60,
            "jti": secrets.token_urlsafe(16),
        }
        headers = overrides.pop("_headers", {})
        for name, value in overrides.items():
            if value is None:
                claims.pop(name, None)
            else:
                claims[name] = value
        return self.key.sign(claims, **headers)

    def form(self, assertion: str | None = None, **extra: str) -> dict[str, str]:
        return {
            "grant_type": "client_credentials",
            "client_assertion_type": JWT_BEARER,
            "client_assertion": assertion or self.assertion(),
            **extra,
        }


async def create_client_directly(
    app: Litestar, kind: str, facility_id: str | None = None, client_id: str | None = None
) -> ClientCredentials:
    """Register a client in the database (as ``healthbook clients create`` does)."""
    key = SigningKey("EdDSA")
    view = await app.state.runtime.identity_registry.create_client(
        ClientCreate(
            kind=kind,  # type: ignore[arg-type]
            name=f"test {kind}",
            jwks={"keys": [key.jwk]},
            facility_id=facility_id,
            id=client_id,
        )
    )
    return ClientCredentials(view.id, key, app.state.settings.token_endpoint)


async def client_token(http: httpx.AsyncClient, credentials: ClientCredentials) -> str:
    response = await http.post("/auth/token", data=credentials.form())
    assert response.status_code == 200, response.text
    return response.json()["access_token"]


def bearer(token: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {token}"}


async def register_provider(
    http: httpx.AsyncClient, admin_token: str, idp: TestIdentityProvider, **overrides: Any
) -> None:
    body = idp.provider_body(**overrides)
    response = await http.put(
        f"/admin/identity-providers/{body['id']}", json=body, headers=bearer(admin_token)
    )
    assert response.status_code in (200, 201), response.text


async def exchange(http: httpx.AsyncClient, id_token: str) -> httpx.Response:
    return await http.post(
        "/auth/token",
        data={
            "grant_type": TOKEN_EXCHANGE,
            "subject_token": id_token,
            "subject_token_type": ID_TOKEN_TYPE,
        },
    )


async def login(
    http: httpx.AsyncClient, idp: TestIdentityProvider, national_id: str, **claims: Any
) -> dict[str, Any]:
    response = await exchange(http, idp.id_token(national_id, **claims))
    assert response.status_code == 200, response.text
    return response.json()
