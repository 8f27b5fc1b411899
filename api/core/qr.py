"""QR images (check-in tokens, facility codes, SMART Health Links), with the ``qrcode`` library.

Error correction M (15 % of the symbol may be lost: a scratched phone screen, glare) and the
standard quiet zone of 4 modules. The PNG uses 8 pixels per module: a check-in token (about 450
characters, QR version 15–17) makes a picture of about 700 px, which the app shows full width so
that a kiosk camera reads every module. The SVG is vector (one path, horizontal runs of dark
modules merged), for any screen or a printer; facility codes get a caption under the symbol.
"""

from __future__ import annotations

import io
import math
from xml.sax.saxutils import escape

import qrcode
import qrcode.constants
from qrcode.image.pil import PilImage

BORDER = 4
BOX_SIZE = 8
ERROR_CORRECTION = qrcode.constants.ERROR_CORRECT_M
SVG_MEDIA_TYPE = "image/svg+xml"
PNG_MEDIA_TYPE = "image/png"


def _symbol(text: str) -> qrcode.QRCode:
    symbol = qrcode.QRCode(error_correction=ERROR_CORRECTION, box_size=BOX_SIZE, border=BORDER)
    symbol.add_data(text)
    symbol.make(fit=True)
    return symbol


def png(text: str) -> bytes:
    """A black-on-white PNG of ``text`` as a QR code."""
    image = _symbol(text).make_image(image_factory=PilImage)
    buffer = io.BytesIO()
    image.save(buffer, format="PNG")
    return buffer.getvalue()


def _path(matrix: list[list[bool]]) -> str:
    """One SVG path: each horizontal run of dark modules is one rectangle."""
    parts: list[str] = []
    for y, row in enumerate(matrix):
        x = 0
        width = len(row)
        while x < width:
            if not row[x]:
                x += 1
                continue
            run = x
            while run < width and row[run]:
                run += 1
            parts.append(f"M{x} {y}h{run - x}v1h{x - run}z")
            x = run
    return "".join(parts)


def svg(text: str, caption: tuple[str, ...] = ()) -> bytes:
    """``text`` as a QR code in SVG (one unit per module, quiet zone included), with optional
    caption lines under it (a printed facility code names its facility and department); the
    picture widens to fit a long caption, the symbol centred."""
    matrix = _symbol(text).get_matrix()  # quiet zone included
    size = len(matrix)
    lines = [line for line in caption if line]
    font, line_height = 3, 4
    # a generous estimate of a sans-serif line's width: 0.6 em per character
    width = max([size] + [math.ceil(len(line) * 0.6 * font) + 2 * BORDER for line in lines])
    height = size + (len(lines) * line_height + 2 if lines else 0)
    texts = "".join(
        f'<text x="{width / 2}" y="{size + 2 + (i + 1) * line_height - 1}" '
        f'text-anchor="middle" font-family="sans-serif" font-size="{font}">{escape(line)}</text>'
        for i, line in enumerate(lines)
    )
    offset = (width - size) // 2
    document = (
        '<?xml version="1.0" encoding="UTF-8"?>\n'
        f'<svg xmlns="http://www.w3.org/2000/svg" viewBox="0 0 {width} {height}" '
        f'width="{width * 4}" height="{height * 4}" shape-rendering="crispEdges">'
        f'<rect width="{width}" height="{height}" fill="#fff"/>'
        f'<path fill="#000" transform="translate({offset} 0)" d="{_path(matrix)}"/>{texts}</svg>'
    )
    return document.encode()
