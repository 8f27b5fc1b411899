"""Make the fonts the PDFs embed: DejaVu Sans reduced to the letters the book writes.

``python -m api.health_book.pdf.reduce_fonts /usr/share/fonts/truetype/dejavu`` writes
``fonts/DejaVuSans.ttf`` and ``fonts/DejaVuSans-Bold.ttf`` from the full DejaVu 2.37 fonts
(Debian's ``fonts-dejavu-core``): Latin with every Vietnamese letter, Greek, combining marks,
punctuation, currency (₫), arrows and the usual mathematical signs, without hinting. The full
fonts hold ~6,000 glyphs; loading them for each PDF would cost more CPU than drawing a 10-visit
book. Each PDF then embeds only the glyphs it uses (fpdf2 subsets again at output).
"""

from __future__ import annotations

import sys
from pathlib import Path

from fontTools import subset

RANGES = (
    (0x0020, 0x007E),  # Basic Latin
    (0x00A0, 0x024F),  # Latin-1, Latin Extended-A and -B (đ, ơ, ư)
    (0x0300, 0x036F),  # combining diacritical marks
    (0x0370, 0x03FF),  # Greek (α, β, γ in test names)
    (0x1E00, 0x1EFF),  # Latin Extended Additional (ạ, ả, ấ, ầ, ẩ, ẫ, ậ, ... ỹ)
    (0x2000, 0x206F),  # general punctuation (–, —, ‘, ’, “, ”, •, …)
    (0x20A0, 0x20CF),  # currency (₫, €)
    (0x2100, 0x214F),  # letterlike (℃, №)
    (0x2190, 0x21FF),  # arrows
    (0x2200, 0x22FF),  # mathematical operators (≤, ≥, ≈, −)
    (0x25A0, 0x25FF),  # geometric shapes
)
FONTS = ("DejaVuSans", "DejaVuSans-Bold")


def reduce(source: Path, target: Path) -> None:
    options = subset.Options(
        layout_features=["*"],
        name_IDs=["*"],
        name_languages=["*"],
        notdef_outline=True,
        glyph_names=True,
        hinting=False,
    )
    for name in FONTS:
        font = subset.load_font(str(source / f"{name}.ttf"), options)
        subsetter = subset.Subsetter(options)
        subsetter.populate(unicodes=[c for low, high in RANGES for c in range(low, high + 1)])
        subsetter.subset(font)
        subset.save_font(font, str(target / f"{name}.ttf"), options)


if __name__ == "__main__":
    reduce(Path(sys.argv[1]), Path(__file__).parent / "fonts")
