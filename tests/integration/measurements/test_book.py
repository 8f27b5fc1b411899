"""Home readings in the book: series and charts beside a hospital's values (told apart), the
overview's latest home readings, the FHIR export, the IPS and shares (patient-reported)."""

from __future__ import annotations

import xml.etree.ElementTree as ET

from tests.integration.measurements.conftest import ago, record
from tests.integration.sharing.conftest import in_days
from tests.integration.sharing.test_content import shared
from tests.support.fhir_export import assert_valid_fhir
from tests.support.fhir_samples import IPS, LEONOR

SERIES = "/citizens/me/health-book/observations/series"
CHART = "/citizens/me/health-book/observations/series.svg"
SVG = "{http://www.w3.org/2000/svg}"
VITAL_SIGNS = "8716-3"
RESULTS = "30954-2"


def _patient_asserted(resource: dict) -> bool:
    return any(s.get("code") == "PATAST" for s in resource.get("meta", {}).get("security", []))


async def test_series_chart_and_overview_show_home_beside_clinical(client, owner_of, clock) -> None:
    headers = await owner_of(LEONOR)
    pressure = await record(
        client,
        headers,
        {
            "kind": "blood_pressure",
            "systolic": 141,
            "diastolic": 91,
            "unit": "mm[Hg]",
            "effective_at": ago(clock, hours=1),
        },
    )
    await record(
        client,
        headers,
        {"kind": "body_weight", "value": 150, "unit": "lb", "effective_at": ago(clock, hours=1)},
    )
    series = (await client.get(SERIES, params={"code": "85354-9"}, headers=headers)).json()
    sources = [p["source"] for p in series["points"]]
    assert sources.count("clinical") == 10
    assert sources.count("home") == 1
    home = series["points"][-1]  # the newest
    assert home["source"] == "home"
    assert home["entry_id"] == pressure["id"]
    assert home["components"] == {"8480-6": 141, "8462-4": 91}
    chart = await client.get(CHART, params={"code": "85354-9"}, headers=headers)
    root = ET.fromstring(chart.content)
    marks = [r for r in root.iter(f"{SVG}rect") if r.get("class") == "home"]
    assert len(marks) == 2  # one per component line
    assert "home reading" in ["".join(t.itertext()) for t in root.iter(f"{SVG}text")]
    weights = (await client.get(SERIES, params={"code": "29463-7"}, headers=headers)).json()
    assert weights["points"][-1]["source"] == "home"
    assert abs(weights["points"][-1]["value"] - 68.04) < 0.01
    overview = (await client.get("/citizens/me/health-book", headers=headers)).json()
    latest = {v["code"]["code"]: v for v in overview["latest_home_readings"]}
    assert set(latest) == {"85354-9", "29463-7"}
    assert latest["85354-9"]["source"] == "home"
    assert {c["code"]: c["value"] for c in latest["85354-9"]["components"]} == {
        "8480-6": 141,
        "8462-4": 91,
    }
    assert all(v["source"] == "clinical" for v in overview["latest_vital_signs"])


async def test_export_ips_and_shares_carry_readings_as_patient_reported(
    client, owner_of, clock
) -> None:
    headers = await owner_of(IPS)
    await record(
        client,
        headers,
        {
            "kind": "blood_pressure",
            "systolic": 120,
            "diastolic": 80,
            "unit": "mm[Hg]",
            "effective_at": ago(clock, hours=3),
            "device": {"manufacturer": "Omron", "model": "M3"},
        },
    )
    await record(
        client,
        headers,
        {
            "kind": "blood_glucose",
            "value": 6.1,
            "unit": "mmol/L",
            "meal": "fasting",
            "effective_at": ago(clock, hours=2),
        },
    )
    collection = assert_valid_fhir(
        (await client.get("/citizens/me/health-book/export", headers=headers)).content
    )
    by_url = {e["fullUrl"]: e["resource"] for e in collection["entry"]}
    patient_url = next(u for u, r in by_url.items() if r["resourceType"] == "Patient")
    readings = {
        u: r
        for u, r in by_url.items()
        if r["resourceType"] == "Observation" and _patient_asserted(r)
    }
    assert len(readings) == 2
    for resource in readings.values():
        assert resource["subject"] == {"reference": patient_url}
        assert resource["performer"] == [{"reference": patient_url}]
    provenances = [r for r in by_url.values() if r["resourceType"] == "Provenance"]
    assert {p["target"][0]["reference"] for p in provenances} == set(readings)
    assert all(p["agent"][0]["who"] == {"reference": patient_url} for p in provenances)
    ips = assert_valid_fhir(
        (
            await client.get(
                "/citizens/me/health-book/export", params={"type": "ips"}, headers=headers
            )
        ).content
    )
    composition = ips["entry"][0]["resource"]
    sections = {s["code"]["coding"][0]["code"]: s for s in composition["section"]}
    urls = {e["fullUrl"]: e["resource"] for e in ips["entry"] if _patient_asserted(e["resource"])}
    codes = {r["code"]["coding"][0]["code"]: u for u, r in urls.items()}
    assert {"reference": codes["85354-9"]} in sections[VITAL_SIGNS]["entry"]
    assert {"reference": codes["2339-0"]} in sections[RESULTS]["entry"]
    # a share of the book holds them, marked
    created = await client.post(
        "/citizens/me/shares", json={"expires_at": in_days(clock, 7)}, headers=headers
    )
    assert created.status_code == 201, created.text
    document = await shared(client, created.json())
    marked = [e["resource"] for e in document["entry"] if _patient_asserted(e["resource"])]
    assert sorted(r["code"]["coding"][0]["code"] for r in marked) == ["2339-0", "85354-9"]
