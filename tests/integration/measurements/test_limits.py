"""The per-citizen limit of home readings (MEASUREMENTS_MAX_PER_CITIZEN) and the batch limit."""

from __future__ import annotations

import uuid

from api.measurements.service import MeasurementLimits
from tests.integration.measurements.conftest import MEASUREMENTS, ago, record


async def test_a_full_book_refuses_more_readings(app, client, someone, clock) -> None:
    app.state.runtime.measurements.limits = MeasurementLimits(max_per_citizen=3, max_batch=4)
    first = await record(
        client,
        someone,
        {"kind": "heart_rate", "value": 60, "unit": "/min", "effective_at": ago(clock, hours=9)},
    )
    samples = [
        {"kind": "heart_rate", "value": 61 + i, "unit": "/min", "effective_at": ago(clock, hours=i)}
        for i in range(1, 4)
    ]
    summary = (
        await client.post(f"{MEASUREMENTS}/batch", json={"samples": samples}, headers=someone)
    ).json()
    assert [r["outcome"] for r in summary["results"]] == ["imported", "imported", "refused"]
    assert "the most it may" in summary["results"][2]["reason"]
    full = await client.post(
        MEASUREMENTS,
        json={
            "kind": "heart_rate",
            "value": 70,
            "unit": "/min",
            "effective_at": ago(clock, hours=1),
        },
        headers={**someone, "Idempotency-Key": str(uuid.uuid4())},
    )
    assert full.status_code == 422
    assert full.json()["type"].endswith("/problems/measurement-limit-reached")
    too_many = await client.post(
        f"{MEASUREMENTS}/batch", json={"samples": samples + samples}, headers=someone
    )
    assert too_many.status_code == 422
    # a deleted reading frees its place
    assert (
        await client.delete(f"{MEASUREMENTS}/{first['id']}", headers=someone)
    ).status_code == 204
    await record(
        client,
        someone,
        {"kind": "heart_rate", "value": 70, "unit": "/min", "effective_at": ago(clock, hours=1)},
    )
    assert len((await client.get(MEASUREMENTS, headers=someone)).json()["items"]) == 3
