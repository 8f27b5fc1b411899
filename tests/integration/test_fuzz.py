"""Bounded schemathesis run: every operation, as every kind of caller, no 5xx, no schema mismatch.

Runs in-process on the ASGI app (schemathesis drives the app's lifespan on its own event loop) on
the embedded backend pair — SQLite and fakeredis — with rate limits off, a fixed seed and
deterministic generation, so a CI failure reproduces locally with the same command. ``make fuzz``
runs the same test longer (``FUZZ_MAX_EXAMPLES``), on PostgreSQL and Redis
(``FUZZ_BACKEND=servers``), or against ``healthbook serve`` on loopback (``FUZZ_SERVED=1``).
"""

from __future__ import annotations

import os
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
import requests
from schemathesis.python import asgi

from api.app import create_app
from api.core.settings import Settings
from tests.conftest import base_settings
from tests.support.backends import PostgresTemplate, SqliteTemplate, fresh_redis_url
from tests.support.fuzz import (
    CHECKS,
    SCHEMA_PATH,
    Api,
    Budget,
    asgi_loader,
    create_admin,
    run_all,
    seed,
    url_loader,
)
from tests.support.idp import TestIdentityProvider
from tests.support.server import served

# the bounded run takes 1–2 minutes; `make fuzz` raises the limit with the budget
pytestmark = pytest.mark.timeout(int(os.environ.get("FUZZ_TIMEOUT_SECONDS", "900")))


@pytest.fixture
def fuzz_settings(tmp_path: Path, request: pytest.FixtureRequest) -> Iterator[Settings]:
    overrides: dict[str, object] = {"rate_limit_enabled": False, "access_log": False}
    if os.environ.get("FUZZ_BACKEND", "embedded") == "servers":
        pg: PostgresTemplate = request.getfixturevalue("postgres_template")
        name, url = pg.fresh()
        try:
            yield base_settings(
                tmp_path, database_url=url, redis_url=fresh_redis_url(), **overrides
            )
        finally:
            pg.drop(name)
        return
    template: SqliteTemplate = request.getfixturevalue("sqlite_template")
    yield base_settings(tmp_path, database_url=template.fresh(tmp_path), **overrides)


EXPECTED_SUCCESSES = {
    "anonymous": {"GET /facilities/{facility_id}/slots", "GET /facilities/{facility_id}"},
    "citizen": {
        "GET /citizens/{citizen_id}/health-book",
        "GET /citizens/{citizen_id}/appointments/{appointment_id}",
        "GET /citizens/{citizen_id}/appointments/{appointment_id}/check-in",
    },
    "dependent": {"GET /citizens/{citizen_id}/appointments"},
    "hospital": {"POST /hospital/summaries", "PUT /hospital/slots"},
    "kiosk": {"GET /facilities/{facility_id}/queues/{department}"},
    "admin": {"PUT /admin/facilities/{facility_id}", "POST /admin/clients"},
}


def served_env(settings: Settings) -> dict[str, str]:
    env = {
        "DATABASE_URL": settings.database.url or "",
        "DATA_DIR": settings.data_dir,
        "IDENTIFIER_HASH_KEY": settings.security.identifier_hash_key or "",
        "NATIONAL_ID_SYSTEMS": ",".join(settings.fhir.national_id_systems),
        "RATE_LIMIT_ENABLED": "false",
        "AUTO_MIGRATE": "false",
        "LOG_LEVEL": "WARNING",
    }
    if settings.redis.url:
        env["REDIS_URL"] = settings.redis.url
    return env


def test_every_operation_as_every_caller(fuzz_settings: Settings, tmp_path: Path) -> None:
    budget = Budget.from_env()
    with TestIdentityProvider() as idp:
        admin = create_admin(fuzz_settings)
        started = time.monotonic()
        if os.environ.get("FUZZ_SERVED"):
            with served(served_env(fuzz_settings), log=tmp_path / "server.log") as base_url:
                seeded = seed(Api(requests.Session(), base_url), fuzz_settings, idp, admin)
                document = requests.get(base_url + SCHEMA_PATH, timeout=30).json()
                report = run_all(url_loader(base_url), seeded, budget, document)
        else:
            app = create_app(fuzz_settings)
            try:
                with asgi.get_client(app) as session:
                    seeded = seed(Api(session), fuzz_settings, idp, admin)
                report = run_all(asgi_loader(app), seeded, budget, app.openapi_schema.to_schema())
            finally:
                asgi.shutdown_lifespans()
    elapsed = time.monotonic() - started
    print(f"{report.summary()}; checks run: {report.checks}; {elapsed:.1f} s in all")
    for caller, operations in sorted(report.succeeded.items()):
        print(f"{caller}: 2xx from {len(operations)} operations: {sorted(operations)}")
    problems = [str(finding) for finding in report.findings] + report.errors
    assert not problems, "\n".join(problems)
    assert sum(report.requests.values()) > 1000
    assert set(CHECKS) <= set(report.checks), f"checks that never ran: {report.checks}"
    assert {"examples", "coverage", "fuzzing", "stateful"} <= set(report.phases)
    # the seeding works: each caller reached its own routes' success paths
    for caller, expected in EXPECTED_SUCCESSES.items():
        missing = expected - report.succeeded.get(caller, set())
        assert not missing, f"{caller} never got a 2xx from {sorted(missing)}"
