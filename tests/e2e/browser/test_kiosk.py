"""The kiosk page in Chromium: staff paste what ``healthbook clients create --kind kiosk``
printed; a patient's appointment code typed by a USB scanner (keystrokes into the focused field,
then Enter) gives a ticket; the same code again is refused with its own message, in Vietnamese
and in English; the access token is renewed before it expires."""

from __future__ import annotations

import json
import re

from cryptography.hazmat.primitives.asymmetric import ec
from jwt.algorithms import ECAlgorithm
from playwright.sync_api import Page, Request, expect

from tests.e2e.browser.clinic import (
    DEPARTMENT,
    DEPARTMENT_NAME,
    FACILITY,
    FACILITY_NAME,
    ROOM,
    ServedClinic,
)
from tests.e2e.browser.conftest import Shots


def _trouble(page: Page) -> list[str]:
    """Console errors that mean a broken page (failed fetches of 4xx answers are expected)."""
    return [
        text
        for text in page.errors  # type: ignore[attr-defined]
        if "Content Security Policy" in text or "Refused to" in text or text.startswith("uncaught")
    ]


def test_scan_on_the_kiosk_shows_the_ticket(page: Page, clinic: ServedClinic, shots: Shots) -> None:
    token_requests: list[Request] = []
    page.on(
        "request",
        lambda request: (
            token_requests.append(request) if request.url.endswith("/auth/token") else None
        ),
    )
    page.goto(f"{clinic.base_url}/kiosk?reset=5")  # screens reset after 5 s instead of 20

    # first run: the setup form, in Vietnamese
    expect(page.locator("html")).to_have_attribute("lang", "vi")
    expect(page.get_by_role("heading", name="Cài đặt ki-ốt (dành cho nhân viên)")).to_be_visible()
    shots.take(page, "1-setup")
    # a key that is not private is refused before anything is sent
    page.get_by_label("Mã ứng dụng (client_id)").fill("kiosk-x")
    page.get_by_label("Khóa bí mật (JWK)").fill('{"kty":"OKP","crv":"Ed25519","x":"abc"}')
    page.get_by_role("button", name="Lưu và kết nối").click()
    expect(page.get_by_role("alert")).to_have_text(
        'Đây là khóa công khai; cần khóa bí mật (có trường "d").'
    )
    # staff paste the command's whole output (client id and private key in it)
    page.get_by_label("Mã ứng dụng (client_id)").fill("")
    page.get_by_label("Khóa bí mật (JWK)").fill(clinic.kiosk_cli_output())
    page.get_by_role("button", name="Lưu và kết nối").click()

    scanner = page.locator("#scan-input")
    expect(page.get_by_label("Mã check-in (máy quét tự điền)")).to_be_focused()
    expect(page.locator("#kiosk-status")).to_have_text("Sẵn sàng")
    assert len(token_requests) == 1
    shots.take(page, "2-ready")

    # the credentials are remembered: a reload goes straight to scanning
    page.reload()
    expect(scanner).to_be_focused()
    expect(page.locator("#kiosk-status")).to_have_text("Sẵn sàng")
    expect(page.locator("#setup")).to_be_hidden()

    # a USB scanner types the code into the focused field and presses Enter
    code = clinic.check_in_code("001090000301")
    page.keyboard.type(code)
    page.keyboard.press("Enter")

    ticket = page.locator("#ticket")
    expect(ticket).to_be_visible()
    expect(page.locator("#ticket-label")).to_have_text("NOI-001")
    expect(page.locator("#ticket-department")).to_have_text(DEPARTMENT_NAME)
    expect(page.locator("#ticket-room")).to_have_text(ROOM)
    expect(page.locator("#ticket-facility")).to_have_text(FACILITY_NAME)
    expect(page.locator("#ticket-ahead")).to_have_text("Bạn là người tiếp theo")
    expect(page.get_by_role("button", name="In phiếu")).to_be_visible()
    expect(page.locator("#announcer")).to_contain_text("Số thứ tự của bạn là NOI-001")
    # the ticket alone: no scan field or camera notice under it
    expect(scanner).to_be_hidden()
    expect(page.locator("#camera-message")).to_be_hidden()
    shots.take(page, "3-ticket")
    page.emulate_media(media="print")
    shots.take(page, "4-ticket-print")
    page.emulate_media(media="screen")
    page.get_by_role("button", name="Xong").click()
    expect(ticket).to_be_hidden()
    expect(scanner).to_be_focused()

    # the access token (30 s here) is renewed before it runs out, without a new setup
    before = len(token_requests)
    for _ in range(40):
        if len(token_requests) > before:
            break
        page.wait_for_timeout(500)
    assert len(token_requests) > before, "no renewal within 20 s of a 30 s token"
    renewal = token_requests[-1].response()
    assert renewal is not None
    assert renewal.status == 200
    expect(page.locator("#kiosk-status")).to_have_text("Sẵn sàng")

    # the same code again: its own message, then the English switch translates it
    page.keyboard.type(code)
    page.keyboard.press("Enter")
    problem = page.locator("#problem")
    expect(problem).to_be_visible()
    title = page.locator("#problem-title")
    expect(title).to_have_text("Mã này đã được dùng")
    shots.take(page, "5-refused-vi")
    page.get_by_role("button", name="English").click()
    expect(page.locator("html")).to_have_attribute("lang", "en")
    expect(title).to_have_text("This code was used already")
    expect(page.get_by_role("button", name="Scan again")).to_be_visible()
    expect(scanner).to_be_hidden()  # the problem alone on screen
    shots.take(page, "6-refused-en")

    # the next scan, typed while a button has focus, brings the code field back and lands in it
    page.get_by_role("button", name="Tiếng Việt").focus()
    page.keyboard.type("not-a-check-in-code")
    expect(scanner).to_have_value("not-a-check-in-code")  # the first character too
    page.keyboard.press("Enter")
    expect(title).to_have_text("This code can't be read")

    # the problem screen resets by itself and the language choice stays
    expect(problem).to_be_hidden(timeout=8000)
    expect(page.get_by_role("heading", name="Scan your appointment QR code")).to_be_visible()
    assert _trouble(page) == []


def test_a_kiosk_with_an_es256_key(page: Page, clinic: ServedClinic, shots: Shots) -> None:
    """Operators may register a P-256 key of their own: the page signs with ECDSA (ES256)."""
    private = ec.generate_private_key(ec.SECP256R1())
    public_jwk = json.loads(ECAlgorithm.to_jwk(private.public_key()))
    public_jwk.update({"kid": "kiosk-p256", "alg": "ES256", "use": "sig"})
    private_jwk = json.loads(ECAlgorithm.to_jwk(private))
    private_jwk.update({"kid": "kiosk-p256", "alg": "ES256", "use": "sig"})
    client_id = clinic.kiosk_with_key(public_jwk)

    page.goto(f"{clinic.base_url}/kiosk?lang=en")
    page.get_by_label("Client id (client_id)").fill(client_id)
    page.get_by_label("Private key (JWK)").fill(json.dumps(private_jwk))
    page.get_by_role("button", name="Save and connect").click()
    expect(page.locator("#kiosk-status")).to_have_text("Ready")
    page.keyboard.type(clinic.check_in_code("001090000302"))
    page.keyboard.press("Enter")
    expect(page.locator("#ticket-label")).to_have_text(re.compile(r"^NOI-\d{3}$"))
    expect(page.get_by_role("heading", name="Your queue number")).to_be_visible()
    shots.take(page, "1-ticket")
    assert _trouble(page) == []


def test_a_room_named_phong_is_announced_once(page: Page, clinic: ServedClinic) -> None:
    """A room whose own name says "Phòng …" is read out as it is, not as "phòng Phòng …"."""
    named = "Phòng khám số 12"
    department = f"/admin/facilities/{FACILITY}/departments/{DEPARTMENT}"
    admin = clinic._as(clinic.admin)
    clinic._ok(
        clinic.http.put(department, json={"name": DEPARTMENT_NAME, "room": named}, headers=admin)
    )
    try:
        page.goto(f"{clinic.base_url}/kiosk")
        page.get_by_label("Khóa bí mật (JWK)").fill(clinic.kiosk_cli_output("Ki-ốt phòng"))
        page.get_by_role("button", name="Lưu và kết nối").click()
        expect(page.locator("#kiosk-status")).to_have_text("Sẵn sàng")
        page.keyboard.type(clinic.check_in_code("001090000303"))
        page.keyboard.press("Enter")
        expect(page.locator("#ticket-room")).to_have_text(named)
        announcer = page.locator("#announcer")
        expect(announcer).to_have_text(re.compile(rf", {DEPARTMENT_NAME}, {named}\.$"))
        assert "phòng Phòng" not in announcer.inner_text()
    finally:
        clinic._ok(
            clinic.http.put(department, json={"name": DEPARTMENT_NAME, "room": ROOM}, headers=admin)
        )
