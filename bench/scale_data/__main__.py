"""``python -m bench.scale_data``: the read and write paths at 10 k and at 1 M citizens, one run.

See ``bench/README.md`` ("Data at national scale"). For each size: recreate a database, start the
service on it, make the template rows through the API, clone them with COPY (``seed.py``), ANALYZE,
restart the service (no warm cache survives), measure every path (``measure.py``), then capture
each path's SQL in-process and EXPLAIN it (``plans.py``). The report compares each path's p99 and
CPU per request between the two sizes (goal: p99 grows at most 1.5×) and lists every plan that
scans a large table sequentially (the run fails on one).
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import datetime as dt
import json
import os
import sys
import tempfile
import time
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import asyncpg

from bench.procs import ServerProcess
from bench.run import (
    DEFAULT_PG_ADMIN,
    HOST,
    PROJECT_ROOT,
    free_port,
    recreate_database,
    reset_redis,
    service_database_url,
    venv_command,
)
from bench.scale_data import plans
from bench.scale_data.measure import PATHS, measure_all, prepare
from bench.scale_data.seed import (
    TEMPLATE_NATIONAL_ID,
    Seeded,
    Sizes,
    load_template,
    seed_access_log,
    seed_appointments,
    seed_citizens,
    seed_documents,
    seed_notifications,
)
from bench.scale_data.templates import TEMPLATE_SLOT, make_templates
from bench.scenarios import SetupContext

IDENTIFIER_HASH_KEY = "scale-data-bench-identifier-hash-key-0123456789"
P99_GROWTH_GOAL = 1.5
DEFAULT_JSON = PROJECT_ROOT / "bench" / "results" / "scale_data.json"


def _asyncpg_dsn(database_url: str) -> str:
    return database_url.replace("postgresql+asyncpg://", "postgresql://", 1)


def service_env(database_url: str, redis_url: str, data_dir: Path, base_url: str) -> dict[str, str]:
    return {
        **os.environ,
        "DATABASE_URL": database_url,
        "REDIS_URL": redis_url,
        "AUTO_MIGRATE": "true",
        "ACCESS_LOG": "false",
        "LOG_LEVEL": "WARNING",
        "DATA_DIR": str(data_dir),
        "PRODUCTION": "false",
        "RATE_LIMIT_ENABLED": "false",
        "PUBLIC_BASE_URL": base_url,
        "IDENTIFIER_HASH_KEY": IDENTIFIER_HASH_KEY,
        "NATIONAL_ID_SYSTEMS": "https://fhir.moh.gov.vn/sid/cccd",
    }


async def seed(database_url: str, sizes: Sizes, facilities: list[str]) -> Seeded:
    """Clone the templates the service made into ``sizes`` rows; ANALYZE."""
    from api.identity.national_id import keyed_hash

    seeded = Seeded(sizes)
    now = dt.datetime.now(dt.UTC)
    conn = await asyncpg.connect(_asyncpg_dsn(database_url))
    try:
        template_hash = keyed_hash(IDENTIFIER_HASH_KEY, TEMPLATE_NATIONAL_ID)
        citizen = await load_template(conn, "citizen", "national_id_hash = $1", template_hash)
        owner = citizen.rows[0]["id"]
        documents = await load_template(conn, "health_document", "citizen_id = $1", owner)
        entries = await load_template(conn, "health_entry", "citizen_id = $1", owner)
        slot = await load_template(conn, "appointment_slot", "external_id = $1", TEMPLATE_SLOT)
        appointment = await load_template(conn, "appointment", "slot_id = $1", slot.rows[0]["id"])
        outbox = await load_template(conn, "notification_outbox", "citizen_id = $1", owner)
        departments = {
            r["facility_id"]: r["id"]
            for r in await conn.fetch(
                "SELECT facility_id, id FROM department WHERE code = 'NOI' "
                "AND facility_id = ANY($1::text[])",
                facilities,
            )
        }

        async def citizens() -> int:
            return await seed_citizens(conn, citizen, sizes, IDENTIFIER_HASH_KEY, now)

        async def docs() -> tuple[int, int, list[int]]:
            return await seed_documents(conn, documents, entries, sizes, facilities, now)

        async def access() -> int:
            return await seed_access_log(conn, sizes, now)

        async def appointments() -> tuple[int, int]:
            return await seed_appointments(conn, slot, appointment, sizes, departments, now)

        async def notices() -> tuple[int, int]:
            return await seed_notifications(conn, outbox, sizes, now)

        async def analyze() -> None:
            await conn.execute("ANALYZE")

        from bench.scale_data.seed import timed

        seeded.counts["citizen"] = await timed("citizens", seeded, citizens)
        n_docs, n_entries, per_citizen = await timed("documents", seeded, docs)
        seeded.counts["health_document"], seeded.counts["health_entry"] = n_docs, n_entries
        seeded.documents_of = per_citizen
        seeded.counts["access_log"] = await timed("access_log", seeded, access)
        slots, appts = await timed("appointments", seeded, appointments)
        seeded.counts["appointment_slot"], seeded.counts["appointment"] = slots, appts
        outbox_rows, inbox_rows = await timed("notifications", seeded, notices)
        seeded.counts["notification_outbox"], seeded.counts["notification"] = (
            outbox_rows,
            inbox_rows,
        )
        await timed("analyze", seeded, analyze)
    finally:
        await conn.close()
    return seeded


def run_size(
    citizens: int, *, requests: int, admin_dsn: str, redis_url: str, log_dir: Path
) -> dict[str, Any]:
    sizes = Sizes(citizens)
    database = f"healthbook_scale_{citizens}"
    recreate_database(admin_dsn, database)
    database_url = service_database_url(admin_dsn, database)
    with tempfile.TemporaryDirectory(prefix="healthbook-scale-") as tmp:
        data_dir = Path(tmp)
        port = free_port()
        base_url = f"http://{HOST}:{port}"
        env = service_env(database_url, redis_url, data_dir, base_url)

        def server() -> ServerProcess:
            reset_redis(redis_url)
            process = ServerProcess(
                "healthbook",
                [
                    *venv_command("healthbook"),
                    "serve",
                    "--host",
                    HOST,
                    "--port",
                    str(port),
                    "--workers",
                    "1",
                ],
                env=env,
                cwd=PROJECT_ROOT,
                log_path=log_dir / f"scale-{citizens}.log",
                base_url=base_url,
                ready_path="/health/ready",
            )
            process.start()
            try:
                process.wait_ready(120)
            except BaseException:
                process.stop()
                raise
            return process

        ctx = SetupContext(
            base_url=base_url,
            database_url=database_url,
            redis_url=redis_url,
            data_dir=data_dir,
            env=env,
        )
        service = server()
        try:
            print(f"scale: {citizens:,} citizens: templates", flush=True)
            made = make_templates(ctx, sizes.facilities)
            started = time.monotonic()
            seeded = asyncio.run(seed(database_url, sizes, made.facilities))
            seed_seconds = round(time.monotonic() - started, 1)
            print(f"scale: seeded in {seed_seconds} s: {seeded.counts}", flush=True)
            prepared = prepare(ctx, made, n=requests, citizens=citizens)
        finally:
            service.stop()
        service = server()  # a fresh process: no overview survives in its memory or in Redis
        try:
            results = measure_all(service, prepared, lambda: None)
        finally:
            service.stop()
        found = asyncio.run(plans.capture({**env, "SCALE_CITIZENS": str(citizens)}, prepared))
    return {
        "citizens": citizens,
        "counts": seeded.counts,
        "seed_seconds": seeded.seconds,
        "paths": {name: r.as_dict() for name, r in results.items()},
        "plans": [p.as_dict() for p in found],
    }


def compare(small: dict[str, Any], large: dict[str, Any]) -> dict[str, Any]:
    growth: dict[str, Any] = {}
    for name in PATHS:
        a, b = small["paths"][name], large["paths"][name]
        growth[name] = {
            "p99_growth": round(b["p99_ms"] / a["p99_ms"], 2) if a["p99_ms"] else None,
            "p50_growth": round(b["p50_ms"] / a["p50_ms"], 2) if a["p50_ms"] else None,
            "cpu_growth": round(b["cpu_us_per_request"] / a["cpu_us_per_request"], 2)
            if a["cpu_us_per_request"]
            else None,
        }
        growth[name]["meets_goal"] = (
            growth[name]["p99_growth"] is not None and growth[name]["p99_growth"] <= P99_GROWTH_GOAL
        )
    return growth


def _ratio(value: float | None) -> str:
    """A growth factor, or a dash where the small run measured zero (CPU below the clock's tick)."""
    return f"{value:>7.2f}" if value is not None else f"{'—':>7}"


def format_report(small: dict[str, Any], large: dict[str, Any], growth: dict[str, Any]) -> str:
    head = (
        f"{'path':<24}{'p50 small':>10}{'p50 large':>10}{'p99 small':>10}{'p99 large':>10}"
        f"{'p99 ×':>7}{'cpu µs small':>13}{'cpu µs large':>13}{'cpu ×':>7}"
    )
    lines = [
        f"scale_data: {small['citizens']:,} vs {large['citizens']:,} citizens "
        f"(goal: p99 grows at most {P99_GROWTH_GOAL}×)",
        head,
        "-" * len(head),
    ]
    for name in PATHS:
        a, b, g = small["paths"][name], large["paths"][name], growth[name]
        lines.append(
            f"{name:<24}{a['p50_ms']:>10.2f}{b['p50_ms']:>10.2f}{a['p99_ms']:>10.2f}"
            f"{b['p99_ms']:>10.2f}{_ratio(g['p99_growth'])}{a['cpu_us_per_request']:>13.1f}"
            f"{b['cpu_us_per_request']:>13.1f}{_ratio(g['cpu_growth'])}"
            + ("" if g["meets_goal"] else "  (goal not met)")
        )
    return "\n".join(lines)


def parse_args(argv: Sequence[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(prog="python -m bench.scale_data", description=__doc__)
    parser.add_argument("--citizens", type=int, default=1_000_000, help="the large database")
    parser.add_argument("--reference", type=int, default=10_000, help="the small database")
    parser.add_argument("--requests", type=int, default=200, help="requests per path")
    parser.add_argument("--pg-admin-dsn", default=DEFAULT_PG_ADMIN)
    parser.add_argument("--redis-url", default="redis://127.0.0.1:6379/12", help="flushed")
    parser.add_argument("--json", type=Path, default=DEFAULT_JSON)
    args = parser.parse_args(argv)
    if args.reference < 100 or args.citizens < args.reference:
        parser.error("need 100 <= --reference <= --citizens")
    if args.requests < 5:
        parser.error("--requests must be at least 5")
    return args


def main(argv: Sequence[str] | None = None) -> int:
    args = parse_args(argv)
    args.json.parent.mkdir(parents=True, exist_ok=True)
    log_dir = args.json.parent / "logs"
    log_dir.mkdir(parents=True, exist_ok=True)
    sizes = [args.reference] if args.citizens == args.reference else [args.reference, args.citizens]
    runs = [
        run_size(
            n,
            requests=args.requests,
            admin_dsn=args.pg_admin_dsn,
            redis_url=args.redis_url,
            log_dir=log_dir,
        )
        for n in sizes
    ]
    small, large = runs[0], runs[-1]
    growth = compare(small, large)
    seq_scans = [
        {"citizens": run["citizens"], **plan}
        for run in runs
        for plan in run["plans"]
        if plan["seq_scans"]
    ]
    report = {"runs": runs, "growth": growth, "seq_scans": seq_scans}
    args.json.write_text(json.dumps(report, indent=1, default=str))
    print(format_report(small, large, growth))
    print(plans.format_plans(runs))
    print(f"JSON: {args.json}")
    if seq_scans:
        print(f"scale_data: {len(seq_scans)} statement(s) scan a large table sequentially")
        return 1
    return 0


if __name__ == "__main__":
    with contextlib.suppress(KeyboardInterrupt):
        sys.exit(main())
    sys.exit(130)
