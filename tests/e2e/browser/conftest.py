"""Browser tests: Playwright drives Debian's Chromium (``/usr/bin/chromium``) against a real
``healthbook serve`` on loopback.

Chromium is installed with ``apt-get install -y chromium`` when missing; Playwright never
downloads a browser of its own. Without a usable Chromium these tests are skipped with the reason,
except under CI (``CI`` set), where that is a failure (``tests/support/tools.py``). Screenshots go
to ``$BROWSER_ARTIFACTS_DIR`` (default ``test-artifacts/browser/`` at the repository root): named
steps of each test, and ``…-failure.png`` for a test that fails.
"""

from __future__ import annotations

import os
import re
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import pytest
from playwright.sync_api import Browser, ConsoleMessage, Page, Playwright, sync_playwright

from tests.e2e.browser.clinic import ServedClinic
from tests.support.backends import PostgresTemplate, fresh_redis_url
from tests.support.idp import TestIdentityProvider
from tests.support.server import served
from tests.support.tools import CHROMIUM, require

REPO_ROOT = Path(__file__).resolve().parents[3]
HASH_KEY = "browser-tests-identifier-hash-key-000000"
_REPORTS = pytest.StashKey[dict[str, pytest.TestReport]]()


@pytest.fixture(scope="session")
def chromium() -> Path:
    return Path(require(CHROMIUM))


@pytest.fixture(scope="session")
def artifacts() -> Path:
    folder = Path(os.environ.get("BROWSER_ARTIFACTS_DIR") or REPO_ROOT / "test-artifacts/browser")
    folder.mkdir(parents=True, exist_ok=True)
    return folder


# Per test, not per session: Playwright's sync API keeps an event loop running on this thread
# while it is started, and the served app's fixtures (PostgreSQL databases) need asyncio.run()
# between tests. Module-scoped fixtures set up before it starts.
@pytest.fixture
def playwright() -> Iterator[Playwright]:
    with sync_playwright() as driver:
        yield driver


@pytest.fixture
def browser(playwright: Playwright, chromium: Path) -> Iterator[Browser]:
    browser = playwright.chromium.launch(
        executable_path=str(chromium), args=["--disable-dev-shm-usage"]
    )
    yield browser
    browser.close()


@contextmanager
def _served_clinic(
    backend: str, request: pytest.FixtureRequest, folder: Path
) -> Iterator[ServedClinic]:
    env = {
        "PUBLIC_BASE_URL": "http://healthbook.test",  # the audience of client assertions
        "DATA_DIR": str(folder / "data"),
        "IDENTIFIER_HASH_KEY": HASH_KEY,
        "ACCESS_TOKEN_TTL_SECONDS": "30",  # the kiosk renews its token within the test
        "LOG_LEVEL": "WARNING",
        "ACCESS_LOG": "false",
    }
    database = None
    if backend == "postgres":
        template: PostgresTemplate = request.getfixturevalue("postgres_template")
        database, url = template.fresh()
        env |= {"DATABASE_URL": url, "REDIS_URL": fresh_redis_url()}
    try:
        with (
            served(env, log=folder / "server.log") as base_url,
            TestIdentityProvider() as idp,
        ):
            clinic = ServedClinic(
                base_url=base_url,
                env={"PATH": os.environ.get("PATH", "/usr/bin:/bin"), **env},
                identifier_hash_key=HASH_KEY,
                idp=idp,
            )
            clinic.set_up()
            yield clinic
            clinic.close()
    finally:
        if database is not None:
            PostgresTemplate.drop(database)


@pytest.fixture(scope="module", params=["postgres", "sqlite"])
def clinic(
    request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[ServedClinic]:
    """A served app (PostgreSQL + Redis, or SQLite + fakeredis) with facility 01001 set up."""
    folder = tmp_path_factory.mktemp(f"browser-{request.param}")
    with _served_clinic(request.param, request, folder) as clinic:
        yield clinic


@pytest.fixture(scope="module")
def servers_clinic(
    request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[ServedClinic]:
    """The same on PostgreSQL + a real Redis, for what only a real Redis can do."""
    with _served_clinic("postgres", request, tmp_path_factory.mktemp("browser-servers")) as clinic:
        yield clinic


@pytest.hookimpl(wrapper=True, tryfirst=True)
def pytest_runtest_makereport(item: pytest.Item, call: pytest.CallInfo[None]) -> pytest.TestReport:
    report = yield
    item.stash.setdefault(_REPORTS, {})[report.when] = report
    return report


class Shots:
    """Screenshots of one test, named after it."""

    def __init__(self, folder: Path, test_name: str) -> None:
        self.folder = folder
        self.prefix = re.sub(r"[^\w.-]+", "-", test_name).strip("-")
        for old in folder.glob(f"{self.prefix}-*.png"):  # an earlier run's pictures
            old.unlink()

    def take(self, page: Page, step: str, *, full_page: bool = True) -> Path:
        path = self.folder / f"{self.prefix}-{step}.png"
        page.screenshot(path=str(path), full_page=full_page)
        return path


@pytest.fixture
def shots(artifacts: Path, request: pytest.FixtureRequest) -> Shots:
    return Shots(artifacts, request.node.name)


@pytest.fixture
def page(browser: Browser, request: pytest.FixtureRequest, shots: Shots) -> Iterator[Page]:
    """A fresh browser context (empty localStorage) and page; console errors are collected on
    ``page.errors`` (a content-security-policy violation shows up there); a failing test leaves
    a screenshot."""
    context = browser.new_context(
        viewport={"width": 1280, "height": 900}, locale="vi-VN", timezone_id="Asia/Ho_Chi_Minh"
    )
    page = context.new_page()
    errors: list[str] = []

    def on_console(message: ConsoleMessage) -> None:
        if message.type == "error":
            errors.append(message.text)

    page.on("console", on_console)
    page.on("pageerror", lambda error: errors.append(f"uncaught: {error}"))
    page.errors = errors  # type: ignore[attr-defined]
    yield page
    report = request.node.stash.get(_REPORTS, {}).get("call")
    if report is not None and report.failed:
        try:
            shots.take(page, "failure")
        except Exception as exc:  # the page may be gone; the test's own error says why
            print(f"no failure screenshot: {exc}")
    context.close()
