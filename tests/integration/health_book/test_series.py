"""Observation series for charts: JSON points and the SVG chart."""

from __future__ import annotations

import datetime as dt
import xml.etree.ElementTree as ET

import pytest

from api.health_book import schemas
from api.health_book.charts import MAX_DRAWN, render_svg
from tests.integration.health_book.conftest import patient_number
from tests.support.auth import bearer, login
from tests.support.fhir_samples import IPS, LEONOR, RUSTY, dump, sample_json

SERIES = "/citizens/me/health-book/observations/series"
CHART = "/citizens/me/health-book/observations/series.svg"
SVG_NS = "{http://www.w3.org/2000/svg}"


def _file_observations(name: str, loinc: str) -> list[dict]:
    found = [
        entry["resource"]
        for entry in sample_json(name)["entry"]
        if entry["resource"]["resourceType"] == "Observation"
        and any(c.get("code") == loinc for c in entry["resource"]["code"]["coding"])
    ]
    return sorted(found, key=lambda r: dt.datetime.fromisoformat(r["effectiveDateTime"]))


def _svg(body: bytes) -> ET.Element:
    root = ET.fromstring(body)
    assert root.tag == f"{SVG_NS}svg"
    return root


def _texts(root: ET.Element) -> list[str]:
    return ["".join(t.itertext()) for t in root.iter(f"{SVG_NS}text")]


async def test_body_weight_series_is_the_files_weights_in_time_order(client, owner_of) -> None:
    headers = await owner_of(LEONOR)
    response = await client.get(
        SERIES, params={"code": "http://loinc.org|29463-7"}, headers=headers
    )
    assert response.status_code == 200, response.text
    series = response.json()
    expected = _file_observations(LEONOR, "29463-7")
    assert len(expected) == 10
    assert [p["value"] for p in series["points"]] == pytest.approx(
        [o["valueQuantity"]["value"] for o in expected]
    )
    assert [dt.datetime.fromisoformat(p["at"]) for p in series["points"]] == [
        dt.datetime.fromisoformat(o["effectiveDateTime"]) for o in expected
    ]
    assert series["unit"] == "kg"
    assert series["text"] == "Body Weight"
    assert series["component_codes"] == {}
    assert all(p["unit"] == "kg" for p in series["points"])
    plain = (await client.get(SERIES, params={"code": "29463-7"}, headers=headers)).json()
    assert plain["points"] == series["points"]
    other_system = await client.get(SERIES, params={"code": "urn:x|29463-7"}, headers=headers)
    assert other_system.json()["points"] == []


@pytest.mark.parametrize("code", ["55284-4", "85354-9", "http://loinc.org|85354-9"])
async def test_blood_pressure_points_carry_both_components(client, owner_of, code) -> None:
    headers = await owner_of(LEONOR)
    series = (await client.get(SERIES, params={"code": code}, headers=headers)).json()
    expected = _file_observations(LEONOR, "55284-4")
    assert len(series["points"]) == len(expected) == 10
    assert set(series["component_codes"]) == {"8480-6", "8462-4"}
    assert "Systolic" in series["component_codes"]["8480-6"]
    assert series["unit"] == "mm[Hg]"
    for point, observation in zip(series["points"], expected, strict=True):
        values = {
            c["code"]["coding"][0]["code"]: c["valueQuantity"]["value"]
            for c in observation["component"]
        }
        assert point["components"] == pytest.approx(values)
    chart = await client.get(CHART, params={"code": code}, headers=headers)
    assert chart.status_code == 200
    assert chart.headers["content-type"].startswith("image/svg+xml")
    root = _svg(chart.content)
    assert len(list(root.iter(f"{SVG_NS}polyline"))) == 2  # one line per component
    assert any("Systolic" in text for text in _texts(root))


async def test_chart_of_many_points_is_well_formed(client, owner_of) -> None:
    headers = await owner_of(LEONOR)
    chart = await client.get(CHART, params={"code": "29463-7"}, headers=headers)
    assert chart.status_code == 200
    root = _svg(chart.content)
    (line,) = root.iter(f"{SVG_NS}polyline")
    assert len(line.get("points", "").split()) == 10
    texts = _texts(root)
    assert "Body Weight (kg)" in texts
    assert len([t for t in texts if t.isdigit() and len(t) == 4]) >= 3  # year ticks


async def test_unknown_code_is_empty_json_and_a_no_data_chart(client, owner_of) -> None:
    headers = await owner_of(IPS)
    series = await client.get(SERIES, params={"code": "29463-7"}, headers=headers)
    assert series.status_code == 200
    assert series.json()["points"] == []
    assert series.json()["unit"] is None
    chart = await client.get(CHART, params={"code": "29463-7"}, headers=headers)
    assert chart.status_code == 200
    assert "no data" in _texts(_svg(chart.content))
    assert (await client.get(SERIES, headers=headers)).status_code == 400  # code is required
    assert (await client.get(SERIES, params={"code": "urn:x|"}, headers=headers)).status_code == 400


async def test_one_point_with_a_reference_range_and_an_escaped_title(client, owner_of) -> None:
    document = sample_json(IPS)
    patient = next(e for e in document["entry"] if e["resource"]["resourceType"] == "Patient")
    document["entry"].append(
        {
            "fullUrl": "urn:uuid:0d0c9f47-35a4-4c55-9d8e-0b1f4a1e8a01",
            "resource": {
                "resourceType": "Observation",
                "id": "0d0c9f47-35a4-4c55-9d8e-0b1f4a1e8a01",
                "status": "final",
                "code": {
                    "coding": [{"system": "http://loinc.org", "code": "2339-0"}],
                    "text": 'Glucose <fasting> & "after" \u0001meal',
                },
                "subject": {"reference": patient["fullUrl"]},
                "effectiveDateTime": "2021-05-04T08:00:00+07:00",
                "valueQuantity": {"value": 7.9, "unit": "mmol/L"},
                "interpretation": [{"coding": [{"code": "H"}]}],
                "referenceRange": [{"low": {"value": 3.9}, "high": {"value": 5.5}}],
            },
        }
    )
    headers = await owner_of(IPS, dump(document))
    series = (await client.get(SERIES, params={"code": "2339-0"}, headers=headers)).json()
    (point,) = series["points"]
    assert point["value"] == 7.9
    assert point["unit"] == "mmol/L"
    assert (point["low"], point["high"]) == (3.9, 5.5)
    assert point["interpretation"] == ["H"]
    assert point["at"].startswith("2021-05-04T01:00:00")
    root = _svg((await client.get(CHART, params={"code": "2339-0"}, headers=headers)).content)
    assert 'Glucose <fasting> & "after" meal (mmol/L)' in _texts(root)
    assert len(list(root.iter(f"{SVG_NS}polyline"))) == 1
    assert len(list(root.iter(f"{SVG_NS}circle"))) == 1
    bands = [r for r in root.iter(f"{SVG_NS}rect") if r.findtext(f"{SVG_NS}title")]
    assert len(bands) == 1
    assert float(bands[0].get("height", "0")) > 0


def _point(at: dt.datetime, value: float | None, **extra) -> schemas.SeriesPoint:
    return schemas.SeriesPoint(at=at, value=value, unit="kg", entry_id="x", **extra)


def test_render_bounds_and_edge_cases() -> None:
    start = dt.datetime(2020, 1, 1, tzinfo=dt.UTC)
    many = [_point(start + dt.timedelta(hours=i), 60 + (i % 7)) for i in range(20_000)]
    body = render_svg(
        schemas.Series(code="c", text="w", unit="kg", component_codes={}, points=many)
    )
    (line,) = _svg(body).iter(f"{SVG_NS}polyline")
    assert len(line.get("points", "").split()) == MAX_DRAWN
    assert len(body) < 60_000
    flat = [_point(start, 5.0), _point(start, 5.0)]  # one instant, one value
    root = _svg(
        render_svg(schemas.Series(code="c", text=None, unit="kg", component_codes={}, points=flat))
    )
    assert "nan" not in ET.tostring(root, encoding="unicode")
    empty = schemas.Series(code="<c&>", text=None, unit=None, component_codes={}, points=[])
    assert _texts(_svg(render_svg(empty))) == ["<c&>", "no data"]


async def test_series_of_another_citizen_is_404_and_guardian_reads_are_logged(
    client, owner_of, admin_token, idp
) -> None:
    leonor = await owner_of(LEONOR)
    rusty = await owner_of(RUSTY)
    rusty_id = (await client.get("/citizens/me", headers=rusty)).json()["id"]
    for path in (SERIES, CHART):
        other = path.replace("/me/", f"/{rusty_id}/")
        response = await client.get(other, params={"code": "29463-7"}, headers=leonor)
        assert response.status_code == 404
    mine = (await client.get(SERIES, params={"code": "29463-7"}, headers=leonor)).json()
    rusty_weights = {o["valueQuantity"]["value"] for o in _file_observations(RUSTY, "29463-7")}
    assert not {p["value"] for p in mine["points"]} & rusty_weights

    child = await owner_of(IPS)  # a national ID number the guardianship API accepts
    child_id = (await client.get("/citizens/me", headers=child)).json()["id"]
    recorded = await client.post(
        "/admin/guardianships",
        json={
            "guardian_national_id": "001085000001",
            "dependent_national_id": patient_number(IPS),
            "kind": "legal_representative",
            "dependent_birth_date": "1990-01-02",
        },
        headers=bearer(admin_token),
    )
    assert recorded.status_code == 201, recorded.text
    guardian = bearer((await login(client, idp, "001085000001"))["access_token"])
    for path in (SERIES, CHART):
        response = await client.get(
            path.replace("/me/", f"/{child_id}/"), params={"code": "29463-7"}, headers=guardian
        )
        assert response.status_code == 200
        response = await client.get(
            path.replace("/me/", f"/{rusty_id}/"), params={"code": "29463-7"}, headers=guardian
        )
        assert response.status_code == 404
    log = (await client.get("/citizens/me/access-log", headers=child)).json()["items"]
    resources = {e["resource"] for e in log if e["actor_kind"] == "guardian"}
    assert resources == {
        "health-book/observations/series?code=29463-7",
        "health-book/observations/series.svg?code=29463-7",
    }
