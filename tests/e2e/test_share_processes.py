"""Two ``healthbook serve`` processes on one PostgreSQL and one Redis, as a deployment runs them:
a SMART Health Link revoked through one is refused by both at once, its first access pushes its
owner once however the first requests spread over the processes, and an ``L`` link's polling
budget is one budget across them."""

from __future__ import annotations

import asyncio
import datetime as dt
import json
import os
import uuid
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from urllib.parse import urlsplit

import asyncpg

from bench.scenarios import SetupContext, http_request
from bench.setups import citizen_token
from tests.support.backends import (
    PG_HOST,
    PG_PORT,
    PG_USER,
    fresh_redis_url,
    pg_admin,
    pg_url,
    require_servers,
)
from tests.support.server import served

PUBLIC_BASE_URL = "http://127.0.0.1:8000"  # a name both processes share (tokens' issuer)


async def _count(database: str, sql: str) -> int:
    connection = await asyncpg.connect(
        host=PG_HOST, port=PG_PORT, user=PG_USER, database=database, timeout=5
    )
    try:
        return int(await connection.fetchval(sql))
    finally:
        await connection.close()


def _post(base: str, path: str, body: dict[str, object], headers: dict[str, str] | None = None):
    return http_request("POST", base + path, json=body, headers=headers)


def test_two_api_processes_agree_on_a_links_state(tmp_path: Path) -> None:
    require_servers()
    database = f"hbshare_{os.getpid()}_{uuid.uuid4().hex[:8]}"
    pg_admin(f'CREATE DATABASE "{database}"')
    env = {
        "DATABASE_URL": pg_url(database),
        "REDIS_URL": fresh_redis_url(),
        "DATA_DIR": str(tmp_path / "data"),  # one folder: both sign and verify with its keys
        "AUTO_MIGRATE": "true",
        "ACCESS_LOG": "false",
        "LOG_LEVEL": "WARNING",
        "PUBLIC_BASE_URL": PUBLIC_BASE_URL,
        "RATE_LIMIT_ENABLED": "false",
        "SHARING_POLL_SECONDS": "10",
        "SHARING_POLL_BURST": "4",
    }
    try:
        with (
            served(env, log=tmp_path / "first.log") as first,
            served(env, log=tmp_path / "second.log") as second,
        ):
            ctx = SetupContext(
                base_url=first,
                database_url=env["DATABASE_URL"],
                redis_url=env["REDIS_URL"],
                data_dir=tmp_path / "data",
                env={"PATH": os.environ.get("PATH", ""), "HOME": str(tmp_path), **env},
            )
            owner = {"Authorization": f"Bearer {citizen_token(ctx)}"}
            expires = (dt.datetime.now(dt.UTC) + dt.timedelta(days=1)).isoformat()

            def make(**fields: object) -> dict[str, object]:
                status, data = _post(
                    first, "/citizens/me/shares", {"expires_at": expires, **fields}, owner
                )
                assert status == 201, data
                return json.loads(data)

            created = make(label="Hai tiến trình")
            path = urlsplit(str(created["url"])).path
            recipient = {"recipient": "Dr. An"}

            # the first requests spread over both processes: one push, however they land
            with ThreadPoolExecutor(16) as pool:
                firsts = list(
                    pool.map(lambda i: _post((first, second)[i % 2], path, recipient), range(16))
                )
            assert {status for status, _ in firsts} == {200}
            pushes = "SELECT count(*) FROM notification_outbox WHERE kind = 'share_opened'"
            assert asyncio.run(_count(database, pushes)) == 1

            # revoked through the first, refused by both at once (and ever after)
            status, _ = http_request(
                "DELETE", f"{first}/citizens/me/shares/{created['id']}", headers=owner
            )
            assert status == 204
            with ThreadPoolExecutor(8) as pool:
                after = list(
                    pool.map(lambda i: _post((first, second)[i % 2], path, recipient), range(8))
                )
            assert [status for status, _ in after] == [404] * 8
            assert all(
                json.loads(body)["type"].endswith("/problems/share-link-not-found")
                for _, body in after
            )

            # an L link's polling budget (4 in 40 s here) is one budget across the processes
            polled = urlsplit(str(make(long_term=True)["url"])).path
            statuses = [_post(base, polled, recipient)[0] for base in (first, second) * 3]
            assert statuses == [200] * 4 + [429, 429]
    finally:
        pg_admin(f'DROP DATABASE IF EXISTS "{database}" WITH (FORCE)')
