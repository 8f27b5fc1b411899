"""Who may act for whom: self, current guardians; everyone else gets 404."""

from __future__ import annotations

import datetime as dt

import pytest

from tests.support.auth import bearer
from tests.support.problems import problem_uri

PARENT = "001085000001"
CHILD = "001218000002"
STRANGER = "079090000003"


def _years_ago(years: int, days: int = 0) -> str:
    today = dt.date.today()
    return (today.replace(year=today.year - years) - dt.timedelta(days=days)).isoformat()


async def _record(client, admin_token, **body):
    payload = {
        "guardian_national_id": PARENT,
        "dependent_national_id": CHILD,
        "kind": "parent",
        "dependent_birth_date": _years_ago(6),
        **body,
    }
    return await client.post("/admin/guardianships", json=payload, headers=bearer(admin_token))


async def _routes(client, citizen_id: str) -> list[str]:
    """Every GET route under /citizens/{citizen_id} that needs no other parameter."""
    schema = (await client.get("/schema/openapi.json")).json()

    def needs_more(operation: dict) -> bool:
        return any(
            p.get("required") and p.get("in") == "query" for p in operation.get("parameters", [])
        )

    return [
        path.replace("{citizen_id}", citizen_id)
        for path, item in schema["paths"].items()
        if path.startswith("/citizens/{citizen_id}")
        and "get" in item
        and path.count("{") == 1
        and not needs_more(item["get"])
    ]


async def test_citizen_a_gets_404_on_every_route_of_citizen_b(client, citizen) -> None:
    a = await citizen(PARENT)
    b = await citizen(STRANGER)
    b_id = (await client.get("/citizens/me", headers=bearer(b["access_token"]))).json()["id"]
    routes = await _routes(client, b_id)
    assert routes  # the profile route at least
    for path in routes:
        response = await client.get(path, headers=bearer(a["access_token"]))
        assert response.status_code == 404, (path, response.text)
        assert response.json()["type"] == problem_uri("not-found")
    # a random or malformed id looks exactly the same
    for other in ("00000000-0000-0000-0000-000000000000", "not-a-uuid", "..%2F..%2Fadmin"):
        response = await client.get(f"/citizens/{other}", headers=bearer(a["access_token"]))
        assert response.status_code == 404


@pytest.mark.redis
async def test_guardian_reads_the_childs_routes(client, citizen, admin_token) -> None:
    recorded = await _record(client, admin_token)
    assert recorded.status_code == 201, recorded.text
    parent = await citizen(PARENT)
    me = (await client.get("/citizens/me", headers=bearer(parent["access_token"]))).json()
    assert len(me["dependents"]) == 1
    child_id = me["dependents"][0]["id"]
    assert me["dependents"][0]["relationship"] == "parent"
    for path in await _routes(client, child_id):
        response = await client.get(path, headers=bearer(parent["access_token"]))
        if response.status_code == 404:  # a health card of a book with nothing to sign
            assert response.json()["type"] == problem_uri("health-card-empty"), path
            continue
        assert response.status_code == 200, (path, response.text)
    profile = (
        await client.get(f"/citizens/{child_id}", headers=bearer(parent["access_token"]))
    ).json()
    assert profile["id"] == child_id
    # the child is not the parent's guardian
    child = await citizen(CHILD, birthdate=_years_ago(6))
    parent_id = me["id"]
    response = await client.get(f"/citizens/{parent_id}", headers=bearer(child["access_token"]))
    assert response.status_code == 404


@pytest.mark.redis
async def test_ended_guardianship_is_refused(client, citizen, admin_token) -> None:
    recorded = (await _record(client, admin_token)).json()
    parent = await citizen(PARENT)
    child_id = recorded["dependent_id"]
    assert (
        await client.get(f"/citizens/{child_id}", headers=bearer(parent["access_token"]))
    ).status_code == 200
    ended = await client.post(
        f"/admin/guardianships/{recorded['id']}/end", headers=bearer(admin_token)
    )
    assert ended.status_code == 200
    assert ended.json()["valid_until"] is not None
    response = await client.get(f"/citizens/{child_id}", headers=bearer(parent["access_token"]))
    assert response.status_code == 404
    me = (await client.get("/citizens/me", headers=bearer(parent["access_token"]))).json()
    assert me["dependents"] == []


async def test_expired_guardianship_is_refused(client, citizen, admin_token, app) -> None:
    until = (app.state.clock.now() + dt.timedelta(days=1)).isoformat()
    recorded = (await _record(client, admin_token, valid_until=until)).json()
    parent = await citizen(PARENT)
    child = recorded["dependent_id"]
    assert (
        await client.get(f"/citizens/{child}", headers=bearer(parent["access_token"]))
    ).status_code == 200
    real_now = app.state.clock.now
    app.state.clock.now = lambda: real_now() + dt.timedelta(days=2)  # type: ignore[method-assign]
    try:
        response = await client.get(f"/citizens/{child}", headers=bearer(parent["access_token"]))
        assert response.status_code == 404
    finally:
        app.state.clock.now = real_now  # type: ignore[method-assign]


async def test_a_child_who_came_of_age_is_no_longer_a_dependent(
    client, citizen, admin_token
) -> None:
    grown = await _record(client, admin_token, dependent_birth_date=_years_ago(18, days=1))
    assert grown.status_code == 201
    assert grown.json()["effective_until"] is not None
    parent = await citizen(PARENT)
    response = await client.get(
        f"/citizens/{grown.json()['dependent_id']}", headers=bearer(parent["access_token"])
    )
    assert response.status_code == 404


async def test_legal_representative_of_an_adult(client, citizen, admin_token) -> None:
    recorded = await _record(
        client,
        admin_token,
        kind="legal_representative",
        dependent_birth_date=_years_ago(40),
        note="court decision 12/2026",
    )
    assert recorded.status_code == 201
    parent = await citizen(PARENT)
    dependent = recorded.json()["dependent_id"]
    assert (
        await client.get(f"/citizens/{dependent}", headers=bearer(parent["access_token"]))
    ).status_code == 200


async def test_identity_provider_dependents_claim_is_honoured(client, citizen) -> None:
    parent = await citizen(PARENT, dependents=[{"national_id": CHILD, "birthdate": _years_ago(5)}])
    me = (await client.get("/citizens/me", headers=bearer(parent["access_token"]))).json()
    assert [d["relationship"] for d in me["dependents"]] == ["parent"]
    child_id = me["dependents"][0]["id"]
    assert (
        await client.get(f"/citizens/{child_id}", headers=bearer(parent["access_token"]))
    ).status_code == 200
    # the next login without the child ends that guardianship
    again = await citizen(PARENT, dependents=[])
    assert (
        await client.get(f"/citizens/{child_id}", headers=bearer(again["access_token"]))
    ).status_code == 404


async def test_guardianship_input_is_validated(client, admin_token) -> None:
    same = await _record(client, admin_token, dependent_national_id=PARENT)
    assert same.status_code == 400
    no_birth = await _record(client, admin_token, dependent_birth_date=None)
    assert no_birth.status_code == 400
    extra = await _record(client, admin_token, surprise=True)
    assert extra.status_code == 400
    assert extra.json()["type"] == problem_uri("validation-error")
