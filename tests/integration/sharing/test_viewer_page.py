"""The SMART Health Link viewer as served (``GET /viewer`` and ``/static/viewer/…``): a strict
Content-Security-Policy, no referrer, no inline code, no other origin, its assets' content types
and caching, and every string it shows in Vietnamese and English."""

from __future__ import annotations

import re
from html.parser import HTMLParser

import httpx

from api.sharing.viewer_page import CONTENT_SECURITY_POLICY, VIEWER_DIR

SCRIPTS = ("viewer.js", "shl.js", "fhir.js", "i18n.js", "strings.js")


class _Page(HTMLParser):
    def __init__(self) -> None:
        super().__init__()
        self.scripts: list[str | None] = []
        self.stylesheets: list[str] = []
        self.inline: list[str] = []
        self.keys: set[str] = set()
        self.ids: list[str] = []
        self.labels_for: set[str] = set()
        self.fields: list[str] = []
        self._in_script = False
        self.script_text = ""

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        values = dict(attrs)
        self.inline += [f"{tag}[{name}]" for name, _ in attrs if name.startswith("on")]
        self.inline += [f"{tag}[style]" for name, _ in attrs if name == "style"]
        if tag == "script":
            self.scripts.append(values.get("src"))
            self._in_script = True
        if tag == "link" and values.get("rel") == "stylesheet":
            self.stylesheets.append(values.get("href") or "")
        if values.get("data-i18n"):
            self.keys.add(values["data-i18n"] or "")
        if values.get("id"):
            self.ids.append(values["id"] or "")
        if tag == "label" and values.get("for"):
            self.labels_for.add(values["for"] or "")
        if tag in ("input", "textarea", "select"):
            self.fields.append(values.get("id") or "")

    def handle_endtag(self, tag: str) -> None:
        if tag == "script":
            self._in_script = False

    def handle_data(self, data: str) -> None:
        if self._in_script:
            self.script_text += data.strip()


def _tables() -> dict[str, set[str]]:
    text = (VIEWER_DIR / "strings.js").read_text()
    return {
        language: set(re.findall(r'^    "([\w.-]+)":', body, re.M))
        for language, body in re.findall(r"^  (\w\w): \{\n(.*?)^  \},", text, re.M | re.S)
    }


async def test_the_page_is_served_under_a_strict_policy_without_referrer(
    client: httpx.AsyncClient,
) -> None:
    response = await client.get("/viewer")
    assert response.status_code == 200, response.text
    assert response.headers["content-type"] == "text/html; charset=utf-8"
    assert response.headers["content-security-policy"] == CONTENT_SECURITY_POLICY
    directives = dict(part.strip().split(" ", 1) for part in CONTENT_SECURITY_POLICY.split(";"))
    assert directives["default-src"] == "'none'"
    assert directives["script-src"] == "'self'"
    assert directives["connect-src"] == "'self'"  # the key could go nowhere else
    assert directives["frame-ancestors"] == "'none'"
    assert "unsafe" not in CONTENT_SECURITY_POLICY
    assert response.headers["referrer-policy"] == "no-referrer"
    assert response.headers["x-content-type-options"] == "nosniff"
    assert response.headers["cache-control"] == "no-cache"
    assert "camera=()" in response.headers["permissions-policy"]
    page = _Page()
    page.feed(response.text)
    assert page.scripts == ["/static/viewer/viewer.js"]
    assert page.stylesheets == ["/static/viewer/viewer.css"]
    assert page.script_text == ""
    assert page.inline == []
    assert '<meta name="referrer" content="no-referrer">' in response.text
    assert not re.search(r"https?://", response.text), "no other origin, no CDN"
    assert set(page.fields) <= page.labels_for, "every field has a label"
    assert len(page.ids) == len(set(page.ids))


async def test_scripts_and_stylesheet_are_served_with_their_types(
    client: httpx.AsyncClient,
) -> None:
    for name in SCRIPTS:
        response = await client.get(f"/static/viewer/{name}")
        assert response.status_code == 200, name
        assert response.headers["content-type"] == "text/javascript; charset=utf-8"
        assert response.headers["x-content-type-options"] == "nosniff"
        assert response.headers["referrer-policy"] == "no-referrer"
        for target in re.findall(
            r'^} from "([^"]+)";|^import .* from "([^"]+)";', response.text, re.M
        ):
            module = next(part for part in target if part)
            assert module.startswith("./"), module
            assert (await client.get(f"/static/viewer/{module[2:]}")).status_code == 200
        # no other origin, no analytics, no code from strings, no HTML from the record
        assert not re.search(r"https?://(?!hl7\.org/fhir/uv/ips/|snomed\.info/sct)", response.text)
        for banned in (
            "eval(",
            "innerHTML",
            "outerHTML",
            "sendBeacon",
            "XMLHttpRequest",
            "document.write",
        ):
            assert banned not in response.text, (name, banned)
    css = await client.get("/static/viewer/viewer.css")
    assert css.headers["content-type"] == "text/css; charset=utf-8"
    assert not re.search(rb"@import|\burl\(|https?://", css.content)
    assert b"@media print" in css.content
    assert b"size: A4" in css.content


async def test_assets_answer_304_when_unchanged_and_404_for_anything_else(
    client: httpx.AsyncClient,
) -> None:
    first = await client.get("/static/viewer/viewer.js")
    again = await client.get(
        "/static/viewer/viewer.js", headers={"If-None-Match": first.headers["etag"]}
    )
    assert again.status_code == 304
    assert again.content == b""
    page = await client.get("/viewer")
    assert (
        await client.get("/viewer", headers={"If-None-Match": page.headers["etag"]})
    ).status_code == 304
    for name in (
        "viewer.html",
        "nope.js",
        "kiosk.js",
        "VIEWER.JS",
        ".hidden.js",
        "..%2Fservice.py",
    ):
        missing = await client.get(f"/static/viewer/{name}")
        assert missing.status_code == 404, name
        assert missing.headers["content-type"].startswith("application/problem+json")


def test_every_string_exists_in_vietnamese_and_english() -> None:
    tables = _tables()
    assert set(tables) == {"vi", "en"}
    assert tables["vi"] == tables["en"], tables["vi"] ^ tables["en"]
    page = _Page()
    page.feed((VIEWER_DIR / "viewer.html").read_text())
    used = set(page.keys)
    for name in ("viewer.js", "fhir.js", "shl.js"):
        text = (VIEWER_DIR / name).read_text()
        used |= set(re.findall(r'\bt\(\s*"([\w.-]+)"', text))
        used |= set(re.findall(r'"((?:error|card\.reason|allergies|open|record)\.[\w.-]+)"', text))
    assert used - tables["en"] == set()
    # keys built at run time
    for gender in ("male", "female", "other", "unknown"):
        assert f"gender.{gender}" in tables["en"]
    for level in ("high", "low", "unable-to-assess"):
        assert f"allergies.criticality.{level}" in tables["en"]
