"""How long rebuilding a citizen's overview takes when their book holds a 1 MB Synthea history.

``uv run python -m bench.overview_rebuild [--rounds 50] [--database healthbook_bench_rebuild]``

Publishes the Synthea sample into a fresh PostgreSQL database (127.0.0.1:5432) through the real
ingestion path, then times ``build_overview`` plus its encoding (what a publish or a cache miss
pays) ``--rounds`` times and prints p50/p90/max. Target: p50 under 50 ms. Loopback only.
"""

from __future__ import annotations

import argparse
import asyncio
import datetime as dt
import json
import statistics
import sys
import time
from pathlib import Path

import asyncpg
import msgspec

from api.core.db import create_engine, create_sessionmaker
from api.core.settings import Settings
from api.db.migrate import upgrade
from api.facilities.models import Facility
from api.health_book.book import build_overview
from api.health_book.ingest import IngestConfig, publish

SAMPLE = "synthea-Leonor_Trujillo_5542148c-67d6-4d91-be71-29973234a33b.json"


def _sample() -> bytes:
    return (Path(__file__).resolve().parents[1] / "tests" / "data" / "fhir" / SAMPLE).read_bytes()


async def run(rounds: int, database: str) -> dict[str, float]:
    admin = await asyncpg.connect(host="127.0.0.1", user="postgres", database="test")
    await admin.execute(f'DROP DATABASE IF EXISTS "{database}" WITH (FORCE)')
    await admin.execute(f'CREATE DATABASE "{database}"')
    await admin.close()
    url = f"postgresql+asyncpg://postgres@127.0.0.1:5432/{database}"
    await upgrade(url)
    settings = Settings.from_flat(database_url=url, redis_url="redis://127.0.0.1:6379/15")
    engine = create_engine(settings)
    sessions = create_sessionmaker(engine)
    now = dt.datetime.now(dt.UTC)
    config = IngestConfig(
        identifier_key="bench-key-" + "x" * 32,
        national_id_systems=("http://hospital.smarthealthit.org",),
        insurance_card_systems=(),
        max_bytes=10_000_000,
        max_depth=64,
    )
    try:
        async with sessions() as session:
            session.add(
                Facility(
                    id="01001",
                    name="Bench",
                    name_normalised="bench",
                    province="Hà Nội",
                    time_zone="Asia/Ho_Chi_Minh",
                    active=True,
                    created_at=now,
                    updated_at=now,
                )
            )
            await session.commit()
        async with sessions() as session:
            result, citizen_id = await publish(
                session,
                _sample(),
                config=config,
                facility_id="01001",
                facility_name="Bench",
                publisher="bench",
                source="push",
                now=now,
            )
        entries = sum(result.entry_counts.values())
        encoder = msgspec.json.Encoder()
        timings: list[float] = []
        size = 0
        for _ in range(rounds + 3):
            started = time.perf_counter()
            async with sessions() as session:
                overview = await build_overview(session, citizen_id, now)
            size = len(encoder.encode(overview))
            timings.append((time.perf_counter() - started) * 1000)
        timings = timings[3:]  # warm-up: connection, statement cache
        quantiles = statistics.quantiles(timings, n=10)
        return {
            "entries": entries,
            "overview_bytes": size,
            "p50_ms": round(statistics.median(timings), 2),
            "p90_ms": round(quantiles[8], 2),
            "max_ms": round(max(timings), 2),
            "rounds": rounds,
        }
    finally:
        await engine.dispose()
        admin = await asyncpg.connect(host="127.0.0.1", user="postgres", database="test")
        await admin.execute(f'DROP DATABASE IF EXISTS "{database}" WITH (FORCE)')
        await admin.close()


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rounds", type=int, default=50)
    parser.add_argument("--database", default="healthbook_bench_rebuild")
    parser.add_argument("--json", type=Path, default=None)
    args = parser.parse_args(argv)
    figures = asyncio.run(run(args.rounds, args.database))
    verdict = "met" if figures["p50_ms"] < 50 else "NOT met"
    print(
        f"overview rebuild, {figures['entries']} entries ({figures['overview_bytes']} bytes): "
        f"p50 {figures['p50_ms']} ms, p90 {figures['p90_ms']} ms, max {figures['max_ms']} ms "
        f"(target p50 < 50 ms: {verdict}; PostgreSQL on this machine)"
    )
    if args.json:
        args.json.write_text(json.dumps(figures, indent=2))
    return 0


if __name__ == "__main__":
    sys.exit(main())
