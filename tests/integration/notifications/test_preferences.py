"""Push preferences: muted reminder kinds and quiet hours stop the push, never the inbox;
operational kinds ignore quiet hours."""

from __future__ import annotations

import datetime as dt
import uuid

from tests.integration.notifications.helpers import booked, enqueue, reminder, your_turn
from tests.support.auth import bearer

ME = "001090000301"
HANOI = dt.timezone(dt.timedelta(hours=7))


async def _me(client, citizen) -> tuple[str, uuid.UUID]:
    token = (await citizen(ME))["access_token"]
    me = await client.get("/citizens/me", headers=bearer(token))
    return token, uuid.UUID(me.json()["id"])


async def test_defaults_then_replace(client, citizen) -> None:
    token, _ = await _me(client, citizen)
    got = await client.get("/citizens/me/notification-preferences", headers=bearer(token))
    assert got.status_code == 200
    assert got.json() == {"muted_kinds": [], "quiet_hours": None, "timezone": "Asia/Ho_Chi_Minh"}
    wanted = {
        "muted_kinds": ["appointment_reminder"],
        "quiet_hours": {"start": "22:00", "end": "07:00"},
        "timezone": "Asia/Ho_Chi_Minh",
    }
    put = await client.put(
        "/citizens/me/notification-preferences", json=wanted, headers=bearer(token)
    )
    assert put.status_code == 200, put.text
    assert put.json() == wanted
    got = await client.get("/citizens/me/notification-preferences", headers=bearer(token))
    assert got.json() == wanted


BAD_PREFERENCES = [
    {"muted_kinds": ["your_turn"]},  # operational kinds cannot be muted
    {"muted_kinds": ["appointment_booked"]},
    {"quiet_hours": {"start": "25:00", "end": "07:00"}},
    {"quiet_hours": {"start": "22:00", "end": "22:00"}},
    {"quiet_hours": {"start": "22:00"}},
    {"timezone": "Mars/Olympus_Mons"},
    {"surprise": True},
]


async def test_bad_preferences_are_400_problems(client, citizen) -> None:
    token, _ = await _me(client, citizen)
    for body in BAD_PREFERENCES:
        response = await client.put(
            "/citizens/me/notification-preferences", json=body, headers=bearer(token)
        )
        assert response.status_code == 400, (body, response.text)
        assert response.headers["content-type"].startswith("application/problem+json")
    unchanged = await client.get("/citizens/me/notification-preferences", headers=bearer(token))
    assert unchanged.json()["muted_kinds"] == []


async def test_muted_reminders_and_quiet_hours_skip_the_push_but_not_the_inbox(
    app, client, citizen, relay, fcm, clock, add_device
) -> None:
    token, me = await _me(client, citizen)
    phone = await add_device(me)
    await client.put(
        "/citizens/me/notification-preferences",
        json={
            "muted_kinds": ["appointment_reminder"],
            "quiet_hours": {"start": "22:00", "end": "07:00"},
        },
        headers=bearer(token),
    )
    clock.set(dt.datetime(2030, 3, 3, 15, 0, tzinfo=HANOI))  # afternoon
    muted = await enqueue(app, me, reminder())
    daytime = await enqueue(app, me, booked())
    await relay.drain()
    clock.set(dt.datetime(2030, 3, 3, 23, 30, tzinfo=HANOI))  # quiet hours (across midnight)
    quiet = await enqueue(app, me, booked())
    urgent = await enqueue(app, me, your_turn())
    await relay.drain()
    clock.set(dt.datetime(2030, 3, 4, 7, 0, tzinfo=HANOI))  # quiet hours are over
    morning = await enqueue(app, me, booked())
    await relay.drain()

    pushed = {notification_id for notification_id, _ in fcm.accepted()}
    assert pushed == {str(daytime), str(urgent), str(morning)}
    assert all(token == phone for _, token in fcm.accepted())
    inbox = await client.get("/citizens/me/notifications", headers=bearer(token))
    listed = {item["id"] for item in inbox.json()["items"]}
    assert listed == {str(n) for n in (muted, daytime, quiet, urgent, morning)}
