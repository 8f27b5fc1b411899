"""read_episode: typed rows from the table files, and every problem of a malformed episode."""

from __future__ import annotations

from decimal import Decimal

import pytest

from api.insurance.fields import VnDate
from api.insurance.specs import TABLES
from api.insurance.tables import Problem, TableFiles, read_episode
from tests.support.qd130 import KINDS, build_episode_files, episode_rows, table_xml

MAX = 5_000_000


def _files(tables: dict[str, list[dict[str, str]]]) -> TableFiles:
    pairs: list[tuple[str, bytes]] = []
    for name, rows in tables.items():
        if TABLES[name].many:
            pairs.append((name, table_xml(name, rows)))
        else:
            pairs.extend((name, table_xml(name, [row])) for row in rows)
    return TableFiles(tuple(pairs))


def _problems(files: object) -> list[Problem]:
    episode, problems = read_episode(files, max_file_bytes=MAX)  # type: ignore[arg-type]
    assert episode is None, "a malformed episode must not be accepted"
    assert problems
    return problems


def _one(problems: list[Problem], field: str) -> Problem:
    found = [p for p in problems if p.field == field]
    assert len(found) == 1, problems
    return found[0]


@pytest.mark.parametrize("kind", KINDS)
def test_every_fixture_kind_reads_without_problems(kind: str) -> None:
    episode, problems = read_episode(build_episode_files(kind), max_file_bytes=MAX)
    assert problems == []
    assert episode is not None
    assert episode.ma_lk == episode.summary.text("MA_LK")


def test_the_outpatient_episode_is_about_forty_rows_typed() -> None:
    episode, _ = read_episode(build_episode_files("outpatient"), max_file_bytes=MAX)
    assert episode is not None
    rows = 1 + sum(len(rows) for rows in episode.tables.values())
    assert 38 <= rows <= 45
    s = episode.summary
    assert s.text("MA_LOAI_KCB") == "01"  # a code keeps its leading zero
    assert s.text("MA_DANTOC") == "01"
    assert s.text("SO_CCCD") == "079090001234"
    assert s.integer("GIOI_TINH") == 1
    assert s.decimal("CAN_NANG") == Decimal("68.5")
    assert s.date("NGAY_VAO") == VnDate(2026, 3, 5, 8, 0)
    assert s.date("NGAY_SINH") == VnDate(1990, 5, 15, 0, 0)
    assert episode.person_id is not None
    assert episode.person_id.matchable
    assert episode.warnings == ()
    drug = episode.rows("XML2")[0]
    assert drug.decimal("SO_LUONG") == Decimal(60)
    assert drug.texts("MA_BAC_SI") == ("GPHN.000123",)


def test_a_card_change_keeps_the_cards_aligned() -> None:
    episode, problems = read_episode(build_episode_files("card_change"), max_file_bytes=MAX)
    assert problems == []
    assert episode is not None
    s = episode.summary
    assert s.texts("MA_THE_BHYT") == ("GD4797920123456", "HT3797920123456")
    assert s.texts("MA_DKBD") == ("79001", "79024")
    assert s.dates("GT_THE_TU") == (VnDate(2025, 1, 1), VnDate(2026, 3, 6))
    assert s.dates("GT_THE_DEN") == (VnDate(2026, 3, 5), VnDate(2026, 12, 31))


def test_cards_that_do_not_line_up_are_a_problem() -> None:
    tables = episode_rows("card_change")
    tables["XML1"][0]["GT_THE_DEN"] = "20261231"
    problem = _one(_problems(_files(tables)), "MA_THE_BHYT,MA_DKBD,GT_THE_TU,GT_THE_DEN")
    assert "by position" in problem.rule
    assert problem.ma_lk == "LK-CARD-CHANGE-0001"


def test_twins_have_two_discharge_papers() -> None:
    files = build_episode_files("twins")
    assert [name for name, _ in files.items()].count("XML7") == 2
    episode, problems = read_episode(files, max_file_bytes=MAX)
    assert problems == []
    assert episode is not None
    assert [r.text("GHI_CHU") for r in episode.rows("XML7")] == ["Con thứ 1", "Con thứ 2"]
    assert episode.summary.decimals("CAN_NANG_CON") == (Decimal(2800), Decimal(2650))
    assert episode.summary.date("NGAY_SINH") == VnDate(1994, 8, None)


def test_a_plain_mapping_of_files_is_read_too() -> None:
    files = build_episode_files("outpatient")
    episode, problems = read_episode(dict(files.items()), max_file_bytes=MAX)
    assert problems == []
    assert episode is not None
    assert len(episode.rows("XML4")) > 10


@pytest.mark.parametrize("value", ["20260319", "202603190800"])
def test_ngay_hen_kl_takes_eight_or_twelve_characters(value: str) -> None:
    tables = episode_rows("reexam")
    tables["XML14"][0]["NGAY_HEN_KL"] = value
    episode, problems = read_episode(_files(tables), max_file_bytes=MAX)
    assert problems == []
    assert episode is not None
    assert episode.rows("XML14")[0].date("NGAY_HEN_KL") == parse_expected(value)


def parse_expected(value: str) -> VnDate:
    if len(value) == 8:
        return VnDate(2026, 3, 19)
    return VnDate(2026, 3, 19, 8, 0)


def test_an_eight_character_date_where_twelve_are_due_is_a_problem() -> None:
    tables = episode_rows("outpatient")
    tables["XML1"][0]["NGAY_VAO"] = "20260305"
    problem = _one(_problems(_files(tables)), "NGAY_VAO")
    assert problem.table == "XML1"
    assert problem.value == "20260305"
    assert "12 characters yyyymmddHHMM" in problem.rule


def test_a_date_that_does_not_exist_is_a_problem() -> None:
    tables = episode_rows("outpatient")
    tables["XML1"][0]["GT_THE_TU"] = "20261300"
    problem = _one(_problems(_files(tables)), "GT_THE_TU")
    assert problem.value == "20261300"
    assert "month 13 does not exist" in problem.rule


def test_missing_ma_lk_is_a_problem() -> None:
    tables = episode_rows("outpatient")
    del tables["XML1"][0]["MA_LK"]
    problems = _problems(_files(tables))
    assert any(p.table == "XML1" and p.field == "MA_LK" and "required" in p.rule for p in problems)


def test_missing_ma_lk_in_a_row_names_the_row() -> None:
    tables = episode_rows("outpatient")
    del tables["XML2"][2]["MA_LK"]
    problem = _one(_problems(_files(tables)), "MA_LK")
    assert (problem.table, problem.row) == ("XML2", 3)
    assert problem.ma_lk == "LK-OUTPATIENT-0001"


def test_a_row_of_another_episode_is_a_problem() -> None:
    tables = episode_rows("outpatient")
    tables["XML4"][0]["MA_LK"] = "LK-SOMEONE-ELSE"
    problem = _one(_problems(_files(tables)), "MA_LK")
    assert problem.table == "XML4"
    assert problem.value == "LK-SOMEONE-ELSE"


def test_a_passport_in_so_cccd_is_kept_and_flagged_not_refused() -> None:
    episode, problems = read_episode(
        build_episode_files("outpatient", cccd="C1234567"), max_file_bytes=MAX
    )
    assert problems == []
    assert episode is not None
    assert episode.person_id is not None
    assert episode.person_id.value == "C1234567"
    assert episode.person_id.kind == "passport"
    assert not episode.person_id.matchable
    (warning,) = episode.warnings
    assert warning.field == "SO_CCCD"
    assert "never used to find the citizen" in warning.rule


def test_an_old_nine_digit_id_is_not_matchable() -> None:
    episode, _ = read_episode(
        build_episode_files("outpatient", cccd="025123456"), max_file_bytes=MAX
    )
    assert episode is not None
    assert episode.person_id is not None
    assert episode.person_id.kind == "old_national_id"
    assert not episode.person_id.matchable


def test_a_decimal_with_a_comma_is_a_problem() -> None:
    tables = episode_rows("outpatient")
    tables["XML1"][0]["CAN_NANG"] = "68,5"
    problem = _one(_problems(_files(tables)), "CAN_NANG")
    assert "'.' as decimal separator" in problem.rule


def test_a_field_too_long_is_a_problem() -> None:
    tables = episode_rows("outpatient")
    tables["XML1"][0]["MA_BENH_CHINH"] = "I10.000000"
    problem = _one(_problems(_files(tables)), "MA_BENH_CHINH")
    assert "at most 7 characters" in problem.rule


def test_a_card_number_too_long_is_a_problem() -> None:
    tables = episode_rows("outpatient")
    tables["XML1"][0]["MA_THE_BHYT"] = "GD4797920123456;GD47979201234567"
    problem = _one(_problems(_files(tables)), "MA_THE_BHYT")
    assert "value 2 has more than 15 characters" in problem.rule


def test_an_unknown_table_is_a_problem() -> None:
    files = build_episode_files("outpatient")
    pairs = (*files.pairs, ("XML16", b"<X/>"))
    problem = _one(_problems(TableFiles(pairs)), "LOAIHOSO")
    assert problem.table == "XML16"
    assert problem.ma_lk == "LK-OUTPATIENT-0001"
    assert "XML1…XML15" in problem.rule


def test_no_xml1_is_a_problem() -> None:
    files = build_episode_files("outpatient")
    problems = _problems(TableFiles(tuple(p for p in files.pairs if p[0] != "XML1")))
    assert any(p.table == "XML1" and "one XML1" in p.rule for p in problems)


def test_a_wrong_root_element_is_a_problem() -> None:
    files = build_episode_files("outpatient")
    pairs = tuple((n, d.replace(b"TONG_HOP", b"TONGHOP")) for n, d in files.pairs)
    problems = _problems(TableFiles(pairs))
    assert any("<TONG_HOP>" in p.rule for p in problems)


def test_a_file_with_a_dtd_or_too_large_is_a_problem() -> None:
    files = build_episode_files("outpatient")
    bomb = b'<!DOCTYPE z [<!ENTITY a "aaaa">]><CHITIEU_CHITIET_THUOC>&a;</CHITIEU_CHITIET_THUOC>'
    pairs = tuple((n, bomb if n == "XML2" else d) for n, d in files.pairs)
    problems = _problems(TableFiles(pairs))
    assert any(p.table == "XML2" and "DTD" in p.rule for p in problems)
    episode, problems = read_episode(files, max_file_bytes=200)
    assert episode is None
    assert any("bytes; at most 200" in p.rule for p in problems)


def test_every_problem_is_reported_not_only_the_first() -> None:
    tables = episode_rows("outpatient")
    tables["XML1"][0].update(NGAY_VAO="20260305", GIOI_TINH="4", CAN_NANG="68,5")
    tables["XML2"][0]["NGAY_YL"] = "20261300"
    tables["XML4"][1]["NGAY_KQ"] = "202603051"
    problems = _problems(_files(tables))
    assert {(p.table, p.field) for p in problems} >= {
        ("XML1", "NGAY_VAO"),
        ("XML1", "GIOI_TINH"),
        ("XML1", "CAN_NANG"),
        ("XML2", "NGAY_YL"),
        ("XML4", "NGAY_KQ"),
    }


def test_a_namespace_bom_and_cdata_are_tolerated() -> None:
    files = build_episode_files("outpatient")
    pairs = []
    for name, data in files.pairs:
        if name == "XML1":
            data = b"\xef\xbb\xbf" + data.replace(
                b"<TONG_HOP>", b'<TONG_HOP xmlns="urn:example:qd130">'
            ).replace(b"<HO_TEN>Nguy", b"<HO_TEN><![CDATA[Nguy").replace(
                b"</HO_TEN>", b"]]></HO_TEN>"
            )
        pairs.append((name, data))
    episode, problems = read_episode(TableFiles(tuple(pairs)), max_file_bytes=MAX)
    assert problems == []
    assert episode is not None
    assert episode.summary.text("HO_TEN") == "Nguyễn Văn An"


def test_discharge_leave_days_come_all_three_or_none() -> None:
    tables = episode_rows("inpatient")
    tables["XML7"][0]["SO_NGAY_NGHI"] = "5"
    problems = _problems(_files(tables))
    assert any(p.table == "XML7" and "all three or none" in p.rule for p in problems)


def test_an_episode_of_another_facility_is_a_problem() -> None:
    files = build_episode_files("outpatient")
    episode, problems = read_episode(files, max_file_bytes=MAX, facility_code="79001")
    assert problems == []
    assert episode is not None
    problem = _one(_problems_of(files, "01001"), "MA_CSKCB")
    assert problem.value == "79001"
    assert "MACSKCB 01001" in problem.rule


def _problems_of(files: TableFiles, facility: str) -> list[Problem]:
    episode, problems = read_episode(files, max_file_bytes=MAX, facility_code=facility)
    assert episode is None
    return problems


def test_odd_but_not_wrong_is_a_warning_not_a_problem() -> None:
    tables = episode_rows("reexam")
    tables["XML1"][0]["MA_BENH_KT"] = "E11;U99.9"
    tables["XML14"][0]["NGAY_HEN_KL"] = "20260301"
    episode, problems = read_episode(_files(tables), max_file_bytes=MAX)
    assert problems == []
    assert episode is not None
    assert {(w.table, w.field, w.value) for w in episode.warnings} == {
        ("XML1", "MA_BENH_KT", "U99.9"),
        ("XML14", "NGAY_HEN_KL", "20260301"),
    }
