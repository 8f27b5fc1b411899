"""The ``GIAMDINHHS`` envelope: the facility, its episodes (``HOSO``) and their table files.

::

    GIAMDINHHS
      THONGTINDONVI/MACSKCB             the facility's 5-character code
      THONGTINHOSO/NGAYLAP, SOLUONGHOSO
      THONGTINHOSO/DANHSACHHOSO/HOSO*   one episode each
        FILEHOSO*/LOAIHOSO              XML1 … XML15
        FILEHOSO*/NOIDUNGFILE           base64 of the table's UTF-8 XML
      CHUKYDONVI                        the facility's XML-DSig (see :mod:`.signature`)

Reading never fails as a whole for one episode's fault: a file that is not base64, too large or
of an unknown kind becomes a problem of its own episode (research notes §1.2, §1.4).
"""

from __future__ import annotations

import base64
import binascii
import re
from collections.abc import Iterator

import msgspec
from lxml import etree

KNOWN_KINDS = frozenset(f"XML{n}" for n in range(1, 16))
"""The tables of QĐ 130 (XML1–XML12) and QĐ 4750 (XML13–XML15)."""

_BASE64 = re.compile(rb"^[A-Za-z0-9+/]*={0,2}$")
_WHITESPACE = re.compile(rb"\s+")
_MA_LK = re.compile(rb"<MA_LK>\s*(?:<!\[CDATA\[)?\s*([^<\]]{1,100}?)\s*(?:\]\]>)?\s*</MA_LK>")


class EnvelopeProblem(msgspec.Struct, frozen=True, kw_only=True):
    """One thing wrong with an episode's files, in the shape every problem is answered in."""

    table: str
    ma_lk: str | None
    field: str
    value: str | None
    rule: str


class EpisodeFiles(msgspec.Struct, kw_only=True):
    """One ``HOSO``: its position in the envelope, its decoded files as ``(LOAIHOSO, bytes)``
    pairs in order (a table may repeat: one XML7 per twin), and what was wrong with them.
    ``ma_lk`` is read from XML1 when it can be (for the answer, before parsing)."""

    index: int
    files: list[tuple[str, bytes]]
    problems: list[EnvelopeProblem]
    ma_lk: str | None = None


class Envelope(msgspec.Struct, kw_only=True):
    facility_code: str
    created_on: str | None
    declared_count: int | None
    episodes: list[EpisodeFiles]
    signed: bool
    """A ``CHUKYDONVI`` holding a ``ds:Signature`` is present (whether it verifies is
    :mod:`.signature`'s business)."""


class EnvelopeError(ValueError):
    """The envelope as a whole cannot be read (no facility code, not a ``GIAMDINHHS``...)."""


def _text(element: etree._Element | None) -> str | None:
    if element is None or element.text is None:
        return None
    text = element.text.strip()
    return text or None


def _children(element: etree._Element, tag: str) -> Iterator[etree._Element]:
    for child in element:
        if isinstance(child.tag, str) and etree.QName(child).localname == tag:
            yield child


def _child(element: etree._Element, tag: str) -> etree._Element | None:
    return next(_children(element, tag), None)


def sniff_ma_lk(xml1: bytes) -> str | None:
    """``MA_LK`` of an XML1 file without parsing it (for answers about a rejected episode)."""
    match = _MA_LK.search(xml1[:65_536])
    return match.group(1).decode("utf-8", "replace").strip() if match else None


def decode_file(text: str | None, *, max_bytes: int) -> bytes:
    """The bytes of a ``NOIDUNGFILE``; ValueError names what is wrong."""
    if not text:
        raise ValueError("NOIDUNGFILE is empty")
    raw = _WHITESPACE.sub(b"", text.encode("ascii", "replace"))
    if len(raw) > (max_bytes * 4) // 3 + 4:
        raise ValueError(f"the decoded file is larger than {max_bytes:,} bytes")
    if len(raw) % 4 or not _BASE64.match(raw):
        raise ValueError("NOIDUNGFILE is not base64")
    try:
        data = base64.b64decode(raw, validate=True)
    except binascii.Error:
        raise ValueError("NOIDUNGFILE is not base64") from None
    if len(data) > max_bytes:
        raise ValueError(f"the decoded file is larger than {max_bytes:,} bytes")
    return data


def _episode(index: int, hoso: etree._Element, *, max_file_bytes: int) -> EpisodeFiles:
    files: list[tuple[str, bytes]] = []
    problems: list[EnvelopeProblem] = []
    pending: list[EnvelopeProblem] = []  # named once MA_LK is known
    for file in _children(hoso, "FILEHOSO"):
        kind = (_text(_child(file, "LOAIHOSO")) or "").upper()
        if kind not in KNOWN_KINDS:
            pending.append(
                EnvelopeProblem(
                    table="FILEHOSO",
                    ma_lk=None,
                    field="LOAIHOSO",
                    value=kind[:50] or None,
                    rule="LOAIHOSO must be one of XML1 … XML15",
                )
            )
            continue
        try:
            data = decode_file(_text(_child(file, "NOIDUNGFILE")), max_bytes=max_file_bytes)
        except ValueError as exc:
            pending.append(
                EnvelopeProblem(
                    table=kind, ma_lk=None, field="NOIDUNGFILE", value=None, rule=str(exc)
                )
            )
            continue
        files.append((kind, data))
    xml1 = next((data for kind, data in files if kind == "XML1"), None)
    if xml1 is None and not any(p.table == "XML1" for p in pending):
        pending.append(
            EnvelopeProblem(
                table="HOSO",
                ma_lk=None,
                field="LOAIHOSO",
                value=None,
                rule="every episode needs its XML1 (the summary table)",
            )
        )
    ma_lk = sniff_ma_lk(xml1) if xml1 is not None else None
    problems.extend(msgspec.structs.replace(p, ma_lk=ma_lk) for p in pending)
    return EpisodeFiles(index=index, files=files, problems=problems, ma_lk=ma_lk)


def read(root: etree._Element, *, max_file_bytes: int, max_episodes: int) -> Envelope:
    """The envelope under ``root`` (already parsed safely, and verified when signed)."""
    if etree.QName(root).localname != "GIAMDINHHS":
        raise EnvelopeError("the root element must be GIAMDINHHS")
    unit = _child(root, "THONGTINDONVI")
    facility_code = _text(_child(unit, "MACSKCB")) if unit is not None else None
    if not facility_code:
        raise EnvelopeError("THONGTINDONVI/MACSKCB (the facility code) is missing")
    info = _child(root, "THONGTINHOSO")
    if info is None:
        raise EnvelopeError("THONGTINHOSO is missing")
    declared = _text(_child(info, "SOLUONGHOSO"))
    listing = _child(info, "DANHSACHHOSO")
    episodes: list[EpisodeFiles] = []
    for index, hoso in enumerate(_children(listing, "HOSO") if listing is not None else ()):
        if index >= max_episodes:
            raise EnvelopeError(f"the envelope holds more than {max_episodes:,} episodes (HOSO)")
        episodes.append(_episode(index, hoso, max_file_bytes=max_file_bytes))
    if not episodes:
        raise EnvelopeError("THONGTINHOSO/DANHSACHHOSO holds no HOSO")
    signature = _child(root, "CHUKYDONVI")
    return Envelope(
        facility_code=facility_code[:32],
        created_on=_text(_child(info, "NGAYLAP")),
        declared_count=int(declared) if declared and declared.isdigit() else None,
        episodes=episodes,
        signed=signature is not None and len(signature) > 0,
    )
