"""A citizen's SMART Health Cards: issued from the book, published keys and revocation lists,
verified by the endpoint; the QR code read back by a QR decoder."""

from __future__ import annotations

import io
import json
from typing import Any

import httpx
import zxingcpp
from PIL import Image

from api.app import create_app
from api.core.clock import FrozenClock
from api.core.settings import Settings
from api.health_cards import cards
from api.health_cards.keys import IssuerKey, load_key, new_key_text
from tests.integration.health_cards.conftest import CARDS, few_immunizations, many_immunizations
from tests.support.auth import bearer, login
from tests.support.fhir_samples import IPS, LEONOR, NATIONAL_ID_SYSTEMS, RUSTY
from tests.support.health_cards import example, payload_of
from tests.support.running import app_client

IMMUNIZATION = "http://hl7.org/fhir/StructureDefinition/Immunization"


async def issue(client: httpx.AsyncClient, headers: dict[str, str], **body: Any) -> dict[str, Any]:
    response = await client.post(CARDS, json=body or {"content": "immunizations"}, headers=headers)
    assert response.status_code == 200, response.text
    return response.json()


async def verify(client: httpx.AsyncClient, card: str, **kwargs: Any) -> dict[str, Any]:
    response = await client.post("/health-cards/verify", json={"card": card}, **kwargs)
    assert response.status_code == 200, response.text
    assert response.headers["access-control-allow-origin"] == "*"
    return response.json()


def _walk(node: Any) -> list[tuple[str, Any]]:
    found: list[tuple[str, Any]] = []
    if isinstance(node, dict):
        for key, value in node.items():
            found.append((key, value))
            found.extend(_walk(value))
    elif isinstance(node, list):
        for item in node:
            found.extend(_walk(item))
    return found


async def test_an_immunization_card_is_signed_minified_and_verifies(
    client: httpx.AsyncClient, owner_of, settings: Settings, clock: FrozenClock
) -> None:
    headers = await owner_of(LEONOR, few_immunizations(2))
    card = await issue(client, headers)
    claims = payload_of(card["jws"])
    assert claims["iss"] == settings.issuer
    assert not claims["iss"].endswith("/")
    assert claims["nbf"] == int(clock.now().timestamp())
    assert claims["vc"]["type"] == [cards.HEALTH_CARD_TYPE, IMMUNIZATION]
    assert claims["vc"]["rid"] == card["rid"]
    assert len(card["rid"]) == 11  # 64 bits, base64url
    bundle = claims["vc"]["credentialSubject"]["fhirBundle"]
    assert claims["vc"]["credentialSubject"]["fhirVersion"] == "4.0.1"
    resources = [e["resource"] for e in bundle["entry"]]
    assert [e["fullUrl"] for e in bundle["entry"]] == ["resource:0", "resource:1", "resource:2"]
    assert [r["resourceType"] for r in resources] == ["Patient", "Immunization", "Immunization"]
    assert set(resources[0]) <= {"resourceType", "name", "birthDate"}  # never an identifier
    assert all(r["patient"] == {"reference": "resource:0"} for r in resources[1:])
    for resource in resources:
        assert not {"id", "text"} & set(resource)
        assert set(resource.get("meta", {})) <= {"security"}
    for key, value in _walk(bundle):
        if key == "coding":
            assert all("display" not in coding for coding in value)
        if key == "reference":
            assert value.startswith("resource:")
    assert "text" not in resources[1]["vaccineCode"]
    header = json.loads(cards.b64url_decode(card["jws"].split(".")[0]))
    assert header == {"alg": "ES256", "zip": "DEF", "kid": card["kid"]}

    verdict = await verify(client, card["jws"])
    assert verdict["valid"], verdict
    assert verdict["issuer"] == settings.issuer
    assert verdict["fhirBundle"] == bundle
    assert (await verify(client, card["qr"]))["valid"]
    raw = await client.post(
        "/health-cards/verify", content=card["qr"], headers={"content-type": "text/plain"}
    )
    assert raw.json()["valid"]


async def test_the_file_and_the_qr_codes(client: httpx.AsyncClient, owner_of) -> None:
    headers = await owner_of(LEONOR, few_immunizations(2))
    response = await client.get(f"{CARDS}/immunizations/card.smart-health-card", headers=headers)
    assert response.status_code == 200, response.text
    assert response.headers["content-type"].startswith(cards.MEDIA_TYPE)
    assert "immunizations.smart-health-card" in response.headers["content-disposition"]
    file = response.json()
    assert list(file) == ["verifiableCredential"]
    assert len(file["verifiableCredential"]) == 1
    assert (await verify(client, response.text))["valid"]
    as_sent = await client.post(
        "/health-cards/verify",
        content=response.content,
        headers={"content-type": cards.MEDIA_TYPE},
    )
    assert as_sent.json()["valid"]

    png = await client.get(f"{CARDS}/immunizations/qr.png", headers=headers)
    assert png.status_code == 200, png.text
    assert png.headers["content-type"] == "image/png"
    read = zxingcpp.read_barcodes(Image.open(io.BytesIO(png.content)))
    assert len(read) == 1
    text = read[0].text
    assert text.startswith("shc:/")
    assert text[5:].isdigit()
    jws = cards.from_numeric(text)
    assert cards.to_numeric(jws) == text
    assert payload_of(jws) == payload_of(file["verifiableCredential"][0])  # same second
    assert (await verify(client, text))["valid"]

    svg = await client.get(f"{CARDS}/immunizations/qr.svg", headers=headers)
    assert svg.status_code == 200
    assert svg.headers["content-type"].startswith("image/svg+xml")
    assert svg.content.startswith(b"<svg")
    assert (await client.get(f"{CARDS}/immunizations/qr.gif", headers=headers)).status_code == 404
    visits = (await client.get("/citizens/me/health-book/visits", headers=headers)).json()
    visit_qr = await client.get(
        f"{CARDS}/visits/{visits['items'][0]['id']}/qr.png", headers=headers
    )
    assert visit_qr.status_code == 200, visit_qr.text
    found = zxingcpp.read_barcodes(Image.open(io.BytesIO(visit_qr.content)))
    assert (await verify(client, found[0].text))["valid"]


async def test_a_card_too_large_for_one_qr_code_is_refused_not_chunked(
    client: httpx.AsyncClient, owner_of
) -> None:
    headers = await owner_of(RUSTY, many_immunizations())
    card = await issue(client, headers)
    assert len(card["jws"]) > cards.MAX_QR_JWS
    assert card["qr"] is None
    response = await client.get(f"{CARDS}/immunizations/qr.png", headers=headers)
    assert response.status_code == 422
    problem = response.json()
    assert problem["type"].endswith("/health-card-too-large-for-qr")
    assert "SMART Health Link" in problem["detail"]
    assert problem["maxJwsLength"] == cards.MAX_QR_JWS
    file = await client.get(f"{CARDS}/immunizations/card.smart-health-card", headers=headers)
    assert file.status_code == 200
    assert (await verify(client, file.text))["valid"]


async def test_a_visit_card(client: httpx.AsyncClient, owner_of) -> None:
    headers = await owner_of(LEONOR, few_immunizations(1))
    visits = (await client.get("/citizens/me/health-book/visits", headers=headers)).json()
    visit_id = visits["items"][0]["id"]
    card = await issue(client, headers, content="visit", visit_id=visit_id)
    claims = payload_of(card["jws"])
    assert claims["vc"]["type"][1] == "http://hl7.org/fhir/StructureDefinition/Encounter"
    kinds = [
        e["resource"]["resourceType"]
        for e in claims["vc"]["credentialSubject"]["fhirBundle"]["entry"]
    ]
    assert kinds[0] == "Patient"
    assert "Encounter" in kinds
    assert (await verify(client, card["jws"]))["valid"]
    file = await client.get(f"{CARDS}/visits/{visit_id}/card.smart-health-card", headers=headers)
    assert file.status_code == 200
    missing = await issue_raw(client, headers, content="visit")
    assert missing.status_code == 400


async def issue_raw(
    client: httpx.AsyncClient, headers: dict[str, str], **body: Any
) -> httpx.Response:
    return await client.post(CARDS, json=body, headers=headers)


async def test_a_book_without_immunizations_has_nothing_to_sign(
    client: httpx.AsyncClient, owner_of
) -> None:
    headers = await owner_of(IPS)
    response = await issue_raw(client, headers, content="immunizations")
    assert response.status_code == 404
    assert response.json()["type"].endswith("/health-card-empty")


async def test_the_issuer_key_is_published_and_revocation_reaches_the_crl(
    client: httpx.AsyncClient, owner_of, clock: FrozenClock
) -> None:
    headers = await owner_of(LEONOR, few_immunizations(1))
    card = await issue(client, headers)
    jwks = await client.get("/.well-known/jwks.json")
    assert jwks.headers["access-control-allow-origin"] == "*"
    ours = [k for k in jwks.json()["keys"] if k["kid"] == card["kid"]]
    assert len(ours) == 1
    key = ours[0]
    assert (key["kty"], key["crv"], key["alg"], key["use"]) == ("EC", "P-256", "ES256", "sig")
    assert cards.thumbprint(key) == key["kid"]
    assert "crlVersion" not in key
    assert not {"d"} & set(key)
    assert any(k.get("alg") == "EdDSA" for k in jwks.json()["keys"])  # beside the others

    revoked = await client.post(f"{CARDS}/revoke", headers=headers)
    assert revoked.status_code == 204
    key = next(
        k
        for k in (await client.get("/.well-known/jwks.json")).json()["keys"]
        if k["kid"] == card["kid"]
    )
    assert key["crlVersion"] == 1
    crl = await client.get(f"/.well-known/crl/{card['kid']}.json")
    assert crl.status_code == 200
    assert crl.headers["access-control-allow-origin"] == "*"
    assert crl.json() == {
        "kid": card["kid"],
        "method": "rid",
        "ctr": 1,
        "rids": [f"{card['rid']}.{card['nbf'] + 1}"],
    }
    verdict = await verify(client, card["jws"])
    assert (verdict["valid"], verdict["reason"]) == (False, "revoked")

    clock.advance(seconds=5)
    fresh = await issue(client, headers)
    assert fresh["rid"] == card["rid"]
    assert (await verify(client, fresh["jws"]))["valid"]  # issued after the revocation

    unknown = await client.get("/.well-known/crl/nope.json")
    assert unknown.status_code == 404
    assert unknown.json()["type"].endswith("/health-card-crl-not-found")


async def test_other_issuers_are_refused_unless_trusted(client: httpx.AsyncClient) -> None:
    verdict = await verify(client, example("example-00-e-file.smart-health-card"))
    assert (verdict["valid"], verdict["reason"]) == (False, "untrusted_issuer")
    assert verdict["issuer"] == "https://spec.smarthealth.cards/examples/issuer"
    bad = await verify(client, "shc:/99")
    assert (bad["valid"], bad["reason"]) == (False, "malformed")
    huge = await client.post(
        "/health-cards/verify",
        content=b"shc:/" + b"5" * 300_000,
        headers={"content-type": "text/plain"},
    )
    assert huge.status_code == 413
    binary = await client.post("/health-cards/verify", content=b"\xff\xfe\x00")
    assert binary.status_code == 400
    assert binary.json()["type"].endswith("/problems/malformed-body")
    not_a_card = await client.post("/health-cards/verify", json={"jws": "x"})
    assert not_a_card.status_code == 400


async def test_rotation_the_new_key_signs_the_old_one_still_verifies(
    settings: Settings, clock: FrozenClock, owner_of
) -> None:
    headers = await owner_of(LEONOR, few_immunizations(1))
    old, new = new_key_text(), new_key_text()
    old_kid, new_kid = IssuerKey(load_key(old)).kid, IssuerKey(load_key(new)).kid
    before = create_app(settings.replace(health_card_signing_keys=[old]), clock=clock)
    async with app_client(before) as client:
        first = await issue(client, headers)
    assert first["kid"] == old_kid
    after = create_app(settings.replace(health_card_signing_keys=[new, old]), clock=clock)
    async with app_client(after) as client:
        second = await issue(client, headers)
        assert second["kid"] == new_kid
        kids = {k["kid"] for k in (await client.get("/.well-known/jwks.json")).json()["keys"]}
        assert {old_kid, new_kid} <= kids
        assert (await verify(client, first["jws"]))["valid"]
        assert (await verify(client, second["jws"]))["valid"]
    dropped = create_app(settings.replace(health_card_signing_keys=[new]), clock=clock)
    async with app_client(dropped) as client:
        verdict = await verify(client, first["jws"])
        assert (verdict["valid"], verdict["reason"]) == (False, "kid_not_in_jwks")


async def test_a_guardian_issues_a_dependents_card_and_it_is_logged(
    client: httpx.AsyncClient, owner_of, hospital, admin_token, idp
) -> None:
    del owner_of  # (registers the identity provider)
    number = "001090000777"
    document = json.loads(few_immunizations(1))
    for entry in document["entry"]:
        for identifier in entry["resource"].get("identifier", []):
            if identifier.get("system") in NATIONAL_ID_SYSTEMS:
                identifier["value"] = number
    published = await client.post(
        "/hospital/summaries", content=json.dumps(document), headers=hospital.headers
    )
    assert published.status_code in (200, 201), published.text
    child = bearer((await login(client, idp, number))["access_token"])
    child_id = (await client.get("/citizens/me", headers=child)).json()["id"]
    stranger = bearer((await login(client, idp, "001085000002"))["access_token"])
    refused = await client.post(
        f"/citizens/{child_id}/health-cards", json={"content": "immunizations"}, headers=stranger
    )
    assert refused.status_code == 404
    recorded = await client.post(
        "/admin/guardianships",
        json={
            "guardian_national_id": "001085000001",
            "dependent_national_id": number,
            "kind": "legal_representative",
        },
        headers=bearer(admin_token),
    )
    assert recorded.status_code == 201, recorded.text
    guardian = bearer((await login(client, idp, "001085000001"))["access_token"])
    guardian_id = (await client.get("/citizens/me", headers=guardian)).json()["id"]
    answer = await client.post(
        f"/citizens/{child_id}/health-cards", json={"content": "immunizations"}, headers=guardian
    )
    assert answer.status_code == 200, answer.text
    card = answer.json()
    own = await issue(client, child)
    assert card["rid"] == own["rid"]  # the dependent's card, not the guardian's
    assert (await verify(client, card["jws"]))["valid"]
    log = (await client.get("/citizens/me/access-log", headers=child)).json()["items"]
    assert ("guardian", guardian_id, "health-book/export/collection") in {
        (e["actor_kind"], e["actor_id"], e["resource"]) for e in log
    }
    # the guardian revokes the dependent's cards
    revoked = await client.post(f"/citizens/{child_id}/health-cards/revoke", headers=guardian)
    assert revoked.status_code == 204
    assert (await verify(client, own["jws"]))["reason"] == "revoked"
