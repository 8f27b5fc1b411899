"""The board's event stream through ``healthbook serve`` (granian) on loopback, on PostgreSQL +
Redis and on SQLite + fakeredis: a change reaches an open stream, and stopping the server with
boards connected ends their streams at once instead of waiting out the worker kill timeout."""

from __future__ import annotations

import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import msgspec
import pytest

from api.checkin.tokens import WalkInCodes
from api.core.settings import Settings
from bench.scenarios import SetupContext
from bench.setups import admin_token, hospital_token
from tests.integration.checkin_pages.conftest import DEPARTMENT, EVENTS_PATH, FACILITY
from tests.support.auth import bearer, login, register_provider
from tests.support.backends import PostgresTemplate, fresh_redis_url
from tests.support.idp import TestIdentityProvider
from tests.support.server import served

HASH_KEY = "served-board-identifier-hash-key-0000000"


@pytest.fixture(params=["postgres", "sqlite"])
def env(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[dict[str, str]]:
    values = {
        "PUBLIC_BASE_URL": "http://healthbook.test",
        "DATA_DIR": str(tmp_path / "data"),
        "IDENTIFIER_HASH_KEY": HASH_KEY,
        "ACCESS_LOG": "false",
        "LOG_LEVEL": "WARNING",
    }
    database = None
    if request.param == "postgres":
        template: PostgresTemplate = request.getfixturevalue("postgres_template")
        database, url = template.fresh()
        values |= {"DATABASE_URL": url, "REDIS_URL": fresh_redis_url()}
    try:
        yield values
    finally:
        if database is not None:
            PostgresTemplate.drop(database)


def _events(lines: Iterator[str]) -> Iterator[dict[str, Any]]:
    """The `status` events of an event stream, decoded."""
    event = None
    for line in lines:
        if line.startswith("event: "):
            event = line.removeprefix("event: ")
        elif line.startswith("data: ") and event == "status":
            yield msgspec.json.decode(line.removeprefix("data: "))
            event = None


async def test_a_call_reaches_the_open_stream_and_stopping_ends_it_at_once(
    env: dict[str, str], tmp_path: Path
) -> None:
    log = tmp_path / "server.log"
    with served(env, log=log) as base_url:
        ctx = SetupContext(
            base_url=base_url,
            database_url=Settings.from_env(env).effective_database_url,
            redis_url=env.get("REDIS_URL", ""),
            data_dir=tmp_path / "data",
            env={"PATH": "/usr/bin:/bin", **env},
        )
        hospital = hospital_token(ctx, FACILITY)
        admin = admin_token(ctx)
        ctx.request_json(
            "PUT",
            f"/admin/facilities/{FACILITY}/departments/{DEPARTMENT}",
            json={"name": "Khoa Nội", "room": "P.101"},
            headers=bearer(admin),
        )
        with TestIdentityProvider() as idp:
            async with httpx.AsyncClient(base_url=base_url, timeout=30) as http:
                await register_provider(http, admin, idp)
                citizen = (await login(http, idp, "001090000201"))["access_token"]
                code = WalkInCodes(HASH_KEY).code(FACILITY, DEPARTMENT)
                walked = await http.post(
                    "/citizens/me/walk-ins", json={"code": code}, headers=bearer(citizen)
                )
                assert walked.status_code == 201, walked.text

        board = httpx.Client(base_url=base_url, timeout=httpx.Timeout(10, read=30))
        response = board.send(board.build_request("GET", EVENTS_PATH), stream=True)
        assert response.status_code == 200
        assert response.headers["content-type"].startswith("text/event-stream")
        statuses = _events(response.iter_lines())
        first = next(statuses)
        assert first["waiting"] == 1
        assert first["now_serving"] is None

        called = httpx.post(
            f"{base_url}/hospital/queues/{DEPARTMENT}/call-next",
            json={},
            headers=bearer(hospital),
            timeout=10,
        )
        assert called.status_code == 200, called.text
        update = next(statuses)
        assert update["now_serving"]["label"] == "NOI-001"
        assert update["waiting"] == 0
        stopping = time.monotonic()
    # served() sent SIGTERM and waited for the exit: the open stream did not hold it up
    elapsed = time.monotonic() - stopping
    # (without the signal hook: 15 s, when served() gives up waiting and kills the server)
    assert elapsed < 10, f"the server took {elapsed:.1f} s to stop with a board connected"
    assert list(statuses) == []  # the stream ended cleanly
    response.close()
    board.close()
    assert "refused to gracefully stop" not in log.read_text()
