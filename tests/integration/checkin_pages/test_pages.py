"""The kiosk and board pages as served: headers (strict CSP, no inline code), their assets,
caching, and that every string they show exists in both languages."""

from __future__ import annotations

import re
from html.parser import HTMLParser
from pathlib import Path

import httpx
import pytest

from api.checkin import errors as checkin_errors
from api.checkin.page_assets import CONTENT_SECURITY_POLICY, PAGES_DIR
from api.core.errors import ProblemCatalogue

PAGES = {"/kiosk": "kiosk.html", "/board/01001/NOI": "board.html"}


class _Collector(HTMLParser):
    """Scripts, stylesheets, inline code and the i18n keys of a page."""

    def __init__(self) -> None:
        super().__init__()
        self.scripts: list[str | None] = []
        self.stylesheets: list[str] = []
        self.inline_handlers: list[str] = []
        self.style_attributes: list[str] = []
        self.keys: set[str] = set()
        self.ids: list[str] = []
        self.labels_for: list[str] = []
        self.inputs: list[str] = []
        self._in_script = False
        self.inline_script_text = ""

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        values = dict(attrs)
        for name, _ in attrs:
            if name.startswith("on"):
                self.inline_handlers.append(f"{tag}[{name}]")
            if name == "style":
                self.style_attributes.append(tag)
        if tag == "script":
            self.scripts.append(values.get("src"))
            self._in_script = True
        if tag == "link" and values.get("rel") == "stylesheet":
            self.stylesheets.append(values.get("href") or "")
        if "data-i18n" in values:
            self.keys.add(values["data-i18n"] or "")
        for pair in (values.get("data-i18n-attr") or "").split(";"):
            if ":" in pair:
                self.keys.add(pair.split(":", 1)[1].strip())
        if values.get("id"):
            self.ids.append(values["id"] or "")
        if tag == "label" and values.get("for"):
            self.labels_for.append(values["for"] or "")
        if tag in ("input", "textarea"):
            self.inputs.append(values.get("id") or "")

    def handle_endtag(self, tag: str) -> None:
        if tag == "script":
            self._in_script = False

    def handle_data(self, data: str) -> None:
        if self._in_script:
            self.inline_script_text += data.strip()


def _strings() -> dict[str, set[str]]:
    """The keys of each language table in strings.js."""
    text = (PAGES_DIR / "strings.js").read_text()
    tables: dict[str, set[str]] = {}
    for language, body in re.findall(r"^  (\w\w): \{\n(.*?)^  \},", text, re.M | re.S):
        tables[language] = set(re.findall(r'^\s+"([\w.-]+)":', body, re.M))
    return tables


def _script_keys(name: str) -> set[str]:
    """Literal keys a script passes to t(...) (dynamic ones are checked by their prefixes)."""
    text = (PAGES_DIR / name).read_text()
    return set(re.findall(r'\bt\(\s*"([\w.-]+)"', text))


async def test_pages_are_served_with_a_strict_policy_and_no_inline_code(
    client: httpx.AsyncClient,
) -> None:
    for path, name in PAGES.items():
        response = await client.get(path)
        assert response.status_code == 200, response.text
        assert response.headers["content-type"] == "text/html; charset=utf-8"
        policy = response.headers["content-security-policy"]
        assert policy == CONTENT_SECURITY_POLICY
        directives = dict(part.strip().split(" ", 1) for part in policy.split(";"))
        assert directives["script-src"] == "'self'"
        assert directives["default-src"] == "'none'"
        assert "unsafe-inline" not in policy
        assert "unsafe-eval" not in policy
        assert response.headers["x-content-type-options"] == "nosniff"
        camera = "camera=(self)" if name == "kiosk.html" else "camera=()"
        assert camera in response.headers["permissions-policy"]
        page = _Collector()
        page.feed(response.text)
        assert page.scripts
        assert all(src and src.startswith("/static/checkin/") for src in page.scripts)
        assert page.inline_script_text == ""
        assert page.inline_handlers == []
        assert page.style_attributes == []
        assert not re.search(r"https?://", response.text), "no other origin, no CDN"
        assert set(page.inputs) <= set(page.labels_for), "every field has a label"
        assert len(page.ids) == len(set(page.ids))
        for asset in [*page.scripts, *page.stylesheets]:
            answer = await client.get(asset or "")
            assert answer.status_code == 200, asset
            assert not re.search(rb"https?://", answer.content), asset
            if asset and asset.endswith(".css"):
                assert not re.search(rb"@import|\burl\(", answer.content), asset


async def test_scripts_import_only_our_own_modules(client: httpx.AsyncClient) -> None:
    for name in ("kiosk.js", "credentials.js", "fit.js", "board.js", "i18n.js", "strings.js"):
        response = await client.get(f"/static/checkin/{name}")
        assert response.status_code == 200
        assert response.headers["content-type"] == "text/javascript; charset=utf-8"
        for target in re.findall(r'^import .* from "([^"]+)";', response.text, re.M):
            assert target.startswith("./"), target
            assert (await client.get(f"/static/checkin/{target[2:]}")).status_code == 200
        assert "eval(" not in response.text
        assert "innerHTML" not in response.text
    css = await client.get("/static/checkin/checkin.css")
    assert css.headers["content-type"] == "text/css; charset=utf-8"


async def test_assets_answer_304_when_unchanged_and_404_for_anything_else(
    client: httpx.AsyncClient,
) -> None:
    first = await client.get("/static/checkin/kiosk.js")
    etag = first.headers["etag"]
    again = await client.get("/static/checkin/kiosk.js", headers={"If-None-Match": etag})
    assert again.status_code == 304
    assert again.content == b""
    page = await client.get("/kiosk")
    assert (
        await client.get("/kiosk", headers={"If-None-Match": page.headers["etag"]})
    ).status_code == 304
    for name in ("nope.js", "kiosk.html", "..%2Fpages_routes.py", "KIOSK.JS", ".hidden.js"):
        missing = await client.get(f"/static/checkin/{name}")
        assert missing.status_code == 404, name
        assert missing.headers["content-type"].startswith("application/problem+json")
    assert (await client.get("/static/checkin/../pages_routes.py")).status_code == 404


def test_every_string_exists_in_vietnamese_and_english() -> None:
    tables = _strings()
    assert set(tables) == {"vi", "en"}
    assert tables["vi"] == tables["en"], tables["vi"] ^ tables["en"]
    used: set[str] = set()
    for name in ("kiosk.html", "board.html"):
        page = _Collector()
        page.feed((PAGES_DIR / name).read_text())
        used |= page.keys
    for name in ("kiosk.js", "board.js"):
        used |= _script_keys(name)
    assert used - tables["vi"] == set()
    # keys built at run time: the connection states, statuses, problems and language names
    for state in ("connecting", "live", "reconnecting", "not_found"):
        assert f"board.{state}" in tables["vi"]
    for state in ("setup", "connecting", "ready", "offline"):
        assert f"kiosk.status.{state}" in tables["vi"]
    assert {"lang.switch.vi", "lang.switch.en"} <= tables["vi"]


def test_every_check_in_problem_has_words_in_both_languages() -> None:
    """The kiosk shows each problem type POST /kiosk/check-ins answers with as its own message."""
    tables = _strings()
    PROBLEM_TYPES = ProblemCatalogue.loaded()
    kiosk_problems = {
        checkin_errors.TOKEN_INVALID,
        checkin_errors.TOO_EARLY,
        checkin_errors.EXPIRED,
        checkin_errors.WRONG_FACILITY,
        checkin_errors.TOKEN_USED,
        checkin_errors.SUPERSEDED,
        PROBLEM_TYPES["appointment-cancelled"],
        PROBLEM_TYPES["appointment-already-checked-in"],
    }
    for problem in kiosk_problems:
        for part in ("title", "hint"):
            assert f"problem.{problem.slug}.{part}" in tables["vi"], problem.slug
    # and no message waits for a type that does not exist
    named = {key.split(".")[1] for key in tables["vi"] if key.startswith("problem.")}
    fallbacks = {"again", "help", "unavailable", "network", "kiosk", "generic"}
    assert named - fallbacks - set(PROBLEM_TYPES) == set()


@pytest.mark.parametrize("name", ["kiosk.html", "board.html"])
def test_pages_declare_vietnamese_and_load_only_modules(name: str) -> None:
    text = (PAGES_DIR / name).read_text()
    assert '<html lang="vi">' in text
    assert re.findall(r"<script[^>]*>", text) == [
        f'<script type="module" src="/static/checkin/{Path(name).stem}.js">'
    ]
