"""Every malformed, forged or misused token gets 401 and changes nothing (RFC 8725 cases)."""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import time

import jwt
import pytest
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import padding
from sqlalchemy import func, select

from api.identity.models import Citizen, RefreshToken
from tests.support.auth import bearer, exchange
from tests.support.idp import SigningKey, TestIdentityProvider
from tests.support.problems import problem_uri

NATIONAL_ID = "001090054321"
LEEWAY = 30  # settings.token_leeway_seconds default


def b64(data: bytes | dict) -> str:
    raw = json.dumps(data).encode() if isinstance(data, dict) else data
    return base64.urlsafe_b64encode(raw).rstrip(b"=").decode()


def unsigned(header: dict, claims: dict, signature: bytes = b"") -> str:
    return f"{b64(header)}.{b64(claims)}.{b64(signature) if signature else ''}"


async def _counts(app) -> tuple[int, int]:
    async with app.state.sessionmaker() as session:
        citizens = await session.scalar(select(func.count()).select_from(Citizen))
        refresh = await session.scalar(select(func.count()).select_from(RefreshToken))
        return citizens, refresh


async def _refused(client, app, token: str) -> None:
    before = await _counts(app)
    response = await exchange(client, token)
    assert response.status_code == 401, response.text
    assert response.json()["error"] == "invalid_grant"
    assert response.headers["content-type"].startswith("application/problem+json")
    assert await _counts(app) == before


@pytest.fixture
async def ready(client, citizen, idp):
    """A registered provider whose keys are already cached (one good login)."""
    await citizen("079085000777")
    return idp


@pytest.mark.parametrize("alg", ["none", "None", "NONE", "nOnE"])
async def test_alg_none_in_any_case(client, app, ready: TestIdentityProvider, alg: str) -> None:
    token = unsigned({"alg": alg, "typ": "JWT", "kid": ready.key.kid}, ready.claims(NATIONAL_ID))
    await _refused(client, app, token)
    await _refused(client, app, token + "c2ln")


async def test_hs256_signed_with_the_providers_public_key(client, app, ready) -> None:
    pem = ready.key.private.public_key().public_bytes(
        serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo
    )
    header = {"alg": "HS256", "typ": "JWT", "kid": ready.key.kid}
    signing_input = f"{b64(header)}.{b64(ready.claims(NATIONAL_ID))}"
    signature = hmac.new(pem, signing_input.encode(), hashlib.sha256).digest()
    await _refused(client, app, f"{signing_input}.{b64(signature)}")
    # and with the JWK's modulus as the secret
    secret = json.dumps(ready.key.jwk).encode()
    signature = hmac.new(secret, signing_input.encode(), hashlib.sha256).digest()
    await _refused(client, app, f"{signing_input}.{b64(signature)}")


async def test_payload_changed_under_a_kept_signature(client, app, ready) -> None:
    genuine = ready.id_token("079085000777")
    header, _payload, signature = genuine.split(".")
    forged_claims = ready.claims(NATIONAL_ID)
    await _refused(client, app, f"{header}.{b64(forged_claims)}.{signature}")


async def test_es256_zero_signature(client, app, idp, citizen) -> None:
    es_key = SigningKey("ES256")
    idp.published.append(es_key)
    await citizen("079085000777")
    header = {"alg": "ES256", "typ": "JWT", "kid": es_key.kid}
    await _refused(client, app, unsigned(header, idp.claims(NATIONAL_ID), b"\x00" * 64))
    # and the ES256 key itself works, so the refusal is about the signature
    assert (await exchange(client, es_key.sign(idp.claims(NATIONAL_ID)))).status_code == 200


@pytest.mark.parametrize("header_name", ["jku", "x5u", "jwk", "x5c"])
async def test_key_location_headers_are_never_followed(client, app, ready, header_name) -> None:
    attacker = SigningKey("RS256", kid="attacker")
    with TestIdentityProvider() as trap:
        trap.published = [attacker]
        values = {
            "jku": trap.jwks_uri,
            "x5u": f"http://127.0.0.1:{trap.port}/cert.pem",
            "jwk": attacker.jwk,
            "x5c": ["MIIBIjANBgkqhkiG9w0BAQEFAAOCAQ8AMIIBCgKCAQEA"],
        }
        token = attacker.sign(ready.claims(NATIONAL_ID), **{header_name: values[header_name]})
        await _refused(client, app, token)
        # even with the provider's genuine key, a token carrying the header is refused
        genuine = ready.key.sign(ready.claims(NATIONAL_ID), **{header_name: values[header_name]})
        await _refused(client, app, genuine)
        assert trap.requests == []


@pytest.mark.parametrize(
    "kid",
    [
        "../../../../etc/passwd",
        "' OR '1'='1",
        "k" * 5000,
        "a\nb",
        "\u0000",
        "😀",
        12345,
        {"$ne": None},
        ["a"],
    ],
)
async def test_hostile_kid_values(client, app, ready, kid) -> None:
    fetches = ready.jwks_fetches
    attacker = SigningKey("RS256")
    header = {"alg": "RS256", "typ": "JWT", "kid": kid}
    signing_input = f"{b64(header)}.{b64(ready.claims(NATIONAL_ID))}"
    signature = attacker.private.sign(signing_input.encode(), padding.PKCS1v15(), hashes.SHA256())
    await _refused(client, app, f"{signing_input}.{b64(signature)}")
    assert ready.jwks_fetches <= fetches + 1


@pytest.mark.parametrize("claim", ["exp", "iat", "iss", "aud", "sub"])
async def test_missing_registered_claims(client, app, ready, claim) -> None:
    await _refused(client, app, ready.id_token(NATIONAL_ID, **{claim: None}))


@pytest.mark.parametrize(
    "issuer_suffix", ["/", "x", ".evil", "/../idp", "?x=1", "#frag", " ", "%2F"]
)
async def test_look_alike_issuer(client, app, ready, issuer_suffix) -> None:
    await _refused(client, app, ready.id_token(NATIONAL_ID, iss=ready.issuer + issuer_suffix))


async def test_look_alike_issuer_by_case_and_host(client, app, ready) -> None:
    await _refused(client, app, ready.id_token(NATIONAL_ID, iss=ready.issuer.upper()))
    await _refused(
        client, app, ready.id_token(NATIONAL_ID, iss=ready.issuer.replace("127.0.0.1", "localhost"))
    )


@pytest.mark.parametrize("audience", ["another-app", ["another-app"], "", "healthbook-app "])
async def test_foreign_audience(client, app, ready, audience) -> None:
    await _refused(client, app, ready.id_token(NATIONAL_ID, aud=audience))


async def test_expiry_at_the_leeway_boundary(client, app, ready) -> None:
    now = int(time.time())
    expired = ready.id_token(NATIONAL_ID, exp=now - LEEWAY - 5, iat=now - 600)
    await _refused(client, app, expired)
    within = ready.id_token(NATIONAL_ID, exp=now - LEEWAY + 10, iat=now - 600)
    assert (await exchange(client, within)).status_code == 200


async def test_not_yet_valid_at_the_leeway_boundary(client, app, ready) -> None:
    now = int(time.time())
    await _refused(client, app, ready.id_token(NATIONAL_ID, nbf=now + LEEWAY + 10))
    await _refused(client, app, ready.id_token(NATIONAL_ID, iat=now + LEEWAY + 10))
    within = ready.id_token(NATIONAL_ID, nbf=now + LEEWAY - 10)
    assert (await exchange(client, within)).status_code == 200


async def test_unknown_crit_header(client, app, ready) -> None:
    token = ready.key.sign(ready.claims(NATIONAL_ID), crit=["exp"])
    await _refused(client, app, token)
    token = ready.key.sign(ready.claims(NATIONAL_ID), crit=["urn:example:unknown"])
    await _refused(client, app, token)


async def test_id_token_presented_as_our_access_token(client, app, ready) -> None:
    id_token = ready.id_token("079085000777")
    response = await client.get("/citizens/me", headers=bearer(id_token))
    assert response.status_code == 401
    assert response.json()["type"] == problem_uri("invalid-token")


async def test_our_access_token_presented_as_an_id_token(client, app, citizen) -> None:
    tokens = await citizen("079085000777")
    await _refused(client, app, tokens["access_token"])


async def test_our_token_with_a_foreign_key_or_type_is_refused(client, app, citizen) -> None:
    tokens = await citizen("079085000777")
    _header, payload, _sig = tokens["access_token"].split(".")
    forger = SigningKey("EdDSA")
    claims = json.loads(base64.urlsafe_b64decode(payload + "=="))
    kid = jwt.get_unverified_header(tokens["access_token"])["kid"]
    forged = forger.sign(claims, kid=kid, typ="at+jwt")
    assert (await client.get("/citizens/me", headers=bearer(forged))).status_code == 401
    retyped = app.state.signing_keys.sign(claims, typ="JWT")
    assert (await client.get("/citizens/me", headers=bearer(retyped))).status_code == 401


async def test_token_of_a_disabled_or_unknown_issuer(
    client, app, citizen, idp, admin_token
) -> None:
    await citizen("079085000777")
    body = idp.provider_body(enabled=False)
    response = await client.put(
        "/admin/identity-providers/test-idp", json=body, headers=bearer(admin_token)
    )
    assert response.status_code == 200
    await _refused(client, app, idp.id_token(NATIONAL_ID))
    with TestIdentityProvider() as stranger:
        await _refused(client, app, stranger.id_token(NATIONAL_ID))
