"""The API documentation pages are whole without internet: every URL they reference is on the
service's own origin and answers, from the pinned ``swagger-ui-bundle-v2`` package, with the
right content type and a long, immutable cache lifetime under a versioned path.
(The page in a real browser with the network cut: tests/e2e/browser/test_api_docs.py.)"""

from __future__ import annotations

import base64
import hashlib
import re
from html.parser import HTMLParser
from importlib.metadata import version
from importlib.resources import files
from urllib.parse import urlsplit

import httpx
import pytest

PAGES = ("/schema", "/schema/swagger")
BUNDLE_VERSION = version("swagger-ui-bundle-v2")
MEDIA_TYPES = {".js": "text/javascript", ".css": "text/css", ".png": "image/png"}
ONE_YEAR = 365 * 24 * 3600


class References(HTMLParser):
    """Every URL an HTML page makes the browser load or link, and its inline scripts."""

    def __init__(self) -> None:
        super().__init__()
        self.urls: list[str] = []
        self.inline_scripts: list[str] = []
        self._in_inline_script = False

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        for name, value in attrs:
            if name in ("src", "href", "action", "srcset", "poster", "data", "formaction"):
                self.urls.append(value or "")
        self._in_inline_script = tag == "script" and not dict(attrs).get("src")

    def handle_endtag(self, tag: str) -> None:
        if tag == "script":
            self._in_inline_script = False

    def handle_data(self, data: str) -> None:
        if self._in_inline_script:
            self.inline_scripts.append(data)


async def _page(client: httpx.AsyncClient, path: str) -> tuple[httpx.Response, References]:
    response = await client.get(path)
    assert response.status_code == 200
    assert response.headers["content-type"] == "text/html; charset=utf-8"
    references = References()
    references.feed(response.text)
    return response, references


@pytest.mark.parametrize("path", PAGES)
async def test_docs_page_references_only_its_own_origin(
    client: httpx.AsyncClient, path: str
) -> None:
    response, references = await _page(client, path)
    # no URL of another origin anywhere in the page, not even as text (no CDN, no fonts)
    assert "://" not in response.text
    assert re.search(r"""["'(=]\s*//""", response.text) is None, "protocol-relative URL"
    assert references.urls, "the page references nothing: it cannot be the documentation"
    for url in references.urls:
        parts = urlsplit(url)
        assert (parts.scheme, parts.netloc) == ("", ""), f"{url}: not on the service's origin"
        assert url.startswith("/schema/"), url
    # it loads Swagger UI's script and stylesheet at the package's version
    assets = f"/schema/assets/swagger-ui-{BUNDLE_VERSION}/"
    assert f"{assets}swagger-ui-bundle.js" in references.urls
    assert f"{assets}swagger-ui.css" in references.urls
    assert "/schema/openapi.json" in response.text


@pytest.mark.parametrize("path", PAGES)
async def test_docs_page_policy_allows_only_its_own_origin(
    client: httpx.AsyncClient, path: str
) -> None:
    response, references = await _page(client, path)
    policy = {
        directive.split()[0]: directive.split()[1:]
        for directive in response.headers["content-security-policy"].split(";")
        if directive.strip()
    }
    assert policy["default-src"] == ["'none'"]
    allowed_words = {"'self'", "'none'", "'unsafe-inline'", "data:", "blob:"}
    for directive, sources in policy.items():
        for source in sources:
            assert source in allowed_words or source.startswith("'sha256-"), (directive, source)
    # the page's one inline script is the one the policy allows by hash
    assert len(references.inline_scripts) == 1
    digest = hashlib.sha256(references.inline_scripts[0].encode()).digest()
    assert f"'sha256-{base64.b64encode(digest).decode()}'" in policy["script-src"]
    assert response.headers["x-content-type-options"] == "nosniff"


async def test_docs_assets_answer_from_the_package(client: httpx.AsyncClient) -> None:
    _, references = await _page(client, "/schema")
    bundle = files("swagger_ui_bundle") / "vendor" / f"swagger-ui-{BUNDLE_VERSION}"
    assets = [url for url in references.urls if "/assets/" in url]
    assert len(assets) == 3  # script, stylesheet, icon
    for url in assets:
        response = await client.get(url)
        assert response.status_code == 200, url
        suffix = url[url.rindex(".") :]
        media_type = response.headers["content-type"].split(";")[0]
        assert media_type == MEDIA_TYPES[suffix], url
        if media_type.startswith("text/"):
            assert response.headers["content-type"].endswith("; charset=utf-8")
        assert response.content == (bundle / url.rsplit("/", 1)[1]).read_bytes()
        cache = [part.strip() for part in response.headers["cache-control"].split(",")]
        assert {"public", "immutable"} <= set(cache), url
        max_age = next(int(part.split("=")[1]) for part in cache if part.startswith("max-age="))
        assert max_age >= ONE_YEAR
        assert response.headers["x-content-type-options"] == "nosniff"
    # the stylesheet pulls nothing in from elsewhere (fonts, imports, images)
    css = (await client.get(next(url for url in assets if url.endswith(".css")))).text
    assert "@import" not in css
    for target in re.findall(r"url\(\s*['\"]?([^'\")]*)", css):
        assert target.startswith("data:"), target


@pytest.mark.parametrize(
    "name",
    [
        "index.html",  # in the bundle, but not a file the page uses
        "swagger-ui.js.map",
        "..%2F..%2F__init__.py",
        "%2e%2e%2fswagger-ui-bundle.js",
    ],
)
async def test_docs_assets_answer_nothing_else(client: httpx.AsyncClient, name: str) -> None:
    response = await client.get(f"/schema/assets/swagger-ui-{BUNDLE_VERSION}/{name}")
    assert response.status_code == 404
    assert response.headers["content-type"] == "application/problem+json"


async def test_docs_assets_of_another_version_are_not_found(client: httpx.AsyncClient) -> None:
    response = await client.get("/schema/assets/swagger-ui-0.0.1/swagger-ui.css")
    assert response.status_code == 404
