"""In-memory fakes shared by the service-level unit tests (no database, no Redis, no network)."""

from __future__ import annotations

import datetime as dt
from typing import Any

from api.core.uow import UnitOfWorkFactory


class FakeSession:
    """What a unit of work asks of a session, written to a shared log (``begin``, ``commit``,
    ``rollback``, ``close``); the next commits raise the errors in ``failures`` first, one each."""

    def __init__(self, log: list[str], failures: list[BaseException]) -> None:
        self.log = log
        self._failures = failures
        self.log.append("begin")

    async def commit(self) -> None:
        if self._failures:
            self.log.append("commit failed")
            raise self._failures.pop(0)
        self.log.append("commit")

    async def rollback(self) -> None:
        self.log.append("rollback")

    def in_transaction(self) -> bool:
        return True

    async def close(self) -> None:
        self.log.append("close")


class FakeDatabase:
    """A sessionmaker of :class:`FakeSession`: ``uow`` is a real unit-of-work factory on it."""

    def __init__(self) -> None:
        self.log: list[str] = []
        self.sessions: list[FakeSession] = []
        self.commit_failures: list[BaseException] = []

    def __call__(self) -> FakeSession:
        session = FakeSession(self.log, self.commit_failures)
        self.sessions.append(session)
        return session

    @property
    def uow(self) -> UnitOfWorkFactory:
        return UnitOfWorkFactory(self)  # type: ignore[arg-type] # a fake sessionmaker

    def commits(self) -> int:
        return self.log.count("commit")


MOMENT = dt.datetime(2026, 3, 2, 9, 0, tzinfo=dt.UTC)
"""The unit tests' fixed moment (the clock of a service under test is ``FrozenClock(MOMENT)``)."""


def any_value(**attributes: Any) -> Any:
    """An object with these attributes (a stand-in for a row or a schema)."""
    return type("Value", (), attributes)()
