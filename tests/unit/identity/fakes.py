"""In-memory stand-ins for what the identity services use: sessions, Redis, keys, the directory.

No database and no network: a :class:`FakeSession` answers ``get`` from a dictionary and
``scalar``/``execute`` from scripted answers, and records what it was asked to add, run and
commit in a shared log, so a test can tell what happened before and after the commit.
"""

from __future__ import annotations

import datetime as dt
import uuid
from collections.abc import Sequence
from typing import Any

from jwt import PyJWK

from api.core.access_tokens import IssuedToken
from api.core.uow import UnitOfWorkFactory


class Result:
    """What ``session.execute`` answers: a row count (UPDATE) or rows (SELECT)."""

    def __init__(self, rowcount: int = 0, rows: Sequence[Any] = ()) -> None:
        self.rowcount = rowcount
        self._rows = list(rows)

    def all(self) -> list[Any]:
        return self._rows


class FakeSession:
    """One shared in-memory "database" behind every unit of work of a test."""

    def __init__(self, log: list[str]) -> None:
        self.log = log
        self.rows: dict[tuple[type, Any], Any] = {}
        self.added: list[Any] = []
        self.statements: list[Any] = []
        self.scalar_answers: list[Any] = []
        self.execute_answers: list[Result] = []
        self.fail_commit = False

    def put(self, row: Any) -> Any:
        self.rows[(type(row), row.id)] = row
        return row

    async def get(self, model: type, key: Any) -> Any:
        return self.rows.get((model, key))

    def add(self, row: Any) -> None:
        self.added.append(row)
        self.log.append(f"add {type(row).__name__}")

    async def flush(self) -> None:
        for row in self.added:
            self.rows[(type(row), row.id)] = row

    async def scalar(self, statement: Any) -> Any:
        self.statements.append(statement)
        return self.scalar_answers.pop(0) if self.scalar_answers else None

    async def scalars(self, statement: Any) -> list[Any]:
        self.statements.append(statement)
        return list(self.scalar_answers.pop(0)) if self.scalar_answers else []

    async def execute(self, statement: Any) -> Result:
        self.statements.append(statement)
        self.log.append(f"execute {type(statement).__name__}")
        return self.execute_answers.pop(0) if self.execute_answers else Result()

    async def commit(self) -> None:
        if self.fail_commit:
            self.log.append("commit failed")
            raise RuntimeError("the database refused the commit")
        await self.flush()
        self.log.append("commit")

    async def rollback(self) -> None:
        self.added.clear()
        self.log.append("rollback")

    def in_transaction(self) -> bool:
        return True

    async def close(self) -> None:
        pass


def uow_factory(session: FakeSession) -> UnitOfWorkFactory:
    """The real unit of work on the fake session (its commit and after-commit rules hold)."""
    return UnitOfWorkFactory(lambda: session)  # type: ignore[arg-type,return-value]  # a fake


class FakeDirectory:
    """The citizen directory's cache invalidation, recorded in the log."""

    def __init__(self, log: list[str]) -> None:
        self.log = log
        self.invalidated: list[list[uuid.UUID | str]] = []

    async def invalidate(self, citizen_ids: Sequence[uuid.UUID | str]) -> None:
        self.invalidated.append(list(citizen_ids))
        self.log.append("invalidate")


class FakeRedis:
    """``SET NX EX`` on a dictionary."""

    def __init__(self) -> None:
        self.values: dict[str, bytes] = {}
        self.ttls: dict[str, int] = {}

    async def set(self, key: str, value: bytes, *, nx: bool = False, ex: int | None = None) -> Any:
        if nx and key in self.values:
            return None
        self.values[key] = value
        if ex is not None:
            self.ttls[key] = ex
        return True


class FakeKeys:
    def jwks(self) -> dict[str, Any]:
        return {"keys": [{"kty": "OKP", "kid": "ours"}]}


class FakeAccessTokens:
    """Issues readable fake tokens and remembers what it issued."""

    def __init__(self) -> None:
        self.keys = FakeKeys()
        self.issued: list[dict[str, Any]] = []

    def issue(self, **claims: Any) -> IssuedToken:
        self.issued.append(claims)
        return IssuedToken(token=f"access-{len(self.issued)}", expires_in=900)


class FakeJwks:
    """An identity provider's keys, without fetching them."""

    def __init__(self, *jwks: dict[str, Any]) -> None:
        self.keys = {item["kid"]: PyJWK.from_dict(item) for item in jwks}
        self.asked: list[tuple[str, str | None]] = []

    async def get_key(self, uri: str, kid: str | None) -> PyJWK:
        self.asked.append((uri, kid))
        return self.keys[kid or next(iter(self.keys))]


def utc(*args: int) -> dt.datetime:
    return dt.datetime(*args, tzinfo=dt.UTC)
