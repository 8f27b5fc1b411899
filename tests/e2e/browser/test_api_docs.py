"""The API documentation in Chromium on a machine without internet (a hospital network): every
request that leaves loopback is aborted and recorded, and each documentation page must still
list the API's operations — which it can only do if everything it loads comes from the service.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from urllib.parse import urlsplit

import httpx
import pytest
from playwright.sync_api import Page, Route, expect

from tests.e2e.browser.conftest import Shots
from tests.support.server import served

LOOPBACK = frozenset({"127.0.0.1", "localhost", "::1", "[::1]"})
PAGES = ("/schema", "/schema/swagger")


@pytest.fixture(scope="module")
def base_url(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    """``healthbook serve`` on its embedded defaults (the documentation needs no data)."""
    folder: Path = tmp_path_factory.mktemp("browser-docs")
    env = {
        "DATA_DIR": str(folder / "data"),
        "IDENTIFIER_HASH_KEY": "browser-docs-identifier-hash-key-0000000",
        "LOG_LEVEL": "WARNING",
        "ACCESS_LOG": "false",
    }
    with served(env, log=folder / "server.log") as url:
        yield url


def _summaries(base_url: str) -> dict[str, str]:
    """Each operation's summary by its id, as the served document lists them."""
    document = httpx.get(f"{base_url}/schema/openapi.json", timeout=10).json()
    summaries = {
        operation["operationId"]: operation["summary"]
        for item in document["paths"].values()
        for operation in item.values()
        if isinstance(operation, dict) and "operationId" in operation
    }
    assert len(summaries) > 10, "the document lists too few operations to be the app's"
    return summaries


@pytest.mark.parametrize("path", PAGES)
def test_docs_page_lists_the_operations_with_the_network_cut(
    page: Page, base_url: str, shots: Shots, path: str
) -> None:
    attempted_outside: list[str] = []

    def only_loopback(route: Route) -> None:
        if urlsplit(route.request.url).hostname in LOOPBACK:
            route.continue_()
        else:
            attempted_outside.append(route.request.url)
            route.abort("internetdisconnected")

    page.context.route("**/*", only_loopback)
    page.goto(f"{base_url}{path}")

    expect(page.get_by_role("heading", name="Sổ Sức Khỏe API")).to_be_visible(timeout=15_000)
    summaries = _summaries(base_url)
    listed = list(summaries.values())
    # the first, a middle and the last operation of the document are on the page
    for summary in (listed[0], listed[len(listed) // 2], listed[-1]):
        expect(page.get_by_text(summary, exact=True).first).to_be_visible()
    shots.take(page, "listed", full_page=False)

    # an operation opens, and "Try it out" calls the service from the page
    operation = page.locator(".opblock").filter(
        has=page.get_by_text(summaries["GetLiveness"], exact=True)
    )
    operation.get_by_text(summaries["GetLiveness"], exact=True).click()
    operation.get_by_role("button", name="Try it out").click()
    operation.get_by_role("button", name="Execute").click()
    answered = operation.locator(".live-responses-table tr.response .response-col_status")
    expect(answered).to_have_text("200")
    shots.take(page, "tried", full_page=False)

    assert attempted_outside == [], f"the page tried to reach outside: {attempted_outside}"
    trouble = [
        text
        for text in page.errors  # type: ignore[attr-defined]
        if "Content Security Policy" in text or "Refused to" in text or text.startswith("uncaught")
    ]
    assert trouble == []
