"""NotificationService with an in-memory database (no I/O): each try of a racing registration
or first preferences PUT runs in a fresh unit of work; bad preferences open none."""

from __future__ import annotations

import uuid
from typing import Any

import pytest
from sqlalchemy.exc import IntegrityError

from api.core.clock import FrozenClock
from api.core.errors import Conflict, InvalidInput
from notifications import devices, preferences
from notifications.schemas import DeviceRegistration, NotificationPreferences, QuietHours
from notifications.service import NotificationService
from tests.unit.fakes import MOMENT, FakeDatabase

CITIZEN = uuid.UUID(int=7)
RACE = IntegrityError("INSERT", None, Exception("duplicate key"))


def service(db: FakeDatabase) -> NotificationService:
    return NotificationService(uow=db.uow, clock=FrozenClock(MOMENT))


def racing(monkeypatch: pytest.MonkeyPatch, module: Any, name: str, losses: int) -> list[Any]:
    """``module.name`` loses ``losses`` races (IntegrityError), then answers."""
    sessions: list[Any] = []

    async def attempt(session: Any, *args: Any) -> Any:
        sessions.append(session)
        if len(sessions) <= losses:
            raise RACE
        return ("answer", args)

    monkeypatch.setattr(module, name, attempt)
    return sessions


async def test_a_registration_that_loses_a_race_is_tried_again_in_a_new_unit_of_work(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    db = FakeDatabase()
    sessions = racing(monkeypatch, devices, "register", losses=2)
    data = DeviceRegistration(token="tok", platform="android")
    answer = await service(db).register_device(CITIZEN, "install-0001", data)
    assert answer[0] == "answer"
    assert answer[1][:3] == (CITIZEN, "install-0001", data)
    assert len(sessions) == 3
    assert len(set(map(id, sessions))) == 3  # a fresh session each time
    assert db.log.count("rollback") == 2
    assert db.commits() == 1


async def test_a_registration_that_keeps_losing_is_a_conflict(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    db = FakeDatabase()
    sessions = racing(monkeypatch, devices, "register", losses=devices.REGISTER_TRIES)
    with pytest.raises(Conflict, match="registered concurrently"):
        await service(db).register_device(
            CITIZEN, "install-0001", DeviceRegistration(token="tok", platform="ios")
        )
    assert len(sessions) == devices.REGISTER_TRIES
    assert db.commits() == 0


async def test_a_first_preferences_put_that_loses_a_race_updates_the_winners_row(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    db = FakeDatabase()
    sessions = racing(monkeypatch, preferences, "put", losses=1)
    data = NotificationPreferences(muted_kinds=["appointment_reminder"])
    answer = await service(db).put_preferences(CITIZEN, data)
    assert answer == ("answer", (CITIZEN, data, FrozenClock(MOMENT).now()))
    assert len(sessions) == 2
    assert db.commits() == 1


async def test_preferences_that_lose_twice_fail(monkeypatch: pytest.MonkeyPatch) -> None:
    db = FakeDatabase()
    racing(monkeypatch, preferences, "put", losses=2)
    with pytest.raises(IntegrityError):
        await service(db).put_preferences(CITIZEN, NotificationPreferences())


@pytest.mark.parametrize(
    ("data", "field"),
    [
        (NotificationPreferences(timezone="Mars/Olympus_Mons"), "timezone"),
        (
            NotificationPreferences(quiet_hours=QuietHours(start="22:00", end="22:00")),
            "quiet_hours",
        ),
    ],
)
async def test_preferences_that_cannot_be_stored_are_refused_before_any_transaction(
    data: NotificationPreferences, field: str
) -> None:
    db = FakeDatabase()
    with pytest.raises(InvalidInput) as refused:
        await service(db).put_preferences(CITIZEN, data)
    assert refused.value.extra["errors"][0]["field"] == field
    assert db.log == []
