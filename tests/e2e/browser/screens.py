"""Measuring a page as a person sees it, at a given screen size: horizontal overflow, elements and
text outside the screen, the smallest text, how far down the screen the content reaches; and the
screen sizes the pages are checked at.

**Minimum text size on the board.** A board is read from across a waiting room; what makes text
legible there is the angle it subtends, which for a screen of any resolution is a fraction of the
screen's size. The rule: every visible text on the board is at least 1/45 of the screen's height
and at least 1/80 of its width — 24 px on a 1920×1080 screen (13 px text on such a screen is what
the issue found unreadable), 17 px at 1366×768, 48 px at 3840×2160, and 43 px on a 1080×1920
portrait screen, whose height is the one a person sees from afar.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from playwright.sync_api import Page

DEFAULT_SIZES = [
    (1920, 1080),
    (1366, 768),
    (1280, 720),
    (1080, 1920),  # portrait
    (1024, 768),  # 4:3
    (800, 1280),  # portrait tablet
    (3840, 2160),
]
"""The four sizes of the issue's screenshots and three others (4:3, a portrait tablet, 4K)."""


def _sizes() -> list[tuple[int, int]]:
    """``SCREEN_SIZES=1440x900,768x1024`` checks those sizes instead of the default ones."""
    text = os.environ.get("SCREEN_SIZES", "").strip()
    if not text:
        return DEFAULT_SIZES
    sizes = []
    for part in text.split(","):
        width, _, height = part.strip().lower().partition("x")
        sizes.append((int(width), int(height)))
    return sizes


SIZES = _sizes()

PORTRAIT = {size for size in SIZES if size[1] > size[0]}


def min_board_text_px(width: int, height: int) -> float:
    """The smallest text the board may show on a screen of this size (see the module's doc)."""
    return max(height / 45, width / 80)


def size_id(size: tuple[int, int]) -> str:
    return f"{size[0]}x{size[1]}"


_MEASURE = """
() => {
  const width = window.innerWidth;
  const height = window.innerHeight;
  const shown = (element) => {
    if (!element.checkVisibility({ checkOpacity: true, checkVisibilityCSS: true })) {
      return false;
    }
    if (element.closest(".visually-hidden")) {
      return false; // for screen readers only
    }
    const box = element.getBoundingClientRect();
    return box.width > 0 && box.height > 0;
  };
  const name = (element) =>
    element.id ? `#${element.id}` : `${element.tagName.toLowerCase()}.${element.className}`;
  const outside = [];
  for (const element of document.body.querySelectorAll("*")) {
    if (!shown(element)) {
      continue;
    }
    const box = element.getBoundingClientRect();
    if (box.left < -0.5 || box.right > width + 0.5) {
      outside.push(`${name(element)} [${Math.round(box.left)}, ${Math.round(box.right)}]`);
    }
  }
  const texts = [];
  const walker = document.createTreeWalker(document.body, NodeFilter.SHOW_TEXT);
  for (let node = walker.nextNode(); node; node = walker.nextNode()) {
    const parent = node.parentElement;
    if (!node.textContent.trim() || !parent || !shown(parent)) {
      continue;
    }
    const range = document.createRange();
    range.selectNodeContents(node);
    const rects = [...range.getClientRects()].filter((r) => r.width > 0 && r.height > 0);
    if (rects.length === 0) {
      continue;
    }
    for (const r of rects) {
      if (r.left < -0.5 || r.right > width + 0.5) {
        const where = `[${Math.round(r.left)}, ${Math.round(r.right)}]`;
        outside.push(`text "${node.textContent.trim().slice(0, 40)}" ${where}`);
      }
    }
    texts.push({
      text: node.textContent.trim().slice(0, 60),
      size: Number.parseFloat(getComputedStyle(parent).fontSize),
      bottom: Math.max(...rects.map((r) => r.bottom)),
    });
  }
  let lowest = 0;
  for (const element of document.body.querySelectorAll("input, textarea, button, img, video")) {
    if (shown(element)) {
      lowest = Math.max(lowest, element.getBoundingClientRect().bottom);
    }
  }
  for (const text of texts) {
    lowest = Math.max(lowest, text.bottom);
  }
  return {
    width,
    height,
    scrollWidth: document.documentElement.scrollWidth,
    scrollHeight: document.documentElement.scrollHeight,
    outside,
    texts,
    lowest,
  };
}
"""


@dataclass
class Measure:
    width: int
    height: int
    scroll_width: int
    scroll_height: int
    outside: list[str]
    texts: list[dict[str, Any]]
    lowest: float
    """How far down the screen the lowest visible text or control ends (px)."""

    def smaller_than(self, minimum: float) -> list[str]:
        return [f"{t['text']!r}: {t['size']}px" for t in self.texts if t["size"] < minimum - 0.01]

    def visible_text(self) -> str:
        return "\n".join(t["text"] for t in self.texts)


def measure(page: Page) -> Measure:
    answer = page.evaluate(_MEASURE)
    return Measure(
        width=answer["width"],
        height=answer["height"],
        scroll_width=answer["scrollWidth"],
        scroll_height=answer["scrollHeight"],
        outside=answer["outside"],
        texts=answer["texts"],
        lowest=answer["lowest"],
    )


def assert_fits_horizontally(found: Measure, where: str) -> None:
    assert found.scroll_width <= found.width, (
        f"{where}: the page is {found.scroll_width} px wide on a {found.width} px screen"
    )
    assert found.outside == [], f"{where}: outside the screen: {found.outside[:10]}"


def screens_folder(artifacts: Path) -> Path:
    folder = artifacts / "screens"
    folder.mkdir(parents=True, exist_ok=True)
    return folder
