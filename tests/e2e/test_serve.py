"""``healthbook serve`` and ``healthbook migrate`` as a newcomer and an operator run them."""

from __future__ import annotations

import os
import subprocess
from pathlib import Path

import httpx
import pytest

from tests.support.backends import (
    PostgresTemplate,
    fresh_redis_url,
    pg_admin,
    pg_url,
    require_servers,
    worker_index,
)
from tests.support.server import HEALTHBOOK, served


def test_serve_on_embedded_defaults_from_an_empty_folder(tmp_path: Path) -> None:
    """No configuration at all: SQLite in ./.healthbook, fakeredis, migrated at start."""
    log = tmp_path / "server.log"
    with served({}, cwd=tmp_path, log=log) as base_url:
        ready = httpx.get(f"{base_url}/health/ready")
        assert ready.status_code == 200
        assert ready.json()["checks"]["database"]["status"] == "ok"
        not_found = httpx.get(f"{base_url}/nope")
        assert not_found.status_code == 404
        assert not_found.headers["content-type"].startswith("application/problem+json")
    assert (tmp_path / ".healthbook" / "healthbook.db").exists()
    text = log.read_text()
    assert "fakeredis" in text  # the single-process warning is said out loud


def test_serve_refuses_production_without_secrets(tmp_path: Path) -> None:
    result = subprocess.run(
        [HEALTHBOOK, "serve"],
        env={"PATH": "/usr/bin:/bin", "PRODUCTION": "true"},
        cwd=tmp_path,
        capture_output=True,
        timeout=60,
    )
    assert result.returncode != 0
    assert b"DATABASE_URL" in result.stderr
    assert b"IDENTIFIER_HASH_KEY" in result.stderr


@pytest.fixture
def pg_database() -> str:
    require_servers()
    name = f"hbtest_{os.getpid()}_{worker_index()}_cli"
    pg_admin(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)', f'CREATE DATABASE "{name}"')
    yield name
    PostgresTemplate.drop(name)


def _migrate(env: dict[str, str], *args: str) -> subprocess.CompletedProcess[bytes]:
    return subprocess.run(
        [HEALTHBOOK, "migrate", *args],
        env={"PATH": "/usr/bin:/bin", **env},
        capture_output=True,
        timeout=120,
        check=True,
    )


def test_migrate_and_serve_on_postgres_and_redis(pg_database: str, tmp_path: Path) -> None:
    env = {
        "DATABASE_URL": pg_url(pg_database),
        "REDIS_URL": fresh_redis_url(),
        "DATA_DIR": str(tmp_path / "data"),
    }
    _migrate(env)
    _migrate(env, "--downgrade", "--revision", "base")
    _migrate(env)
    with served({**env, "WORKERS": "2"}) as base_url:
        ready = httpx.get(f"{base_url}/health/ready")
        assert ready.status_code == 200, ready.text
        # two workers answer; both ready
        for _ in range(6):
            assert httpx.get(f"{base_url}/health/live").status_code == 200
