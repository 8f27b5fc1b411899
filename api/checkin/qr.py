"""QR images of check-in tokens and facility codes (:mod:`api.core.qr`), remembered: a
check-in code is the same each time the app asks, and choosing the symbol's mask costs tens of
milliseconds."""

from __future__ import annotations

import functools

from api.core import qr

SVG_MEDIA_TYPE = qr.SVG_MEDIA_TYPE
PNG_MEDIA_TYPE = qr.PNG_MEDIA_TYPE


@functools.lru_cache(maxsize=256)
def png(text: str) -> bytes:
    """``text`` as a QR code, PNG."""
    return qr.png(text)


@functools.lru_cache(maxsize=256)
def svg(text: str, caption: tuple[str, ...] = ()) -> bytes:
    """``text`` as a QR code, SVG, with optional caption lines under it."""
    return qr.svg(text, caption)
