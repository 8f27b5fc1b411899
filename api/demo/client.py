"""The demo's HTTP side: API clients' credentials (kept in DATA_DIR so a second run reuses them)
and a small client that logs in the way a hospital, a kiosk or a citizen's app does."""

from __future__ import annotations

import json
import secrets
import time
import uuid
from pathlib import Path
from typing import Any

import httpx
import jwt
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
from jwt.algorithms import OKPAlgorithm

JWT_BEARER = "urn:ietf:params:oauth:client-assertion-type:jwt-bearer"
TOKEN_EXCHANGE = "urn:ietf:params:oauth:grant-type:token-exchange"
ID_TOKEN_TYPE = "urn:ietf:params:oauth:token-type:id_token"
FHIR_JSON = {"Content-Type": "application/fhir+json"}


class DemoError(RuntimeError):
    """A demo step got an answer it did not expect."""


def generate_client_key() -> tuple[dict[str, list[dict[str, str]]], dict[str, Any]]:
    """An Ed25519 key pair for a client: (public JWK Set to register, private JWK to keep)."""
    private = Ed25519PrivateKey.generate()
    kid = f"k-{secrets.token_hex(4)}"
    public_jwk = json.loads(OKPAlgorithm.to_jwk(private.public_key()))
    private_jwk = json.loads(OKPAlgorithm.to_jwk(private))
    for jwk in (public_jwk, private_jwk):
        jwk.update({"kid": kid, "alg": "EdDSA", "use": "sig"})
    return {"keys": [public_jwk]}, private_jwk


class Credentials:
    """The demo's clients, ``{name: {"client_id", "private_jwk"}}`` in DATA_DIR/demo/clients.json
    (a secret file: 0600)."""

    def __init__(self, data_dir: str) -> None:
        self.path = Path(data_dir) / "demo" / "clients.json"
        self.clients: dict[str, dict[str, Any]] = (
            json.loads(self.path.read_text()) if self.path.exists() else {}
        )

    def get(self, name: str) -> dict[str, Any] | None:
        return self.clients.get(name)

    def put(self, name: str, client_id: str, private_jwk: dict[str, Any]) -> None:
        self.clients[name] = {"client_id": client_id, "private_jwk": private_jwk}
        self.path.parent.mkdir(parents=True, exist_ok=True)
        self.path.touch(mode=0o600, exist_ok=True)
        self.path.write_text(json.dumps(self.clients, indent=2))


def assertion(client: dict[str, Any], token_url: str) -> str:
    """An RFC 7523 client assertion signed with the client's private key."""
    now = int(time.time())
    key = jwt.PyJWK(client["private_jwk"])
    claims = {
        "iss": client["client_id"],
        "sub": client["client_id"],
        "aud": token_url,
        "iat": now,
        "exp": now + 60,
        "jti": secrets.token_urlsafe(16),
    }
    return jwt.encode(
        claims, key.key, algorithm="EdDSA", headers={"kid": client["private_jwk"]["kid"]}
    )


class Api:
    """An HTTP client on the running service that fails loudly on an unexpected answer."""

    def __init__(self, base_url: str, timeout: float = 15.0) -> None:
        self.base_url = base_url.rstrip("/")
        self.http = httpx.Client(base_url=self.base_url, timeout=timeout)

    def close(self) -> None:
        self.http.close()

    def call(
        self, method: str, path: str, *, expect: tuple[int, ...] = (200,), **kwargs: Any
    ) -> httpx.Response:
        response = self.http.request(method, path, **kwargs)
        if response.status_code not in expect:
            raise DemoError(
                f"{method} {path} answered {response.status_code}: {response.text[:500]}"
            )
        return response

    def client_token(self, client: dict[str, Any]) -> str:
        token_url = f"{self.base_url}/auth/token"
        response = self.call(
            "POST",
            "/auth/token",
            data={
                "grant_type": "client_credentials",
                "client_assertion_type": JWT_BEARER,
                "client_assertion": assertion(client, token_url),
            },
        )
        return str(response.json()["access_token"])

    def citizen_token(self, national_id: str) -> str:
        """Log a demo citizen in as the app does: an ID token from the demo identity provider,
        exchanged for our access token."""
        id_token = self.call(
            "POST", "/demo-idp/id-token", json={"national_id": national_id}
        ).json()["id_token"]
        response = self.call(
            "POST",
            "/auth/token",
            data={
                "grant_type": TOKEN_EXCHANGE,
                "subject_token": id_token,
                "subject_token_type": ID_TOKEN_TYPE,
            },
        )
        return str(response.json()["access_token"])


def bearer(token: str, **extra: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {token}", **extra}


def idempotency_key() -> str:
    return str(uuid.uuid4())
