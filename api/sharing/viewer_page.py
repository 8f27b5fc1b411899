"""The SMART Health Link viewer this service serves itself: ``GET /viewer`` (one static page)
and its scripts and stylesheet under ``/static/viewer/``, read once from ``api/sharing/viewer/``.

A doctor opens ``/viewer#shlink:/…``: the payload, and so the link's key, stays after ``#``,
which a browser never sends. The page decrypts the files in the browser (WebCrypto) and talks
only to this origin (``connect-src 'self'``); no inline code, no other origin, no referrer.
"""

from __future__ import annotations

from pathlib import Path

from api.core.page_assets import PageAssets

VIEWER_DIR = Path(__file__).resolve().parent / "viewer"
VIEWER_PATH = "/viewer"
STATIC_PREFIX = "/static/viewer"

CONTENT_SECURITY_POLICY = (
    "default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self' data:; "
    "connect-src 'self'; base-uri 'none'; form-action 'none'; frame-ancestors 'none'"
)
PERMISSIONS_POLICY = "camera=(), microphone=(), geolocation=(), payment=(), usb=()"


class ViewerPages(PageAssets):
    """The viewer page and its assets, read on first use."""

    def __init__(self, directory: Path = VIEWER_DIR) -> None:
        super().__init__(directory)
