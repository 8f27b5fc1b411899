"""GuardianshipService with in-memory fakes: recorded, ended, listed; caches follow commits."""

from __future__ import annotations

import datetime as dt
import uuid

import pytest

from api.core.clock import FrozenClock
from api.core.errors import Conflict, InvalidInput, NotFound
from api.identity import national_id
from api.identity.guardianships import SOURCE_OPERATOR, GuardianshipService
from api.identity.models import Citizen, Guardianship
from api.identity.schemas import GuardianshipCreate
from tests.unit.identity.fakes import FakeDirectory, FakeSession, Result, uow_factory, utc

NOW = utc(2026, 3, 1, 8)
KEY = "identifier-hash-key"
GUARDIAN_NUMBER = "001090000001"
CHILD_NUMBER = "001218000003"


class World:
    def __init__(self) -> None:
        self.log: list[str] = []
        self.session = FakeSession(self.log)
        self.directory = FakeDirectory(self.log)
        self.clock = FrozenClock(NOW)
        self.service = GuardianshipService(
            uow=uow_factory(self.session),
            directory=self.directory,  # type: ignore[arg-type]  # a fake
            identifier_key=KEY,
            child_max_age=18,
            clock=self.clock,
        )

    def citizen(self, number: str, birth: dt.date | None = None) -> Citizen:
        return self.session.put(
            Citizen(
                id=uuid.uuid4(),
                national_id_hash=national_id.keyed_hash(KEY, number),
                national_id_masked=national_id.mask(number),
                birth_date=birth,
                locale="vi",
                created_at=NOW,
                updated_at=NOW,
            )
        )


def parent_of(**changes: object) -> GuardianshipCreate:
    values: dict[str, object] = {
        "guardian_national_id": GUARDIAN_NUMBER,
        "dependent_national_id": CHILD_NUMBER,
        "kind": "parent",
        "dependent_birth_date": dt.date(2018, 6, 1),
    }
    values.update(changes)
    return GuardianshipCreate(**values)  # type: ignore[arg-type]


async def test_recording_a_parent_stores_it_and_drops_both_profiles_after_the_commit() -> None:
    world = World()
    guardian, child = world.citizen(GUARDIAN_NUMBER), world.citizen(CHILD_NUMBER)
    world.session.scalar_answers = [guardian, child]  # both found by their keyed hash

    view = await world.service.record(parent_of())

    assert world.log == ["add Guardianship", "commit", "invalidate"]
    assert world.directory.invalidated == [[guardian.id, child.id]]
    assert child.birth_date == dt.date(2018, 6, 1)
    assert (view.guardian_id, view.dependent_id) == (str(guardian.id), str(child.id))
    assert view.source == SOURCE_OPERATOR
    assert view.valid_from == NOW
    # a parent's guardianship ends when the child comes of age
    assert view.effective_until == utc(2036, 6, 1)


async def test_a_birth_date_that_differs_from_the_record_conflicts_and_nothing_is_dropped() -> None:
    world = World()
    world.session.scalar_answers = [
        world.citizen(GUARDIAN_NUMBER),
        world.citizen(CHILD_NUMBER, birth=dt.date(2017, 1, 1)),
    ]

    with pytest.raises(Conflict, match="birth date"):
        await world.service.record(parent_of())

    assert world.log == ["rollback"]
    assert world.directory.invalidated == []


@pytest.mark.parametrize(
    ("changes", "message"),
    [
        ({"dependent_national_id": GUARDIAN_NUMBER}, "own guardian"),
        ({"dependent_national_id": "0012!"}, "invalid characters"),
        ({"valid_from": NOW, "valid_until": NOW}, "valid_until must be after"),
    ],
)
async def test_an_impossible_guardianship_is_refused_before_any_query(
    changes: dict[str, object], message: str
) -> None:
    world = World()
    with pytest.raises(InvalidInput, match=message):
        await world.service.record(parent_of(**changes))
    assert world.session.statements == []


async def test_a_parent_guardianship_needs_the_childs_birth_date() -> None:
    world = World()
    world.session.scalar_answers = [world.citizen(GUARDIAN_NUMBER), world.citizen(CHILD_NUMBER)]
    with pytest.raises(InvalidInput, match="birth date"):
        await world.service.record(parent_of(dependent_birth_date=None))


def stored_guardianship(world: World, guardian: Citizen, child: Citizen) -> Guardianship:
    return world.session.put(
        Guardianship(
            id=uuid.uuid4(),
            guardian_id=guardian.id,
            dependent_id=child.id,
            kind="legal_representative",
            source=SOURCE_OPERATOR,
            valid_from=NOW - dt.timedelta(days=30),
            valid_until=None,
            created_at=NOW - dt.timedelta(days=30),
        )
    )


async def test_ending_a_guardianship_ends_it_now_and_drops_both_profiles_after_commit() -> None:
    world = World()
    guardian, child = world.citizen(GUARDIAN_NUMBER), world.citizen(CHILD_NUMBER)
    guardianship = stored_guardianship(world, guardian, child)
    world.clock.advance(hours=2)

    view = await world.service.end(guardianship.id)

    assert guardianship.valid_until == NOW + dt.timedelta(hours=2)
    assert view.valid_until == view.effective_until == NOW + dt.timedelta(hours=2)
    assert world.log == ["commit", "invalidate"]
    assert world.directory.invalidated == [[guardian.id, child.id]]


async def test_ending_an_ended_guardianship_keeps_its_end() -> None:
    world = World()
    guardianship = stored_guardianship(
        world, world.citizen(GUARDIAN_NUMBER), world.citizen(CHILD_NUMBER)
    )
    guardianship.valid_until = NOW - dt.timedelta(days=1)

    view = await world.service.end(guardianship.id)

    assert view.valid_until == NOW - dt.timedelta(days=1)


async def test_an_unknown_guardianship_is_not_found_and_nothing_is_dropped() -> None:
    world = World()
    with pytest.raises(NotFound):
        await world.service.end(uuid.uuid4())
    with pytest.raises(NotFound):
        await world.service.get(uuid.uuid4())
    assert world.directory.invalidated == []


async def test_a_citizens_guardianships_are_listed_with_their_effective_end() -> None:
    world = World()
    guardian, child = world.citizen(GUARDIAN_NUMBER), world.citizen(CHILD_NUMBER)
    guardianship = stored_guardianship(world, guardian, child)
    guardianship.kind = "parent"
    world.session.execute_answers = [Result(rows=[(guardianship, dt.date(2018, 6, 1))])]

    (view,) = await world.service.list_for(guardian.id)

    assert view.id == str(guardianship.id)
    assert view.effective_until == utc(2036, 6, 1)
