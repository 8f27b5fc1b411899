"""Publishing a summary with in-memory parts (no I/O): the book's cached overview is dropped
(and rebuilt when someone reads it) only once the publish has committed, never after a refused
one; a pull rebuilds at once."""

from __future__ import annotations

import uuid
from collections.abc import Coroutine
from functools import partial
from typing import Any

import pytest

from api.core.clock import FrozenClock
from api.core.errors import Conflict
from api.facilities import service as facilities
from api.health_book import ingest
from api.health_book.publishing import BookChanges, SummaryService
from tests.unit.fakes import MOMENT, FakeDatabase

CITIZEN = uuid.UUID(int=42)
RESULT = ingest.PublishResult(
    document_id="d1", version=1, version_id="d1", outcome="created", entry_counts={}
)


class FakeOverviews:
    def __init__(self, log: list[str], *, materialised: bool) -> None:
        self.log = log
        self.materialised = materialised
        self.rebuilt: list[tuple[uuid.UUID, Any]] = []

    async def changed(self, citizen_id: uuid.UUID) -> bool:
        self.log.append(f"dropped {citizen_id.int}")
        return self.materialised

    async def rebuild(self, citizen_id: uuid.UUID, now: Any) -> object:
        self.log.append(f"rebuilt {citizen_id.int}")
        self.rebuilt.append((citizen_id, now))
        return object()


class FakeBackground:
    def __init__(self) -> None:
        self.started: list[tuple[str, Coroutine[Any, Any, Any]]] = []

    def start(self, name: str, coroutine: Coroutine[Any, Any, Any]) -> bool:
        self.started.append((name, coroutine))
        return True


def parts(*, materialised: bool = True) -> tuple[FakeDatabase, FakeOverviews, FakeBackground]:
    db = FakeDatabase()
    return db, FakeOverviews(db.log, materialised=materialised), FakeBackground()


def summaries(db: FakeDatabase, overviews: FakeOverviews, background: FakeBackground) -> Any:
    clock = FrozenClock(MOMENT)
    changes = BookChanges(overviews, background, clock)  # type: ignore[arg-type]
    config = ingest.IngestConfig(
        identifier_key="k",
        national_id_systems=("urn:cccd",),
        insurance_card_systems=(),
        max_bytes=1 << 20,
        max_depth=64,
    )
    return SummaryService(uow=db.uow, config=config, changes=changes, clock=clock)


@pytest.fixture
def active_facility(monkeypatch: pytest.MonkeyPatch) -> None:
    async def require_active(session: Any, facility_id: str | None) -> Any:
        if facility_id is None:
            raise Conflict("not bound to a facility")
        return type("Active", (), {"id": facility_id, "name": "BV Test"})()

    monkeypatch.setattr(facilities, "require_active", require_active)


def publishing(monkeypatch: pytest.MonkeyPatch, *, refuse: bool = False) -> list[dict[str, Any]]:
    calls: list[dict[str, Any]] = []

    async def publish(uow: Any, body: bytes, **kwargs: Any) -> ingest.Publication:
        calls.append(kwargs)
        uow.session.log.append("stored")
        uow.after_commit(partial(kwargs["on_change"], CITIZEN))
        if refuse:
            raise Conflict("this document identifier was published for another patient")
        return ingest.Publication(RESULT, CITIZEN)

    monkeypatch.setattr(ingest, "publish", publish)
    return calls


@pytest.mark.usefixtures("active_facility")
async def test_a_publish_drops_the_overview_after_its_commit_and_rebuilds_it_aside(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    db, overviews, background = parts(materialised=True)
    calls = publishing(monkeypatch)
    result = await summaries(db, overviews, background).publish(
        b"{}", facility_id="F1", publisher="his-1", fhir_version=None
    )
    assert result is RESULT
    assert calls[0]["facility_id"] == "F1"
    assert calls[0]["facility_name"] == "BV Test"
    assert calls[0]["source"] == "push"
    assert db.log == ["begin", "stored", "commit", "dropped 42", "close"]
    [(name, rebuild)] = background.started
    assert name == "overview-rebuild"
    await rebuild  # the hospital did not wait for it
    assert overviews.rebuilt == [(CITIZEN, FrozenClock(MOMENT).now())]


@pytest.mark.usefixtures("active_facility")
async def test_a_book_nobody_reads_is_not_rebuilt(monkeypatch: pytest.MonkeyPatch) -> None:
    db, overviews, background = parts(materialised=False)
    publishing(monkeypatch)
    await summaries(db, overviews, background).publish(
        b"{}", facility_id="F1", publisher="his-1", fhir_version=None
    )
    assert "dropped 42" in db.log
    assert background.started == []


@pytest.mark.usefixtures("active_facility")
async def test_a_refused_publish_leaves_the_overview_alone(monkeypatch: pytest.MonkeyPatch) -> None:
    db, overviews, background = parts()
    publishing(monkeypatch, refuse=True)
    with pytest.raises(Conflict):
        await summaries(db, overviews, background).publish(
            b"{}", facility_id="F1", publisher="his-1", fhir_version=None
        )
    assert db.log == ["begin", "stored", "rollback", "close"]
    assert background.started == []


@pytest.mark.usefixtures("active_facility")
async def test_a_client_bound_to_no_facility_stores_nothing(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    db, overviews, background = parts()
    calls = publishing(monkeypatch)
    with pytest.raises(Conflict):
        await summaries(db, overviews, background).publish(
            b"{}", facility_id=None, publisher="his-1", fhir_version=None
        )
    assert calls == []
    assert "commit" not in db.log


async def test_after_a_pull_the_overview_is_rebuilt_at_once() -> None:
    _, overviews, background = parts()
    await BookChanges(overviews, background, FrozenClock(MOMENT)).rebuilt(CITIZEN)  # type: ignore[arg-type]
    assert overviews.rebuilt == [(CITIZEN, FrozenClock(MOMENT).now())]
    assert background.started == []
