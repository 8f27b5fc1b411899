"""The format, with no I/O: numeric QR text, thumbprints, minification, the signed JWS, against
the HL7 specification's own examples."""

from __future__ import annotations

import json

import pytest
import zxingcpp
from hypothesis import given
from hypothesis import strategies as st
from PIL import Image

from api.health_cards import cards
from api.health_cards.keys import HealthCardKeys, new_key_text
from tests.support.health_cards import SPEC_KID, example, payload_of, spec_jwks, unb64

JWS_ALPHABET = st.text(
    alphabet=st.sampled_from("ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_."),
    min_size=1,
    max_size=1500,
)


def test_the_spec_qr_text_decodes_to_the_spec_jws() -> None:
    numeric = example("example-00-f-qr-code-numeric-value-0.txt")
    jws = example("example-00-d-jws.txt")
    assert cards.from_numeric(numeric) == jws
    assert cards.to_numeric(jws) == numeric


@given(JWS_ALPHABET)
def test_numeric_encoding_round_trips(jws: str) -> None:
    numeric = cards.to_numeric(jws)
    assert numeric.startswith("shc:/")
    assert numeric[5:].isdigit()
    assert len(numeric) == 5 + 2 * len(jws)
    assert cards.from_numeric(numeric) == jws


@pytest.mark.parametrize("text", ["shc:/123", "shc:/7899", "shc:/1/2/5676", "shc:/ab", "hello"])
def test_bad_numeric_text_is_malformed(text: str) -> None:
    with pytest.raises(cards.CardError) as caught:
        cards.from_numeric(text)
    assert caught.value.reason == "malformed"


def test_spec_key_ids_are_their_thumbprints() -> None:
    keys = spec_jwks()["keys"]
    assert [cards.thumbprint(k) for k in keys] == [k["kid"] for k in keys]
    assert keys[0]["kid"] == SPEC_KID


def test_the_spec_examples_parse_with_fractional_nbf() -> None:
    parsed = cards.parse(example("example-00-d-jws.txt"))
    assert parsed.header == {"zip": "DEF", "alg": "ES256", "kid": SPEC_KID}
    assert parsed.payload["nbf"] == 1715107763.677
    assert parsed.payload == json.loads(example("example-00-c-jws-payload-minified.json"))
    cards.check_signature(parsed, spec_jwks()["keys"][0])


def test_a_spec_file_lists_its_jws() -> None:
    assert cards.card_texts(example("example-00-e-file.smart-health-card")) == [
        example("example-00-d-jws.txt")
    ]


def test_minification_follows_the_qr_rules() -> None:
    patient = {
        "resourceType": "Patient",
        "id": "p1",
        "meta": {"lastUpdated": "2026-01-01T00:00:00Z"},
        "text": {"status": "generated", "div": "<div>…</div>"},
        "name": [{"family": "Nguyễn", "given": ["An"], "text": "Nguyễn An"}],
    }
    immunization = {
        "resourceType": "Immunization",
        "id": "i1",
        "meta": {"security": [{"system": "urn:s", "code": "R"}], "versionId": "3"},
        "status": "completed",
        "vaccineCode": {
            "coding": [{"system": "http://hl7.org/fhir/sid/cvx", "code": "207", "display": "X"}],
            "text": "COVID-19 vaccine",
        },
        "patient": {"reference": "urn:uuid:patient-1"},
        "encounter": {"reference": "Encounter/not-in-the-card"},
        "performer": [{"actor": {"reference": "Organization/o1", "display": "BV Bạch Mai"}}],
        "occurrenceDateTime": "2021-01-01",
    }
    bundle = cards.minified_bundle(
        [(patient, ["urn:uuid:patient-1"]), (immunization, [])], patient_url="resource:0"
    )
    assert bundle["type"] == "collection"
    assert [e["fullUrl"] for e in bundle["entry"]] == ["resource:0", "resource:1"]
    p, i = (e["resource"] for e in bundle["entry"])
    assert p == {
        "resourceType": "Patient",
        "name": [{"family": "Nguyễn", "given": ["An"], "text": "Nguyễn An"}],
    }
    assert "id" not in i
    assert i["meta"] == {"security": [{"system": "urn:s", "code": "R"}]}
    assert i["vaccineCode"] == {
        "coding": [{"system": "http://hl7.org/fhir/sid/cvx", "code": "207"}]
    }
    assert i["patient"] == {"reference": "resource:0"}
    assert "encounter" not in i  # its target is not in the card
    assert i["performer"] == [{"actor": {"display": "BV Bạch Mai"}}]


def test_a_signed_card_is_compressed_es256_with_a_64_byte_signature() -> None:
    keys = HealthCardKeys([new_key_text()])
    signer = keys.signer
    assert signer is not None
    body = cards.payload(
        issuer="https://book.example.vn",
        nbf=1_800_000_000,
        types=["http://hl7.org/fhir/StructureDefinition/Immunization"],
        bundle={"resourceType": "Bundle", "type": "collection", "entry": []},
        rid="abc",
    )
    assert b" " not in body
    jws = cards.sign(body, signer.private, signer.kid)
    header_b64, _, signature_b64 = jws.split(".")
    assert json.loads(unb64(header_b64)) == {"alg": "ES256", "zip": "DEF", "kid": signer.kid}
    assert len(unb64(signature_b64)) == 64
    assert payload_of(jws) == json.loads(body)
    assert signer.kid == cards.thumbprint(signer.jwk)
    cards.check_signature(cards.parse(jws), signer.jwk)


def test_the_qr_symbol_reads_back_as_the_numeric_text(tmp_path) -> None:
    jws = example("example-00-d-jws.txt")
    path = tmp_path / "qr.png"
    path.write_bytes(cards.qr_png(jws))
    found = zxingcpp.read_barcodes(Image.open(path))
    assert [r.text for r in found] == [cards.to_numeric(jws)]
    assert cards.qr_version(jws) <= cards.MAX_QR_VERSION
    assert cards.qr_svg(jws).startswith(b"<svg")


def test_the_largest_single_qr_card_fits_version_22() -> None:
    jws = "A" * cards.MAX_QR_JWS
    assert cards.fits_one_qr(jws)
    assert not cards.fits_one_qr(jws + "A")
    assert cards.qr_version(jws) == cards.MAX_QR_VERSION


def test_revocation_entries_with_and_without_a_time() -> None:
    crl = {"method": "rid", "rids": ["aaa", "bbb.1000"]}
    assert cards.revoked(crl, "aaa", 5000)
    assert cards.revoked(crl, "bbb", 999.5)
    assert not cards.revoked(crl, "bbb", 1000)
    assert not cards.revoked(crl, "ccc", 1)
    assert not cards.revoked(crl, None, 1)
