"""Devices over HTTP: register, refresh, list, unregister; tokens move between accounts; bad
input is a 400 problem; stale devices are pruned."""

from __future__ import annotations

from tests.support.auth import bearer
from tests.support.problems import problem_uri

A = "001090000101"
B = "001090000102"
TOKEN = (
    "fcm-token-AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA:xyz_1-2"
)


async def _id(client, token: str) -> str:
    return (await client.get("/citizens/me", headers=bearer(token))).json()["id"]


async def test_register_refresh_list_and_unregister_a_device(client, citizen, clock) -> None:
    me = (await citizen(A))["access_token"]
    body = {"token": TOKEN, "platform": "android", "locale": "en", "app_version": "1.4.0"}
    created = await client.put("/citizens/me/devices/inst-0001", json=body, headers=bearer(me))
    assert created.status_code == 201, created.text
    view = created.json()
    assert view["installation_id"] == "inst-0001"
    assert (view["platform"], view["locale"], view["app_version"]) == ("android", "en", "1.4.0")
    assert TOKEN not in created.text  # the token is never echoed back

    clock.advance(days=3)
    refreshed = await client.put(
        "/citizens/me/devices/inst-0001",
        json={**body, "token": TOKEN + "2", "app_version": "1.5.0"},
        headers=bearer(me),
    )
    assert refreshed.status_code == 200
    assert refreshed.json()["app_version"] == "1.5.0"
    assert refreshed.json()["last_seen_at"] > view["last_seen_at"]

    listed = await client.get("/citizens/me/devices", headers=bearer(me))
    assert listed.status_code == 200
    assert [d["installation_id"] for d in listed.json()] == ["inst-0001"]

    gone = await client.delete("/citizens/me/devices/inst-0001", headers=bearer(me))
    assert gone.status_code == 204
    again = await client.delete("/citizens/me/devices/inst-0001", headers=bearer(me))
    assert again.status_code == 404
    assert again.headers["content-type"].startswith("application/problem+json")
    assert (await client.get("/citizens/me/devices", headers=bearer(me))).json() == []


async def test_a_token_registered_by_another_account_moves_there(client, citizen, db) -> None:
    a = (await citizen(A))["access_token"]
    b = (await citizen(B))["access_token"]
    body = {"token": TOKEN, "platform": "ios"}
    assert (
        await client.put("/citizens/me/devices/phone-a-001", json=body, headers=bearer(a))
    ).status_code == 201
    assert (
        await client.put("/citizens/me/devices/phone-b-001", json=body, headers=bearer(b))
    ).status_code == 201
    assert (await client.get("/citizens/me/devices", headers=bearer(a))).json() == []
    [moved] = (await client.get("/citizens/me/devices", headers=bearer(b))).json()
    assert moved["installation_id"] == "phone-b-001"
    assert await db.device_tokens() == {TOKEN}


async def test_devices_are_registered_on_me_only(client, citizen) -> None:
    a = (await citizen(A))["access_token"]
    b = (await citizen(B))["access_token"]
    b_id = await _id(client, b)
    a_id = await _id(client, a)
    body = {"token": TOKEN, "platform": "android"}
    other = await client.put(f"/citizens/{b_id}/devices/inst-0001", json=body, headers=bearer(a))
    assert other.status_code == 404
    own = await client.put(f"/citizens/{a_id}/devices/inst-0001", json=body, headers=bearer(a))
    assert own.status_code == 201
    listed = await client.get(f"/citizens/{b_id}/devices", headers=bearer(a))
    assert listed.status_code == 404
    anonymous = await client.put("/citizens/me/devices/inst-0001", json=body)
    assert anonymous.status_code == 401


BAD_REGISTRATIONS = [
    ("inst-0001", {"token": "short", "platform": "android"}, "token"),
    ("inst-0001", {"token": "has spaces in it, not a token", "platform": "android"}, "token"),
    ("inst-0001", {"token": TOKEN, "platform": "symbian"}, "platform"),
    ("inst-0001", {"token": TOKEN, "platform": "ios", "locale": "fr"}, "locale"),
    ("inst-0001", {"token": TOKEN, "platform": "ios", "extra": 1}, "extra"),
    ("inst-0001", {"platform": "ios"}, "token"),
    ("x", {"token": TOKEN, "platform": "ios"}, "installation_id"),
    ("bad%20id%20here", {"token": TOKEN, "platform": "ios"}, "installation_id"),
]


async def test_bad_registrations_are_400_problems(client, citizen, db) -> None:
    me = (await citizen(A))["access_token"]
    for path, body, field in BAD_REGISTRATIONS:
        response = await client.put(f"/citizens/me/devices/{path}", json=body, headers=bearer(me))
        assert response.status_code == 400, (path, body, response.text)
        assert response.headers["content-type"].startswith("application/problem+json")
        assert response.json()["type"] == problem_uri("validation-error")
        assert field in response.text, (field, response.text)
    not_json = await client.put(
        "/citizens/me/devices/inst-0001",
        content=b"{not json",
        headers={**bearer(me), "content-type": "application/json"},
    )
    assert not_json.status_code == 400
    assert await db.device_tokens() == set()


async def test_stale_devices_are_pruned_and_fresh_ones_kept(
    client, citizen, clock, relay, db
) -> None:
    me = (await citizen(A))["access_token"]
    for installation, token in (("old-phone-1", TOKEN), ("new-phone-1", TOKEN + "new")):
        await client.put(
            f"/citizens/me/devices/{installation}",
            json={"token": token, "platform": "android"},
            headers=bearer(me),
        )
    clock.advance(days=relay.config.device_stale_days - 1)
    await client.put(  # the app started on the new phone: seen again
        "/citizens/me/devices/new-phone-1",
        json={"token": TOKEN + "new", "platform": "android"},
        headers=bearer(me),
    )
    clock.advance(days=2)
    result = await relay.maintenance()
    assert result["devices_pruned"] == 1
    assert await db.device_tokens() == {TOKEN + "new"}
