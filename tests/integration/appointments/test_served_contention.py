"""Real HTTP against ``healthbook serve`` on loopback, on PostgreSQL + Redis and on SQLite:
200 citizens book a slot of capacity 5 at once (exactly 5 win, 195 get a clear 409), and a
booking whose answer was lost in a network drop is retried and books once."""

from __future__ import annotations

import asyncio
import json
import socket
import time
import uuid
from collections import Counter
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import httpx
import pytest
from sqlalchemy import func, select

from api.appointments.models import Appointment, Slot
from api.core.db import create_engine
from api.core.settings import Settings
from bench.scenarios import SetupContext
from bench.setups import admin_token, hospital_token
from tests.support.auth import bearer, login, register_provider
from tests.support.backends import PostgresTemplate, fresh_redis_url
from tests.support.idp import TestIdentityProvider
from tests.support.problems import problem_uri
from tests.support.server import served

CONTENDERS = 200
CAPACITY = 5


@dataclass
class Served:
    base_url: str
    settings: Settings
    ctx: SetupContext


@pytest.fixture(params=["postgres", "sqlite"])
def server(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[Served]:
    env = {
        "PUBLIC_BASE_URL": "http://healthbook.test",  # the audience of client assertions
        "DATA_DIR": str(tmp_path / "data"),
        "IDENTIFIER_HASH_KEY": "served-contention-identifier-hash-key-000",
        "ACCESS_LOG": "false",
        "LOG_LEVEL": "WARNING",
    }
    database = None
    if request.param == "postgres":
        template: PostgresTemplate = request.getfixturevalue("postgres_template")
        database, url = template.fresh()
        env |= {"DATABASE_URL": url, "REDIS_URL": fresh_redis_url()}
    settings = Settings.from_env(env)
    try:
        with served(env, log=tmp_path / "server.log") as url:
            ctx = SetupContext(
                base_url=url,
                database_url=settings.effective_database_url,
                redis_url=settings.redis.url or "",
                data_dir=tmp_path / "data",
                env={"PATH": "/usr/bin:/bin", **env},
            )
            yield Served(url, settings, ctx)
    finally:
        if database is not None:
            PostgresTemplate.drop(database)


async def _db_counts(settings: Settings, slot_id: str) -> tuple[int, int]:
    engine = create_engine(settings)
    try:
        async with engine.connect() as connection:
            booked = await connection.scalar(
                select(Slot.booked).where(Slot.id == uuid.UUID(slot_id))
            )
            active = await connection.scalar(
                select(func.count())
                .select_from(Appointment)
                .where(Appointment.slot_id == uuid.UUID(slot_id), Appointment.status != "cancelled")
            )
        return int(booked or 0), int(active or 0)
    finally:
        await engine.dispose()


def _prepare(server: Served) -> tuple[str, str]:
    """Facility 01001 with department NOI and a hospital client: (hospital token, admin token)."""
    hospital = hospital_token(server.ctx, "01001")
    admin = admin_token(server.ctx)
    server.ctx.request_json(
        "PUT",
        "/admin/facilities/01001/departments/NOI",
        json={"name": "Khoa Nội"},
        headers=bearer(admin),
    )
    return hospital, admin


def _slot(http: httpx.Client, hospital: str, ref: str, capacity: int) -> str:
    start = time.time() + 2 * 86400
    iso = time.strftime("%Y-%m-%dT%H:%M:%S+00:00", time.gmtime(start))
    end = time.strftime("%Y-%m-%dT%H:%M:%S+00:00", time.gmtime(start + 1800))
    body = {"id": ref, "department": "NOI", "start": iso, "end": end, "capacity": capacity}
    answer = http.put("/hospital/slots", json={"slots": [body]}, headers=bearer(hospital))
    assert answer.status_code == 200, answer.text
    return answer.json()["slots"][0]["slot_id"]


async def test_200_concurrent_bookings_for_5_places(server: Served) -> None:
    hospital, admin = _prepare(server)
    with httpx.Client(base_url=server.base_url, timeout=30) as sync_http:
        slot_id = _slot(sync_http, hospital, "CONTENDED", CAPACITY)
    limits = httpx.Limits(max_connections=CONTENDERS, max_keepalive_connections=CONTENDERS)
    with TestIdentityProvider() as idp:
        async with httpx.AsyncClient(base_url=server.base_url, timeout=60, limits=limits) as http:
            await register_provider(http, admin, idp)
            tokens = [
                (await login(http, idp, f"0790{n:08d}"))["access_token"] for n in range(CONTENDERS)
            ]

            async def book(token: str) -> httpx.Response:
                return await http.post(
                    "/citizens/me/appointments",
                    json={"slot_id": slot_id},
                    headers={**bearer(token), "Idempotency-Key": str(uuid.uuid4())},
                )

            answers = await asyncio.gather(*(book(token) for token in tokens))
    statuses = Counter(a.status_code for a in answers)
    assert statuses == {201: CAPACITY, 409: CONTENDERS - CAPACITY}, [
        a.text for a in answers if a.status_code not in (201, 409)
    ][:3]
    rejected = [a for a in answers if a.status_code == 409]
    assert {a.json()["type"] for a in rejected} == {
        problem_uri("slot-full", "http://healthbook.test")
    }
    assert all(a.headers["content-type"].startswith("application/problem+json") for a in rejected)
    winners = {a.json()["citizen_id"] for a in answers if a.status_code == 201}
    assert len(winners) == CAPACITY
    assert await _db_counts(server.settings, slot_id) == (CAPACITY, CAPACITY)


def _raw_booking(base_url: str, token: str, slot_id: str, key: str, *, wait: float) -> None:
    """Send a booking over a socket and hang up without reading the answer (a dropped
    connection): after ``wait`` seconds, or at once."""
    body = json.dumps({"slot_id": slot_id}).encode()
    host, port = base_url.removeprefix("http://").split(":")
    request = (
        f"POST /citizens/me/appointments HTTP/1.1\r\nHost: {host}\r\n"
        f"Authorization: Bearer {token}\r\nIdempotency-Key: {key}\r\n"
        f"Content-Type: application/json\r\nContent-Length: {len(body)}\r\n\r\n"
    ).encode() + body
    with socket.create_connection((host, int(port)), timeout=5) as sock:
        sock.sendall(request)
        if wait:
            time.sleep(wait)
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, b"\x01\x00\x00\x00\x00\x00\x00\x00")


async def test_a_retry_after_a_network_drop_books_once(server: Served) -> None:
    hospital, admin = _prepare(server)
    with httpx.Client(base_url=server.base_url, timeout=30) as sync_http:
        slot_id = _slot(sync_http, hospital, "DROPPED", 3)
    with TestIdentityProvider() as idp:
        async with httpx.AsyncClient(base_url=server.base_url, timeout=30) as http:
            await register_provider(http, admin, idp)
            for n, wait in enumerate((0.5, 0.0)):
                token = (await login(http, idp, f"0791{n:08d}"))["access_token"]
                key = str(uuid.uuid4())
                await asyncio.to_thread(
                    _raw_booking, server.base_url, token, slot_id, key, wait=wait
                )
                deadline = time.monotonic() + 10
                while True:  # the app retries as a client would: same key, same body
                    retried = await http.post(
                        "/citizens/me/appointments",
                        json={"slot_id": slot_id},
                        headers={**bearer(token), "Idempotency-Key": key},
                    )
                    if retried.status_code != 409 or time.monotonic() > deadline:
                        break
                    await asyncio.sleep(0.05)
                assert retried.status_code == 201, retried.text
                if wait:  # the first request had finished: its answer is replayed
                    assert retried.headers["idempotent-replayed"] == "true"
                again = await http.post(
                    "/citizens/me/appointments",
                    json={"slot_id": slot_id},
                    headers={**bearer(token), "Idempotency-Key": key},
                )
                assert again.content == retried.content
                mine = await http.get("/citizens/me/appointments", headers=bearer(token))
                assert len(mine.json()["items"]) == 1
    assert await _db_counts(server.settings, slot_id) == (2, 2)
