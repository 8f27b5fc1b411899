"""BookService with in-memory parts (no I/O): the overview comes from its materialised copy,
reads of the database run in a unit of work, and a guardian's read is in the access log before
the answer is returned, an owner's never."""

from __future__ import annotations

import datetime as dt
import uuid
from typing import Any

import pytest

from api.core.clock import FrozenClock
from api.health_book import charts, export, schemas
from api.health_book.book import CachedOverview
from api.health_book.service import BookService, EntryFilters
from tests.unit.fakes import MOMENT, FakeDatabase

CHILD = uuid.UUID(int=1)
CACHED = CachedOverview(body=b'{"profile":{}}', etag='"e1"', version="v1")


class FakeBook:
    """The materialised overview and the entry lists, as :class:`BookReader` answers them."""

    def __init__(self, log: list[str]) -> None:
        self.log = log
        self.asked: list[tuple[Any, ...]] = []

    async def overview(self, citizen_id: uuid.UUID, now: dt.datetime) -> CachedOverview:
        self.log.append("overview")
        self.asked.append((citizen_id, now))
        return CACHED

    async def entries(self, session: Any, citizen_id: uuid.UUID, category: str, **filters: Any):
        self.log.append("entries")
        self.asked.append((session, citizen_id, category, filters))
        return schemas.EntryPage(items=[], next_cursor=None)


class FakeReads:
    """The access log of guardians' reads; ``fails`` when it cannot be written."""

    def __init__(self, log: list[str], *, fails: bool = False) -> None:
        self.log = log
        self.fails = fails
        self.reads: list[tuple[uuid.UUID, str, str]] = []

    async def guardian_read(self, citizen_id: uuid.UUID, guardian: str, resource: str) -> None:
        if self.fails:
            raise RuntimeError("the access log cannot be written")
        self.log.append(f"logged {resource}")
        self.reads.append((citizen_id, guardian, resource))


def book_service(db: FakeDatabase, *, log_fails: bool = False) -> tuple[BookService, Any, Any]:
    book, reads = FakeBook(db.log), FakeReads(db.log, fails=log_fails)
    service = BookService(
        uow=db.uow,
        book=book,  # type: ignore[arg-type]
        reads=reads,
        clock=FrozenClock(MOMENT),
        service_url="https://book.example",
    )
    return service, book, reads


async def test_the_owner_reads_the_materialised_overview_and_nothing_is_logged() -> None:
    db = FakeDatabase()
    service, book, reads = book_service(db)
    assert await service.overview(CHILD, guardian=None) is CACHED
    assert book.asked == [(CHILD, FrozenClock(MOMENT).now())]
    assert reads.reads == []
    assert db.log == ["overview"]  # no transaction on the hot path


async def test_a_guardians_overview_read_is_logged_before_it_is_answered() -> None:
    db = FakeDatabase()
    service, _, reads = book_service(db)
    assert await service.overview(CHILD, guardian="parent-1") is CACHED
    assert reads.reads == [(CHILD, "parent-1", "health-book")]


async def test_no_answer_leaves_when_the_guardians_read_cannot_be_logged() -> None:
    service, _, _ = book_service(FakeDatabase(), log_fails=True)
    with pytest.raises(RuntimeError, match="access log"):
        await service.overview(CHILD, guardian="parent-1")


async def test_an_entry_list_is_read_in_a_unit_of_work_then_the_guardians_read_logged() -> None:
    db = FakeDatabase()
    service, book, _ = book_service(db)
    filters = EntryFilters(status="active", limit=20)
    page = await service.entries(CHILD, "conditions", filters, guardian="parent-1")
    assert page == schemas.EntryPage(items=[], next_cursor=None)
    session, citizen, category, asked = book.asked[0]
    assert session is db.sessions[0]
    assert (citizen, category) == (CHILD, "conditions")
    assert asked["status"] == "active"
    assert asked["limit"] == 20
    assert db.log == ["begin", "entries", "commit", "close", "logged health-book/conditions"]


async def test_series_and_export_name_what_was_read_in_the_access_log(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    db = FakeDatabase()
    service, _, reads = book_service(db)
    series = schemas.Series(code="29463-7", text=None, unit="kg", component_codes={}, points=[])

    async def observation_series(session: Any, citizen_id: uuid.UUID, code: str) -> Any:
        assert session is db.sessions[-1]
        return series

    async def export_book(session: Any, citizen_id: uuid.UUID, **kwargs: Any) -> bytes:
        assert kwargs["service_url"] == "https://book.example"
        assert kwargs["now"] == FrozenClock(MOMENT).now()
        return b'{"resourceType":"Bundle"}'

    monkeypatch.setattr(charts, "observation_series", observation_series)
    monkeypatch.setattr(export, "export_book", export_book)
    owner = await service.series(CHILD, "29463-7", resource="series?code=29463-7", guardian=None)
    assert owner is series
    assert reads.reads == []
    await service.series(CHILD, "29463-7", resource="series?code=29463-7", guardian="p")
    body = await service.export(CHILD, kind="ips", guardian="p")
    assert body == b'{"resourceType":"Bundle"}'
    assert [resource for _, _, resource in reads.reads] == [
        "series?code=29463-7",
        "health-book/export/ips",
    ]
