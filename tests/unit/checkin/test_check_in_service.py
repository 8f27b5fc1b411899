"""The check-in service with in-memory fakes: the citizen's code, the kiosk's window and
single-use rules, and the board told only after a commit."""

from __future__ import annotations

import datetime as dt
import uuid
from types import SimpleNamespace
from typing import Any, cast

import pytest

from api.appointments.errors import AlreadyCheckedIn, AppointmentCancelled, IllegalTransition
from api.appointments.service import Limits
from api.checkin.errors import (
    CheckInCodeInvalid,
    CheckInCodeUsed,
    CheckInExpired,
    CheckInTooEarly,
    CheckInWrongFacility,
)
from api.checkin.services import CheckInService
from api.checkin.services.check_in import check_window, used_marker
from api.checkin.status_publisher import StatusPublisher
from api.checkin.ticket_views import QueueRules
from api.checkin.tokens import CheckInClaims, CheckInTokens, WalkInCodes
from api.core.clock import FrozenClock
from api.core.errors import DomainError, ServiceUnavailable
from tests.unit.checkin.fakes import FakePublisher, FakeRedis, FakeTokens, World

NOW = dt.datetime(2026, 11, 23, 8, 0, tzinfo=dt.UTC)
LEAD = dt.timedelta(minutes=60)
GRACE = dt.timedelta(minutes=30)
HERE = "01001"
THERE = "79002"


class Desk:
    """A check-in service over fakes, and the fakes to look at."""

    def __init__(self, appointments: dict[uuid.UUID, Any] | None = None) -> None:
        self.world = World()
        self.world.add_facility(HERE, "Bệnh viện Đa khoa Tỉnh")
        self.world.add_facility(THERE, "Bệnh viện Chợ Rẫy")
        self.redis = FakeRedis()
        self.tokens = FakeTokens(lead=LEAD, grace=GRACE)
        self.publisher = FakePublisher()
        self.clock = FrozenClock(NOW)
        self.appointments = appointments or {}

        async def read(_session: Any, citizen_id: uuid.UUID, appointment_id: uuid.UUID, _l: Any):
            view = self.appointments[appointment_id]
            assert view.citizen_id == citizen_id
            return view

        self.service = CheckInService(
            uow=self.world.uow(),
            redis=self.redis,
            tokens=cast(CheckInTokens, self.tokens),
            codes=WalkInCodes("a secret of at least thirty-two characters"),
            publisher=cast(StatusPublisher, self.publisher),
            rules=QueueRules(),
            limits=Limits(),
            clock=self.clock,
            read_appointment=read,
        )


def appointment(status: str, *, start: dt.datetime = NOW, reschedules: int = 0) -> Any:
    return SimpleNamespace(
        id=str(uuid.uuid4()),
        citizen_id=uuid.uuid4(),
        facility_id=HERE,
        start=start,
        status=status,
        reschedules=reschedules,
    )


def claims(*, facility_id: str = HERE, start: dt.datetime = NOW) -> CheckInClaims:
    return CheckInClaims(
        appointment_id=uuid.uuid4(),
        facility_id=facility_id,
        version=0,
        valid_from=start - LEAD,
        valid_until=start + GRACE,
        jti="jti",
    )


# -- the window ----------------------------------------------------------------------------------


def test_the_window_opens_at_valid_from_and_closes_at_valid_until() -> None:
    code = claims()
    check_window(code, HERE, NOW - LEAD)  # the first instant is in
    check_window(code, HERE, NOW + GRACE - dt.timedelta(seconds=1))
    with pytest.raises(CheckInTooEarly) as early:
        check_window(code, HERE, NOW - LEAD - dt.timedelta(seconds=1))
    assert early.value.extra == {"valid_from": (NOW - LEAD).isoformat()}
    with pytest.raises(CheckInExpired) as late:
        check_window(code, HERE, NOW + GRACE)  # the last instant is out
    assert late.value.extra == {"valid_until": (NOW + GRACE).isoformat()}


def test_a_code_of_another_facility_is_refused_before_its_time_is_looked_at() -> None:
    with pytest.raises(CheckInWrongFacility) as wrong:
        check_window(claims(facility_id=THERE), HERE, NOW - dt.timedelta(days=1))
    assert wrong.value.extra == {"facility_id": THERE}


# -- the citizen's code ----------------------------------------------------------------------------


async def test_a_booked_appointment_gets_a_code_for_its_version() -> None:
    booked = appointment("booked", reschedules=2)
    desk = Desk({uuid.UUID(booked.id): booked})
    token = await desk.service.check_in_token(
        citizen_id=booked.citizen_id, appointment_id=uuid.UUID(booked.id)
    )
    assert token.valid_from == NOW - LEAD
    assert token.valid_until == NOW + GRACE
    assert desk.tokens.issued == [(uuid.UUID(booked.id), HERE, NOW, 2)]
    assert desk.world.log == ["commit", "close"]  # read in a unit of work of its own


@pytest.mark.parametrize(
    ("status", "error"),
    [
        ("cancelled", AppointmentCancelled),
        ("checked_in", AlreadyCheckedIn),
        ("no_show", IllegalTransition),
    ],
)
async def test_an_appointment_that_is_not_booked_gets_no_code(
    status: str, error: type[DomainError]
) -> None:
    other = appointment(status)
    desk = Desk({uuid.UUID(other.id): other})
    with pytest.raises(error) as refused:
        await desk.service.check_in_token(
            citizen_id=other.citizen_id, appointment_id=uuid.UUID(other.id)
        )
    assert refused.value.extra == {"current_status": status}
    assert desk.tokens.issued == []


async def test_no_code_once_the_window_has_closed() -> None:
    past = appointment("booked", start=NOW - GRACE)
    desk = Desk({uuid.UUID(past.id): past})
    with pytest.raises(CheckInExpired):
        await desk.service.check_in_token(
            citizen_id=past.citizen_id, appointment_id=uuid.UUID(past.id)
        )
    desk.clock.set(NOW - GRACE)  # the appointment's own start: still open
    token = await desk.service.check_in_token(
        citizen_id=past.citizen_id, appointment_id=uuid.UUID(past.id)
    )
    assert token.valid_until == NOW


# -- the kiosk -----------------------------------------------------------------------------------


async def test_a_code_for_another_facility_names_that_facility_and_claims_nothing() -> None:
    desk = Desk()
    code = desk.tokens.code_for(THERE, NOW)
    with pytest.raises(CheckInWrongFacility) as wrong:
        await desk.service.kiosk_check_in(kiosk_facility_id=HERE, code=code)
    assert wrong.value.extra == {"facility_id": THERE, "facility_name": "Bệnh viện Chợ Rẫy"}
    assert desk.redis.values == {}


@pytest.mark.parametrize(
    ("now", "error"),
    [(NOW - LEAD - dt.timedelta(minutes=1), CheckInTooEarly), (NOW + GRACE, CheckInExpired)],
)
async def test_a_code_outside_its_window_claims_nothing(
    now: dt.datetime, error: type[Exception]
) -> None:
    desk = Desk()
    code = desk.tokens.code_for(HERE, NOW)
    desk.clock.set(now)
    with pytest.raises(error):
        await desk.service.kiosk_check_in(kiosk_facility_id=HERE, code=code)
    assert desk.redis.values == {}
    assert desk.publisher.changes == []


async def test_a_code_scanned_before_is_used() -> None:
    desk = Desk()
    code = desk.tokens.code_for(HERE, NOW, jti="scanned")
    desk.redis.values[used_marker("scanned")] = b"1"
    with pytest.raises(CheckInCodeUsed):
        await desk.service.kiosk_check_in(kiosk_facility_id=HERE, code=code)
    assert desk.publisher.changes == []


async def test_redis_away_is_a_503_with_a_retry_after() -> None:
    desk = Desk()
    code = desk.tokens.code_for(HERE, NOW)
    desk.redis.down = True
    with pytest.raises(ServiceUnavailable) as unavailable:
        await desk.service.kiosk_check_in(kiosk_facility_id=HERE, code=code)
    assert unavailable.value.headers == {"Retry-After": "5"}


async def test_an_unknown_code_is_invalid() -> None:
    desk = Desk()
    with pytest.raises(CheckInCodeInvalid):
        await desk.service.kiosk_check_in(kiosk_facility_id=HERE, code="not a code")


def test_the_used_marker_is_hash_tagged_by_the_code() -> None:
    assert used_marker("abc") == "checkin:used:{abc}"


# -- the board -------------------------------------------------------------------------------------


async def test_the_board_hears_of_a_change_only_after_the_commit() -> None:
    desk = Desk()
    async with desk.world.uow()() as uow:
        desk.service.tell_board_after_commit(uow, HERE, "NOI")
        assert desk.publisher.changes == []  # not before the commit
    assert desk.publisher.changes == [(HERE, "NOI")]


async def test_the_board_hears_nothing_of_a_rolled_back_change() -> None:
    desk = Desk()

    async def failing_use_case() -> None:
        async with desk.world.uow()() as uow:
            desk.service.tell_board_after_commit(uow, HERE, "NOI")
            raise RuntimeError("the use case failed")

    with pytest.raises(RuntimeError):
        await failing_use_case()
    assert desk.publisher.changes == []
    assert "rollback" in desk.world.log
