"""The queue board in Chromium: it shows the queue as it is when opened, then follows it live
(server-sent events): a walk-in raises the waiting count, the hospital's call-next puts the new
number up big within a few seconds; and it comes back by itself after the stream drops."""

from __future__ import annotations

from playwright.sync_api import Page, expect

from tests.e2e.browser.clinic import (
    DEPARTMENT,
    DEPARTMENT_NAME,
    FACILITY,
    FACILITY_NAME,
    ROOM,
    ServedClinic,
)
from tests.e2e.browser.conftest import Shots

LIVE_WITHIN_MS = 5000


def _trouble(page: Page) -> list[str]:
    return [
        text
        for text in page.errors  # type: ignore[attr-defined]
        if "Content Security Policy" in text or "Refused to" in text or text.startswith("uncaught")
    ]


def test_board_updates_when_the_hospital_calls_next(
    page: Page, clinic: ServedClinic, shots: Shots
) -> None:
    # the queue as the board finds it (another test of this module may have used it)
    before = clinic.http.get(f"/facilities/{FACILITY}/queues/{DEPARTMENT}").json()
    page.goto(f"{clinic.base_url}/board/{FACILITY}/{DEPARTMENT}")
    expect(page.locator("#connection")).to_have_text("Cập nhật trực tiếp")
    expect(page.locator("#facility-name")).to_have_text(FACILITY_NAME)
    expect(page.locator("#department-name")).to_have_text(DEPARTMENT_NAME)
    expect(page.get_by_role("heading", name="Đang phục vụ")).to_be_visible()
    expect(page.locator("#waiting")).to_have_text(f"{before['waiting']} người")
    shots.take(page, "1-opened")

    # two citizens walk in: the waiting count follows
    first = clinic.walk_in("001090000401")
    second = clinic.walk_in("001090000402")
    expect(page.locator("#waiting")).to_have_text(
        f"{before['waiting'] + 2} người", timeout=LIVE_WITHIN_MS
    )

    # the hospital calls until the second is up; the board shows each call within seconds
    while True:
        called = clinic.call_next()["called"]
        assert called is not None, "the walk-ins' tickets were never called"
        expect(page.locator("#now-label")).to_have_text(called["label"], timeout=LIVE_WITHIN_MS)
        if called["label"] == second["label"]:
            break
    expect(page.locator("#now-room")).to_have_text(f"Phòng {ROOM}")
    expect(page.locator("#announcer")).to_have_text(f"Mời số {second['label']} vào phòng {ROOM}.")
    # the call before stays listed under "recently called"
    expect(page.locator("#recent-list li").first).to_contain_text(first["label"])
    expect(page.locator("#waiting")).to_have_text(f"{before['waiting']} người")
    shots.take(page, "2-called")

    # English on request, kept for the next visit
    page.goto(f"{clinic.base_url}/board/{FACILITY}/{DEPARTMENT}?lang=en")
    expect(page.get_by_role("heading", name="Now serving")).to_be_visible()
    expect(page.locator("#now-label")).to_have_text(second["label"])
    expect(page.locator("#now-room")).to_have_text(f"Room {ROOM}")
    expect(page.locator("#connection")).to_have_text("Live")
    page.goto(f"{clinic.base_url}/board/{FACILITY}/{DEPARTMENT}")
    expect(page.locator("html")).to_have_attribute("lang", "en")
    shots.take(page, "3-english")
    assert _trouble(page) == []


def test_board_retries_when_the_stream_is_refused(
    page: Page, clinic: ServedClinic, shots: Shots
) -> None:
    """A restarting server answers 503: the board shows the status it can still read, says it
    is reconnecting, and goes live again by itself."""
    page.route(
        "**/events",
        lambda route: route.fulfill(
            status=503,
            content_type="application/problem+json",
            body='{"type": "/problems/service-unavailable", "title": "Service unavailable"}',
        ),
    )
    page.goto(f"{clinic.base_url}/board/{FACILITY}/{DEPARTMENT}")
    expect(page.locator("#connection")).to_have_text("Mất kết nối — đang kết nối lại…")
    current = clinic.http.get(f"/facilities/{FACILITY}/queues/{DEPARTMENT}").json()
    expect(page.locator("#waiting")).to_have_text(f"{current['waiting']} người")
    shots.take(page, "1-refused")
    page.unroute("**/events")
    expect(page.locator("#connection")).to_have_text("Cập nhật trực tiếp", timeout=10000)
    clinic.walk_in("001090000403")
    expect(page.locator("#waiting")).to_have_text(
        f"{current['waiting'] + 1} người", timeout=LIVE_WITHIN_MS
    )
    shots.take(page, "2-live-again")


def test_unknown_queue_says_so(page: Page, clinic: ServedClinic, shots: Shots) -> None:
    page.goto(f"{clinic.base_url}/board/{FACILITY}/KHONG-CO")
    expect(page.locator("#connection")).to_have_text(
        "Không tìm thấy hàng đợi này. Kiểm tra lại địa chỉ trang.", timeout=10000
    )
    shots.take(page, "1-not-found")
