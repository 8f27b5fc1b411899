"""In-memory stand-ins for what the check-in services use: a session that records its
transaction, a unit-of-work factory over it, Redis's single-use commands, check-in tokens, a
status publisher. No I/O."""

from __future__ import annotations

import datetime as dt
import uuid
from dataclasses import dataclass, field
from types import SimpleNamespace
from typing import Any, cast

from redis.exceptions import ConnectionError as RedisConnectionError
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from api.checkin.errors import CheckInCodeInvalid
from api.checkin.schemas import CheckInToken
from api.checkin.tokens import CheckInClaims
from api.core.uow import UnitOfWorkFactory
from api.facilities.models import Facility


class FakeSession:
    """Records commits and rollbacks; answers ``get(Facility, id)`` from a dict."""

    def __init__(self, log: list[str], facilities: dict[str, Any]) -> None:
        self.log = log
        self.facilities = facilities
        self.info: dict[str, Any] = {}

    async def get(self, model: type, key: str) -> Any:
        assert model is Facility
        return self.facilities.get(key)

    async def commit(self) -> None:
        self.log.append("commit")

    async def rollback(self) -> None:
        self.log.append("rollback")

    def in_transaction(self) -> bool:
        return True

    async def close(self) -> None:
        self.log.append("close")


@dataclass
class World:
    """The facilities the fake database holds and what happened to its transactions."""

    log: list[str] = field(default_factory=list)
    facilities: dict[str, Any] = field(default_factory=dict)

    def add_facility(self, facility_id: str, name: str, *, active: bool = True) -> None:
        self.facilities[facility_id] = SimpleNamespace(
            id=facility_id, name=name, time_zone="Asia/Ho_Chi_Minh", active=active
        )

    def uow(self) -> UnitOfWorkFactory:
        def make() -> FakeSession:
            return FakeSession(self.log, self.facilities)

        return UnitOfWorkFactory(cast(async_sessionmaker[AsyncSession], make))


class FakeRedis:
    """``SET NX EX`` and ``DELETE`` on a dict; ``down`` makes every command fail."""

    def __init__(self) -> None:
        self.values: dict[str, bytes] = {}
        self.ttls: dict[str, int] = {}
        self.down = False

    async def set(self, name: str, value: bytes, *, nx: bool, ex: int) -> bool:
        if self.down:
            raise RedisConnectionError("connection refused")
        if nx and name in self.values:
            return False
        self.values[name] = value
        self.ttls[name] = ex
        return True

    async def delete(self, *names: str) -> int:
        if self.down:
            raise RedisConnectionError("connection refused")
        return sum(self.values.pop(name, None) is not None for name in names)


class FakeTokens:
    """Check-in codes as plain keys to claims; the window as the real tokens compute it."""

    def __init__(self, *, lead: dt.timedelta, grace: dt.timedelta) -> None:
        self.lead = lead
        self.grace = grace
        self.codes: dict[str, CheckInClaims] = {}
        self.issued: list[tuple[uuid.UUID, str, dt.datetime, int]] = []

    def code_for(
        self, facility_id: str, start: dt.datetime, *, jti: str = "jti-1", version: int = 0
    ) -> str:
        code = f"code-{len(self.codes)}"
        self.codes[code] = CheckInClaims(
            appointment_id=uuid.uuid4(),
            facility_id=facility_id,
            version=version,
            valid_from=start - self.lead,
            valid_until=start + self.grace,
            jti=jti,
        )
        return code

    def verify(self, code: str) -> CheckInClaims:
        try:
            return self.codes[code]
        except KeyError:
            raise CheckInCodeInvalid("not a code of this service") from None

    def issue(
        self, appointment_id: uuid.UUID, facility_id: str, start: dt.datetime, version: int
    ) -> CheckInToken:
        self.issued.append((appointment_id, facility_id, start, version))
        return CheckInToken(
            token=f"token:{appointment_id}:{version}",
            valid_from=start - self.lead,
            valid_until=start + self.grace,
            kid="test-key",
        )


class FakePublisher:
    """Remembers which queues were announced as changed."""

    def __init__(self) -> None:
        self.changes: list[tuple[str, str]] = []
        self.redis = None

    def changed(self, facility_id: str, department: str) -> None:
        self.changes.append((facility_id, department))
