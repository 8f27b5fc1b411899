"""Relay throughput: outbox rows -> ``healthbook worker`` -> firebase-admin -> a fake FCM server.

Everything runs on 127.0.0.1: PostgreSQL (a database of its own, dropped and recreated), Redis
(one logical database, flushed), the fake FCM HTTP v1 server of the tests
(``tests/support/fake_fcm.py``, in a process of its own) and N ``healthbook worker`` processes.

1. Recreate the database and migrate it; flush Redis.
2. Insert citizens, each with ``--devices`` registered devices.
3. Start the fake FCM server and the workers; wait until each relay listens for wake-ups.
4. Enqueue ``--notifications`` notifications in one transaction and commit (the commit wakes the
   relays through Redis); the clock starts at the commit.
5. Wait until every outbox row is sent; the clock stops. Device messages per second = messages the
   fake FCM server accepted / elapsed.
6. Check the invariants: accepted = enqueued × devices, no duplicate (notification, token), no
   error, every row sent, one inbox entry per notification. Exit 1 if one fails.

    uv run python -m bench.relay                    # 4000 notifications x 3 devices, 2 workers
    uv run python -m bench.relay --notifications 500 --workers 1 --json /tmp/relay.json

The figure is reported, never enforced (see bench/README.md); the target is 1,000
device messages per second on this machine.
"""

from __future__ import annotations

import argparse
import asyncio
import datetime as dt
import json
import os
import subprocess
import sys
import tempfile
import time
import uuid
from collections.abc import Sequence
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

from bench.procs import ServerProcess, usable_cpus
from bench.run import BenchError, recreate_database, reset_redis, venv_command
from bench.scenarios import http_request

TARGET_PER_SECOND = 1000
DEFAULT_JSON = Path(__file__).parent / "results" / "relay.json"
LOOPBACK = {"127.0.0.1", "localhost", "::1"}


def parse_args(argv: Sequence[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(
        prog="python -m bench.relay", description=__doc__.splitlines()[0]
    )
    parser.add_argument("--notifications", type=int, default=4000)
    parser.add_argument("--devices", type=int, default=3, help="devices per citizen")
    parser.add_argument("--citizens", type=int, default=1000)
    parser.add_argument("--workers", type=int, default=2, help="healthbook worker processes")
    parser.add_argument("--batch-size", type=int, default=200, help="RELAY_BATCH_SIZE")
    parser.add_argument(
        "--concurrency",
        type=int,
        default=4,
        help="FCM_MAX_CONCURRENCY: the fake speaks HTTP/1.1, one connection per request in flight",
    )
    parser.add_argument("--latency", type=float, default=0.0, help="fake FCM latency (seconds)")
    parser.add_argument("--database", default="healthbook_bench_relay")
    parser.add_argument("--pg-admin-dsn", default="postgresql://postgres@127.0.0.1:5432/postgres")
    parser.add_argument("--redis-url", default="redis://127.0.0.1:6379/13")
    parser.add_argument("--timeout", type=float, default=300.0, help="seconds to drain")
    parser.add_argument("--json", type=Path, default=DEFAULT_JSON)
    args = parser.parse_args(argv)
    for url in (args.pg_admin_dsn, args.redis_url):
        if urlsplit(url).hostname not in LOOPBACK:
            parser.error(f"loopback only: {url}")
    if min(args.notifications, args.devices, args.citizens, args.workers) < 1:
        parser.error("counts must be at least 1")
    return args


def log(message: str) -> None:
    print(f"[bench.relay] {message}", file=sys.stderr, flush=True)


async def _populate(database_url: str, citizens: int, devices: int) -> list[uuid.UUID]:
    from sqlalchemy import insert
    from sqlalchemy.ext.asyncio import create_async_engine

    from api.identity.models import Citizen
    from notifications.models import Device

    now = dt.datetime.now(dt.UTC)
    ids = [uuid.uuid4() for _ in range(citizens)]
    engine = create_async_engine(database_url)
    try:
        async with engine.begin() as connection:
            await connection.execute(
                insert(Citizen),
                [
                    {
                        "id": citizen,
                        "national_id_hash": citizen.hex * 2,
                        "locale": "vi",
                        "created_at": now,
                        "updated_at": now,
                    }
                    for citizen in ids
                ],
            )
            await connection.execute(
                insert(Device),
                [
                    {
                        "id": uuid.uuid4(),
                        "citizen_id": citizen,
                        "installation_id": f"bench-{n}",
                        "token": f"bench-{citizen.hex}-{n}-{uuid.uuid4().hex}",
                        "platform": "android" if n % 2 == 0 else "ios",
                        "locale": "vi" if n % 3 else "en",
                        "created_at": now,
                        "updated_at": now,
                        "last_seen_at": now,
                    }
                    for citizen in ids
                    for n in range(devices)
                ],
            )
    finally:
        await engine.dispose()
    return ids


async def _enqueue_and_drain(
    settings: Any, citizens: list[uuid.UUID], count: int, drain_limit_s: float
) -> dict[str, Any]:
    from sqlalchemy import func, select

    from api.core.db import create_engine, create_sessionmaker
    from api.core.redis import create_redis
    from notifications import outbox
    from notifications.messages import CheckedIn
    from notifications.models import SENT, InboxEntry, OutboxEntry

    engine = create_engine(settings)
    redis = create_redis(settings)
    wakeup = outbox.Wakeup(redis)
    sessionmaker = create_sessionmaker(engine)
    unbind = outbox.bind_wakeup(sessionmaker, wakeup)
    try:
        async with sessionmaker() as session:
            for number in range(count):
                message = CheckedIn(
                    ticket_id=f"bench-{number}", facility_name="BV Bench", queue_number=number
                )
                await outbox.enqueue(session, citizens[number % len(citizens)], message)
            enqueued_at = time.perf_counter()
            await session.commit()
        started = time.perf_counter()
        deadline = started + drain_limit_s
        done = 0
        while done < count:
            if time.perf_counter() > deadline:
                raise BenchError(f"only {done} of {count} rows sent after {drain_limit_s:.0f}s")
            await asyncio.sleep(0.02)
            async with sessionmaker() as session:
                done = int(
                    await session.scalar(
                        select(func.count())
                        .select_from(OutboxEntry)
                        .where(OutboxEntry.status == SENT)
                    )
                    or 0
                )
        elapsed = time.perf_counter() - started
        async with sessionmaker() as session:
            statuses = dict(
                (
                    await session.execute(
                        select(OutboxEntry.status, func.count()).group_by(OutboxEntry.status)
                    )
                ).all()
            )
            inbox = int(await session.scalar(select(func.count()).select_from(InboxEntry)) or 0)
        return {
            "elapsed_s": elapsed,
            "commit_s": started - enqueued_at,
            "outbox": {k: int(v) for k, v in statuses.items()},
            "inbox": inbox,
        }
    finally:
        unbind()
        await wakeup.aclose()
        await redis.aclose()
        await engine.dispose()


def _wait_started(worker: ServerProcess, timeout: float = 60) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        assert worker.proc is not None
        if worker.proc.poll() is not None:
            raise BenchError(f"{worker.name} exited; its log:\n{worker.log_tail()}")
        if '"relay started"' in worker.log_path.read_text(errors="replace"):
            return
        time.sleep(0.05)
    raise BenchError(f"{worker.name} did not start; its log:\n{worker.log_tail()}")


def run(args: argparse.Namespace) -> dict[str, Any]:
    from api.core.settings import Settings
    from api.db.migrate import upgrade_sync
    from bench.run import service_database_url

    work = Path(tempfile.mkdtemp(prefix="bench-relay-"))
    logs = args.json.parent / "logs"
    logs.mkdir(parents=True, exist_ok=True)
    postgres = recreate_database(args.pg_admin_dsn, args.database)
    redis_version = reset_redis(args.redis_url)
    database_url = service_database_url(args.pg_admin_dsn, args.database)
    upgrade_sync(database_url)
    citizens = asyncio.run(
        _populate(database_url, min(args.citizens, args.notifications), args.devices)
    )
    log(f"{len(citizens)} citizens with {args.devices} devices each")

    account = work / "fcm-service-account.json"
    fake = subprocess.Popen(
        [sys.executable, "-m", "tests.support.fake_fcm", "--service-account", str(account)]
        + (["--latency", str(args.latency)] if args.latency else []),
        stdout=subprocess.PIPE,
        stderr=(logs / "fake_fcm.log").open("wb"),
        text=True,
        start_new_session=True,
    )
    workers: list[ServerProcess] = []
    try:
        ready = fake.stdout.readline() if fake.stdout else ""
        if not ready.startswith("READY "):
            raise BenchError(f"the fake FCM server did not start: {ready!r}")
        fcm_url = ready.split()[1]
        env = {
            "PATH": os.environ.get("PATH", ""),
            "HOME": os.environ.get("HOME", "/tmp"),
            "DATABASE_URL": database_url,
            "REDIS_URL": args.redis_url,
            "DATA_DIR": str(work / "data"),
            "IDENTIFIER_HASH_KEY": "bench-identifier-hash-key-0123456789abcdef",
            "FCM_CREDENTIALS": str(account),
            "FCM_ENDPOINT": fcm_url,
            "FCM_MAX_CONCURRENCY": str(args.concurrency),
            "RELAY_BATCH_SIZE": str(args.batch_size),
            "LOG_LEVEL": "WARNING",
        }
        for index in range(args.workers):
            worker = ServerProcess(
                f"worker-{index}",
                [*venv_command("healthbook"), "worker"],
                env={**env, "LOG_LEVEL": "INFO"},
                cwd=work,
                log_path=logs / f"relay-worker-{index}.log",
                base_url="",
                ready_path="",
            )
            worker.start()
            workers.append(worker)
        for worker in workers:
            _wait_started(worker)
        cpu_before = [w.cpu_seconds() for w in workers]
        settings = Settings.from_flat(database_url=database_url, redis_url=args.redis_url)
        drained = asyncio.run(
            _enqueue_and_drain(settings, citizens, args.notifications, args.timeout)
        )
        worker_cpu = sum(w.cpu_seconds() for w in workers) - sum(cpu_before)
        status, body = http_request("GET", f"{fcm_url}/_fake/stats", timeout=10)
        if status != 200:
            raise BenchError(f"fake FCM stats answered {status}")
        fcm = json.loads(body)
    finally:
        for worker in workers:
            worker.stop()
        fake.kill()
        fake.wait(10)
    expected = args.notifications * args.devices
    rate = fcm["accepted"] / drained["elapsed_s"]
    checks = {
        "sent_equals_enqueued": fcm["accepted"] == expected and fcm["distinct"] == expected,
        "no_duplicates": fcm["duplicates"] == 0,
        "no_errors": fcm["errors"] == 0,
        "every_row_sent": drained["outbox"] == {"sent": args.notifications},
        "inbox_once_each": drained["inbox"] == args.notifications,
    }
    return {
        "scenario": "relay_throughput",
        "config": {k: str(v) if isinstance(v, Path) else v for k, v in vars(args).items()},
        "machine": {
            "nproc": os.cpu_count(),
            "cpus": usable_cpus(),
            "postgresql": postgres,
            "redis": redis_version,
            "note": "PostgreSQL, Redis, the fake FCM server and the workers share this machine",
        },
        "enqueued_notifications": args.notifications,
        "expected_device_messages": expected,
        "fake_fcm": fcm,
        "elapsed_s": round(drained["elapsed_s"], 3),
        "device_messages_per_s": round(rate, 1),
        "worker_cpu_us_per_message": round(worker_cpu / max(1, fcm["accepted"]) * 1e6, 1),
        "target_per_s": TARGET_PER_SECOND,
        "meets_target": rate >= TARGET_PER_SECOND,
        "checks": checks,
        "ok": all(checks.values()),
    }


def main(argv: Sequence[str] | None = None) -> int:
    args = parse_args(argv)
    try:
        report = run(args)
    except BenchError as exc:
        log(f"failed: {exc}")
        return 1
    args.json.parent.mkdir(parents=True, exist_ok=True)
    args.json.write_text(json.dumps(report, indent=2))
    print(
        f"relay: {report['fake_fcm']['accepted']} device messages "
        f"({report['enqueued_notifications']} notifications x {args.devices} devices) in "
        f"{report['elapsed_s']} s = {report['device_messages_per_s']} messages/s with "
        f"{args.workers} worker(s) (target {TARGET_PER_SECOND}/s: "
        f"{'met' if report['meets_target'] else 'NOT met'}); "
        f"{report['worker_cpu_us_per_message']} µs worker CPU per message; "
        f"checks: {'all hold' if report['ok'] else report['checks']}"
    )
    return 0 if report["ok"] else 1


if __name__ == "__main__":
    sys.exit(main())
