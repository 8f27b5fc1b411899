"""Draw a :class:`~api.health_book.pdf.content.Sheet` as an A4 PDF (fpdf2).

The text is set in DejaVu Sans, shipped in ``fonts/`` with its licence and embedded as a subset
of the glyphs the document uses, so Vietnamese letters render on any reader. Every page carries
its number ("Trang 2/3"), and a footer with the generation time (Asia/Ho_Chi_Minh), the document
id and the SHA-256 of the content it renders (:func:`~api.health_book.pdf.content.content_sha256`).

Lines are broken here, by the width of each word in the font (one ``cell`` per line): fpdf2's
``multi_cell`` line breaker costs several times more, and a 10-visit book is drawn well under
the 200 ms of CPU the book's PDF is allowed.
"""

from __future__ import annotations

import datetime as dt
from importlib.resources import files
from pathlib import Path

import msgspec
from fpdf import FPDF
from fpdf.enums import XPos, YPos

from api.health_book.pdf.content import Episode, Item, Sheet, clean, content_sha256
from api.health_book.pdf.labels import LABELS, VIETNAM, Language

FONT = "DejaVu"
_FONTS = Path(str(files("api.health_book.pdf") / "fonts"))
_MARGIN = 15.0
_FOOTER = 14.0
_INK = (20, 20, 20)
_GREY = (100, 100, 100)
_RULE = (170, 170, 170)


class Rendered(msgspec.Struct, frozen=True, kw_only=True):
    body: bytes
    document_id: str
    sha256: str
    pages: int


def local(at: dt.datetime | None, *, date_only: bool = False) -> str:
    """A UTC instant as Vietnam reads it: ``dd/mm/yyyy HH:MM`` (or only the date)."""
    if at is None:
        return ""
    at = at.replace(tzinfo=dt.UTC) if at.tzinfo is None else at
    shown = at.astimezone(VIETNAM)
    return shown.strftime("%d/%m/%Y" if date_only else "%d/%m/%Y %H:%M")


def _fhir_date(text: str) -> str:
    """A FHIR date or dateTime as sent, shown in Vietnam's time and order."""
    try:
        if len(text) == 10:
            return dt.date.fromisoformat(text).strftime("%d/%m/%Y")
        return local(dt.datetime.fromisoformat(text.replace("Z", "+00:00")))
    except ValueError:
        return text


class _Document(FPDF):
    def __init__(self, words: dict[str, str], footer_lines: tuple[str, str]) -> None:
        super().__init__(orientation="portrait", unit="mm", format="A4")
        self._words = words
        self._footer_lines = footer_lines
        self._widths: dict[tuple[str, float, str], float] = {}
        self.set_margins(_MARGIN, _MARGIN, _MARGIN)
        self.set_auto_page_break(auto=True, margin=_FOOTER + 4)
        self.add_font(FONT, "", str(_FONTS / "DejaVuSans.ttf"))
        self.add_font(FONT, "B", str(_FONTS / "DejaVuSans-Bold.ttf"))

    def footer(self) -> None:
        self.set_y(-_FOOTER)
        self.set_draw_color(*_RULE)
        self.line(_MARGIN, self.get_y(), self.w - _MARGIN, self.get_y())
        self.set_text_color(*_GREY)
        self.set_font(FONT, "", 7)
        page = self._words["page"].format(page=self.page_no(), pages=self.str_alias_nb_pages)
        self.cell(0, 4, self._footer_lines[1], new_x=XPos.LEFT, new_y=YPos.TOP)
        self.cell(0, 4, page, align="R", new_x=XPos.LMARGIN, new_y=YPos.NEXT)
        self.set_font(FONT, "", 6.5)
        self.cell(0, 4, self._footer_lines[0], new_x=XPos.LMARGIN, new_y=YPos.NEXT)
        self.set_text_color(*_INK)

    # --- text -----------------------------------------------------------------------------

    def width_of(self, word: str) -> float:
        key = (self.font_style, self.font_size_pt, word)
        found = self._widths.get(key)
        if found is None:
            found = self._widths[key] = self.get_string_width(word)
        return found

    def lines(self, text: str, width: float) -> list[str]:
        """``text`` broken into lines no wider than ``width`` (a word wider than a line is cut)."""
        space = self.width_of(" ")
        out: list[str] = []
        line: list[str] = []
        used = 0.0
        for word in text.split(" "):
            size = self.width_of(word)
            while size > width and len(word) > 1:  # a very long word (a hash, a URL)
                cut = max(1, int(len(word) * width / size) - 1)
                if line:
                    out.append(" ".join(line))
                    line, used = [], 0.0
                out.append(word[:cut])
                word = word[cut:]
                size = self.width_of(word)
            if line and used + space + size > width:
                out.append(" ".join(line))
                line, used = [], 0.0
            used += (space if line else 0.0) + size
            line.append(word)
        if line:
            out.append(" ".join(line))
        return out or [""]

    def put(self, x: float, text: str, height: float) -> None:
        """One line at ``x`` on the current line, then the next line (a new page when full).
        ``text`` draws straight into the page: much cheaper than ``cell`` per line."""
        if self.y + height > self.page_break_trigger:
            self.add_page()
        self.text(x, self.y + height * 0.78, text)
        self.y += height

    def para(
        self, text: str, *, size: float = 9.5, bold: bool = False, indent: float = 0.0
    ) -> None:
        self.set_font(FONT, "B" if bold else "", size)
        height = size * 0.48
        x = _MARGIN + indent
        for line in self.lines(text, self.w - _MARGIN - x):
            self.put(x, line, height)

    def pair(self, label: str, value: str, *, size: float = 9.5) -> None:
        self.set_font(FONT, "B", size)
        label = f"{label}: "
        width = self.width_of(label)
        height = size * 0.48
        if self.y + height > self.page_break_trigger:
            self.add_page()
        self.text(_MARGIN, self.y + height * 0.78, label)
        self.set_font(FONT, "", size)
        for line in self.lines(value, self.w - _MARGIN - _MARGIN - width):
            self.put(_MARGIN + width, line, height)

    def heading(self, text: str, *, size: float = 11.0) -> None:
        if self.get_y() > self.h - _FOOTER - 30:
            self.add_page()
        self.ln(1.5)
        self.para(text, size=size, bold=True)
        self.set_draw_color(*_RULE)
        self.line(_MARGIN, self.get_y() + 0.5, self.w - _MARGIN, self.get_y() + 0.5)
        self.ln(1.5)


def _item_text(entry: Item, words: dict[str, str]) -> str:
    parts = [f"[{entry.code}] {entry.text}" if entry.code else entry.text]
    if entry.value:
        parts.append(f": {entry.value}")
    if entry.reference:
        parts.append(f" ({words['reference']}: {entry.reference})")
    if entry.at is not None:
        parts.append(f" — {local(entry.at, date_only=entry.date_only)}")
    return "".join(parts)


def _items(pdf: _Document, title: str, items: list[Item], words: dict[str, str]) -> None:
    if not items:
        return
    pdf.ln(1)
    pdf.para(title, size=10, bold=True)
    for entry in items:
        pdf.para("• " + _item_text(entry, words), indent=2)
        for line in entry.detail:
            pdf.para(line, size=8.5, indent=6)


def _episode(pdf: _Document, number: int | None, episode: Episode, words: dict[str, str]) -> None:
    place = episode.facility_name or episode.facility_id
    title = f"{words['episode']} {number}: {place}" if number is not None else place
    pdf.heading(title)
    facility = place + (f" — {episode.province}" if episode.province else "")
    pdf.pair(words["facility"], facility)
    kind = words.get(episode.class_code or "", episode.class_code or "")
    kinds = [k for k in (kind, episode.kind) if k]
    if kinds:
        pdf.pair(words["visit_type"], " · ".join(kinds))
    if episode.start is not None:
        pdf.pair(words["start"], local(episode.start))
    if episode.end is not None:
        pdf.pair(words["end"], local(episode.end))
    if episode.reasons:
        pdf.pair(words["reasons"], "; ".join(episode.reasons))
    _items(pdf, words["diagnoses"], episode.diagnoses, words)
    _items(pdf, words["allergies"], episode.allergies, words)
    _items(pdf, words["prescriptions"], episode.prescriptions, words)
    _items(pdf, words["results"], episode.results, words)
    _items(pdf, words["procedures"], episode.procedures, words)
    _items(pdf, words["immunizations"], episode.immunizations, words)
    if episode.notes:
        pdf.ln(1)
        pdf.para(words["notes"], size=10, bold=True)
        for note in episode.notes:
            pdf.para(note.title, size=9.5, bold=True, indent=2)
            for line in note.lines:
                pdf.para(line, indent=4)
    if episode.follow_ups:
        pdf.ln(1)
        pdf.para(words["follow_up"], size=10, bold=True)
        for follow_up in episode.follow_ups:
            text = _fhir_date(follow_up.when)
            if follow_up.text:
                text += f" — {follow_up.text}"
            pdf.para("• " + text, indent=2)


def render(
    sheet: Sheet, *, document_id: str, generated_at: dt.datetime, language: Language = "vi"
) -> Rendered:
    """The PDF of ``sheet``, identified by ``document_id`` and dated ``generated_at``."""
    words = LABELS[language]
    sha = content_sha256(sheet)
    footer = (
        words["verify"].format(id=document_id, sha=sha),
        words["generated"].format(at=local(generated_at)) + " · " + words["footer_source"],
    )
    pdf = _Document(words, footer)
    title = words["visit_title"] if sheet.kind == "visit" else words["book_title"]
    pdf.set_title(title)
    pdf.set_author("Sổ Sức Khỏe")
    pdf.set_subject(f"{document_id} sha256:{sha}")
    pdf.set_creator("healthbook")
    pdf.set_creation_date(generated_at.astimezone(dt.UTC))
    pdf.add_page()
    pdf.para(title, size=15, bold=True)
    pdf.ln(1)

    patient = sheet.patient
    pdf.heading(words["patient"])
    pdf.pair(words["name"], patient.full_name or "—")
    if patient.birth_date is not None:
        pdf.pair(words["birth_date"], patient.birth_date.strftime("%d/%m/%Y"))
    if patient.sex:
        pdf.pair(words["sex"], words.get(patient.sex, patient.sex))
    pdf.pair(words["national_id"], patient.national_id_masked or "—")
    if patient.insurance_card:
        pdf.pair(words["insurance_card"], patient.insurance_card)
    if sheet.kind == "book":
        start = sheet.date_from.strftime("%d/%m/%Y") if sheet.date_from else "…"
        end = sheet.date_to.strftime("%d/%m/%Y") if sheet.date_to else "…"
        period = words["all_time"] if not (sheet.date_from or sheet.date_to) else f"{start} – {end}"
        pdf.pair(words["period"], period)
        pdf.pair(words["categories"], ", ".join(words.get(c, c) for c in sheet.categories))

    if sheet.kind == "visit":
        for episode in sheet.episodes:
            _episode(pdf, None, episode, words)
    else:
        for number, episode in enumerate(sheet.episodes, 1):
            _episode(pdf, number, episode, words)
        for category, entries in sheet.others.items():
            title = words.get(category, category)
            pdf.heading(title if not sheet.episodes else f"{words['other_entries']}: {title}")
            for entry in entries:
                pdf.para("• " + clean(_item_text(entry, words)), indent=2)
                for line in entry.detail:
                    pdf.para(line, size=8.5, indent=6)
        if not sheet.episodes and not sheet.others:
            pdf.ln(2)
            pdf.para(words["none"])
    body = bytes(pdf.output())
    return Rendered(body=body, document_id=document_id, sha256=sha, pages=pdf.page_no())
