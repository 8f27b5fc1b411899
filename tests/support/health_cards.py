"""The HL7 specification's SMART Health Card examples in ``tests/data/health_cards`` (origin and
licence: ``tests/data/SOURCES.md``), an issuer of our own making, and a verifier service wired to
a local "internet" (an httpx mock transport) that serves issuers' JWKS and CRLs."""

from __future__ import annotations

import base64
import datetime as dt
import json
import zlib
from collections.abc import Callable
from pathlib import Path
from typing import Any, cast

import httpx
import jwt
from cryptography.hazmat.primitives.asymmetric import ec

from api.core.clock import FrozenClock
from api.health_cards import cards
from api.health_cards.keys import HealthCardKeys, new_key_text
from api.health_cards.service import HealthCardService
from api.identity.jwks import JwksCache

DATA = Path(__file__).resolve().parents[1] / "data" / "health_cards"
SPEC_ISSUER = "https://spec.smarthealth.cards/examples/issuer"
SPEC_KID = "3Kfdg-XwP-7gXyywtUfUADwBumDOPKMQx-iELL11W9s"
OURS = "https://book.example.vn"


def example(name: str) -> str:
    return (DATA / name).read_text().strip()


def spec_jwks() -> dict[str, Any]:
    return json.loads((DATA / "issuer" / "jwks.json").read_text())


def spec_crl() -> dict[str, Any]:
    return json.loads((DATA / "issuer" / "crl" / f"{SPEC_KID}.json").read_text())


def b64(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


def unb64(text: str) -> bytes:
    return base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))


def payload_of(jws: str) -> dict[str, Any]:
    return json.loads(zlib.decompress(unb64(jws.split(".")[1]), -15))


class Issuer:
    """Another issuer: a P-256 key, its JWKS (``kid`` the thumbprint unless told otherwise)."""

    def __init__(self, iss: str, *, kid: str | None = None) -> None:
        self.iss = iss
        self.private = ec.generate_private_key(ec.SECP256R1())
        jwk = cards.public_jwk(self.private.public_key())
        self.kid = kid or jwk["kid"]
        self.jwk = {**jwk, "kid": self.kid}

    def jwks(self) -> dict[str, Any]:
        return {"keys": [self.jwk]}

    def sign(
        self,
        claims: dict[str, Any],
        *,
        compress: bool = True,
        header: dict[str, Any] | None = None,
    ) -> str:
        body = json.dumps(claims, separators=(",", ":")).encode()
        data = cards.deflate(body) if compress else body
        headers = {"zip": "DEF", "kid": self.kid, "typ": None, **(header or {})}
        return jwt.api_jws.encode(data, self.private, algorithm="ES256", headers=headers)

    def card(self, nbf: float, **extra_vc: Any) -> dict[str, Any]:
        return {
            "iss": self.iss,
            "nbf": nbf,
            "vc": {
                "type": [cards.HEALTH_CARD_TYPE],
                "credentialSubject": {
                    "fhirVersion": "4.0.1",
                    "fhirBundle": {"resourceType": "Bundle", "type": "collection", "entry": []},
                },
                **extra_vc,
            },
        }


class Web:
    """What issuers publish, by URL, served through an httpx mock transport."""

    def __init__(self) -> None:
        self.documents: dict[str, Any] = {}
        self.requests: list[str] = []

    def publish(self, iss: str, jwks: dict[str, Any], crls: dict[str, Any] | None = None) -> None:
        self.documents[f"{iss}/.well-known/jwks.json"] = jwks
        for kid, crl in (crls or {}).items():
            self.documents[f"{iss}/.well-known/crl/{kid}.json"] = crl

    def handler(self, request: httpx.Request) -> httpx.Response:
        url = str(request.url)
        self.requests.append(url)
        if url not in self.documents:
            return httpx.Response(404)
        return httpx.Response(200, json=self.documents[url])

    def client(self) -> httpx.AsyncClient:
        return httpx.AsyncClient(transport=httpx.MockTransport(self.handler))


def verifier(
    web: Web,
    *,
    trusted: tuple[str, ...] = (SPEC_ISSUER,),
    now: dt.datetime | None = None,
    keys: HealthCardKeys | None = None,
) -> HealthCardService:
    """A service that verifies only (no database, no book): other issuers through ``web``."""
    http = web.client()
    return HealthCardService(
        uow=cast(Any, None),
        clock=FrozenClock(now or dt.datetime(2026, 12, 1, tzinfo=dt.UTC)),
        book=cast(Any, None),
        keys=keys or HealthCardKeys([new_key_text()]),
        issuer=OURS,
        rid_secret="test-secret-" + "x" * 20,
        trusted_issuers=trusted,
        remote_keys=JwksCache(http, ttl=300, cooldown=0, max_staleness=3600),
        http=http,
    )


Tamper = Callable[[str], str]
