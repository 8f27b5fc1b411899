"""Real ``healthbook worker`` processes against PostgreSQL, Redis and the fake FCM server.

- Two relays share the outbox: every committed notification reaches each device exactly once,
  rolled-back ones never, and both relays did part of the work.
- A relay killed (SIGKILL) between claiming and recording loses nothing: after the lease another
  relay sends to each device again (at-least-once on that path), and the inbox has it once.
"""

from __future__ import annotations

import asyncio
import datetime as dt
import json
import os
import signal
import subprocess
import time
import uuid
from collections.abc import AsyncIterator, Callable, Iterator
from contextlib import asynccontextmanager, contextmanager
from pathlib import Path

import pytest
from sqlalchemy import func, select

from api.core.db import create_engine, create_sessionmaker
from api.core.redis import create_redis
from api.core.settings import Settings
from api.core.uow import UnitOfWork
from api.identity.citizens import find_or_create
from notifications import devices, outbox
from notifications.messages import YourTurn
from notifications.models import SENT, InboxEntry, OutboxEntry
from notifications.schemas import DeviceRegistration
from tests.support.backends import PostgresTemplate, fresh_redis_url, require_servers
from tests.support.fake_fcm import FakeFcm
from tests.support.server import HEALTHBOOK


@pytest.fixture
def servers(postgres_template: PostgresTemplate, tmp_path: Path) -> Iterator[Settings]:
    require_servers()
    name, url = postgres_template.fresh()
    try:
        yield Settings.from_flat(
            database_url=url,
            redis_url=fresh_redis_url(),
            data_dir=str(tmp_path / "data"),
            identifier_hash_key="test-identifier-hash-key-0123456789abcdef",
        )
    finally:
        PostgresTemplate.drop(name)


class Worker:
    def __init__(self, process: subprocess.Popen[bytes], log: Path) -> None:
        self.process = process
        self.log = log

    def lines(self) -> list[dict[str, object]]:
        entries = []
        for line in self.log.read_text(errors="replace").splitlines():
            if line.startswith("{"):
                entries.append(json.loads(line))
        return entries

    def wait_started(self, timeout: float = 30) -> None:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            assert self.process.poll() is None, self.log.read_text()[-3000:]
            for entry in self.lines():
                if entry.get("msg") == "relay started":
                    assert entry["relay"]["wakeups"] is True  # type: ignore[index]
                    return
            time.sleep(0.05)
        raise TimeoutError(self.log.read_text()[-3000:])

    def kill(self) -> None:
        os.killpg(self.process.pid, signal.SIGKILL)
        self.process.wait(10)

    def stop(self) -> int:
        if self.process.poll() is None:
            os.killpg(self.process.pid, signal.SIGTERM)
            try:
                self.process.wait(20)
            except subprocess.TimeoutExpired:
                self.kill()
        return self.process.returncode


@contextmanager
def workers(
    settings: Settings, fcm: FakeFcm, tmp_path: Path, **env: str
) -> Iterator[tuple[list[Worker], Callable[..., Worker]]]:
    """Start ``healthbook worker`` processes with ``start()``; all are stopped at the end."""
    base = {
        "PATH": os.environ.get("PATH", ""),
        "HOME": os.environ.get("HOME", "/tmp"),
        "DATABASE_URL": settings.database.url or "",
        "REDIS_URL": settings.redis.url or "",
        "DATA_DIR": settings.data_dir,
        "IDENTIFIER_HASH_KEY": settings.security.identifier_hash_key or "",
        "FCM_CREDENTIALS": str(fcm.write_service_account(tmp_path)),
        "FCM_ENDPOINT": fcm.base_url,
        "RELAY_POLL_SECONDS": "1",
        "LOG_LEVEL": "INFO",
    }
    started: list[Worker] = []

    def start(**extra: str) -> Worker:
        log = tmp_path / f"worker-{len(started)}.log"
        process = subprocess.Popen(
            [HEALTHBOOK, "worker"],
            env={**base, **env, **extra},
            stdout=log.open("wb"),
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )
        worker = Worker(process, log)
        started.append(worker)
        return worker

    try:
        yield started, start
    finally:
        for worker in started:
            worker.stop()


@asynccontextmanager
async def producer(settings: Settings) -> AsyncIterator[object]:
    """The API's side: a sessionmaker whose commits wake the relays through Redis."""
    engine = create_engine(settings)
    redis = create_redis(settings)
    wakeup = outbox.Wakeup(redis)
    sessions = create_sessionmaker(engine)
    unbind = outbox.bind_wakeup(sessions, wakeup)
    try:
        yield sessions
    finally:
        unbind()
        await wakeup.aclose()
        await redis.aclose()
        await engine.dispose()


async def _citizens_with_devices(sessionmaker, count: int, per_citizen: int) -> dict:
    now = dt.datetime.now(dt.UTC)
    tokens: dict[uuid.UUID, list[str]] = {}
    async with UnitOfWork(sessionmaker) as uow:
        for _ in range(count):
            citizen, _ = await find_or_create(uow.session, uuid.uuid4().hex * 2, None, now)
            await uow.commit()
            tokens[citizen.id] = []
            for n in range(per_citizen):
                token = f"fcm-{uuid.uuid4().hex}{uuid.uuid4().hex}"
                await devices.register(
                    uow.session,
                    citizen.id,
                    f"installation-{n}",
                    DeviceRegistration(token=token, platform="android"),
                    now,
                )
                tokens[citizen.id].append(token)
    return tokens


def _turn(number: int) -> YourTurn:
    return YourTurn(ticket_id=f"t-{number}", facility_name="BV", queue_number=number)


async def _wait_all_finished(sessionmaker, expected: int, timeout: float) -> None:
    deadline = time.monotonic() + timeout
    while True:
        async with sessionmaker() as session:
            done = await session.scalar(
                select(func.count()).select_from(OutboxEntry).where(OutboxEntry.status == SENT)
            )
        if done == expected:
            return
        assert time.monotonic() < deadline, f"{done} of {expected} sent"
        await asyncio.sleep(0.1)


async def test_two_relay_processes_send_each_committed_notification_once_per_device(
    servers: Settings, tmp_path: Path
) -> None:
    with (
        FakeFcm(latency=0.003) as fcm,
        workers(servers, fcm, tmp_path, RELAY_BATCH_SIZE="10", FCM_MAX_CONCURRENCY="4") as (
            started,
            start,
        ),
    ):
        first, second = start(), start()
        first.wait_started()
        second.wait_started()
        async with producer(servers) as sessionmaker:
            tokens = await _citizens_with_devices(sessionmaker, 40, 2)
            committed: list[uuid.UUID] = []
            rolled_back: list[uuid.UUID] = []
            citizens = list(tokens)
            async with sessionmaker() as slow:  # stays open while the relays work
                slow_id = await outbox.enqueue(slow, citizens[0], _turn(0))
                for round_ in range(10):
                    async with sessionmaker() as session:
                        for i, citizen in enumerate(citizens[round_ * 4 : round_ * 4 + 4]):
                            for k in range(5):
                                number = round_ * 100 + i * 10 + k
                                committed.append(
                                    await outbox.enqueue(session, citizen, _turn(number))
                                )
                        await session.commit()
                    async with sessionmaker() as session:
                        rolled_back.append(await outbox.enqueue(session, citizens[-1], _turn(9)))
                        await session.rollback()
                    await asyncio.sleep(0.05)
                await slow.commit()
            committed.append(slow_id)
            await _wait_all_finished(sessionmaker, len(committed), timeout=60)
            async with sessionmaker() as session:
                inbox = await session.scalar(select(func.count()).select_from(InboxEntry))
                relays = set(await session.scalars(select(OutboxEntry.claimed_by).distinct()))
        accepted = fcm.accepted()
        assert fcm.duplicates() == 0
        expected = set()
        async with producer(servers) as sessionmaker, sessionmaker() as session:
            rows = await session.execute(select(OutboxEntry.id, OutboxEntry.citizen_id))
            for notification_id, citizen in rows:
                for token in tokens[citizen]:
                    expected.add((str(notification_id), token))
        assert set(accepted) == expected
        assert len(expected) == 2 * len(committed) == 402
        assert not {str(n) for n in rolled_back} & {n for n, _ in accepted}
        assert inbox == len(committed)
        assert len(relays) == 2, relays  # both processes took part
        for worker in started:
            assert worker.stop() == 0
            assert any(e.get("msg") == "relay stopped" for e in worker.lines())


async def test_a_relay_killed_between_claim_and_record_loses_nothing(
    servers: Settings, tmp_path: Path
) -> None:
    with (
        FakeFcm() as fcm,
        workers(servers, fcm, tmp_path, RELAY_LEASE_SECONDS="3", FCM_MAX_CONCURRENCY="32") as (
            _started,
            start,
        ),
    ):
        doomed = start()
        doomed.wait_started()
        async with producer(servers) as sessionmaker:
            tokens = await _citizens_with_devices(sessionmaker, 5, 2)
            fcm.hold()  # FCM accepts the pushes but the relay never hears back
            ids = []
            async with sessionmaker() as session:
                for number, citizen in enumerate(tokens):
                    ids.append(await outbox.enqueue(session, citizen, _turn(number)))
                await session.commit()
            fcm.wait_for(lambda f: len(f.received) == 10, timeout=20)
            doomed.kill()  # claimed and sent, nothing recorded
            fcm.release()
            async with sessionmaker() as session:
                leased = list(await session.scalars(select(OutboxEntry)))
            assert all(r.status != SENT and r.lease_until is not None for r in leased)
            successor = start()
            successor.wait_started()
            await _wait_all_finished(sessionmaker, len(ids), timeout=30)
            async with sessionmaker() as session:
                rows = list(await session.scalars(select(OutboxEntry)))
                inbox = await session.scalar(select(func.count()).select_from(InboxEntry))
        assert {r.attempts for r in rows} == {2}
        assert inbox == len(ids)  # written once, by the relay that died
        accepted = fcm.accepted()
        pairs = {(str(row.id), token) for row in rows for token in tokens[row.citizen_id]}
        assert set(accepted) == pairs  # every device got it...
        assert set(accepted.values()) == {2}  # ...at least once: here twice, counted
        assert fcm.duplicates() == len(pairs)


def _worker_alive(env: dict[str, str], *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [HEALTHBOOK, "worker-alive", *args],
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )


def test_the_liveness_check_sees_a_hung_worker_and_a_stopped_one(
    servers: Settings, tmp_path: Path
) -> None:
    """``healthbook worker-alive`` passes while the relay goes round its loop, fails while the
    process is frozen (SIGSTOP: as hung as a process gets), passes again once it runs, and
    fails once the worker has stopped (it removes its heartbeat)."""
    beat_file = tmp_path / "run" / "worker.heartbeat"
    env = {
        "PATH": os.environ.get("PATH", ""),
        "HOME": os.environ.get("HOME", "/tmp"),
        "WORKER_HEARTBEAT_FILE": str(beat_file),
        "RELAY_POLL_SECONDS": "0.5",
    }
    assert "no worker heartbeat" in _worker_alive(env).stderr
    with FakeFcm() as fcm, workers(servers, fcm, tmp_path, **env) as (_, start):
        worker = start()
        worker.wait_started()
        deadline = time.monotonic() + 15
        while _worker_alive(env, "--max-age", "3").returncode != 0:
            assert time.monotonic() < deadline, "no fresh heartbeat"
            time.sleep(0.2)
        assert "worker alive" in _worker_alive(env, "--max-age", "3").stdout
        os.killpg(worker.process.pid, signal.SIGSTOP)
        try:
            time.sleep(4)
            frozen = _worker_alive(env, "--max-age", "3")
            assert frozen.returncode == 1
            assert "hung" in frozen.stderr
        finally:
            os.killpg(worker.process.pid, signal.SIGCONT)
        deadline = time.monotonic() + 15
        while _worker_alive(env, "--max-age", "3").returncode != 0:
            assert time.monotonic() < deadline, "the heartbeat did not come back"
            time.sleep(0.2)
        assert worker.stop() == 0
    assert not beat_file.exists()
    assert _worker_alive(env).returncode == 1
