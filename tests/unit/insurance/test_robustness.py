"""Whatever a field holds, reading never raises (one bad episode never blocks the others), and
every episode it accepts maps to a document the book accepts."""

from __future__ import annotations

import msgspec
import pytest

from api.health_book.fhir import extract, parse_bundle
from api.insurance import vocabulary as v
from api.insurance.mapping import episode_to_bundle
from api.insurance.specs import TABLES
from api.insurance.tables import TableFiles, read_episode
from tests.support.qd130 import episode_rows, table_xml

ODD_VALUES = (
    "0",
    "-1",
    "00000000",
    "000000000000",
    "19000101",
    "999912312359",
    "1.5",
    "1,5",
    "a  b\tc",
    "x" * 2000,
    ";",
    ";;;",
    'Ủy ban <nhân> dân & "quận"',
    "  \n  ",
)


def _files(tables: dict[str, list[dict[str, str]]]) -> TableFiles:
    pairs: list[tuple[str, bytes]] = []
    for name, rows in tables.items():
        if TABLES[name].many:
            pairs.append((name, table_xml(name, rows)))
        else:
            pairs.extend((name, table_xml(name, [row])) for row in rows)
    return TableFiles(tuple(pairs))


def _check(tables: dict[str, list[dict[str, str]]]) -> None:
    episode, problems = read_episode(_files(tables), max_file_bytes=10**7)
    assert (episode is None) == bool(problems)
    if episode is None:
        assert all(p.rule for p in problems)
        return
    body = msgspec.json.encode(episode_to_bundle(episode, facility_code="79001"))
    extract(
        parse_bundle(body),
        national_id_systems=[
            v.NATIONAL_ID,
            v.PASSPORT_NUMBER,
            v.OLD_NATIONAL_ID,
            v.PERSON_ID_OTHER,
        ],
    )


@pytest.mark.parametrize("table", ["XML1", "XML2", "XML3", "XML4", "XML5", "XML7", "XML8"])
def test_odd_values_in_any_field_are_problems_or_valid_documents(table: str) -> None:
    kind = "outpatient" if table in ("XML1", "XML2", "XML3", "XML4") else "inpatient"
    fields = list(TABLES[table].fields)
    for index, field in enumerate(fields):
        value = ODD_VALUES[index % len(ODD_VALUES)]
        for odd in (value, ODD_VALUES[(index + 5) % len(ODD_VALUES)]):
            tables = episode_rows(kind)
            tables[table][0][field] = odd
            _check(tables)


@pytest.mark.parametrize("kind", ["reexam", "sick_leave", "referral", "hiv", "tb", "twins"])
def test_odd_values_in_the_paper_tables(kind: str) -> None:
    tables = episode_rows(kind)
    paper = next(name for name in tables if name not in ("XML1", "XML2", "XML3", "XML4"))
    for index, field in enumerate(TABLES[paper].fields):
        tables = episode_rows(kind)
        tables[paper][0][field] = ODD_VALUES[index % len(ODD_VALUES)]
        _check(tables)


def test_codes_with_inner_whitespace_are_tidied_into_valid_fhir_codes() -> None:
    tables = episode_rows("outpatient")
    tables["XML2"][0]["MA_THUOC"] = "40.677   A"
    episode, problems = read_episode(_files(tables), max_file_bytes=10**7)
    assert problems == []
    assert episode is not None
    bundle = episode_to_bundle(episode, facility_code="79001")
    extract(parse_bundle(msgspec.json.encode(bundle)), national_id_systems=[v.NATIONAL_ID])
    request = next(
        e["resource"]
        for e in bundle["entry"]
        if e["resource"]["resourceType"] == "MedicationRequest"
    )
    assert request["medicationCodeableConcept"]["coding"][0]["code"] == "40.677 A"
