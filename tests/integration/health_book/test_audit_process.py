"""``healthbook audit verify`` run as an operator runs it: a process of its own, which imports
nothing the API process had imported, against the database a realistic run wrote (publishes by
a hospital, a document withdrawn, a guardian reading a child's book). An intact log exits 0; a
row altered, a row removed and a chain cut short each exit 1 naming the row or the chain."""

from __future__ import annotations

import asyncio
import uuid
from typing import Any

import pytest
from sqlalchemy import select, text

from api.health_book.models import AccessLogEntry
from tests.integration.health_book.conftest import ANY_ID, patient_number
from tests.support.auth import bearer, login, register_provider
from tests.support.cli import run_cli_async, run_cli_on_terminal
from tests.support.fhir_samples import IPS, LEONOR, sample_bytes

GUARDIAN = "001085000001"


async def realistic_run(client: Any, hospital: Any, admin_token: str, idp: Any) -> None:
    await register_provider(client, admin_token, idp, national_id_pattern=ANY_ID)
    for name in (IPS, LEONOR):
        response = await client.post(
            "/hospital/summaries", content=sample_bytes(name), headers=hospital.headers
        )
        assert response.status_code == 201, response.text
    child = bearer((await login(client, idp, patient_number(IPS)))["access_token"])
    child_id = (await client.get("/citizens/me", headers=child)).json()["id"]
    assert (await client.get("/citizens/me/health-book", headers=child)).status_code == 200
    recorded = await client.post(
        "/admin/guardianships",
        json={
            "guardian_national_id": GUARDIAN,
            "dependent_national_id": patient_number(IPS),
            "kind": "legal_representative",
            "dependent_birth_date": "1990-01-02",
        },
        headers=bearer(admin_token),
    )
    assert recorded.status_code == 201, recorded.text
    guardian = bearer((await login(client, idp, GUARDIAN))["access_token"])
    for path in ("health-book", "health-book/conditions", "health-book/medications"):
        answer = await client.get(f"/citizens/{child_id}/{path}", headers=guardian)
        assert answer.status_code == 200, answer.text
    # the same document again: answered as unchanged or as a new version, it is logged
    again = await client.post(
        "/hospital/summaries", content=sample_bytes(IPS), headers=hospital.headers
    )
    assert again.status_code in (200, 201), again.text


async def rows(app: Any) -> list[AccessLogEntry]:
    async with app.state.sessionmaker() as session:
        found = await session.scalars(
            select(AccessLogEntry).order_by(AccessLogEntry.citizen_id, AccessLogEntry.seq)
        )
        return list(found.all())


def db_id(app: Any, value: uuid.UUID) -> Any:
    """A UUID as a raw SQL parameter (SQLite stores UUIDs as 32 hex characters)."""
    return value.hex if app.state.engine.dialect.name == "sqlite" else value


async def execute(app: Any, statement: str, **params: Any) -> None:
    async with app.state.engine.begin() as connection:
        await connection.execute(text(statement), params)


async def test_an_intact_log_verifies_in_a_process_of_its_own(
    client, app, settings, hospital, admin_token, idp
) -> None:
    await realistic_run(client, hospital, admin_token, idp)
    written = await rows(app)
    kinds = {(row.actor_kind, row.action) for row in written}
    assert {("hospital", "publish"), ("guardian", "read")} <= kinds
    result = await run_cli_async(settings, "audit", "verify")
    assert result.returncode == 0, result.stderr
    chains = len({row.citizen_id for row in written})
    assert f"access log intact: {len(written)} row(s) in {chains} chain(s)" in result.stdout


async def test_a_terminal_sees_a_progress_bar_a_log_file_does_not(
    client, app, settings, hospital, admin_token, idp
) -> None:
    await realistic_run(client, hospital, admin_token, idp)
    written = await rows(app)
    code, stdout, shown = await asyncio.to_thread(run_cli_on_terminal, settings, "audit", "verify")
    assert code == 0, shown
    assert f"access log intact: {len(written)} row(s)" in stdout
    assert "rows" in shown
    assert "100%" in shown  # the bar reached its end: the heads accounted for every row
    quiet = await run_cli_async(settings, "audit", "verify")
    assert quiet.returncode == 0
    assert "rows" not in quiet.stderr
    assert "%" not in quiet.stderr


@pytest.mark.parametrize("damage", ["alter", "delete", "truncate"])
async def test_damage_is_named_by_a_process_of_its_own(
    client, app, settings, hospital, admin_token, idp, damage: str
) -> None:
    await realistic_run(client, hospital, admin_token, idp)
    assert (await run_cli_async(settings, "audit", "verify")).returncode == 0
    written = await rows(app)
    by_citizen: dict[uuid.UUID, list[AccessLogEntry]] = {}
    for row in written:
        by_citizen.setdefault(row.citizen_id, []).append(row)
    longest = max(by_citizen.values(), key=len)
    assert len(longest) >= 3
    citizen = longest[0].citizen_id
    if damage == "alter":
        target = longest[1]
        await execute(
            app,
            "UPDATE access_log SET resource = 'health-book/immunizations' WHERE id = :id",
            id=db_id(app, target.id),
        )
        expected = [f"access_log row {target.id}", f"seq {target.seq}", "altered"]
    elif damage == "delete":
        removed, named = longest[1], longest[2]
        await execute(app, "DELETE FROM access_log WHERE id = :id", id=db_id(app, removed.id))
        expected = [f"access_log row {named.id}", f"seq {removed.seq} is missing"]
    else:
        last = longest[-1]
        await execute(app, "DELETE FROM access_log WHERE id = :id", id=db_id(app, last.id))
        expected = [
            f"chain of citizen {citizen}",
            f"ends at seq {last.seq - 1} but its head says seq {last.seq}",
        ]
    result = await run_cli_async(settings, "audit", "verify")
    assert result.returncode == 1, result.stdout
    message = result.stderr.strip()
    assert "access log tampered with" in message
    for fragment in expected:
        assert fragment in message, message
    assert "Traceback" not in result.stderr
