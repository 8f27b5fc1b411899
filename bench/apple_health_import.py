"""Apple Health import end to end: a synthetic export uploaded, read and stored in the book.

    uv run python -m bench.apple_health_import [--mb 20] [--zip] [--database-url URL]

A synthetic ``export.xml`` of ``--mb`` megabytes (``tests/support/apple_health_export``, the
same mix as ``bench/apple_health_parse.py``; ``--zip`` puts it in an export.zip) is written into a
temporary directory, then, in a fresh process (so that its peak RSS is its own), the runtime's
``MeasurementImports`` does what ``POST /citizens/me/measurements/imports`` does: the body is
streamed to DATA_DIR by 64 KiB pieces, the job row recorded, the background task reads the file
and imports it by chunks of 500 samples through ``MeasurementService.import_samples`` (each a
transaction: home_measurement rows, the book's entries, the access log) until the job is done.

Reported: samples imported per second of wall time (and records of export.xml per second), the
job's counts, and the peak RSS growth of the process during the import (``VmHWM`` at the end
minus ``VmRSS`` before the first byte). The database is SQLite in the temporary DATA_DIR unless
``--database-url`` names an empty PostgreSQL database (migrated here). Results go to
``bench/results/apple_health_import.json``.
"""

from __future__ import annotations

import argparse
import asyncio
import datetime as dt
import json
import subprocess
import sys
import tempfile
import time
import uuid
import zipfile
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

PROJECT_ROOT = Path(__file__).resolve().parents[1]
DEFAULT_JSON = PROJECT_ROOT / "bench" / "results" / "apple_health_import.json"


def _status_kib(field: str) -> int:
    with open("/proc/self/status") as status:
        for line in status:
            if line.startswith(field + ":"):
                return int(line.split()[1])
    raise RuntimeError(f"{field} not in /proc/self/status")


async def _pieces(path: Path) -> AsyncIterator[bytes]:
    with path.open("rb") as file:
        while piece := file.read(64 * 1024):
            yield piece


async def _child(path: Path, data_dir: Path, database_url: str | None) -> dict[str, Any]:
    from sqlalchemy import select

    from api.core.settings import Settings
    from api.db.migrate import upgrade
    from api.identity.models import Citizen
    from api.measurements.models import MeasurementImport
    from api.runtime import Runtime

    flat: dict[str, Any] = {"data_dir": str(data_dir)}
    if database_url:
        flat["database_url"] = database_url
    settings = Settings.from_flat(**flat)
    await upgrade(settings.effective_database_url)
    runtime = Runtime(settings)
    try:
        now = dt.datetime.now(dt.UTC)
        citizen_id = uuid.uuid4()
        async with runtime.uow() as uow:
            uow.session.add(
                Citizen(
                    id=citizen_id,
                    national_id_hash=uuid.uuid4().hex * 2,
                    created_at=now,
                    updated_at=now,
                )
            )
        imports = runtime.measurement_imports
        media = "application/zip" if path.suffix == ".zip" else "application/xml"
        rss_before = _status_kib("VmRSS")
        started = time.perf_counter()
        job_id = uuid.uuid4()
        stored, size = await imports.receive(_pieces(path), declared=None, job_id=job_id)
        await imports.start(
            citizen_id,
            job_id=job_id,
            path=stored,
            media_type=media,
            size=size,
            actor=str(citizen_id),
            guardian=None,
        )
        while True:
            await asyncio.sleep(0.2)
            async with runtime.uow() as uow:
                row = await uow.session.scalar(
                    select(MeasurementImport).where(MeasurementImport.id == job_id)
                )
                assert row is not None
                if not row.active:
                    break
        seconds = time.perf_counter() - started
        peak = _status_kib("VmHWM")
        return {
            "status": row.status,
            "problem": row.problem,
            "samples": row.samples,
            "imported": row.imported,
            "duplicates": row.duplicates,
            "refused": row.refused,
            "seconds": round(seconds, 2),
            "samples_per_s": round(row.imported / seconds, 1),
            "rss_growth_mib": round((peak - rss_before) / 1024, 1),
        }
    finally:
        await runtime.stop()


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=(__doc__ or "").splitlines()[0])
    parser.add_argument("--mb", type=float, default=20.0)
    parser.add_argument("--zip", action="store_true")
    parser.add_argument("--database-url")
    parser.add_argument("--json", type=Path, default=DEFAULT_JSON)
    parser.add_argument("--child", nargs=2, metavar=("FILE", "DATA_DIR"), help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    if args.child:
        result = asyncio.run(_child(Path(args.child[0]), Path(args.child[1]), args.database_url))
        print(json.dumps(result))
        return 0
    sys.path.insert(0, str(PROJECT_ROOT))
    from tests.support.apple_health_export import write_synthetic

    with tempfile.TemporaryDirectory() as temporary:
        folder = Path(temporary)
        xml = folder / "export.xml"
        written = write_synthetic(xml, int(args.mb * 1024 * 1024))
        upload = xml
        if args.zip:
            upload = folder / "export.zip"
            with zipfile.ZipFile(upload, "w", zipfile.ZIP_DEFLATED) as archive:
                archive.write(xml, "apple_health_export/export.xml")
            xml.unlink()
        command = [sys.executable, "-m", "bench.apple_health_import", "--child", str(upload)]
        command.append(str(folder / "data"))
        if args.database_url:
            command += ["--database-url", args.database_url]
        output = subprocess.run(
            command, cwd=PROJECT_ROOT, check=True, capture_output=True, text=True
        ).stdout
        result = json.loads(output.strip().splitlines()[-1])
        result |= {
            "export_bytes": written.bytes,
            "upload_bytes": upload.stat().st_size,
            "records": written.records,
            "expected_samples": written.samples,
            "records_per_s": round(written.records / result["seconds"], 1),
            "zip": args.zip,
            "database": "postgresql" if args.database_url else "sqlite",
        }
    print(json.dumps(result, indent=2))
    args.json.parent.mkdir(parents=True, exist_ok=True)
    args.json.write_text(json.dumps(result, indent=2) + "\n")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
