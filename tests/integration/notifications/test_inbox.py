"""The in-app inbox over HTTP: newest first, cursor pages, unread count, read marks, languages,
and who may read it."""

from __future__ import annotations

import uuid

from tests.integration.notifications.helpers import booked, enqueue, your_turn
from tests.support.auth import bearer
from tests.support.problems import problem_uri

PARENT = "001085000201"
CHILD = "001218000202"
STRANGER = "079090000203"


async def _login(client, citizen, number: str, **claims) -> tuple[str, uuid.UUID]:
    token = (await citizen(number, **claims))["access_token"]
    me = await client.get("/citizens/me", headers=bearer(token))
    return token, uuid.UUID(me.json()["id"])


async def test_pages_newest_first_with_the_unread_count(app, client, citizen, relay, clock):
    token, me = await _login(client, citizen, PARENT)
    ids = []
    for _ in range(25):
        ids.append(str(await enqueue(app, me, booked())))
        await relay.drain()
        clock.advance(seconds=1)
    seen: list[str] = []
    cursor = None
    pages = 0
    while True:
        params = {"limit": 10, **({"cursor": cursor} if cursor else {})}
        page = await client.get("/citizens/me/notifications", params=params, headers=bearer(token))
        assert page.status_code == 200, page.text
        body = page.json()
        assert body["unread_count"] == 25
        seen += [item["id"] for item in body["items"]]
        pages += 1
        cursor = body["next_cursor"]
        if cursor is None:
            break
    assert pages == 3
    assert seen == list(reversed(ids))  # newest first, nothing lost or repeated


async def test_items_are_rendered_in_the_asked_language_with_details(app, client, citizen, relay):
    token, me = await _login(client, citizen, PARENT)
    notification_id = await enqueue(app, me, booked(facility_name="Bệnh viện Bạch Mai"))
    await relay.drain()
    vi = (await client.get("/citizens/me/notifications", headers=bearer(token))).json()
    [item] = vi["items"]
    assert item["id"] == str(notification_id)
    assert item["kind"] == "appointment_booked"
    assert item["category"] == "informational"
    assert item["title"] == "Đặt lịch khám thành công"
    assert "Bệnh viện Bạch Mai – Khoa Nội" in item["body"]  # details live in the inbox
    assert "08:30 ngày 04/03/2030" in item["body"]
    assert item["data"]["notification_id"] == str(notification_id)
    assert item["read_at"] is None
    en = await client.get(
        "/citizens/me/notifications",
        headers={**bearer(token), "Accept-Language": "fr-FR, en-GB;q=0.8, vi;q=0.5"},
    )
    assert en.json()["items"][0]["title"] == "Appointment booked"
    assert "08:30 on 4 Mar 2030" in en.json()["items"][0]["body"]


async def test_read_one_and_read_all(app, client, citizen, relay):
    token, me = await _login(client, citizen, PARENT)
    first = await enqueue(app, me, booked())
    await enqueue(app, me, your_turn())
    await enqueue(app, me, booked())
    await relay.drain()
    read = await client.post(f"/citizens/me/notifications/{first}/read", headers=bearer(token))
    assert read.status_code == 200, read.text
    assert read.json()["read_at"] is not None
    again = await client.post(f"/citizens/me/notifications/{first}/read", headers=bearer(token))
    assert again.json()["read_at"] == read.json()["read_at"]  # idempotent
    listed = await client.get(
        "/citizens/me/notifications", params={"unread_only": "true"}, headers=bearer(token)
    )
    assert listed.json()["unread_count"] == 2
    assert str(first) not in {item["id"] for item in listed.json()["items"]}
    everything = await client.post("/citizens/me/notifications/read-all", headers=bearer(token))
    assert everything.status_code == 200
    assert everything.json() == {"marked": 2, "unread_count": 0}
    unknown = await client.post(
        f"/citizens/me/notifications/{uuid.uuid4()}/read", headers=bearer(token)
    )
    assert unknown.status_code == 404
    assert unknown.json()["type"] == problem_uri("not-found")


async def test_bad_paging_input_is_a_400_problem(client, citizen):
    token, _ = await _login(client, citizen, PARENT)
    for params in ({"cursor": "not-a-cursor"}, {"limit": 0}, {"limit": 101}, {"limit": "ten"}):
        response = await client.get(
            "/citizens/me/notifications", params=params, headers=bearer(token)
        )
        assert response.status_code == 400, (params, response.text)
        assert response.headers["content-type"].startswith("application/problem+json")


async def test_a_guardian_reads_the_childs_inbox_and_a_stranger_cannot(
    app, client, citizen, admin_token, relay
):
    recorded = await client.post(
        "/admin/guardianships",
        json={
            "guardian_national_id": PARENT,
            "dependent_national_id": CHILD,
            "kind": "parent",
            "dependent_birth_date": "2019-06-01",
        },
        headers=bearer(admin_token),
    )
    assert recorded.status_code == 201, recorded.text
    parent, _ = await _login(client, citizen, PARENT)
    stranger, _ = await _login(client, citizen, STRANGER)
    profile = (await client.get("/citizens/me", headers=bearer(parent))).json()
    child_id = uuid.UUID(profile["dependents"][0]["id"])
    notification_id = await enqueue(app, child_id, your_turn())
    await relay.drain()
    path = f"/citizens/{child_id}/notifications"
    as_parent = await client.get(path, headers=bearer(parent))
    assert as_parent.status_code == 200
    assert [i["id"] for i in as_parent.json()["items"]] == [str(notification_id)]
    assert (await client.get(path, headers=bearer(stranger))).status_code == 404
    read = await client.post(f"{path}/{notification_id}/read", headers=bearer(stranger))
    assert read.status_code == 404
    # the parent's own inbox does not mix in the child's notifications
    own = await client.get("/citizens/me/notifications", headers=bearer(parent))
    assert own.json()["items"] == []
