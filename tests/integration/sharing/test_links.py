"""SMART Health Links of the book through the HTTP API: the payload, the manifest and its JWE,
passcodes (under concurrent guessing), revocation, expiry, guardians, the access log."""

from __future__ import annotations

import asyncio
import base64
import datetime as dt
import io
import json
import re
from collections import Counter

import pytest
import zxingcpp
from PIL import Image

from api.app import create_app
from api.sharing import links
from tests.integration.checkin.conftest import decode_svg
from tests.integration.health_book.conftest import patient_number
from tests.integration.sharing.conftest import SHARES, in_days, path_of, share
from tests.support.auth import bearer, login
from tests.support.fhir_samples import IPS
from tests.support.running import app_client

BASE = "http://127.0.0.1:8000"  # PUBLIC_BASE_URL's default, which the tests keep


async def _manifest(client, payload: links.Payload, **body):
    return await client.post(path_of(payload.url), json={"recipient": "Dr. An", **body})


def _jwe_header(token: str) -> dict:
    return json.loads(links.b64url_decode(token.split(".")[0]))


async def test_the_answer_is_the_payload_the_spec_defines(client, owner_of, clock) -> None:
    headers = await owner_of(IPS)
    created = await share(
        client, headers, clock, label="Cho bác sĩ", passcode="2468", long_term=True
    )
    shlink = created["shlink"]
    assert shlink.startswith("shlink:/")
    encoded = shlink.removeprefix("shlink:/")
    assert "=" not in encoded
    assert "+" not in encoded
    assert "/" not in encoded
    raw = json.loads(links.b64url_decode(encoded))
    assert list(raw) == ["url", "key", "exp", "flag", "label"]
    assert raw["url"].startswith(f"{BASE}/shl/")
    assert len(raw["url"]) <= 128
    segment = raw["url"].rsplit("/", 1)[1]
    assert len(segment) == 43
    assert len(links.b64url_decode(segment)) == 32
    assert len(raw["key"]) == 43
    assert len(links.b64url_decode(raw["key"])) == 32
    expires = dt.datetime.fromisoformat(created["expires_at"])
    assert raw["exp"] == int(expires.timestamp())
    assert raw["flag"] == "LP"
    assert raw["label"] == "Cho bác sĩ"
    assert created["url"] == raw["url"]
    assert created["flag"] == "LP"
    assert created["status"] == "active"
    assert created["passcode_attempts_remaining"] == 10
    # no external viewer configured: the service's own viewer, the payload only after '#'
    assert created["viewer_url"] == f"{BASE}/viewer#{shlink}"
    image = base64.b64decode(created["qr_png"])
    assert image.startswith(b"\x89PNG\r\n\x1a\n")
    (symbol,) = zxingcpp.read_barcodes(Image.open(io.BytesIO(image)))
    assert symbol.format == zxingcpp.BarcodeFormat.QRCode
    assert symbol.text == created["viewer_url"]
    assert symbol.ec_level == "M"
    # the same code as vector SVG, for print
    assert created["qr_svg"].startswith("<?xml")
    assert decode_svg(created["qr_svg"].encode()) == created["viewer_url"]
    # no passcode, not long-term: no flag at all; no label: none in the payload
    plain = links.decode((await share(client, headers, clock))["shlink"])
    assert plain.flag is None
    assert plain.label is None
    assert plain.key != raw["key"]
    assert plain.url != raw["url"]
    assert (await share(client, headers, clock, long_term=True))["flag"] == "L"
    assert (await share(client, headers, clock, passcode="1357"))["flag"] == "P"
    # the passcode is stored only as a hash, the key of a one-time link not at all
    listed = (await client.get(SHARES, headers=headers)).json()["items"]
    assert len(listed) == 4
    assert all("shlink" not in item and "key" not in item for item in listed)


async def test_the_manifest_file_decrypts_to_the_ips_bundle(client, owner_of, clock) -> None:
    headers = await owner_of(IPS)
    payload = links.decode((await share(client, headers, clock, label="IPS"))["shlink"])
    answer = await _manifest(client, payload)
    assert answer.status_code == 200, answer.text
    assert answer.headers["content-type"].startswith("application/json")
    (file,) = answer.json()["files"]
    assert file["contentType"] == "application/fhir+json"
    assert file["status"] == "finalized"
    assert file["location"].startswith(f"{BASE}/shl/files/")
    # stateless: the link, the answer's log row, the file and the expiry under a 128-bit MAC
    assert re.fullmatch(r"[A-Za-z0-9_-]{78}", file["location"].rsplit("/", 1)[1])
    fetched = await client.get(path_of(file["location"]))
    assert fetched.status_code == 200
    assert fetched.headers["content-type"].startswith("application/jose")
    token = fetched.text
    assert token.count(".") == 4
    assert token.split(".")[1] == ""
    assert _jwe_header(token) == {
        "alg": "dir",
        "enc": "A256GCM",
        "cty": "application/fhir+json",
        "zip": "DEF",
    }
    assert len(links.b64url_decode(token.split(".")[2])) == 12  # a 96-bit IV
    bundle = json.loads(links.decrypt(payload.key, token))
    assert bundle["resourceType"] == "Bundle"
    assert bundle["type"] == "document"
    assert bundle["entry"][0]["resource"]["resourceType"] == "Composition"
    exported = (
        await client.get("/citizens/me/health-book/export?type=ips", headers=headers)
    ).json()
    assert Counter(e["resource"]["resourceType"] for e in bundle["entry"]) == Counter(
        e["resource"]["resourceType"] for e in exported["entry"]
    )
    # embedded when it fits embeddedLengthMax, by location when it does not
    embedded = (await _manifest(client, payload, embeddedLengthMax=10_000_000)).json()
    assert "location" not in embedded["files"][0]
    assert links.decrypt(payload.key, embedded["files"][0]["embedded"]) == links.decrypt(
        payload.key, token
    )
    small = (await _manifest(client, payload, embeddedLengthMax=10)).json()
    assert "embedded" not in small["files"][0]
    assert "location" in small["files"][0]
    # every access is in the citizen's access log: who, when, what
    log = (await client.get("/citizens/me/access-log", headers=headers)).json()["items"]
    reads = [e for e in log if e["actor_kind"] == "recipient"]
    assert len(reads) == 3
    assert {(e["actor_id"], e["action"], e["resource"], e["purpose"]) for e in reads} == {
        ("Dr. An", "read", "health-book/export/ips", "SMART Health Link")
    }
    assert all(dt.datetime.fromisoformat(e["at"]) == clock.now() for e in reads)


async def test_a_long_term_link_encrypts_afresh_each_time(client, owner_of, clock) -> None:
    headers = await owner_of(IPS)
    payload = links.decode((await share(client, headers, clock, long_term=True))["shlink"])
    first = (await _manifest(client, payload, embeddedLengthMax=10_000_000)).json()["files"][0]
    second = (await _manifest(client, payload, embeddedLengthMax=10_000_000)).json()["files"][0]
    assert first["status"] == "can-change"
    assert first["embedded"].split(".")[2] != second["embedded"].split(".")[2]  # a fresh IV
    assert json.loads(links.decrypt(payload.key, second["embedded"]))["type"] == "document"


async def test_the_manifest_request_needs_a_recipient(client, owner_of, clock) -> None:
    headers = await owner_of(IPS)
    payload = links.decode((await share(client, headers, clock))["shlink"])
    missing = await client.post(path_of(payload.url), json={})
    assert missing.status_code == 400
    assert missing.headers["content-type"].startswith("application/problem+json")
    unknown = await client.post("/shl/" + links.new_secret(), json={"recipient": "x"})
    assert unknown.status_code == 404
    assert unknown.json()["type"].endswith("/problems/share-link-not-found")


async def test_a_wrong_passcode_counts_down(client, owner_of, clock) -> None:
    headers = await owner_of(IPS)
    payload = links.decode((await share(client, headers, clock, passcode="2468"))["shlink"])
    missing = await _manifest(client, payload)  # asks for it, spends nothing
    assert missing.status_code == 401
    assert missing.json()["remainingAttempts"] == 10
    assert missing.json()["type"].endswith("/problems/share-passcode-invalid")
    wrong = await _manifest(client, payload, passcode="1111")
    assert wrong.status_code == 401
    assert wrong.json()["remainingAttempts"] == 9
    assert (await _manifest(client, payload, passcode="2222")).json()["remainingAttempts"] == 8
    right = await _manifest(client, payload, passcode="2468")
    assert right.status_code == 200
    # a right passcode does not give attempts back: the counter is the link's lifetime's
    assert (await _manifest(client, payload, passcode="0")).json()["remainingAttempts"] == 7
    listed = (await client.get(SHARES, headers=headers)).json()["items"][0]
    assert listed["passcode_attempts_remaining"] == 7


@pytest.mark.parametrize("guesses", [200])
async def test_concurrent_wrong_passcodes_never_pass_the_allowed_count(
    client, owner_of, clock, guesses
) -> None:
    headers = await owner_of(IPS)
    payload = links.decode((await share(client, headers, clock, passcode="2468"))["shlink"])
    answers = await asyncio.gather(
        *(_manifest(client, payload, passcode=f"wrong-{i}") for i in range(guesses))
    )
    statuses = Counter(a.status_code for a in answers)
    assert statuses[401] == 10, statuses
    assert statuses[404] == guesses - 10, statuses
    remaining = sorted(a.json()["remainingAttempts"] for a in answers if a.status_code == 401)
    assert remaining == list(range(10))  # each attempt counted once, none lost
    # disabled for good: even the right passcode now finds nothing
    assert (await _manifest(client, payload, passcode="2468")).status_code == 404
    listed = (await client.get(SHARES, headers=headers)).json()["items"][0]
    assert listed["status"] == "disabled"
    assert listed["passcode_attempts_remaining"] == 0


async def test_a_revoked_link_answers_404_at_once(client, owner_of, clock) -> None:
    headers = await owner_of(IPS)
    created = await share(client, headers, clock)
    payload = links.decode(created["shlink"])
    location = (await _manifest(client, payload)).json()["files"][0]["location"]
    revoked = await client.delete(f"{SHARES}/{created['id']}", headers=headers)
    assert revoked.status_code == 204
    assert (await _manifest(client, payload)).status_code == 404
    assert (await client.get(path_of(location))).status_code == 404  # its files too
    listed = (await client.get(SHARES, headers=headers)).json()["items"]
    assert listed[0]["status"] == "revoked"
    assert listed[0]["revoked_at"] is not None
    assert (await client.delete(f"{SHARES}/{created['id']}", headers=headers)).status_code == 204
    other = await client.delete(f"{SHARES}/00000000-0000-4000-8000-000000000000", headers=headers)
    assert other.status_code == 404


async def test_an_expired_link_and_an_old_location_answer_404(client, owner_of, clock) -> None:
    headers = await owner_of(IPS)
    created = await share(client, headers, clock, expires_at=in_days(clock, 1 / 24))
    payload = links.decode(created["shlink"])
    location = (await _manifest(client, payload)).json()["files"][0]["location"]
    clock.advance(seconds=301)  # SHARING_FILE_URL_SECONDS
    assert (await client.get(path_of(location))).status_code == 404
    assert (await _manifest(client, payload)).status_code == 200
    clock.advance(hours=1)
    assert (await _manifest(client, payload)).status_code == 404


async def test_the_expiry_is_required_and_bounded(client, owner_of, clock) -> None:
    headers = await owner_of(IPS)
    for body in (
        {},
        {"expires_at": in_days(clock, 91)},
        {"expires_at": in_days(clock, -1)},
        {"expires_at": (clock.now() + dt.timedelta(days=1)).replace(tzinfo=None).isoformat()},
        {"expires_at": in_days(clock, 1), "label": "x" * 81},
        {"expires_at": in_days(clock, 1), "passcode": "12"},
        {"expires_at": in_days(clock, 1), "unknown": 1},
        {"expires_at": "0001-01-01T00:00:00+01:00"},
        {"expires_at": "9999-12-31T23:59:59-01:00"},
    ):
        answer = await client.post(SHARES, json=body, headers=headers)
        assert answer.status_code == 400, (body, answer.text)
    assert (await share(client, headers, clock, expires_at=in_days(clock, 90)))["id"]


async def test_a_guardian_shares_a_childs_book_others_may_not(
    client, owner_of, clock, admin_token, idp
) -> None:
    child = await owner_of(IPS)
    child_id = (await client.get("/citizens/me", headers=child)).json()["id"]
    stranger = bearer((await login(client, idp, "001085000002"))["access_token"])
    refused = await client.post(
        f"/citizens/{child_id}/shares", json={"expires_at": in_days(clock, 1)}, headers=stranger
    )
    assert refused.status_code == 404
    assert (await client.get(f"/citizens/{child_id}/shares", headers=stranger)).status_code == 404
    recorded = await client.post(
        "/admin/guardianships",
        json={
            "guardian_national_id": "001085000001",
            "dependent_national_id": patient_number(IPS),
            "kind": "legal_representative",
            "dependent_birth_date": "1990-01-02",
        },
        headers=bearer(admin_token),
    )
    assert recorded.status_code == 201, recorded.text
    guardian = bearer((await login(client, idp, "001085000001"))["access_token"])
    guardian_id = (await client.get("/citizens/me", headers=guardian)).json()["id"]
    created = await share(client, guardian, clock, path=f"/citizens/{child_id}/shares")
    payload = links.decode(created["shlink"])
    answer = await _manifest(client, payload, embeddedLengthMax=10_000_000)
    bundle = json.loads(links.decrypt(payload.key, answer.json()["files"][0]["embedded"]))
    patient = next(
        e["resource"] for e in bundle["entry"] if e["resource"]["resourceType"] == "Patient"
    )
    assert any(i.get("value") == patient_number(IPS) for i in patient.get("identifier", []))
    # the child sees the share and revokes it; the guardian's own list stays empty
    assert [s["id"] for s in (await client.get(SHARES, headers=child)).json()["items"]] == [
        created["id"]
    ]
    assert (await client.get(SHARES, headers=guardian)).json()["items"] == []
    log = (await client.get("/citizens/me/access-log", headers=child)).json()["items"]
    assert ("guardian", guardian_id, "health-book/export/ips") in {
        (e["actor_kind"], e["actor_id"], e["resource"]) for e in log
    }
    assert (await client.delete(f"{SHARES}/{created['id']}", headers=guardian)).status_code == 404
    assert (
        await client.delete(f"/citizens/{child_id}/shares/{created['id']}", headers=guardian)
    ).status_code == 204


async def test_a_link_revoked_through_one_process_is_refused_by_another(
    client, owner_of, clock, settings
) -> None:
    """Two apps on one database (as two API processes): the state is the database's."""
    headers = await owner_of(IPS)
    created = await share(client, headers, clock)
    payload = links.decode(created["shlink"])
    other = create_app(settings, clock=clock)
    async with app_client(other) as second:
        assert (await _manifest(second, payload)).status_code == 200
        assert (
            await client.delete(f"{SHARES}/{created['id']}", headers=headers)
        ).status_code == 204
        assert (await _manifest(second, payload)).status_code == 404
