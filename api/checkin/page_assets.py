"""The kiosk and queue-board pages and their static assets, read once from
``api/checkin/pages/`` (bare names, no folders) and kept with an ETag each
(:mod:`api.core.page_assets`).

The pages are static HTML (Vietnamese, with an English switch) served under a strict
Content-Security-Policy: scripts and styles only from ``/static/checkin/``, no inline code, no
other origin.
"""

from __future__ import annotations

from pathlib import Path

from api.core.page_assets import COMMON_HEADERS, Asset, PageAssets

__all__ = [
    "BOARD_PERMISSIONS",
    "COMMON_HEADERS",
    "CONTENT_SECURITY_POLICY",
    "KIOSK_PERMISSIONS",
    "PAGES_DIR",
    "STATIC_PREFIX",
    "Asset",
    "CheckInPages",
]

PAGES_DIR = Path(__file__).resolve().parent / "pages"
STATIC_PREFIX = "/static/checkin"

CONTENT_SECURITY_POLICY = (
    "default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self' data:; "
    "connect-src 'self'; font-src 'self'; media-src 'self'; base-uri 'none'; "
    "form-action 'none'; frame-ancestors 'none'"
)
# The kiosk may use its own camera to read QR codes; the board uses nothing.
KIOSK_PERMISSIONS = "camera=(self), microphone=(), geolocation=(), payment=(), usb=()"
BOARD_PERMISSIONS = "camera=(), microphone=(), geolocation=(), payment=(), usb=()"


class CheckInPages(PageAssets):
    """The kiosk and board pages and their assets, read on first use."""

    def __init__(self, directory: Path = PAGES_DIR) -> None:
        super().__init__(directory)
