"""The access log is hash-chained per citizen: concurrent appends line up, and a row altered,
removed or cut off directly in the database is found by ``healthbook audit verify``. On
PostgreSQL the application's role cannot UPDATE or DELETE it at all."""

from __future__ import annotations

import asyncio
import datetime as dt
import itertools
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from click.testing import CliRunner
from sqlalchemy import event, select, text
from sqlalchemy.exc import DBAPIError

from api.cli import main
from api.core.db import create_engine
from api.core.settings import Settings
from api.db.engine import open_sessionmaker
from api.db.roles import RoleError, grant_statements
from api.health_book import access_log
from api.health_book.access_log import GENESIS, row_hash
from api.health_book.audit import verify
from api.health_book.models import AccessLogEntry, AccessLogHead
from api.identity.citizens import find_or_create
from tests.support.backends import PG_HOST, PG_PORT, PostgresTemplate, pg_admin
from tests.support.fhir_samples import IPS, sample_bytes

NOW = dt.datetime(2030, 5, 1, 9, 30, 15, 123456, tzinfo=dt.UTC)


async def new_citizen(app: Any) -> uuid.UUID:
    async with app.state.sessionmaker() as session:
        citizen, _ = await find_or_create(session, uuid.uuid4().hex * 2, None, NOW)
        await session.commit()
        return citizen.id


async def append(app: Any, citizen_id: uuid.UUID, n: int, *, action: str = "read") -> None:
    async with app.state.sessionmaker() as session:
        access_log.record(
            session,
            citizen_id=citizen_id,
            actor_kind="guardian",
            actor_id=f"actor-{n}",
            action=action,
            now=NOW + dt.timedelta(seconds=n),
            resource=f"health-book/{n}",
            purpose="guardian access",
            detail={"n": n, "note": "Nguyễn"},
        )
        await session.commit()


async def chain(app: Any, citizen_id: uuid.UUID) -> list[AccessLogEntry]:
    async with app.state.sessionmaker() as session:
        return list(
            (
                await session.scalars(
                    select(AccessLogEntry)
                    .where(AccessLogEntry.citizen_id == citizen_id)
                    .order_by(AccessLogEntry.seq)
                )
            ).all()
        )


async def run_verify(app: Any) -> Any:
    async with app.state.sessionmaker() as session:
        return await verify(session)


def db_id(app: Any, citizen_id: uuid.UUID) -> Any:
    """A citizen id as a raw SQL parameter (SQLite stores UUIDs as 32 hex characters)."""
    return citizen_id.hex if app.state.engine.dialect.name == "sqlite" else citizen_id


async def execute(app: Any, statement: str, **params: Any) -> None:
    async with app.state.engine.begin() as connection:
        await connection.execute(text(statement), params)


def cli_env(settings: Settings) -> dict[str, str]:
    return {
        "DATABASE_URL": settings.effective_database_url,
        "REDIS_URL": settings.redis.url or "",
        "DATA_DIR": settings.data_dir,
        "IDENTIFIER_HASH_KEY": settings.security.identifier_hash_key or "",
        "AUTO_MIGRATE": "false",
        "LOG_LEVEL": "WARNING",
    }


async def audit_cli(settings: Settings) -> Any:
    return await asyncio.to_thread(
        CliRunner().invoke, main, ["audit", "verify"], env=cli_env(settings)
    )


async def test_rows_are_chained_and_concurrent_appends_line_up(client, app) -> None:
    first, second = await new_citizen(app), await new_citizen(app)
    await asyncio.gather(
        *(append(app, first, n) for n in range(20)), *(append(app, second, n) for n in range(7))
    )
    rows = await chain(app, first)
    assert [row.seq for row in rows] == list(range(1, 21))
    assert rows[0].prev_hash == GENESIS
    for before, after in itertools.pairwise(rows):
        assert after.prev_hash == before.row_hash
    recomputed = row_hash(
        id=rows[0].id,
        citizen_id=rows[0].citizen_id,
        seq=1,
        at=rows[0].at,
        actor_kind=rows[0].actor_kind,
        actor_id=rows[0].actor_id,
        action=rows[0].action,
        purpose=rows[0].purpose,
        resource=rows[0].resource,
        detail=rows[0].detail,
        prev_hash=GENESIS,
    )
    assert rows[0].row_hash == recomputed
    async with app.state.sessionmaker() as session:
        head = await session.get(AccessLogHead, first)
    assert (head.seq, head.hash) == (20, rows[-1].row_hash)
    report = await run_verify(app)
    assert (report.ok, report.rows, report.chains) == (True, 27, 2)


async def test_a_publish_and_a_guardian_read_are_chained(client, app, hospital, settings) -> None:
    response = await client.post(
        "/hospital/summaries", content=sample_bytes(IPS), headers=hospital.headers
    )
    assert response.status_code == 201, response.text
    async with app.state.sessionmaker() as session:
        rows = (await session.scalars(select(AccessLogEntry))).all()
    assert [(row.action, row.seq, row.prev_hash) for row in rows] == [("publish", 1, GENESIS)]
    assert (await run_verify(app)).ok
    result = await audit_cli(settings)
    assert result.exit_code == 0, result.output
    assert "access log intact: 1 row(s) in 1 chain(s)" in result.output


async def test_an_altered_row_is_found(client, app, settings) -> None:
    citizen = await new_citizen(app)
    for n in range(5):
        await append(app, citizen, n)
    rows = await chain(app, citizen)
    target = rows[2]
    await execute(
        app,
        "UPDATE access_log SET purpose = 'nothing to see' WHERE seq = 3 AND citizen_id = :c",
        c=db_id(app, citizen),
    )
    report = await run_verify(app)
    assert not report.ok
    assert report.first_break.row_id == str(target.id)
    assert report.first_break.seq == 3
    assert "altered" in report.first_break.reason
    result = await audit_cli(settings)
    assert result.exit_code == 1
    assert f"access_log row {target.id}" in result.output
    assert "altered" in result.output


async def test_a_removed_row_is_found(client, app, settings) -> None:
    citizen = await new_citizen(app)
    for n in range(5):
        await append(app, citizen, n)
    rows = await chain(app, citizen)
    key = db_id(app, citizen)
    await execute(app, "DELETE FROM access_log WHERE seq = 2 AND citizen_id = :c", c=key)
    report = await run_verify(app)
    assert report.first_break.row_id == str(rows[2].id)
    assert "seq 2 is missing" in report.first_break.reason


async def test_rows_cut_off_the_end_are_found(client, app, settings) -> None:
    citizen = await new_citizen(app)
    for n in range(4):
        await append(app, citizen, n)
    key = db_id(app, citizen)
    await execute(app, "DELETE FROM access_log WHERE seq = 4 AND citizen_id = :c", c=key)
    report = await run_verify(app)
    assert report.first_break.row_id is None
    assert report.first_break.citizen_id == str(citizen)
    assert "ends at seq 3 but its head says seq 4" in report.first_break.reason
    await execute(app, "DELETE FROM access_log WHERE citizen_id = :c", c=key)
    report = await run_verify(app)
    assert "the chain has no rows" in report.first_break.reason


async def test_a_recomputed_row_without_its_successors_is_found(client, app, settings) -> None:
    """Someone who rewrites a row and its own hash still breaks the next row's link."""
    citizen = await new_citizen(app)
    for n in range(3):
        await append(app, citizen, n)
    rows = await chain(app, citizen)
    forged = row_hash(
        id=rows[0].id,
        citizen_id=citizen,
        seq=1,
        at=rows[0].at,
        actor_kind=rows[0].actor_kind,
        actor_id="someone-else",
        action=rows[0].action,
        purpose=rows[0].purpose,
        resource=rows[0].resource,
        detail=rows[0].detail,
        prev_hash=GENESIS,
    )
    key = db_id(app, citizen)
    await execute(
        app,
        "UPDATE access_log SET actor_id = 'someone-else', row_hash = :h "
        "WHERE seq = 1 AND citizen_id = :c",
        h=forged,
        c=key,
    )
    report = await run_verify(app)
    assert report.first_break.row_id == str(rows[1].id)
    assert "prev_hash" in report.first_break.reason


def test_role_names_are_checked() -> None:
    with pytest.raises(RoleError):
        grant_statements('app"; DROP TABLE access_log; --', "db", create=True)
    statements = grant_statements("healthbook_app", "hb", create=False)
    assert 'REVOKE UPDATE, DELETE, TRUNCATE ON TABLE access_log FROM "healthbook_app"' in (
        statements
    )


@pytest.fixture
def role_database(postgres_template: PostgresTemplate) -> Iterator[tuple[str, str, str]]:
    """A fresh PostgreSQL database and the name of an application role (dropped after)."""
    name, url = postgres_template.fresh()
    role = f"hb_app_{uuid.uuid4().hex[:10]}"
    try:
        yield name, url, role
    finally:
        postgres_template.drop(name)
        pg_admin(f'DROP ROLE IF EXISTS "{role}"')


async def test_the_application_role_cannot_update_or_delete_the_access_log(
    role_database: tuple[str, str, str], tmp_path: Path
) -> None:
    name, owner_url, role = role_database
    base = Settings.from_flat(
        data_dir=str(tmp_path / "data"), database_url=owner_url, auto_migrate=False
    )
    env = {**cli_env(base), "REDIS_URL": ""}
    granted = await asyncio.to_thread(
        CliRunner().invoke, main, ["db", "grant-app-role", role, "--create"], env=env
    )
    assert granted.exit_code == 0, granted.output
    role_url = f"postgresql+asyncpg://{role}@{PG_HOST}:{PG_PORT}/{name}"
    as_app = create_engine(base.replace(database_url=role_url))
    sessions = open_sessionmaker(as_app)
    try:
        async with sessions() as session:
            citizen, _ = await find_or_create(session, uuid.uuid4().hex * 2, None, NOW)
            for n in range(2):
                access_log.record(
                    session,
                    citizen_id=citizen.id,
                    actor_kind="hospital",
                    actor_id="his",
                    action="publish",
                    now=NOW + dt.timedelta(seconds=n),
                )
            await session.commit()
        for statement in (
            "UPDATE access_log SET purpose = 'x'",
            "DELETE FROM access_log",
            "TRUNCATE access_log",
            "INSERT INTO alembic_version VALUES ('x')",
        ):
            async with as_app.connect() as connection:
                with pytest.raises(DBAPIError) as refused:
                    await connection.execute(text(statement))
                assert "permission denied" in str(refused.value)
        async with sessions() as session:
            report = await verify(session)
        assert (report.ok, report.rows) == (True, 2)
    finally:
        await as_app.dispose()


async def append_now(app: Any, citizen_id: uuid.UUID, n: int) -> uuid.UUID:
    """One row by :func:`access_log.append` (the one-statement path), committed."""
    async with app.state.sessionmaker() as session:
        entry = await access_log.append(
            session,
            citizen_id=citizen_id,
            actor_kind="recipient",
            actor_id=f"BS. Trần Thị {n}",
            action="read",
            now=NOW + dt.timedelta(seconds=n, microseconds=n),
            resource="health-book/export/ips",
            purpose="SMART Health Link",
            detail={"share": str(uuid.uuid4()), "label": None, "n": [n, {"ý": "kiến"}]},
        )
        await session.commit()
        return entry


async def test_appends_at_once_and_at_flush_make_one_chain(client, app, settings) -> None:
    first, second = await new_citizen(app), await new_citizen(app)
    # the first row of a chain by each path (the head's insert), then both at once
    await append_now(app, first, 0)
    await append(app, second, 0)
    await asyncio.gather(
        *(append_now(app, first, n) for n in range(1, 16)),
        *(append(app, first, n) for n in range(16, 24)),
        *(append_now(app, second, n) for n in range(1, 9)),
    )
    rows = await chain(app, first)
    assert [row.seq for row in rows] == list(range(1, 25))
    assert rows[0].prev_hash == GENESIS
    for before, after in itertools.pairwise([None, *rows]):
        assert after is not None
        assert after.prev_hash == (GENESIS if before is None else before.row_hash)
        assert after.row_hash == row_hash(
            id=after.id,
            citizen_id=after.citizen_id,
            seq=after.seq,
            at=after.at,
            actor_kind=after.actor_kind,
            actor_id=after.actor_id,
            action=after.action,
            purpose=after.purpose,
            resource=after.resource,
            detail=after.detail,
            prev_hash=after.prev_hash,
        )
    async with app.state.sessionmaker() as session:
        head = await session.get(AccessLogHead, first)
    assert head is not None
    assert (head.seq, head.hash, head.prev_hash) == (24, rows[-1].row_hash, rows[-1].prev_hash)
    report = await run_verify(app)
    assert (report.ok, report.rows, report.chains) == (True, 33, 2)
    # and the command finds an altered row of this path as of any other
    target = next(row for row in rows if row.actor_kind == "recipient" and row.seq > 3)
    await execute(
        app,
        "UPDATE access_log SET actor_id = 'someone else' WHERE id = :id",
        id=target.id.hex if app.state.engine.dialect.name == "sqlite" else target.id,
    )
    report = await run_verify(app)
    assert not report.ok
    assert report.first_break is not None
    assert report.first_break.seq == target.seq


async def test_an_append_at_once_is_one_statement_where_ctes_write(client, app) -> None:
    citizen = await new_citizen(app)
    await append_now(app, citizen, 0)
    statements: list[str] = []

    def count(_conn: Any, _cursor: Any, statement: str, *_: Any) -> None:
        statements.append(statement)

    engine = app.state.engine.sync_engine
    event.listen(engine, "before_cursor_execute", count)
    try:
        await append_now(app, citizen, 1)
    finally:
        event.remove(engine, "before_cursor_execute", count)
    assert len(statements) == (1 if app.state.engine.dialect.name == "postgresql" else 3)
    assert (await run_verify(app)).ok
