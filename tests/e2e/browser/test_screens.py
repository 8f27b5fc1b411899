"""The board and the kiosk as people see them, at the screen sizes of ``screens.SIZES`` (the
issue's 1920×1080, 1366×768, 1280×720 and 1080×1920 portrait, and 1024×768, 800×1280, 3840×2160),
in Vietnamese and in English, on queues set up for real over the API: an empty day, a few calls,
many calls with rooms of every length, a facility and a department with names as long as the API
allows.

Each screen is checked for what a person would notice: nothing wider than the screen (no element
and no text outside it), the board's text at least the minimum of ``screens.min_board_text_px``
and the board on one screen without scrolling; the kiosk's error and ticket panels without the
scan field and the camera notice under them, "go to the reception desk" said once, and in portrait
the kiosk's content reaching down the screen. Every screen is kept as a PNG in
``<artifacts>/screens/`` (``test-artifacts/browser/screens/`` unless ``BROWSER_ARTIFACTS_DIR`` is
set), named ``<page>-<state>-<width>x<height>-<language>.png``.

One server (SQLite + embedded Redis: the layout does not depend on the backend) and one browser
serve the whole module.
"""

from __future__ import annotations

import json
import re
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
from jwt.algorithms import OKPAlgorithm
from playwright.sync_api import Browser, Page, expect, sync_playwright

from api.checkin.tokens import WalkInCodes
from tests.e2e.browser.clinic import FACILITY, ClientKey, ServedClinic
from tests.e2e.browser.conftest import _served_clinic
from tests.e2e.browser.screens import (
    PORTRAIT,
    SIZES,
    Measure,
    assert_fits_horizontally,
    measure,
    min_board_text_px,
    screens_folder,
    size_id,
)

LANGUAGES = ("vi", "en")
LONG_FACILITY = "02002"
LONG_FACILITY_NAME = (
    "Bệnh viện Đa khoa Trung ương Thành phố Hồ Chí Minh — Cơ sở 2, Trung tâm Khám chữa bệnh "
    "Kỹ thuật cao và Chăm sóc Sức khỏe Cộng đồng khu vực phía Nam, Phường Bến Nghé, Quận 1"
)
LONG_CODE = "KHAMBENHTHEOYEUCAUCHATLUONGCAO01"  # 32 characters, the most a code may have
LONG_NAME = (
    "Khoa Khám bệnh theo yêu cầu chất lượng cao kết hợp Y học cổ truyền và Phục hồi chức "
    "năng dành cho người cao tuổi, phụ nữ mang thai và trẻ em dưới sáu tuổi (Khu nhà B, tầng 3)"
)[:200]
ROOMS = [
    "P.101",
    "Phòng 12",
    "Bàn khám số 3",
    "Phòng khám số 12 — tầng 3, khu nhà B",  # 36
    "P.2",
    "Phòng siêu âm tim mạch và nội soi 4B-07",  # 40, the most a call's room may be
]
DESK = {"vi": "quầy tiếp đón", "en": "reception desk"}


@dataclass(frozen=True)
class Queue:
    """A queue set up for the screens, and what its board must show."""

    facility_id: str
    department: str
    facility_name: str
    department_name: str
    now_label: str | None
    calls: int


@pytest.fixture(scope="module")
def screens_clinic(
    request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[ServedClinic]:
    with _served_clinic("sqlite", request, tmp_path_factory.mktemp("browser-screens")) as clinic:
        yield clinic


@pytest.fixture(scope="module")
def module_browser(screens_clinic: ServedClinic, chromium: Path) -> Iterator[Browser]:
    """One Chromium for the module (after the server: its fixtures need no event loop)."""
    with sync_playwright() as driver:
        browser = driver.chromium.launch(
            executable_path=str(chromium), args=["--disable-dev-shm-usage"]
        )
        yield browser
        browser.close()


class Setup:
    """Queues made the way a facility makes them: over the admin API, walk-ins from citizens'
    apps, calls from the hospital's system."""

    def __init__(self, clinic: ServedClinic) -> None:
        self.clinic = clinic
        self.http = clinic.http
        self.walk_in_codes = WalkInCodes(clinic.identifier_hash_key)
        self.citizens = 0

    def _ok(self, response: Any) -> Any:
        assert response.status_code in (200, 201), f"{response.request.url}: {response.text}"
        return response.json()

    def admin(self) -> dict[str, str]:
        return {
            "Authorization": f"Bearer {self.clinic.admin.token(self.http, self.clinic.audience)}"
        }

    def facility(self, facility_id: str, name: str) -> ClientKey:
        self._ok(
            self.http.put(
                f"/admin/facilities/{facility_id}",
                json={"name": name, "province": "Hồ Chí Minh"},
                headers=self.admin(),
            )
        )
        private = Ed25519PrivateKey.generate()
        jwk = json.loads(OKPAlgorithm.to_jwk(private.public_key()))
        jwk.update({"kid": f"his-{facility_id}", "alg": "EdDSA", "use": "sig"})
        created = self._ok(
            self.http.post(
                "/admin/clients",
                json={
                    "kind": "hospital",
                    "name": f"HIS {facility_id}",
                    "facility_id": facility_id,
                    "jwks": {"keys": [jwk]},
                },
                headers=self.admin(),
            )
        )
        return ClientKey(created["id"], private, f"his-{facility_id}")

    def department(self, facility_id: str, code: str, name: str, room: str | None) -> None:
        body: dict[str, Any] = {"name": name}
        if room:
            body["room"] = room
        self._ok(
            self.http.put(
                f"/admin/facilities/{facility_id}/departments/{code}",
                json=body,
                headers=self.admin(),
            )
        )

    def walk_ins(self, facility_id: str, code: str, count: int) -> None:
        for _ in range(count):
            self.citizens += 1
            citizen = self.clinic.citizen(f"0010930{self.citizens:05d}")
            self._ok(
                self.http.post(
                    "/citizens/me/walk-ins",
                    json={"code": self.walk_in_codes.code(facility_id, code)},
                    headers=citizen,
                )
            )

    def call(self, hospital: ClientKey, code: str, room: str | None) -> str:
        token = hospital.token(self.http, self.clinic.audience)
        called = self._ok(
            self.http.post(
                f"/hospital/queues/{code}/call-next",
                json={"room": room} if room else {},
                headers={"Authorization": f"Bearer {token}"},
            )
        )["called"]
        return called["label"]


@pytest.fixture(scope="module")
def queues(screens_clinic: ServedClinic) -> dict[str, Queue]:
    setup = Setup(screens_clinic)
    name = "Bệnh viện Đa khoa Tỉnh"
    hospital = screens_clinic.hospital
    setup.department(FACILITY, "TRONG", "Khoa Khám bệnh", "P.001")
    setup.department(FACILITY, "IT", "Khoa Nhi", "P.201")
    setup.walk_ins(FACILITY, "IT", 3)
    few = [setup.call(hospital, "IT", None) for _ in range(2)][-1]
    setup.department(FACILITY, "NHIEU", "Khoa Khám bệnh theo yêu cầu", "P.301")
    setup.walk_ins(FACILITY, "NHIEU", 16)
    many = [setup.call(hospital, "NHIEU", room) for room in ROOMS][-1]
    long_hospital = setup.facility(LONG_FACILITY, LONG_FACILITY_NAME)
    setup.department(LONG_FACILITY, LONG_CODE, LONG_NAME, ROOMS[-1])
    setup.walk_ins(LONG_FACILITY, LONG_CODE, 4)
    long_label = [setup.call(long_hospital, LONG_CODE, room) for room in ROOMS[-2:]][-1]
    return {
        "empty": Queue(FACILITY, "TRONG", name, "Khoa Khám bệnh", None, 0),
        "few-calls": Queue(FACILITY, "IT", name, "Khoa Nhi", few, 2),
        "many-calls": Queue(FACILITY, "NHIEU", name, "Khoa Khám bệnh theo yêu cầu", many, 6),
        "long-names": Queue(LONG_FACILITY, LONG_CODE, LONG_FACILITY_NAME, LONG_NAME, long_label, 2),
    }


def _settle(page: Page) -> None:
    """Two animation frames: what the page laid out and scripted has been painted."""
    page.evaluate(
        "() => new Promise((done) => requestAnimationFrame(() => requestAnimationFrame(done)))"
    )


def _shot(page: Page, folder: Path, name: str) -> Path:
    path = folder / f"{name}.png"
    page.screenshot(path=str(path))
    print(f"screen: {path}")
    return path


@pytest.mark.parametrize("size", SIZES, ids=size_id)
def test_board_fits_every_screen(
    module_browser: Browser,
    screens_clinic: ServedClinic,
    queues: dict[str, Queue],
    artifacts: Path,
    size: tuple[int, int],
) -> None:
    width, height = size
    folder = screens_folder(artifacts)
    minimum = min_board_text_px(width, height)
    context = module_browser.new_context(
        viewport={"width": width, "height": height},
        locale="vi-VN",
        timezone_id="Asia/Ho_Chi_Minh",
    )
    page = context.new_page()
    try:
        for scenario, queue in queues.items():
            for lang in LANGUAGES:
                where = f"board {scenario} {size_id(size)} {lang}"
                page.goto(
                    f"{screens_clinic.base_url}/board/{queue.facility_id}/{queue.department}"
                    f"?lang={lang}"
                )
                expect(page.locator("#connection")).to_have_attribute("data-state", "live")
                expect(page.locator("#facility-name")).to_have_text(queue.facility_name)
                expect(page.locator("#department-name")).to_have_text(queue.department_name)
                label = page.locator("#now-label")
                if queue.now_label is None:
                    expect(label).to_have_text(
                        "Chưa gọi số" if lang == "vi" else "No number called yet"
                    )
                    expect(page.locator("#recent-none")).to_be_visible()
                else:
                    expect(label).to_have_text(queue.now_label)
                    # the latest earlier call is listed (more as the screen allows); only
                    # the longest names may leave it no room on a small screen
                    if scenario != "long-names":
                        expect(page.locator("#recent-list li").first).to_be_visible()
                if scenario == "few-calls":  # three walked in, two were called
                    expect(page.locator("#waiting")).to_have_text(
                        "1 người" if lang == "vi" else "1 person"
                    )
                _settle(page)
                _shot(page, folder, f"board-{scenario}-{size_id(size)}-{lang}")
                found = measure(page)
                assert_fits_horizontally(found, where)
                assert found.scroll_height <= height, (
                    f"{where}: the board needs scrolling ({found.scroll_height} px on {height})"
                )
                small = found.smaller_than(minimum)
                assert small == [], f"{where}: text under {minimum:.1f} px: {small[:8]}"
                _assert_readable_parts(page, found, queue, where)
    finally:
        context.close()


def _assert_readable_parts(page: Page, found: Measure, queue: Queue, where: str) -> None:
    """The parts a waiting patient looks for are on screen, whole: the called number on one
    line inside its panel, the waiting count, the average, the update time."""
    shown = found.visible_text()
    for element in ("#waiting", "#average", "#updated", "#connection"):
        text = page.locator(element).inner_text().strip()
        assert text, f"{where}: {element} is empty"
        assert text in shown, f"{where}: {element} ({text!r}) is not on screen"
    # no call half shown: every listed call lies whole inside the list
    calls = page.evaluate(
        """() => {
          const list = document.getElementById("recent-list").getBoundingClientRect();
          return [...document.querySelectorAll("#recent-list li")]
            .filter((item) => item.checkVisibility())
            .map((item) => {
              const box = item.getBoundingClientRect();
              return { text: item.innerText, inside: box.top >= list.top - 0.5
                && box.bottom <= list.bottom + 0.5 };
            });
        }"""
    )
    cut = [call["text"] for call in calls if not call["inside"]]
    assert cut == [], f"{where}: calls cut off by the list's end: {cut}"
    if queue.now_label is not None:
        box = page.locator("#now-label").bounding_box()
        panel = page.locator(".now").bounding_box()
        assert box is not None
        assert panel is not None
        inside = (
            box["x"] >= panel["x"] - 0.5
            and box["x"] + box["width"] <= panel["x"] + panel["width"] + 0.5
            and box["y"] >= panel["y"] - 0.5
            and box["y"] + box["height"] <= panel["y"] + panel["height"] + 0.5
        )
        assert inside, f"{where}: the called number {box} is not inside its panel {panel}"


# -- the kiosk -------------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def kiosk_output(screens_clinic: ServedClinic) -> str:
    """What ``healthbook clients create --kind kiosk`` printed, as staff paste it."""
    return screens_clinic.kiosk_cli_output("Ki-ốt màn hình")


def _kiosk_checks(
    page: Page, folder: Path, state: str, size: tuple[int, int], lang: str
) -> Measure:
    _settle(page)
    where = f"kiosk {state} {size_id(size)} {lang}"
    _shot(page, folder, f"kiosk-{state}-{size_id(size)}-{lang}")
    found = measure(page)
    assert_fits_horizontally(found, where)
    if state != "setup":
        # a patient never has to scroll (the set-up form, for staff, may)
        assert found.scroll_height <= found.height, (
            f"{where}: needs scrolling ({found.scroll_height} px on {found.height})"
        )
    if size in PORTRAIT and state != "setup":
        # the screen is used down to its bottom, not left empty under the content
        assert found.lowest >= 0.8 * found.height, (
            f"{where}: the content ends at {found.lowest:.0f} px of {found.height}"
        )
    return found


@pytest.mark.parametrize("size", SIZES, ids=size_id)
def test_kiosk_fits_every_screen(
    module_browser: Browser,
    screens_clinic: ServedClinic,
    kiosk_output: str,
    artifacts: Path,
    size: tuple[int, int],
) -> None:
    width, height = size
    folder = screens_folder(artifacts)
    context = module_browser.new_context(
        viewport={"width": width, "height": height},
        locale="vi-VN",
        timezone_id="Asia/Ho_Chi_Minh",
    )
    page = context.new_page()
    scan = page.locator("#scan-input")
    camera_note = page.locator("#camera-message")
    try:
        for lang in LANGUAGES:
            page.goto(f"{screens_clinic.base_url}/kiosk?lang={lang}&reset=600&setup")
            expect(page.locator("#setup")).to_be_visible()
            _kiosk_checks(page, folder, "setup", size, lang)
            page.locator("#client-id").fill("")
            page.locator("#private-key").fill(kiosk_output)
            page.locator("#setup-form button[type=submit]").click()
            expect(page.locator("#kiosk-status")).to_have_attribute("data-state", "ready")

            # idle: the scan field (focused) and the camera notice
            expect(scan).to_be_focused()
            expect(camera_note).to_be_visible()
            _kiosk_checks(page, folder, "idle", size, lang)

            # an error: its panel alone, the reception desk named once
            page.keyboard.type("not-a-check-in-code")
            page.keyboard.press("Enter")
            problem = page.locator("#problem")
            expect(problem).to_be_visible()
            expect(scan).to_be_hidden()
            expect(camera_note).to_be_hidden()
            found = _kiosk_checks(page, folder, "error", size, lang)
            said = found.visible_text().lower().count(DESK[lang])
            assert said == 1, f"the error panel names the reception desk {said} times ({lang})"
            page.locator("#again-button").click()
            expect(scan).to_be_visible()
            expect(scan).to_be_focused()

            # a ticket: its panel alone
            citizen = f"0010940{LANGUAGES.index(lang)}{width:04d}"
            page.keyboard.type(screens_clinic.check_in_code(citizen))
            page.keyboard.press("Enter")
            expect(page.locator("#ticket")).to_be_visible()
            expect(page.locator("#ticket-label")).to_have_text(re.compile(r"^NOI-\d{3}$"))
            expect(scan).to_be_hidden()
            expect(camera_note).to_be_hidden()
            _kiosk_checks(page, folder, "ticket", size, lang)

            # the next person's scan brings the field back, first character included
            page.keyboard.type("next-person")
            expect(page.locator("#ticket")).to_be_hidden()
            expect(scan).to_be_visible()
            expect(scan).to_have_value("next-person")
            scan.fill("")
    finally:
        context.close()


def test_kiosk_errors_name_the_reception_desk_once(
    module_browser: Browser, screens_clinic: ServedClinic
) -> None:
    """Every problem the kiosk can show (title, hint and the panel's help line), in both
    languages."""
    page = module_browser.new_page()
    try:
        page.goto(f"{screens_clinic.base_url}/kiosk?setup")
        strings = page.evaluate("async () => (await import('/static/checkin/strings.js')).STRINGS")
        for lang, desk in DESK.items():
            table = strings[lang]
            problems = [
                key[: -len(".title")]
                for key in table
                if key.startswith("problem.") and key.endswith(".title")
            ]
            assert len(problems) >= 10
            for key in problems:
                panel = " ".join(
                    (table[f"{key}.title"], table[f"{key}.hint"], table["problem.help"])
                )
                assert panel.lower().count(desk) == 1, f"{lang} {key}: {panel}"
    finally:
        page.close()
