"""The database adapter: the statements it builds on each dialect, and its choice of backend.

How they behave against real databases is proven by the integration tests (booking, check-in,
outbox, access log); here the SQL shape on PostgreSQL and SQLite, compiled without a connection.
"""

from __future__ import annotations

import re
from typing import Any

import pytest
from sqlalchemy import Column, Integer, MetaData, String, Table, select
from sqlalchemy.dialects import mysql, postgresql, sqlite
from sqlalchemy.ext.asyncio import AsyncSession, create_async_engine

from api.core.db import create_sessionmaker
from api.core.dialect import (
    DIALECTS,
    POSTGRESQL,
    SQLITE,
    Dialect,
    PerDialect,
    SQLite,
    dialect_of,
)

_metadata = MetaData()
counter = Table(
    "counter",
    _metadata,
    Column("id", Integer, primary_key=True, autoincrement=False),
    Column("name", String, nullable=False, unique=True),
    Column("value", Integer, nullable=False),
    Column("note", String),
)
_SQL_DIALECTS = {"postgresql": postgresql.dialect(), "sqlite": sqlite.dialect()}


def sql(statement: Any, dialect: Dialect) -> str:
    compiled = statement.compile(dialect=_SQL_DIALECTS[dialect.name])
    return re.sub(r"\s+", " ", str(compiled)).strip()


@pytest.mark.parametrize("dialect", DIALECTS, ids=lambda d: d.name)
def test_insert_ignoring_skips_a_conflicting_row(dialect: Dialect) -> None:
    statement = dialect.insert_ignoring(counter).values(id=1, name="a", value=1)
    assert sql(statement, dialect).endswith("ON CONFLICT DO NOTHING")
    keyed = dialect.insert_ignoring(counter, on=[counter.c.name]).values(id=1, name="a", value=1)
    text = sql(keyed.returning(counter.c.id), dialect)
    assert text.startswith("INSERT INTO counter (id, name, value) VALUES")
    assert re.search(r"ON CONFLICT \(name\) DO NOTHING RETURNING (counter\.)?id$", text), text


@pytest.mark.parametrize("dialect", DIALECTS, ids=lambda d: d.name)
def test_upsert_takes_named_columns_from_the_inserted_row(dialect: Dialect) -> None:
    statement = dialect.upsert(counter, on=[counter.c.name], update=("value", "note"))
    text = sql(statement.values(id=1, name="a", value=1, note="n"), dialect)
    assert text.startswith("INSERT INTO counter (id, name, value, note) VALUES")
    assert text.endswith(
        "ON CONFLICT (name) DO UPDATE SET value = excluded.value, note = excluded.note"
    )


@pytest.mark.parametrize("dialect", DIALECTS, ids=lambda d: d.name)
def test_upsert_sets_expressions_under_a_condition(dialect: Dialect) -> None:
    statement = (
        dialect.upsert(
            counter,
            on=[counter.c.name],
            update={"value": counter.c.value + 1},
            where=counter.c.value < 10,
        )
        .values(id=1, name="a", value=1)
        .returning(counter.c.value)
    )
    text = sql(statement, dialect)
    assert "ON CONFLICT (name) DO UPDATE SET value = (counter.value + " in text
    assert re.search(r"WHERE counter\.value < \S+ RETURNING (counter\.)?value$", text), text


def test_skip_locked_claims_on_postgresql_and_is_dropped_on_sqlite() -> None:
    claim = select(counter.c.id).where(counter.c.value > 0).limit(5)
    assert sql(POSTGRESQL.skip_locked(claim), POSTGRESQL).endswith("FOR UPDATE SKIP LOCKED")
    on_sqlite = sql(SQLITE.skip_locked(claim), SQLITE)
    assert "FOR UPDATE" not in on_sqlite
    assert on_sqlite.startswith("SELECT counter.id FROM counter WHERE counter.value >")


class _Recorder:
    """A session that records what it is asked to execute."""

    def __init__(self) -> None:
        self.executed: list[tuple[Any, Any]] = []

    async def execute(self, statement: Any, parameters: Any = None) -> None:
        self.executed.append((statement, parameters))

    async def scalar(self, statement: Any, parameters: Any = None) -> bool:
        self.executed.append((statement, parameters))
        return True


async def test_lock_rows_selects_for_update_on_postgresql_only() -> None:
    statement = select(counter.c.id).where(counter.c.id == 1)
    on_postgresql, on_sqlite = _Recorder(), _Recorder()
    await POSTGRESQL.lock_rows(on_postgresql, statement)  # type: ignore[arg-type]
    await SQLITE.lock_rows(on_sqlite, statement)  # type: ignore[arg-type]
    [(locked, _)] = on_postgresql.executed
    assert sql(locked, POSTGRESQL).endswith("FOR UPDATE")
    assert on_sqlite.executed == []  # one writer at a time: nothing to lock


async def test_postgresql_request_locks_are_advisory_and_end_with_the_transaction() -> None:
    session = _Recorder()
    assert await POSTGRESQL.lock_request(session, 11, 22)  # type: ignore[arg-type]
    [(statement, parameters)] = session.executed
    assert "pg_try_advisory_xact_lock(:request)" in str(statement)
    assert "pg_advisory_xact_lock(:then)" in str(statement)
    assert parameters == {"request": 11, "then": 22}


async def test_sqlite_request_locks_tell_a_duplicate_in_flight(monkeypatch) -> None:
    writers: list[AsyncSession] = []

    async def begin_write(self: SQLite, session: AsyncSession) -> None:
        writers.append(session)

    monkeypatch.setattr(SQLite, "begin_write", begin_write)
    engine = create_async_engine("sqlite+aiosqlite://")  # never connected
    sessions, others = create_sessionmaker(engine), create_sessionmaker(engine)
    async with sessions() as first, sessions() as second, others() as elsewhere:
        for session in (first, second, elsewhere):
            session.sync_session.begin()
        assert await SQLITE.lock_request(first, 7, 1)
        assert not await SQLITE.lock_request(second, 7, 1)  # the same request is in flight
        assert await SQLITE.lock_request(second, 8, 1)
        assert await SQLITE.lock_request(elsewhere, 7, 1)  # another factory's registry
        assert writers == [first, second, elsewhere]
        await first.rollback()  # the transaction ends: so does its lock
        assert second.sync_session.in_transaction()  # and its locks are still held
        assert not await SQLITE.lock_request(first, 8, 1)
        assert await SQLITE.lock_request(second, 7, 1)
        await second.commit()
        assert await SQLITE.lock_request(first, 8, 1)
    await engine.dispose()


async def test_sqlite_request_locks_need_the_session_factory() -> None:
    engine = create_async_engine("sqlite+aiosqlite://")
    async with AsyncSession(engine) as session:
        with pytest.raises(RuntimeError, match="create_sessionmaker"):
            await SQLITE.lock_request(session, 7, 1)
    await engine.dispose()


def test_dialect_of_finds_the_adapter_of_any_bind() -> None:
    engine = create_async_engine("sqlite+aiosqlite://")
    assert dialect_of(engine) is SQLITE
    assert dialect_of(engine.sync_engine) is SQLITE
    assert dialect_of(AsyncSession(engine)) is SQLITE
    assert dialect_of(postgresql.dialect()) is POSTGRESQL
    assert dialect_of(create_async_engine("postgresql+asyncpg://u@127.0.0.1/x")) is POSTGRESQL
    with pytest.raises(ValueError, match="unsupported database backend: mysql"):
        dialect_of(mysql.dialect())


def test_capabilities() -> None:
    assert (POSTGRESQL.writable_ctes, SQLITE.writable_ctes) == (True, False)
    assert (POSTGRESQL.naive_datetimes, SQLITE.naive_datetimes) == (False, True)
    assert (POSTGRESQL.has_roles, SQLITE.has_roles) == (True, False)


def test_per_dialect_builds_once_and_picks_by_backend() -> None:
    built: list[str] = []

    def build(dialect: Dialect) -> Any:
        built.append(dialect.name)
        return dialect.insert_ignoring(counter)

    statements = PerDialect(build)
    assert built == ["postgresql", "sqlite"]
    on_sqlite = statements.of(create_async_engine("sqlite+aiosqlite://"))
    assert on_sqlite is statements.of(sqlite.dialect())
    assert on_sqlite is not statements.of(postgresql.dialect())
    assert built == ["postgresql", "sqlite"]
