"""How many SQL statements an episode costs: each is a round trip to the database, the larger
part of a publish's CPU (bench/README.md, "Insurance XML over HTTP"). A guard against the
publish path growing its statements again."""

from __future__ import annotations

import re
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

from sqlalchemy import event
from sqlalchemy.engine import Engine

from tests.integration.insurance.conftest import FACILITY, xml_headers
from tests.support.qd130 import build_episode_files
from tests.support.qd130_envelope import build_envelope

PATH = "/hospital/insurance-xml/"
TRANSACTION = ("BEGIN", "SAVEPOINT", "RELEASE", "ROLLBACK", "COMMIT")

MOST = 12
"""Statements of a one-episode envelope, signed, whatever the backend (transaction control
left out): the facility and its certificates; the citizen (found or registered and locked in
one ``INSERT … ON CONFLICT DO UPDATE``); the document's latest version; the document and its
entries; the access log's chain head and row; the "new record" push; the envelope; the episode
(its version number worked out by its ``INSERT``). Before the publish path was trimmed: 14."""
MOST_KNOWN = MOST + 1
"""A patient the book knows: the facility read from its cache, but the book's active entries
recomputed against the patient's others (a read and an update). Before: 15."""


@contextmanager
def statements() -> Iterator[list[str]]:
    """Every statement a cursor executes meanwhile (an executemany counts once)."""
    seen: list[str] = []

    def record(_conn: Any, _cursor: Any, statement: str, *_args: Any) -> None:
        seen.append(statement)

    event.listen(Engine, "before_cursor_execute", record)
    try:
        yield seen
    finally:
        event.remove(Engine, "before_cursor_execute", record)


def _counted(seen: list[str]) -> list[str]:
    return [s for s in seen if not s.lstrip().upper().startswith(TRANSACTION)]


async def _post(client, hospital, episode: list[tuple[str, bytes]]) -> list[str]:
    body = build_envelope(FACILITY, [episode])
    with statements() as seen:
        response = await client.post(PATH, content=body, headers=xml_headers(hospital))
    assert response.status_code == 200, response.text
    (result,) = response.json()["episodes"]
    assert result["status"] == "accepted", result
    assert result["outcome"] == "created", result
    return _counted(seen)


async def test_an_episode_costs_twelve_statements_thirteen_for_a_known_patient(
    client, insurer_hospital
) -> None:
    # a patient the book does not know yet
    first = await _post(client, insurer_hospital, list(build_episode_files("outpatient").items()))
    assert len(first) <= MOST, "\n".join(first)
    # the same patient's next episode: found and locked in the same one statement
    later = await _post(
        client,
        insurer_hospital,
        list(build_episode_files("outpatient", ma_lk="LK-OUTPATIENT-0002").items()),
    )
    assert len(later) <= MOST_KNOWN, "\n".join(later)
    citizen = [s for s in later if re.search(r"\b(FROM|INTO|UPDATE)\s+citizen\b", s)]
    assert len(citizen) == 1, citizen
    # no SELECT of the episode's last version apart from its INSERT
    assert not [s for s in later if s.lstrip().startswith("SELECT insurance_episode")], later
