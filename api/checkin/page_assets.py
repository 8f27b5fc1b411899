"""The kiosk and queue-board pages and their static assets, read once from
``api/checkin/pages/`` (bare names, no folders) and kept with an ETag each.

The pages are static HTML (Vietnamese, with an English switch) served under a strict
Content-Security-Policy: scripts and styles only from ``/static/checkin/``, no inline code, no
other origin.
"""

from __future__ import annotations

import hashlib
import re
from dataclasses import dataclass
from pathlib import Path

PAGES_DIR = Path(__file__).resolve().parent / "pages"
STATIC_PREFIX = "/static/checkin"

_FILE_NAME = re.compile(r"^[a-z][a-z0-9-]{0,63}\.(html|js|css|svg|png)$")
_MEDIA_TYPES = {
    "html": "text/html",
    "js": "text/javascript",
    "css": "text/css",
    "svg": "image/svg+xml",
    "png": "image/png",
}
CONTENT_SECURITY_POLICY = (
    "default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self' data:; "
    "connect-src 'self'; font-src 'self'; media-src 'self'; base-uri 'none'; "
    "form-action 'none'; frame-ancestors 'none'"
)
COMMON_HEADERS = {
    "Cache-Control": "no-cache",
    "X-Content-Type-Options": "nosniff",
    "Referrer-Policy": "no-referrer",
}
# The kiosk may use its own camera to read QR codes; the board uses nothing.
KIOSK_PERMISSIONS = "camera=(self), microphone=(), geolocation=(), payment=(), usb=()"
BOARD_PERMISSIONS = "camera=(), microphone=(), geolocation=(), payment=(), usb=()"


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


def read_assets(directory: Path = PAGES_DIR) -> dict[str, Asset]:
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


class CheckInPages:
    """The pages and assets of one process, read on first use."""

    def __init__(self, directory: Path = PAGES_DIR) -> None:
        self._directory = directory
        self._assets: dict[str, Asset] | None = None

    def asset(self, name: str) -> Asset | None:
        """A page or asset by its bare name (``None`` when there is no such file)."""
        if self._assets is None:
            self._assets = read_assets(self._directory)
        return self._assets.get(name)

    def static(self, name: str) -> Asset | None:
        """A script, stylesheet or image under ``/static/checkin/`` (never a page)."""
        return None if name.endswith(".html") else self.asset(name)
