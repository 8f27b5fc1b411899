"""The verifier against the HL7 specification's published cards, their issuer's JWKS and CRL
(served from tests/data through a local transport: no internet), and against tampered cards:
each failure is named precisely."""

from __future__ import annotations

import base64
import copy
import datetime as dt
import json

import pytest

from api.health_cards import cards
from api.health_cards.keys import HealthCardKeys, new_key_text
from tests.support.health_cards import (
    SPEC_ISSUER,
    SPEC_KID,
    Issuer,
    Web,
    b64,
    example,
    payload_of,
    spec_crl,
    spec_jwks,
    unb64,
    verifier,
)

BEFORE_EXP_03 = dt.datetime(2025, 1, 1, tzinfo=dt.UTC)
"""example-03 carries ``exp`` 2025-05-07: its checks run at a time it had not expired yet."""


def spec_web(crl: dict | None = None) -> Web:
    web = Web()
    web.publish(SPEC_ISSUER, spec_jwks(), {SPEC_KID: crl or spec_crl()})
    return web


@pytest.mark.parametrize(
    "name",
    [
        "example-00-d-jws.txt",
        "example-00-e-file.smart-health-card",
        "example-00-f-qr-code-numeric-value-0.txt",
        "example-01-e-file.smart-health-card",
        "example-02-d-jws.txt",
    ],
)
async def test_the_spec_cards_verify_with_the_spec_issuer_keys(name: str) -> None:
    web = spec_web()
    verdict = await verifier(web).verify(example(name))
    assert verdict.valid, verdict
    assert verdict.reason is None
    assert verdict.issuer == SPEC_ISSUER
    assert verdict.nbf is not None
    assert verdict.nbf % 1 != 0
    assert verdict.fhir_bundle is not None
    assert verdict.fhir_bundle["resourceType"] == "Bundle"
    assert f"{SPEC_ISSUER}/.well-known/jwks.json" in web.requests


async def test_the_revoked_spec_card_reports_revoked() -> None:
    # the CRL published with the examples revokes rid vwAjHdarZuc before its time stamp, which
    # is older than the re-signed example; its rid revoked without a time revokes every card
    crl = copy.deepcopy(spec_crl())
    rid = payload_of(example("example-03-d-jws.txt"))["vc"]["rid"]
    crl["rids"] = [r if not r.startswith(rid) else rid for r in crl["rids"]]
    web = spec_web(crl)
    verdict = await verifier(web, now=BEFORE_EXP_03).verify(
        example("example-03-e-file.smart-health-card")
    )
    assert (verdict.valid, verdict.reason) == (False, "revoked")
    assert f"{SPEC_ISSUER}/.well-known/crl/{SPEC_KID}.json" in web.requests


async def test_a_timed_revocation_spares_cards_issued_after_it() -> None:
    published = spec_crl()
    rid = payload_of(example("example-03-d-jws.txt"))["vc"]["rid"]
    assert f"{rid}.1664492124" in published["rids"]  # revoked before 2022-09-29
    verdict = await verifier(spec_web(published), now=BEFORE_EXP_03).verify(
        example("example-03-d-jws.txt")
    )
    assert verdict.valid, verdict  # example-03 was signed in 2024


async def test_an_expired_card_says_so() -> None:
    verdict = await verifier(spec_web()).verify(example("example-03-d-jws.txt"))
    assert (verdict.valid, verdict.reason) == (False, "expired")


def _flip_signature(jws: str) -> str:
    header, body, signature = jws.split(".")
    raw = bytearray(unb64(signature))
    raw[10] ^= 0x01
    return f"{header}.{body}.{b64(bytes(raw))}"


async def test_a_flipped_signature_byte_is_a_bad_signature() -> None:
    verdict = await verifier(spec_web()).verify(_flip_signature(example("example-00-d-jws.txt")))
    assert (verdict.valid, verdict.reason) == (False, "bad_signature")
    assert verdict.fhir_bundle is not None  # what the card says is still shown


async def test_a_changed_payload_is_a_bad_signature() -> None:
    jws = example("example-00-d-jws.txt")
    claims = payload_of(jws)
    claims["vc"]["credentialSubject"]["fhirBundle"]["entry"][0]["resource"]["birthDate"] = "1990"
    header, _, signature = jws.split(".")
    body = b64(cards.deflate(json.dumps(claims, separators=(",", ":")).encode()))
    verdict = await verifier(spec_web()).verify(f"{header}.{body}.{signature}")
    assert (verdict.valid, verdict.reason) == (False, "bad_signature")


async def test_zip_def_over_an_uncompressed_payload_is_not_compressed() -> None:
    issuer = Issuer("https://other.example.org")
    web = Web()
    web.publish(issuer.iss, issuer.jwks())
    jws = issuer.sign(issuer.card(1_700_000_000), compress=False)
    verdict = await verifier(web, trusted=(issuer.iss,)).verify(jws)
    assert (verdict.valid, verdict.reason) == (False, "not_compressed")


async def test_a_header_without_zip_is_not_compressed() -> None:
    issuer = Issuer("https://other.example.org")
    web = Web()
    web.publish(issuer.iss, issuer.jwks())
    jws = issuer.sign(issuer.card(1_700_000_000), compress=False, header={"zip": None})
    verdict = await verifier(web, trusted=(issuer.iss,)).verify(jws)
    assert (verdict.valid, verdict.reason) == (False, "not_compressed")


async def test_a_kid_that_is_not_the_thumbprint_is_refused() -> None:
    issuer = Issuer("https://other.example.org", kid="key-1")
    web = Web()
    web.publish(issuer.iss, issuer.jwks())
    jws = issuer.sign(issuer.card(1_700_000_000))
    verdict = await verifier(web, trusted=(issuer.iss,)).verify(jws)
    assert (verdict.valid, verdict.reason) == (False, "kid_not_thumbprint")


async def test_a_kid_missing_from_the_jwks_is_refused() -> None:
    issuer, other = Issuer("https://other.example.org"), Issuer("https://other.example.org")
    web = Web()
    web.publish(issuer.iss, other.jwks())
    verdict = await verifier(web, trusted=(issuer.iss,)).verify(
        issuer.sign(issuer.card(1_700_000_000))
    )
    assert (verdict.valid, verdict.reason) == (False, "kid_not_in_jwks")


async def test_an_issuer_not_trusted_is_refused_without_a_fetch() -> None:
    web = spec_web()
    verdict = await verifier(web, trusted=()).verify(example("example-00-d-jws.txt"))
    assert (verdict.valid, verdict.reason) == (False, "untrusted_issuer")
    assert verdict.issuer == SPEC_ISSUER
    assert web.requests == []


async def test_an_unreachable_issuer_is_unavailable() -> None:
    verdict = await verifier(Web()).verify(example("example-00-d-jws.txt"))
    assert (verdict.valid, verdict.reason) == (False, "issuer_unavailable")


async def test_nbf_in_milliseconds_is_not_yet_valid() -> None:
    issuer = Issuer("https://other.example.org")
    web = Web()
    web.publish(issuer.iss, issuer.jwks())
    jws = issuer.sign(issuer.card(1_700_000_000_000))
    verdict = await verifier(web, trusted=(issuer.iss,)).verify(jws)
    assert (verdict.valid, verdict.reason) == (False, "not_yet_valid")


@pytest.mark.parametrize(
    "text",
    [
        "",
        "not a card",
        "a.b",
        '{"verifiableCredential": "x"}',
        '{"verifiableCredential": []}',
        "shc:/56762959532654603460292540772804336028702864716745222809286133314564",
        "eyJhbGciOiJIUzI1NiJ9.e30.c2ln",
    ],
)
async def test_malformed_cards_say_so(text: str) -> None:
    verdict = await verifier(Web()).verify(text)
    assert (verdict.valid, verdict.reason) == (False, "malformed")


async def test_a_card_without_the_health_card_type_is_malformed() -> None:
    issuer = Issuer("https://other.example.org")
    claims = issuer.card(1_700_000_000)
    claims["vc"]["type"] = ["VerifiableCredential"]
    verdict = await verifier(Web(), trusted=(issuer.iss,)).verify(issuer.sign(claims))
    assert (verdict.valid, verdict.reason) == (False, "malformed")


async def test_a_file_of_two_cards_is_valid_only_when_both_are() -> None:
    good = example("example-00-d-jws.txt")
    document = json.dumps({"verifiableCredential": [good, _flip_signature(good)]})
    verdict = await verifier(spec_web()).verify(document)
    assert (verdict.valid, verdict.reason) == (False, "bad_signature")
    assert [c.valid for c in verdict.cards] == [True, False]


def test_keys_refuse_what_is_not_p256() -> None:
    from cryptography.hazmat.primitives import serialization
    from cryptography.hazmat.primitives.asymmetric import ec

    p384 = ec.generate_private_key(ec.SECP384R1()).private_bytes(
        serialization.Encoding.DER,
        serialization.PrivateFormat.PKCS8,
        serialization.NoEncryption(),
    )
    with pytest.raises(ValueError, match="P-256"):
        HealthCardKeys([base64.b64encode(p384).decode()])
    with pytest.raises(ValueError, match="PKCS#8"):
        HealthCardKeys(["bm90IGEga2V5"])
    pem = (
        ec.generate_private_key(ec.SECP256R1())
        .private_bytes(
            serialization.Encoding.PEM,
            serialization.PrivateFormat.PKCS8,
            serialization.NoEncryption(),
        )
        .decode()
    )
    escaped = pem.replace("\n", "\\n")
    assert HealthCardKeys([escaped, new_key_text()]).keys[0].kid == HealthCardKeys([pem]).kids[0]


def test_without_a_key_nothing_is_signed_or_published() -> None:
    import uuid

    from api.health_cards.errors import IssuerNotConfigured

    service = verifier(Web(), keys=HealthCardKeys([]))
    with pytest.raises(IssuerNotConfigured):
        service.sign_bundle(uuid.uuid4(), {"resourceType": "Bundle"}, [])
    assert service.keys.kids == []
