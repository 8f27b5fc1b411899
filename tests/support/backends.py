"""The two backend pairs every DB/Redis test runs on, and per-test isolation for each.

- ``embedded``: a SQLite file (copied from a template migrated once per session) and fakeredis.
- ``servers``: PostgreSQL at 127.0.0.1:5432 (a database per test, cloned from a template migrated
  once per worker) and Redis at 127.0.0.1:6379 (a logical db per worker, flushed per test).

Outside CI a missing server skips the ``servers`` half with a reason; with ``CI`` set it fails.
"""

from __future__ import annotations

import asyncio
import os
import shutil
import socket
import uuid
from pathlib import Path

import asyncpg
import pytest
import redis

from api.db.migrate import upgrade_sync
from tests.support.tools import in_ci

PG_HOST = os.environ.get("TEST_PG_HOST", "127.0.0.1")
PG_PORT = int(os.environ.get("TEST_PG_PORT", "5432"))
PG_USER = os.environ.get("TEST_PG_USER", "postgres")
PG_ADMIN_DB = os.environ.get("TEST_PG_DATABASE", "test")
REDIS_HOST = os.environ.get("TEST_REDIS_HOST", "127.0.0.1")
REDIS_PORT = int(os.environ.get("TEST_REDIS_PORT", "6379"))

IN_CI = in_ci()


def reachable(host: str, port: int, timeout: float = 1.0) -> bool:
    try:
        with socket.create_connection((host, port), timeout=timeout):
            return True
    except OSError:
        return False


def require_servers() -> None:
    """Skip (locally) or fail (CI) when the real PostgreSQL or Redis is not there."""
    missing = [
        name
        for name, host, port in (
            ("PostgreSQL", PG_HOST, PG_PORT),
            ("Redis", REDIS_HOST, REDIS_PORT),
        )
        if not reachable(host, port)
    ]
    if not missing:
        return
    message = f"{' and '.join(missing)} not reachable on {PG_HOST}"
    if IN_CI:
        pytest.fail(f"CI requires the real servers: {message}", pytrace=False)
    pytest.skip(f"real servers not available ({message}); they are required under CI")


def worker_index() -> int:
    worker = os.environ.get("PYTEST_XDIST_WORKER", "gw0")
    digits = "".join(ch for ch in worker if ch.isdigit())
    return int(digits or 0)


def pg_url(database: str, driver: str = "asyncpg") -> str:
    return f"postgresql+{driver}://{PG_USER}@{PG_HOST}:{PG_PORT}/{database}"


async def _pg_admin(*statements: str) -> None:
    connection = await asyncpg.connect(
        host=PG_HOST, port=PG_PORT, user=PG_USER, database=PG_ADMIN_DB, timeout=5
    )
    try:
        for statement in statements:
            await connection.execute(statement)
    finally:
        await connection.close()


def pg_admin(*statements: str) -> None:
    asyncio.run(_pg_admin(*statements))


class SqliteTemplate:
    """A migrated SQLite file; each test gets a copy (a file copy is cheaper than migrating)."""

    def __init__(self, directory: Path) -> None:
        self.path = directory / "template.db"
        upgrade_sync(f"sqlite+aiosqlite:///{self.path}")

    def fresh(self, directory: Path) -> str:
        target = directory / "healthbook.db"
        shutil.copyfile(self.path, target)
        return f"sqlite+aiosqlite:///{target}"


class PostgresTemplate:
    """A migrated template database per test worker; each test gets a clone of it."""

    def __init__(self) -> None:
        # the process id keeps two test runs on one machine (two developers, a developer and
        # CI) from dropping each other's databases
        self.prefix = f"hbtest_{os.getpid()}_{worker_index()}"
        self.template = f"{self.prefix}_template"
        pg_admin(f'DROP DATABASE IF EXISTS "{self.template}" WITH (FORCE)')
        pg_admin(f'CREATE DATABASE "{self.template}"')
        upgrade_sync(pg_url(self.template))

    def fresh(self) -> tuple[str, str]:
        name = f"{self.prefix}_{uuid.uuid4().hex[:12]}"
        pg_admin(f'CREATE DATABASE "{name}" TEMPLATE "{self.template}"')
        return name, pg_url(name)

    @staticmethod
    def drop(name: str) -> None:
        pg_admin(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')

    def close(self) -> None:
        pg_admin(f'DROP DATABASE IF EXISTS "{self.template}" WITH (FORCE)')


def redis_db_for_worker() -> int:
    # db 0 is left to people, 14 and 15 to the benchmarks; each test process gets one of 1..13
    # (by process id, so concurrent runs on one machine rarely meet).
    return 1 + os.getpid() % 13


def fresh_redis_url() -> str:
    db = redis_db_for_worker()
    client = redis.Redis(host=REDIS_HOST, port=REDIS_PORT, db=db, socket_timeout=5)
    try:
        client.flushdb()
    finally:
        client.close()
    return f"redis://{REDIS_HOST}:{REDIS_PORT}/{db}"
