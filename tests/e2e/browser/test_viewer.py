"""The SMART Health Link viewer (``/viewer``) in Chromium, against a served app: a citizen shares
the book (the IPS sample) through the API; a doctor opens the link's ``viewer_url`` on a phone
and on a desktop, gives a name and the passcode, and reads the summary the browser decrypted.
Wrong passcodes show the attempts left, a revoked link is not found, an expired one is refused
before anything is sent, the language switches, print shows no buttons. A ``U`` link and
SMART Health Cards (signed here with ES256, checked in the browser against the served JWKS) are
handed to the page through Playwright routes. The link's key never reaches the server: not in
any request the page makes, not in the server's log."""

from __future__ import annotations

import base64
import datetime as dt
import hashlib
import json
import os
import secrets
import time
import zlib
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
import pytest
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.hazmat.primitives.asymmetric.utils import decode_dss_signature
from cryptography.hazmat.primitives.ciphers.aead import AESGCM
from playwright.sync_api import Browser, BrowserContext, Page, Request, Route, expect

from api.sharing import links
from tests.e2e.browser.clinic import ServedClinic
from tests.e2e.browser.conftest import HASH_KEY, Shots
from tests.integration.health_book.conftest import patient_number
from tests.integration.health_cards.conftest import few_immunizations
from tests.support.fhir_samples import IPS, LEONOR, NATIONAL_ID_SYSTEMS, sample_bytes
from tests.support.idp import TestIdentityProvider
from tests.support.server import free_port, served
from tests.unit.sharing.test_payload import SPEC_SHLINK

ANY_ID = r"^[A-Za-z0-9\-]{1,64}$"
IPS_PATIENT = "574687583"  # the IPS sample's patient (Martha DeLarosa)
SHARES = "/citizens/me/shares"
PHONE = {"width": 360, "height": 740}
DESKTOP = {"width": 1366, "height": 768}
DOCTOR = "BS. Trần Thị Mai"


def b64url(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode("ascii")


@dataclass
class Book:
    """A served app whose citizen's book holds the IPS sample."""

    clinic: ServedClinic
    log: Path
    citizen: dict[str, str]

    @property
    def base_url(self) -> str:
        return self.clinic.base_url

    def share(self, **fields: Any) -> dict[str, Any]:
        expires = dt.datetime.now(dt.UTC) + dt.timedelta(days=7)
        answer = self.clinic.http.post(
            SHARES, json={"expires_at": expires.isoformat(), **fields}, headers=self.citizen
        )
        assert answer.status_code == 201, answer.text
        return answer.json()


@pytest.fixture(scope="module")
def book(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Book]:
    folder = tmp_path_factory.mktemp("browser-viewer")
    port = free_port()
    env = {
        # the links' URLs must be the address the browser reaches
        "PUBLIC_BASE_URL": f"http://127.0.0.1:{port}",
        "DATA_DIR": str(folder / "data"),
        "IDENTIFIER_HASH_KEY": HASH_KEY,
        "LOG_LEVEL": "DEBUG",
        "ACCESS_LOG": "true",
        "NATIONAL_ID_SYSTEMS": ",".join(NATIONAL_ID_SYSTEMS),
    }
    log = folder / "server.log"
    with served(env, log=log, port=port) as base_url, TestIdentityProvider() as idp:
        clinic = ServedClinic(
            base_url=base_url,
            env={"PATH": os.environ.get("PATH", "/usr/bin:/bin"), **env},
            identifier_hash_key=HASH_KEY,
            idp=idp,
        )
        clinic.set_up()
        admin = clinic._as(clinic.admin)
        provider = idp.provider_body(national_id_pattern=ANY_ID)
        clinic._ok(
            clinic.http.put(
                f"/admin/identity-providers/{provider['id']}", json=provider, headers=admin
            )
        )
        published = clinic.http.post(
            "/hospital/summaries",
            content=sample_bytes(IPS),
            headers={
                **clinic._as(clinic.hospital),
                "Content-Type": "application/fhir+json",
            },
        )
        assert published.status_code in (200, 201), published.text
        yield Book(clinic=clinic, log=log, citizen=clinic.citizen(IPS_PATIENT))
        clinic.close()


class Traffic:
    """Every request a page makes: URL, method, body."""

    def __init__(self, context: BrowserContext) -> None:
        self.requests: list[tuple[str, str, str]] = []
        context.on("request", self._seen)

    def _seen(self, request: Request) -> None:
        body = request.post_data_buffer or b""
        self.requests.append((request.method, request.url, body.decode("utf-8", "replace")))

    def to(self, fragment: str) -> list[tuple[str, str, str]]:
        return [item for item in self.requests if fragment in item[1]]


def _open(browser: Browser, viewport: dict[str, int], locale: str) -> tuple[Page, Traffic]:
    context = browser.new_context(viewport=viewport, locale=locale, timezone_id="Asia/Ho_Chi_Minh")
    traffic = Traffic(context)
    page = context.new_page()
    errors: list[str] = []
    page.on("pageerror", lambda error: errors.append(f"uncaught: {error}"))
    page.on(
        "console",
        lambda message: (
            errors.append(message.text)
            if message.type == "error" and "Content Security Policy" in message.text
            else None
        ),
    )
    page.errors = errors  # type: ignore[attr-defined]
    return page, traffic


def assert_key_kept(created: dict[str, Any], traffic: Traffic, log: Path) -> None:
    """Neither the key nor the payload went to the server: not in a URL, a body or a log line."""
    payload = links.decode(created["shlink"])
    secrets_ = (payload.key, created["shlink"].removeprefix("shlink:/"))
    assert traffic.requests, "the page made no request at all"
    for method, url, body in traffic.requests:
        for secret in secrets_:
            assert secret not in url, (method, url)
            assert secret not in body, (method, url)
        assert "#" not in url
    server_log = log.read_text(errors="replace")
    # the log has a line for each request (the page, and the manifest POST)
    assert '"route":"/viewer"' in server_log
    assert '"route":"/shl/{manifest_id' in server_log
    for secret in secrets_:
        assert secret not in server_log


def test_a_doctor_opens_a_passcode_link_on_a_phone(
    book: Book, browser: Browser, shots: Shots
) -> None:
    created = book.share(label="Cho bác sĩ khám", passcode="2468")
    assert created["viewer_url"] == f"{book.base_url}/viewer#{created['shlink']}"
    page, traffic = _open(browser, PHONE, "vi-VN")
    page.goto(created["viewer_url"])

    expect(page.locator("html")).to_have_attribute("lang", "vi")
    expect(page.get_by_role("heading", name="Hồ sơ sức khỏe được chia sẻ")).to_be_visible()
    expect(page.locator("#link-label")).to_have_text("Cho bác sĩ khám")
    expect(page.locator("#link-kind")).to_contain_text("Cần mật mã")
    expect(page.locator("#link-expires")).not_to_be_empty()
    assert traffic.to("/shl/") == [], "nothing is asked before the doctor's name"
    shots.take(page, "1-phone-link")

    # no name: asked for it, nothing sent
    page.get_by_role("button", name="Mở hồ sơ").click()
    expect(page.get_by_role("alert")).to_have_text("Hãy nhập họ tên người xem.")
    page.get_by_label("Họ tên người xem (bác sĩ)").fill(DOCTOR)
    page.get_by_label("Mật mã", exact=True).fill("0000")
    page.get_by_role("button", name="Mở hồ sơ").click()
    expect(page.get_by_role("alert")).to_have_text("Sai mật mã. Còn 9 lần thử.")
    shots.take(page, "2-phone-wrong-passcode")
    page.get_by_label("Mật mã", exact=True).fill("2468")
    page.get_by_role("button", name="Mở hồ sơ").click()

    record = page.locator("#record")
    expect(record).to_be_visible()
    expect(page.locator("#message")).to_be_empty()
    patient = record.locator("[data-section=patient]")
    expect(patient).to_contain_text("Martha DeLarosa")
    expect(patient).to_contain_text("Nữ")
    expect(patient).to_contain_text("1972")
    expect(record.locator("[data-section=problems]")).to_contain_text("Menopausal")
    allergies = record.locator("[data-section=allergies]")
    expect(allergies).to_contain_text("penicillin")
    expect(allergies).to_contain_text("Mức nguy hiểm: cao")
    expect(record.locator("[data-section=medications]")).to_contain_text(
        "anastrozole", ignore_case=True
    )
    expect(record.get_by_role("heading", name="Tiêm chủng")).to_be_visible()
    expect(record.get_by_role("heading", name="Kết quả xét nghiệm, đo gần đây")).to_be_visible()
    expect(record.get_by_role("heading", name="Lượt khám")).to_be_visible()
    # fits a 360 px phone: nothing wider than the screen
    assert page.evaluate("document.documentElement.scrollWidth") <= PHONE["width"]
    shots.take(page, "3-phone-record")

    # the manifest was POSTed with the name and passcode, the file fetched by its location
    posts = [item for item in traffic.to("/shl/") if item[0] == "POST"]
    assert len(posts) == 2
    assert json.loads(posts[-1][2]) == {"recipient": DOCTOR, "passcode": "2468"}
    assert len(traffic.to("/shl/files/")) == 1
    # the wrong passcode cost one attempt for good; the citizen's access log names the doctor
    shared = book.clinic.http.get(f"{SHARES}/{created['id']}", headers=book.citizen).json()
    assert shared["passcode_attempts_remaining"] == 9
    log = book.clinic.http.get("/citizens/me/access-log", headers=book.citizen).json()["items"]
    assert DOCTOR in {entry["actor_id"] for entry in log if entry["actor_kind"] == "recipient"}

    # English, and back
    page.get_by_role("button", name="English").click()
    expect(page.locator("html")).to_have_attribute("lang", "en")
    expect(record.get_by_role("heading", name="Allergies")).to_be_visible()
    expect(patient).to_contain_text("Female")
    expect(record.locator("[data-section=allergies]")).to_contain_text("Criticality: high")
    page.get_by_role("button", name="Tiếng Việt").click()
    expect(record.get_by_role("heading", name="Dị ứng")).to_be_visible()

    # print: the record without a single button or form
    page.emulate_media(media="print")
    buttons = page.locator("button")
    assert buttons.count() >= 3
    for index in range(buttons.count()):
        expect(buttons.nth(index)).to_be_hidden()
    expect(page.locator("form").first).to_be_hidden()
    expect(patient).to_be_visible()
    shots.take(page, "4-phone-print")
    page.emulate_media(media="screen")

    # the name is remembered in this browser
    page.reload()
    expect(page.get_by_label("Họ tên người xem (bác sĩ)")).to_have_value(DOCTOR)
    assert page.errors == []  # type: ignore[attr-defined]
    assert_key_kept(created, traffic, book.log)
    page.context.close()


def test_a_long_term_link_on_a_desktop_in_english(
    book: Book, browser: Browser, shots: Shots
) -> None:
    created = book.share(label="Family doctor", long_term=True)
    page, traffic = _open(browser, DESKTOP, "en-US")
    page.goto(created["viewer_url"])
    expect(page.locator("html")).to_have_attribute("lang", "en")
    expect(page.locator("#link-kind")).to_have_text(
        "Long-term: the contents follow the health book"
    )
    expect(page.locator("#passcode-field")).to_be_hidden()
    page.get_by_label("Your name (the doctor viewing it)").fill("Dr. Lê Văn Hùng")
    page.get_by_label("Your name (the doctor viewing it)").press("Enter")
    record = page.locator("#record")
    expect(record.locator("[data-section=patient]")).to_contain_text("Martha DeLarosa")
    expect(record.locator("[data-section=patient]")).to_contain_text("Female")
    expect(record.locator("[data-section=medications]")).to_contain_text(
        "anastrozole", ignore_case=True
    )
    # a long-term link can be read again for the latest contents
    refresh = page.get_by_role("button", name="Load the latest contents")
    expect(refresh).to_be_visible()
    refresh.click()
    expect(page.get_by_role("status")).to_have_text("The record is open.")
    assert len([item for item in traffic.to("/shl/") if item[0] == "POST"]) == 2
    # two columns on a desktop
    boxes = [
        record.locator(f"[data-section={name}]").bounding_box()
        for name in ("problems", "allergies")
    ]
    assert boxes[0]
    assert boxes[1]
    assert boxes[0]["y"] == boxes[1]["y"]
    shots.take(page, "desktop-record")
    assert page.errors == []  # type: ignore[attr-defined]
    assert_key_kept(created, traffic, book.log)
    page.context.close()


def test_a_revoked_link_is_not_found_and_an_expired_one_is_refused(
    book: Book, browser: Browser, shots: Shots
) -> None:
    created = book.share(label="Revoked")
    revoked = book.clinic.http.delete(f"{SHARES}/{created['id']}", headers=book.citizen)
    assert revoked.status_code in (200, 204)
    page, traffic = _open(browser, PHONE, "en-GB")
    page.goto(created["viewer_url"])
    page.get_by_label("Your name (the doctor viewing it)").fill("Dr. An")
    page.get_by_role("button", name="Open the record").click()
    expect(page.get_by_role("alert")).to_have_text(
        "This link cannot be opened: it was revoked, has expired, or was locked after too many "
        "wrong passcodes."
    )
    expect(page.locator("#record")).to_be_hidden()
    expect(page.locator("#open")).to_be_hidden()
    shots.take(page, "revoked")
    assert_key_kept(created, traffic, book.log)

    # the same link with an exp in the past: refused before anything is sent
    payload = links.decode(created["shlink"])
    expired = links.encode(
        url=payload.url, key=payload.key, exp=int(time.time()) - 60, flag="", label="Old"
    )
    sent = len(traffic.requests)
    page.goto(f"{book.base_url}/viewer#{expired}")
    expect(page.get_by_role("alert")).to_contain_text("This link expired on")
    expect(page.locator("#open")).to_be_hidden()
    assert traffic.to("/shl/")[sent:] == []
    # a pasted link, whole URL and all, and nonsense
    page.goto(f"{book.base_url}/viewer")
    page.get_by_role("textbox", name="Shared link").fill("not a link")
    page.get_by_role("button", name="Open the link").click()
    expect(page.get_by_role("alert")).to_have_text(
        "This link is not valid: its shlink:/ part cannot be read."
    )
    page.get_by_role("textbox", name="Shared link").fill(f"  {created['viewer_url']}  ")
    page.get_by_role("button", name="Open the link").click()
    expect(page.locator("#link-label")).to_have_text("Revoked")
    assert page.errors == []  # type: ignore[attr-defined]
    page.context.close()


# --- what the API does not make on this branch: a U link, and health cards, through routes ---


def _jwe(
    key: str, plaintext: bytes, content_type: str | None, *, deflate: bool, kid: str | None = None
) -> str:
    """Compact JWE (dir, A256GCM), written here with ``cryptography`` (not the service's code)."""
    header: dict[str, str] = {"enc": "A256GCM", "alg": "dir"}
    if content_type:
        header["cty"] = content_type
    if kid:
        header["kid"] = kid
    if deflate:
        header["zip"] = "DEF"
        compressor = zlib.compressobj(wbits=-15)
        plaintext = compressor.compress(plaintext) + compressor.flush()
    protected = b64url(json.dumps(header, separators=(",", ":")).encode())
    iv = secrets.token_bytes(12)
    sealed = AESGCM(links.b64url_decode(key)).encrypt(iv, plaintext, protected.encode("ascii"))
    return ".".join([protected, "", b64url(iv), b64url(sealed[:-16]), b64url(sealed[-16:])])


def _payload(url: str, key: str, flag: str, label: str) -> str:
    body = {"url": url, "key": key, "exp": int(time.time()) + 3600, "flag": flag, "label": label}
    return "shlink:/" + b64url(json.dumps(body, separators=(",", ":")).encode())


class Issuer:
    """A P-256 SMART Health Card issuer: kid = RFC 7638 thumbprint, raw DEFLATE, ES256."""

    def __init__(self) -> None:
        self.key = ec.generate_private_key(ec.SECP256R1())
        numbers = self.key.public_key().public_numbers()
        self.jwk = {
            "kty": "EC",
            "crv": "P-256",
            "x": b64url(numbers.x.to_bytes(32, "big")),
            "y": b64url(numbers.y.to_bytes(32, "big")),
        }
        canonical = json.dumps(
            {name: self.jwk[name] for name in ("crv", "kty", "x", "y")}, separators=(",", ":")
        )
        self.kid = b64url(hashlib.sha256(canonical.encode()).digest())
        self.jwk |= {"kid": self.kid, "use": "sig", "alg": "ES256"}

    def sign(self, payload: dict[str, Any]) -> str:
        header = b64url(json.dumps({"alg": "ES256", "zip": "DEF", "kid": self.kid}).encode())
        compressor = zlib.compressobj(wbits=-15)
        raw = compressor.compress(json.dumps(payload, separators=(",", ":")).encode())
        body = b64url(raw + compressor.flush())
        der = self.key.sign(f"{header}.{body}".encode(), ec.ECDSA(hashes.SHA256()))
        r, s = decode_dss_signature(der)
        return f"{header}.{body}.{b64url(r.to_bytes(32, 'big') + s.to_bytes(32, 'big'))}"


def _card_payload(issuer: str, vaccine: str) -> dict[str, Any]:
    return {
        "iss": issuer,
        "nbf": time.time() - 3600.25,  # seconds, fractional
        "vc": {
            "type": ["https://smarthealth.cards#health-card"],
            "credentialSubject": {
                "fhirVersion": "4.0.1",
                "fhirBundle": {
                    "resourceType": "Bundle",
                    "type": "collection",
                    "entry": [
                        {
                            "fullUrl": "resource:0",
                            "resource": {
                                "resourceType": "Patient",
                                "name": [{"family": "Nguyễn", "given": ["Văn", "An"]}],
                                "birthDate": "1990-04-02",
                            },
                        },
                        {
                            "fullUrl": "resource:1",
                            "resource": {
                                "resourceType": "Immunization",
                                "status": "completed",
                                "vaccineCode": {
                                    "coding": [
                                        {"system": "http://hl7.org/fhir/sid/cvx", "code": vaccine}
                                    ]
                                },
                                "patient": {"reference": "resource:0"},
                                "occurrenceDateTime": "2025-10-01",
                                "lotNumber": "VN-2025-1",
                            },
                        },
                    ],
                },
            },
        },
    }


NO_KNOWN_ALLERGIES_IPS = {
    "resourceType": "Bundle",
    "type": "document",
    "entry": [
        {
            "fullUrl": "urn:uuid:p",
            "resource": {
                "resourceType": "Patient",
                "id": "p",
                "name": [{"text": "Phạm Thị Lan"}],
                "gender": "female",
                "birthDate": "1985-01-20",
            },
        },
        {
            "fullUrl": "urn:uuid:a",
            "resource": {
                "resourceType": "AllergyIntolerance",
                "code": {
                    "coding": [
                        {
                            "system": "http://snomed.info/sct",
                            "code": "716186003",
                            "display": "No known allergy (situation)",
                        }
                    ]
                },
                "patient": {"reference": "urn:uuid:p"},
            },
        },
        {
            "fullUrl": "urn:uuid:o1",
            "resource": {
                "resourceType": "Observation",
                "status": "final",
                "code": {"text": "Glucose"},
                "valueQuantity": {"value": 5.4, "unit": "mmol/L"},
                "effectiveDateTime": "2026-11-02T08:00:00+07:00",
            },
        },
        {
            "fullUrl": "urn:uuid:o2",
            "resource": {
                "resourceType": "Observation",
                "status": "final",
                "code": {"text": "Blood pressure"},
                "component": [
                    {"code": {"text": "Systolic"}, "valueQuantity": {"value": 128, "unit": "mmHg"}},
                    {"code": {"text": "Diastolic"}, "valueQuantity": {"value": 82, "unit": "mmHg"}},
                ],
                "effectiveDateTime": "2026-11-01",
            },
        },
        {
            "fullUrl": "urn:uuid:e",
            "resource": {
                "resourceType": "Encounter",
                "status": "finished",
                "class": {"code": "AMB", "display": "ambulatory"},
                "type": [{"text": "Khám nội tổng quát"}],
                "period": {
                    "start": "2026-11-02T07:30:00+07:00",
                    "end": "2026-11-02T09:00:00+07:00",
                },
                "serviceProvider": {"display": "Bệnh viện Đa khoa Tỉnh"},
            },
        },
        {
            "fullUrl": "urn:uuid:i",
            "resource": {
                "resourceType": "Immunization",
                "status": "completed",
                "vaccineCode": {"text": "Cúm mùa"},
                "occurrenceDateTime": "2026-10-15",
            },
        },
    ],
}


def test_a_u_link_and_health_cards_verified_in_the_browser(
    book: Book, browser: Browser, shots: Shots
) -> None:
    """A ``U`` link's GET answers the JWE itself (zip DEF); a manifest's health cards: one this
    service signed (its key in the served JWKS), one altered after signing, one of another
    issuer."""
    page, traffic = _open(browser, DESKTOP, "en-US")
    key = links.new_key()
    u_url = f"{book.base_url}/shl/{links.new_secret()}"
    u_gets: list[str] = []

    def answer_u(route: Route) -> None:
        u_gets.append(route.request.method + " " + route.request.url)
        body = _jwe(
            key, json.dumps(NO_KNOWN_ALLERGIES_IPS).encode(), "application/fhir+json", deflate=True
        )
        route.fulfill(status=200, content_type="application/jose", body=body)

    page.route(f"{u_url}?*", answer_u)
    page.goto(f"{book.base_url}/viewer#{_payload(u_url, key, 'U', 'Tóm tắt')}")
    page.get_by_label("Your name (the doctor viewing it)").fill("Dr. Hà")
    page.get_by_role("button", name="Open the record").click()
    record = page.locator("#record")
    allergies = record.locator("[data-section=allergies]")
    expect(allergies.locator("li")).to_have_count(1)
    expect(allergies.locator("li[data-none-known]")).to_have_text("No known allergies")
    results = record.locator("[data-section=results]")
    expect(results).to_contain_text("Glucose")
    expect(results).to_contain_text("5.4 mmol/L")
    expect(results).to_contain_text("Systolic: 128 mmHg; Diastolic: 82 mmHg")
    expect(results.locator("li").first).to_contain_text("Glucose")  # newest first
    expect(record.locator("[data-section=visits]")).to_contain_text("Khám nội tổng quát")
    expect(record.locator("[data-section=visits]")).to_contain_text("Bệnh viện Đa khoa Tỉnh")
    expect(record.locator("[data-section=immunizations]")).to_contain_text("Cúm mùa")
    assert u_gets == [f"GET {u_url}?recipient=Dr.%20H%C3%A0"]
    page.get_by_role("button", name="Tiếng Việt").click()
    expect(allergies).to_contain_text("Không có dị ứng đã biết")
    page.get_by_role("button", name="English").click()
    shots.take(page, "u-link")

    # health cards, in a manifest's embedded file
    ours, stranger = Issuer(), Issuer()
    served_jwks = httpx.get(f"{book.base_url}/.well-known/jwks.json").json()

    def answer_jwks(route: Route) -> None:
        route.fulfill(
            status=200,
            content_type="application/json",
            body=json.dumps({"keys": [*served_jwks["keys"], ours.jwk]}),
        )

    good = ours.sign(_card_payload(book.base_url, "208"))
    # another card's header and payload under the first one's signature
    altered = ".".join(
        [*ours.sign(_card_payload(book.base_url, "207")).split(".")[:2], good.split(".")[2]]
    )
    foreign = stranger.sign(_card_payload("https://issuer.example.org", "210"))
    cards = json.dumps({"verifiableCredential": [good, altered, foreign]}).encode()
    card_key = links.new_key()
    manifest_url = f"{book.base_url}/shl/{links.new_secret()}"
    embedded = _jwe(card_key, cards, "application/smart-health-card", deflate=False)

    def answer_manifest(route: Route) -> None:
        assert route.request.method == "POST"
        route.fulfill(
            status=200,
            content_type="application/json",
            body=json.dumps(
                {"files": [{"contentType": "application/smart-health-card", "embedded": embedded}]}
            ),
        )

    page.route(manifest_url, answer_manifest)
    page.route(f"{book.base_url}/.well-known/jwks.json", answer_jwks)
    page.goto(f"{book.base_url}/viewer#{_payload(manifest_url, card_key, '', 'Vaccination card')}")
    page.get_by_role("button", name="Open the record").click()  # the name is remembered
    shown = record.locator(".health-card")
    expect(shown).to_have_count(3)
    expect(shown.nth(0).locator(".badge")).to_have_text(
        "Verified: a valid signature of Sổ Sức Khỏe"
    )
    expect(shown.nth(0)).to_contain_text("Nguyễn")
    expect(shown.nth(0)).to_contain_text("208")
    expect(shown.nth(0)).to_contain_text("lot VN-2025-1")
    expect(shown.nth(1).locator(".badge")).to_have_text(
        "Not verified: the signature is not valid (the card may have been altered)"
    )
    expect(shown.nth(2).locator(".badge")).to_have_text(
        "Not verified: the issuer is not this server"
    )
    shots.take(page, "health-cards")
    # the card's issuer key in the JWKS but under a kid that is not its thumbprint: refused
    ours.jwk["kid"] = ours.kid = b64url(b"not-the-thumbprint-of-this-key!!")
    relabelled = ours.sign(_card_payload(book.base_url, "208"))
    cards = json.dumps({"verifiableCredential": [relabelled]}).encode()
    embedded = _jwe(card_key, cards, "application/smart-health-card", deflate=True)
    page.reload()
    page.get_by_role("button", name="Open the record").click()
    expect(record.locator(".health-card .badge")).to_have_text(
        "Not verified: the key id (kid) does not match the key"
    )
    for _, url, body_sent in traffic.requests:
        for secret in (key, card_key):
            assert secret not in url
            assert secret not in body_sent
    assert page.errors == []  # type: ignore[attr-defined]
    page.context.close()


def test_the_page_reads_links_and_decrypts_files_as_the_spec_defines(
    book: Book, browser: Browser
) -> None:
    """The page's own modules on the specification's example payload, on JWE from the service's
    JOSE library and from ``cryptography`` (zip, no ``cty``, an extra ``kid``), on broken ones."""
    page, traffic = _open(browser, DESKTOP, "en-GB")
    page.goto(f"{book.base_url}/viewer#{SPEC_SHLINK}")
    # the spec's example link is another server's: refused with a message, nothing sent
    expect(page.get_by_role("alert")).to_have_text(
        "This link belongs to another server (https://ehr.example.org). This page opens Sổ Sức "
        "Khỏe links only; use another SMART Health Link reader."
    )
    expect(page.locator("#link-label")).to_have_text(
        "Back-to-school immunizations for Oliver Brown"
    )
    expect(page.locator("#link-expires")).to_have_text("No expiry given")
    assert traffic.to("/shl/") == []
    key = links.new_key()
    plain = json.dumps({"resourceType": "Bundle", "type": "collection"}).encode()
    odd = {"url": "https://ehr.example.org/qr/x", "key": key, "v": 1, "extension": {}, "_x": 1}
    checks = page.evaluate(
        """async ([spec, key, odd, short, tokens, wrongKey]) => {
          const shl = await import("/static/viewer/shl.js");
          const failure = async (run) => {
            try { await run(); return null; } catch (error) { return error.code; }
          };
          const texts = [];
          for (const token of tokens) {
            const { header, bytes } = await shl.decryptJwe(token, key);
            texts.push([header.cty || null, new TextDecoder().decode(bytes)]);
          }
          const tampered = tokens[0].slice(0, -2) + (tokens[0].endsWith("AA") ? "BA" : "AA");
          return {
            spec: shl.parseLink(spec),
            pasted: shl.parseLink(`  https://viewer.example/app#${spec}\n`),
            odd: shl.parseLink("shlink:/" + shl.b64urlEncode(new TextEncoder().encode(odd))),
            short: await failure(() => shl.parseLink(short)),
            garbage: await failure(() => shl.parseLink("shlink:/!!!")),
            none: await failure(() => shl.parseLink("https://example.org/")),
            expired: shl.isExpired({ exp: 1 }),
            open: shl.isExpired({ exp: null }),
            texts,
            tampered: await failure(() => shl.decryptJwe(tampered, key)),
            wrongKey: await failure(() => shl.decryptJwe(tokens[0], wrongKey)),
            notJwe: await failure(() => shl.decryptJwe("a.b.c", key)),
          };
        }""",
        [
            SPEC_SHLINK,
            key,
            json.dumps(odd),
            _payload("https://ehr.example.org/qr/x", "c2hvcnQ", "", "short key"),
            [
                links.encrypt(key, plain),
                _jwe(key, plain, "application/fhir+json", deflate=True),
                _jwe(key, plain, None, deflate=False, kid="some-key-id"),
            ],
            links.new_key(),
        ],
    )
    assert checks["spec"] == {
        "url": "https://ehr.example.org/qr/Y9xwkUdtmN9wwoJoN3ffJIhX2UGvCL1JnlPVNL3kDWM/m",
        "key": "rxTgYlOaKJPFtcEd0qcceN8wEU4p94SqAwIWQe6uX7Q",
        "exp": None,
        "flag": "LP",
        "label": "Back-to-school immunizations for Oliver Brown",
    }
    assert checks["pasted"] == checks["spec"]
    assert checks["odd"] == {
        "url": "https://ehr.example.org/qr/x",
        "key": key,
        "exp": None,
        "flag": "",
        "label": None,
    }
    assert checks["short"] == checks["garbage"] == checks["none"] == "error.invalid"
    assert checks["expired"] is True
    assert checks["open"] is False
    assert checks["texts"] == [
        ["application/fhir+json", plain.decode()],
        ["application/fhir+json", plain.decode()],
        [None, plain.decode()],
    ]
    assert checks["tampered"] == checks["wrongKey"] == checks["notJwe"] == "error.decrypt"
    assert page.errors == []  # type: ignore[attr-defined]
    page.context.close()


def test_wrong_passcodes_count_down_to_a_locked_link(book: Book, browser: Browser) -> None:
    created = book.share(passcode="135790")
    page, traffic = _open(browser, PHONE, "en-GB")
    page.goto(created["viewer_url"])
    page.get_by_label("Your name (the doctor viewing it)").fill("Dr. Guess")
    passcode = page.get_by_label("Passcode", exact=True)
    alert = page.get_by_role("alert")
    for left in range(9, 1, -1):
        passcode.fill(f"wrong-{left}")
        passcode.press("Enter")
        expect(alert).to_have_text(f"Wrong passcode. {left} attempts left.")
        expect(passcode).to_be_focused()
        expect(passcode).to_have_value("")
    passcode.fill("wrong-1")
    passcode.press("Enter")
    expect(alert).to_have_text(
        "Wrong passcode. 1 attempt left: one more wrong passcode locks the link for good."
    )
    passcode.fill("wrong-0")
    passcode.press("Enter")
    expect(alert).to_have_text(
        "Wrong passcode. The link is now locked; ask the patient for a new one."
    )
    expect(page.locator("#open")).to_be_hidden()
    # even the right passcode is too late now
    page.reload()
    page.get_by_label("Passcode", exact=True).fill("135790")
    page.get_by_role("button", name="Open the record").click()
    expect(alert).to_contain_text("This link cannot be opened")
    expect(page.locator("#record")).to_be_hidden()
    assert len([item for item in traffic.to("/shl/") if item[0] == "POST"]) == 11
    assert page.errors == []  # type: ignore[attr-defined]
    assert_key_kept(created, traffic, book.log)
    page.context.close()


def test_a_vaccination_share_shows_the_services_own_card_as_verified(
    book: Book, browser: Browser, shots: Shots
) -> None:
    """End to end, no route faked: a hospital publishes immunizations, the citizen shares them,
    the manifest carries the card this service signed, and the page verifies it against the
    service's own ``/.well-known/jwks.json``."""
    clinic = book.clinic
    published = clinic.http.post(
        "/hospital/summaries",
        content=few_immunizations(2),
        headers={**clinic._as(clinic.hospital), "Content-Type": "application/fhir+json"},
    )
    assert published.status_code in (200, 201), published.text
    citizen = clinic.citizen(patient_number(LEONOR))
    expires = dt.datetime.now(dt.UTC) + dt.timedelta(days=7)
    answer = clinic.http.post(
        SHARES,
        json={"expires_at": expires.isoformat(), "content": "immunizations", "label": "Tiêm chủng"},
        headers=citizen,
    )
    assert answer.status_code == 201, answer.text
    created = answer.json()
    page, traffic = _open(browser, PHONE, "vi-VN")
    page.goto(created["viewer_url"])
    page.locator("#recipient").fill("BS. Phạm Thu Hà")
    page.locator("#recipient").press("Enter")
    card = page.locator("#record .health-card")
    expect(card).to_have_count(1)
    expect(card.locator(".badge")).to_have_attribute("data-verified", "true")
    expect(card.locator(".badge")).to_contain_text("Sổ Sức Khỏe")
    # the shared document's immunizations, and the card's own
    shown = page.locator("#record [data-section=immunizations]")
    expect(shown).to_have_count(2)
    expect(shown.first).to_contain_text("Influenza", ignore_case=True)
    assert traffic.to("/.well-known/jwks.json"), "the page fetched the service's keys"
    shots.take(page, "phone-vaccination-card")
    assert page.errors == []  # type: ignore[attr-defined]
    assert_key_kept(created, traffic, book.log)
    page.context.close()


def test_a_share_with_its_pdf_offers_it_for_download(book: Book, browser: Browser) -> None:
    """A share made with ``pdf``: the page decrypts the PDF file and offers it as a download
    (a blob URL: the decrypted bytes never go back to a server)."""
    created = book.share(content="ips", label="Bản in", pdf=True)
    page, traffic = _open(browser, DESKTOP, "vi-VN")
    page.goto(created["viewer_url"])
    page.locator("#recipient").fill(DOCTOR)
    page.locator("#recipient").press("Enter")
    link = page.locator("#record .shared-pdf a.pdf-download")
    expect(link).to_have_count(1)
    expect(link).to_contain_text("Tải bản PDF")
    assert (link.get_attribute("href") or "").startswith("blob:")
    with page.expect_download() as started:
        link.click()
    saved = Path(started.value.path())
    assert saved.read_bytes().startswith(b"%PDF-")
    assert started.value.suggested_filename == "so-suc-khoe.pdf"
    assert page.errors == []  # type: ignore[attr-defined]
    assert_key_kept(created, traffic, book.log)
    page.context.close()
