"""Importing a companion app's JSON batch (our shape, Health Connect records) and samples from
the service (as the Apple Health import does): keys, deduplication, refusals per sample."""

from __future__ import annotations

import datetime as dt
import uuid

from api.measurements.readings import Sample
from api.measurements.schemas import DeviceInfo
from tests.integration.measurements.conftest import MEASUREMENTS, ago

BATCH = f"{MEASUREMENTS}/batch"


def _samples(clock) -> list[dict]:
    return [
        {
            "recordType": "BloodPressureRecord",
            "time": ago(clock, hours=5),
            "zoneOffset": "+07:00",
            "systolic": {"inMillimetersOfMercury": 118},
            "diastolic": {"inMillimetersOfMercury": 76},
            "bodyPosition": 1,
            "metadata": {
                "id": "hc-bp-1",
                "dataOrigin": {"packageName": "com.omronhealthcare.omronconnect"},
                "device": {"manufacturer": "Omron", "model": "HEM-7361T", "type": 6},
                "recordingMethod": 2,
            },
        },
        {
            "recordType": "WeightRecord",
            "time": ago(clock, hours=4),
            "weight": {"inKilograms": 61.3},
            "metadata": {"id": "hc-w-1"},
        },
        {
            "recordType": "BloodGlucoseRecord",
            "time": ago(clock, hours=3),
            "level": {"inMillimolesPerLiter": 5.2},
            "relationToMeal": 2,
            "specimenSource": 2,
            "metadata": {"id": "hc-g-1"},
        },
        {
            "kind": "heart_rate",
            "value": 66,
            "unit": "bpm",
            "effective_at": ago(clock, hours=2),
        },
        # refused, each for its own reason
        {
            "recordType": "BloodPressureRecord",
            "time": ago(clock, hours=1),
            "systolic": {"inMillimetersOfMercury": 500},
            "diastolic": {"inMillimetersOfMercury": 80},
            "metadata": {"id": "hc-bp-2"},
        },
        {
            "kind": "body_weight",
            "value": "heavy",
            "unit": "kg",
            "effective_at": ago(clock, hours=1),
        },
        {"kind": "body_weight", "value": 60, "unit": "stone", "effective_at": ago(clock, hours=1)},
        {"kind": "body_weight", "value": 60, "unit": "kg"},
    ]


async def _import(client, headers, samples, **extra):
    answer = await client.post(BATCH, json={"samples": samples, **extra}, headers=headers)
    assert answer.status_code == 200, answer.text
    return answer.json()


async def test_a_batch_imports_dedups_and_refuses_per_sample(client, someone, clock) -> None:
    samples = _samples(clock)
    summary = await _import(client, someone, samples, source="vn.example.companion")
    assert (summary["imported"], summary["duplicates"], summary["refused"]) == (4, 0, 4)
    outcomes = {r["index"]: r for r in summary["results"]}
    assert [outcomes[i]["outcome"] for i in range(8)] == ["imported"] * 4 + ["refused"] * 4
    assert outcomes[4]["field"] == "samples[4].systolic"
    assert outcomes[5]["field"] == "samples[5].value"
    assert outcomes[6]["field"] == "samples[6].unit"
    assert outcomes[7]["field"] == "samples[7].effective_at"
    assert all(outcomes[i]["reason"] for i in range(4, 8))
    listed = {
        m["kind"]: m for m in (await client.get(MEASUREMENTS, headers=someone)).json()["items"]
    }
    assert set(listed) == {"blood_pressure", "body_weight", "blood_glucose", "heart_rate"}
    assert all(m["origin"] == "imported" for m in listed.values())
    pressure = listed["blood_pressure"]
    assert pressure["source"] == "com.omronhealthcare.omronconnect"
    assert pressure["device"] == {"manufacturer": "Omron", "model": "HEM-7361T"}
    assert listed["heart_rate"]["source"] == "vn.example.companion"
    assert listed["blood_glucose"]["meal"] == "fasting"
    assert abs(listed["blood_glucose"]["value"] - 93.7) < 0.05
    # the same batch again: every imported sample is a duplicate (by key, or by its content)
    again = await _import(client, someone, samples, source="vn.example.companion")
    assert (again["imported"], again["duplicates"], again["refused"]) == (0, 4, 4)
    duplicates = {r["index"]: r["id"] for r in again["results"] if r["outcome"] == "duplicate"}
    assert duplicates[0] == outcomes[0]["id"]
    assert duplicates[3] == outcomes[3]["id"]
    # a key used again for another reading is refused; the same reading twice in one batch
    # is imported once
    changed = dict(samples[1], weight={"inKilograms": 65})
    twice = {
        "kind": "heart_rate",
        "value": 70,
        "unit": "/min",
        "effective_at": ago(clock, minutes=9),
    }
    third = await _import(client, someone, [changed, twice, twice])
    assert [r["outcome"] for r in third["results"]] == ["refused", "imported", "duplicate"]
    assert third["results"][0]["field"] == "samples[0].key"
    assert len((await client.get(MEASUREMENTS, headers=someone)).json()["items"]) == 5
    log = (await client.get("/citizens/me/access-log", headers=someone)).json()["items"]
    imports = [e for e in log if e["action"] == "import"]
    assert len(imports) == 2  # batches that imported something


async def test_bad_batches_are_refused_whole(client, someone, clock) -> None:
    not_a_list = await client.post(BATCH, json={"samples": {"kind": "x"}}, headers=someone)
    assert not_a_list.status_code == 400
    unknown = await client.post(BATCH, json={"samples": [], "extra": 1}, headers=someone)
    assert unknown.status_code == 400
    too_many = await client.post(
        BATCH,
        json={"samples": [{"kind": "heart_rate"}] * 1001},
        headers=someone,
    )
    assert too_many.status_code == 422
    assert too_many.json()["type"].endswith("/problems/measurement-limit-reached")
    assert (await client.get(MEASUREMENTS, headers=someone)).json()["items"] == []


async def test_the_service_imports_parsed_samples_for_other_importers(app, client, someone) -> None:
    """The Apple Health import hands over parsed samples with their own dedup keys."""
    citizen_id = uuid.UUID((await client.get("/citizens/me", headers=someone)).json()["id"])
    service = app.state.runtime.measurements
    at = dt.datetime.now(dt.UTC) - dt.timedelta(days=1)
    samples = [
        Sample(
            kind="blood_pressure",
            systolic=125,
            diastolic=82,
            unit="mmHg",
            start=at,
            end=at,
            source="Health",
            device=DeviceInfo(name="Apple Watch", manufacturer="Apple Inc."),
            dedup_key="bp|2026|125|82",
        ),
        Sample(
            kind="blood_glucose",
            value=5.0,
            unit="mmol<180.1558800000541>/L",
            start=at,
            meal="before_meal",
            dedup_key="g|1",
        ),
        Sample(kind="blood_glucose", value=5.0, unit="mmol/L", start=at, dedup_key="g|1"),
        Sample(kind="body_weight", value=-1, unit="kg", start=at),
    ]
    summary = await service.import_samples(citizen_id, samples, actor=str(citizen_id))
    assert (summary.imported, summary.duplicates, summary.refused) == (2, 1, 1)
    assert [(r.index, r.outcome) for r in summary.results] == [(2, "duplicate"), (3, "refused")]
    assert summary.results[1].field == "samples[3].value"
    listed = (await client.get(MEASUREMENTS, headers=someone)).json()["items"]
    assert sorted(m["kind"] for m in listed) == ["blood_glucose", "blood_pressure"]
