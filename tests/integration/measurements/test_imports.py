"""Apple Health export uploads: the file streamed to disk, imported in the background by chunks,
polled to its end; duplicates on re-upload, a malformed file failing with nothing kept, the
limits (size, media type, one at a time, per day) and who may upload."""

from __future__ import annotations

import asyncio
import datetime as dt
import uuid
from typing import Any

import httpx
from sqlalchemy import func, select

from api.measurements.models import HomeMeasurement, MeasurementImport
from api.measurements.service import MeasurementLimits
from api.measurements.uploads import ImportLimits
from tests.integration.measurements.conftest import MEASUREMENTS
from tests.support.apple_health_export import correlation, document, record, zipped

IMPORTS = f"{MEASUREMENTS}/imports"
XML = {"Content-Type": "application/xml"}
ZIP = {"Content-Type": "application/zip"}


def _export() -> bytes:
    """Four readings to keep, one impossible, one of a type not imported."""
    return document(
        record("HeartRate", 72, "count/min", "2024-01-02 08:00:00 +0700", device=None),
        record("BodyMass", "61.5", "kg", "2024-01-02 07:00:00 +0700"),
        record(
            "BloodGlucose",
            "5.6",
            "mmol<180.1558800000541>/L",
            "2024-01-02 06:30:00 +0700",
            metadata=(("HKBloodGlucoseMealTime", "1"),),
        ),
        correlation(121, 79, "2024-01-02 09:00:00 +0700"),
        record("HeartRate", 900, "count/min", "2024-01-02 10:00:00 +0700"),
        record("StepCount", 120, "count", "2024-01-02 11:00:00 +0700"),
    )


def _many(count: int, start: int = 0) -> str:
    base = dt.datetime(2023, 1, 1, tzinfo=dt.timezone(dt.timedelta(hours=7)))
    return "".join(
        record(
            "HeartRate",
            60 + i % 30,
            "count/min",
            (base + dt.timedelta(minutes=start + i)).strftime("%Y-%m-%d %H:%M:%S %z"),
        )
        for i in range(count)
    )


async def _upload(
    client: httpx.AsyncClient,
    headers: dict[str, str],
    body: bytes,
    kind: dict[str, str],
    *,
    path: str = IMPORTS,
    status: int = 202,
) -> dict[str, Any]:
    answer = await client.post(path, content=body, headers={**headers, **kind})
    assert answer.status_code == status, answer.text
    if status == 202:
        assert answer.headers["location"] == f"{path}/{answer.json()['id']}"
    return answer.json()


async def _until_ended(
    client: httpx.AsyncClient, headers: dict[str, str], job: dict[str, Any], *, path: str = IMPORTS
) -> dict[str, Any]:
    for _ in range(600):
        answer = await client.get(f"{path}/{job['id']}", headers=headers)
        assert answer.status_code == 200, answer.text
        found = answer.json()
        if found["status"] in ("done", "failed"):
            return found
        await asyncio.sleep(0.05)
    raise AssertionError(f"import still {found['status']}")


def _counts(job: dict[str, Any]) -> tuple[int, int, int]:
    return job["imported"], job["duplicates"], job["refused"]


async def _stored(app, citizen: str | None = None) -> int:
    async with app.state.runtime.uow() as uow:
        query = select(func.count()).select_from(HomeMeasurement)
        return int(await uow.session.scalar(query) or 0)


async def test_an_xml_export_is_imported_then_its_samples_are_duplicates(
    client, someone, app, clock
) -> None:
    job = await _upload(client, someone, _export(), XML)
    assert job["status"] in ("queued", "running", "done")
    done = await _until_ended(client, someone, job)
    assert done["status"] == "done", done
    assert _counts(done) == (4, 0, 1)
    assert done["samples"] == 5
    assert done["bytes_read"] == done["bytes_total"] > 0
    assert done["skipped"]["HKQuantityTypeIdentifierStepCount"] == 1
    [refusal] = done["refusals"]
    assert refusal["record_type"] == "HKQuantityTypeIdentifierHeartRate"
    assert refusal["line"] > 0
    assert "heart rate" in refusal["reason"].lower()
    readings = (await client.get(MEASUREMENTS, headers=someone)).json()["items"]
    assert sorted(r["kind"] for r in readings) == [
        "blood_glucose",
        "blood_pressure",
        "body_weight",
        "heart_rate",
    ]
    pressure = next(r for r in readings if r["kind"] == "blood_pressure")
    assert (pressure["systolic"], pressure["diastolic"], pressure["origin"]) == (
        121,
        79,
        "imported",
    )
    glucose = next(r for r in readings if r["kind"] == "blood_glucose")
    assert glucose["meal"] == "before_meal"

    clock.advance(seconds=1)
    again = await _until_ended(client, someone, await _upload(client, someone, _export(), XML))
    assert again["status"] == "done"
    assert _counts(again) == (0, 4, 1)
    assert len((await client.get(MEASUREMENTS, headers=someone)).json()["items"]) == 4
    listed = (await client.get(IMPORTS, headers=someone)).json()["items"]
    assert [j["id"] for j in listed] == [again["id"], done["id"]]
    async with app.state.runtime.uow() as uow:
        traced = await uow.session.scalar(
            select(func.count())
            .select_from(HomeMeasurement)
            .where(HomeMeasurement.import_id == uuid.UUID(done["id"]))
        )
    assert traced == 4
    # the uploads were removed once read
    assert not list(app.state.runtime.measurement_imports._directory.glob("*.upload"))


async def test_a_zip_export_is_imported(client, someone) -> None:
    body = zipped(document(_many(700)))
    done = await _until_ended(client, someone, await _upload(client, someone, body, ZIP))
    assert done["status"] == "done", done
    assert done["media_type"] == "application/zip"
    assert _counts(done) == (700, 0, 0)
    assert done["size"] == len(body)
    page = (await client.get(f"{MEASUREMENTS}?limit=200", headers=someone)).json()
    assert len(page["items"]) == 200
    assert page["next_cursor"]


async def test_a_malformed_export_fails_and_keeps_nothing(client, someone, app) -> None:
    whole = document(_many(800))
    # broken after more than a chunk of samples: the first chunk was imported, then deleted
    broken = whole[: whole.index(b"<Record", len(whole) * 3 // 4)] + b"<Record type=>\n"
    failed = await _until_ended(client, someone, await _upload(client, someone, broken, XML))
    assert failed["status"] == "failed", failed
    problem = failed["problem"]
    assert problem["type"].endswith("/problems/apple-health-export-invalid")
    assert problem["status"] == 400
    assert problem["samples_read"] >= 500
    assert problem["readings_removed"] >= 500
    assert failed["imported"] == 0
    assert (await client.get(MEASUREMENTS, headers=someone)).json()["items"] == []
    assert await _stored(app) == 0
    # not an export at all
    junk = await _until_ended(
        client, someone, await _upload(client, someone, b"PK\x03\x04 not a zip", ZIP)
    )
    assert junk["status"] == "failed"
    assert junk["problem"]["type"].endswith("/problems/apple-health-export-invalid")


async def test_refusals_of_the_upload_itself(client, someone, app) -> None:
    imports = app.state.runtime.measurement_imports
    imports.limits = ImportLimits(max_bytes=4096, per_day=2)
    big = document(_many(40))
    assert len(big) > 4096
    too_large = await _upload(client, someone, big, XML, status=413)
    assert too_large["type"].endswith("/problems/payload-too-large")
    assert too_large["max_bytes"] == 4096
    wrong = await _upload(
        client, someone, _export(), {"Content-Type": "application/json"}, status=415
    )
    assert wrong["type"].endswith("/problems/unsupported-media-type")
    assert not list(imports._directory.glob("*.upload"))
    small = document(_many(3), extras=False)
    assert len(small) < 4096
    first = await _until_ended(client, someone, await _upload(client, someone, small, XML))
    assert first["status"] == "done"
    second = await _until_ended(client, someone, await _upload(client, someone, small, XML))
    assert _counts(second) == (0, 3, 0)
    third = await _upload(client, someone, small, XML, status=429)
    assert third["type"].endswith("/problems/too-many-requests")


async def test_one_import_at_a_time_and_a_dead_one_is_failed(client, someone, app, clock) -> None:
    # an import left running by a process that died
    me = (await client.get("/citizens/me", headers=someone)).json()["id"]
    job_id = uuid.uuid4()
    now = clock.now()
    async with app.state.runtime.uow() as uow:
        uow.session.add(
            MeasurementImport(
                id=job_id,
                citizen_id=uuid.UUID(me),
                status="running",
                active=True,
                media_type="application/xml",
                size=10,
                bytes_read=0,
                bytes_total=None,
                samples=0,
                imported=0,
                duplicates=0,
                refused=0,
                refusals=[],
                skipped={},
                problem=None,
                recorded_by=me,
                guardian=None,
                created_at=now,
                updated_at=now,
            )
        )
    busy = await _upload(client, someone, _export(), XML, status=409)
    assert busy["type"].endswith("/problems/conflict")
    clock.advance(minutes=11)
    dead = (await client.get(f"{IMPORTS}/{job_id}", headers=someone)).json()
    assert dead["status"] == "failed"
    assert dead["problem"]["type"].endswith("/problems/measurement-import-failed")
    done = await _until_ended(client, someone, await _upload(client, someone, _export(), XML))
    assert _counts(done) == (4, 0, 1)


async def test_a_guardian_imports_for_a_child_and_others_cannot(client, family, someone) -> None:
    _child, child_id, guardian = family
    path = f"/citizens/{child_id}/measurements/imports"
    done = await _until_ended(
        client, guardian, await _upload(client, guardian, _export(), XML, path=path), path=path
    )
    assert done["status"] == "done"
    assert _counts(done) == (4, 0, 1)
    readings = (await client.get(f"/citizens/{child_id}/measurements", headers=guardian)).json()[
        "items"
    ]
    assert len(readings) == 4
    # someone else's book: neither upload nor read its imports
    stranger = await client.post(path, content=_export(), headers={**someone, **XML})
    assert stranger.status_code in (403, 404), stranger.text
    peek = await client.get(f"{path}/{done['id']}", headers=someone)
    assert peek.status_code in (403, 404)
    # another citizen's import id under one's own book
    mine = await client.get(f"{IMPORTS}/{done['id']}", headers=someone)
    assert mine.status_code == 404


async def test_a_full_book_refuses_the_rest_saying_so(client, someone, app) -> None:
    app.state.runtime.measurements.limits = MeasurementLimits(max_per_citizen=2)
    done = await _until_ended(client, someone, await _upload(client, someone, _export(), XML))
    assert done["status"] == "done"
    assert _counts(done) == (2, 0, 3)
    full = [r for r in done["refusals"] if "the most it may" in r["reason"]]
    assert len(full) == 2
    assert len((await client.get(MEASUREMENTS, headers=someone)).json()["items"]) == 2
