"""Static pages a domain serves itself (the kiosk and board of check-in, the SMART Health Link
viewer of sharing): files read once from one folder (bare names, no sub-folders), each kept with
an ETag, answered ``304`` to a matching ``If-None-Match``."""

from __future__ import annotations

import hashlib
import re
from dataclasses import dataclass
from pathlib import Path

from litestar import Response
from litestar.status_codes import HTTP_304_NOT_MODIFIED

_FILE_NAME = re.compile(r"^[a-z][a-z0-9-]{0,63}\.(html|js|css|svg|png)$")
_MEDIA_TYPES = {
    "html": "text/html",
    "js": "text/javascript",
    "css": "text/css",
    "svg": "image/svg+xml",
    "png": "image/png",
}
COMMON_HEADERS = {
    "Cache-Control": "no-cache",
    "X-Content-Type-Options": "nosniff",
    "Referrer-Policy": "no-referrer",
}


@dataclass(frozen=True)
class Asset:
    body: bytes
    media_type: str
    etag: str

    def matches(self, if_none_match: str | None) -> bool:
        """Whether an ``If-None-Match`` header names this version (a 304 then)."""
        return bool(if_none_match) and self.etag in {
            tag.strip() for tag in (if_none_match or "").split(",")
        }


def read_assets(directory: Path) -> dict[str, Asset]:
    """Every servable file of ``directory`` (bare names, no folders)."""
    assets: dict[str, Asset] = {}
    if not directory.is_dir():  # installed without its pages: every page answers 404
        return assets
    for path in directory.iterdir():
        match = _FILE_NAME.match(path.name)
        if match is None or not path.is_file():
            continue
        body = path.read_bytes()
        etag = '"' + hashlib.sha256(body).hexdigest()[:32] + '"'
        assets[path.name] = Asset(body=body, media_type=_MEDIA_TYPES[match.group(1)], etag=etag)
    return assets


class PageAssets:
    """The pages and assets of one folder, read on first use (one instance per process)."""

    def __init__(self, directory: Path) -> None:
        self._directory = directory
        self._assets: dict[str, Asset] | None = None

    def asset(self, name: str) -> Asset | None:
        """A page or asset by its bare name (``None`` when there is no such file)."""
        if self._assets is None:
            self._assets = read_assets(self._directory)
        return self._assets.get(name)

    def static(self, name: str) -> Asset | None:
        """A script, stylesheet or image (never a page)."""
        return None if name.endswith(".html") else self.asset(name)


def answer(asset: Asset, if_none_match: str | None, headers: dict[str, str]) -> Response[bytes]:
    """The asset with the pages' common headers, ``headers`` and its ``ETag``; 304 without a
    body when ``If-None-Match`` names it."""
    all_headers = {**COMMON_HEADERS, **headers, "ETag": asset.etag}
    if asset.matches(if_none_match):
        return Response(b"", status_code=HTTP_304_NOT_MODIFIED, headers=all_headers)
    return Response(asset.body, media_type=asset.media_type, headers=all_headers)
