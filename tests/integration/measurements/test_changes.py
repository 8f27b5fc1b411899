"""Editing and deleting one's readings (soft, in the access log), and a guardian recording and
reading a child's."""

from __future__ import annotations

from tests.integration.measurements.conftest import MEASUREMENTS, ago, record
from tests.support.fhir_export import assert_valid_fhir

HEART_RATE = {"kind": "heart_rate", "value": 72, "unit": "/min"}


async def _log(client, headers) -> list[dict]:
    answer = await client.get("/citizens/me/access-log", params={"limit": 200}, headers=headers)
    assert answer.status_code == 200, answer.text
    return answer.json()["items"]


async def _exported_readings(client, headers) -> list[dict]:
    answer = await client.get("/citizens/me/health-book/export", headers=headers)
    assert answer.status_code == 200, answer.text
    bundle = assert_valid_fhir(answer.content)
    return [
        e["resource"]
        for e in bundle["entry"]
        if e["resource"]["resourceType"] == "Observation"
        and any(s["code"] == "PATAST" for s in e["resource"].get("meta", {}).get("security", []))
    ]


async def test_edit_then_delete_a_reading(client, someone, clock) -> None:
    made = await record(client, someone, {**HEART_RATE, "effective_at": ago(clock, hours=1)})
    path = f"{MEASUREMENTS}/{made['id']}"
    edited = await client.put(
        path, json={**HEART_RATE, "value": 80, "effective_at": ago(clock, hours=2)}, headers=someone
    )
    assert edited.status_code == 200, edited.text
    assert edited.json()["value"] == 80
    assert edited.json()["version"] == 2
    assert assert_valid_fhir(edited.json()["fhir"])["meta"]["versionId"] == "2"
    (exported,) = await _exported_readings(client, someone)
    assert exported["valueQuantity"]["value"] == 80
    # a kind cannot change; an impossible value changes nothing
    other_kind = await client.put(
        path,
        json={
            "kind": "body_weight",
            "value": 70,
            "unit": "kg",
            "effective_at": ago(clock, hours=1),
        },
        headers=someone,
    )
    assert other_kind.status_code == 400
    assert other_kind.json()["errors"][0]["field"] == "kind"
    impossible = await client.put(
        path,
        json={**HEART_RATE, "value": 900, "effective_at": ago(clock, hours=1)},
        headers=someone,
    )
    assert impossible.status_code == 422
    assert impossible.json()["errors"][0]["field"] == "value"
    now = (await client.get(path, headers=someone)).json()
    assert now["value"] == 80
    assert now["version"] == 2
    # delete: gone from the API, the book and its export; twice is 404
    assert (await client.delete(path, headers=someone)).status_code == 204
    assert (await client.get(path, headers=someone)).status_code == 404
    assert (await client.delete(path, headers=someone)).status_code == 404
    assert (await client.get(MEASUREMENTS, headers=someone)).json()["items"] == []
    assert await _exported_readings(client, someone) == []
    overview = (await client.get("/citizens/me/health-book", headers=someone)).json()
    assert overview["latest_home_readings"] == []
    log = await _log(client, someone)
    mine = [
        (e["action"], e["resource"]) for e in log if e["resource"] == f"measurements/{made['id']}"
    ]
    assert sorted(mine) == [
        ("delete", f"measurements/{made['id']}"),
        ("update", f"measurements/{made['id']}"),
    ]


async def test_a_guardian_records_and_reads_a_childs_readings(
    client, family, someone, clock
) -> None:
    child, child_id, guardian = family
    path = f"/citizens/{child_id}/measurements"
    made = await record(
        client,
        guardian,
        {
            "kind": "body_temperature",
            "value": 38.4,
            "unit": "Cel",
            "effective_at": ago(clock, minutes=30),
        },
        path=path,
    )
    observation = assert_valid_fhir(made["fhir"])
    assert observation["performer"] == [observation["subject"]]
    assert (await client.get(f"{path}/{made['id']}", headers=guardian)).status_code == 200
    listed = (await client.get(MEASUREMENTS, headers=child)).json()["items"]
    assert [m["id"] for m in listed] == [made["id"]]
    # a stranger sees nothing of it
    assert (await client.get(path, headers=someone)).status_code == 404
    log = await _log(client, child)
    by_guardian = {(e["action"], e["resource"]) for e in log if e["actor_kind"] == "guardian"}
    assert ("create", f"measurements/{made['id']}") in by_guardian
    assert ("read", f"measurements/{made['id']}") in by_guardian
    deleted = await client.delete(f"{path}/{made['id']}", headers=guardian)
    assert deleted.status_code == 204
    log = await _log(client, child)
    assert any(e["actor_kind"] == "guardian" and e["action"] == "delete" for e in log)
