"""A re-examination date in the episode becomes a follow-up in the citizen's book, a reminder the
day before (outbox, once however often the episode is re-sent), and a pre-filled slots search
where the facility publishes slots for that department."""

from __future__ import annotations

import datetime as dt
from zoneinfo import ZoneInfo

from sqlalchemy import select

from notifications.models import OutboxEntry
from tests.integration.insurance.conftest import FACILITY, xml_headers
from tests.support.auth import bearer
from tests.support.qd130 import CCCD, build_episode_files
from tests.support.qd130_envelope import build_envelope

HANOI = ZoneInfo("Asia/Ho_Chi_Minh")
PATH = "/hospital/insurance-xml/"


async def test_a_re_examination_date_is_reminded_and_bookable(
    client, app, admin_token, insurer_hospital, citizen
) -> None:
    day = dt.datetime.now(HANOI).date() + dt.timedelta(days=10)
    files = list(build_episode_files("outpatient", NGAY_TAI_KHAM=day.strftime("%Y%m%d")).items())
    envelope = build_envelope(FACILITY, [files])
    for _ in range(2):  # a re-send schedules nothing twice
        response = await client.post(PATH, content=envelope, headers=xml_headers(insurer_hospital))
        assert response.status_code == 200, response.text

    async with app.state.sessionmaker() as session:
        reminders = (
            await session.scalars(select(OutboxEntry).where(OutboxEntry.kind == "follow_up_due"))
        ).all()
    (reminder,) = reminders
    expected = dt.datetime.combine(day - dt.timedelta(days=1), dt.time(8), HANOI)
    assert reminder.due_at == expected
    assert reminder.payload["due_date"] == day.isoformat()
    assert reminder.payload["department"] == "K01"

    headers = bearer((await citizen(CCCD))["access_token"])
    listed = await client.get(
        "/citizens/me/health-book/insurance-files/follow-ups", headers=headers
    )
    assert listed.status_code == 200, listed.text
    (follow_up,) = listed.json()
    assert follow_up["due_date"] == day.isoformat()
    assert follow_up["book_near"] is None  # the facility publishes no slots for K01 yet

    department = await client.put(
        f"/admin/facilities/{FACILITY}/departments/K01",
        json={"name": "Khoa Khám bệnh"},
        headers=bearer(admin_token),
    )
    assert department.status_code in (200, 201), department.text
    start = dt.datetime.combine(day, dt.time(9), HANOI)
    published = await client.put(
        "/hospital/slots",
        json={
            "slots": [
                {
                    "id": "k01-near",
                    "department": "K01",
                    "start": start.isoformat(),
                    "end": (start + dt.timedelta(minutes=30)).isoformat(),
                    "capacity": 2,
                    "status": "open",
                }
            ]
        },
        headers=bearer(insurer_hospital.token),
    )
    assert published.status_code == 200, published.text
    (follow_up,) = (
        await client.get("/citizens/me/health-book/insurance-files/follow-ups", headers=headers)
    ).json()
    near = follow_up["book_near"]
    assert near["department"] == "K01"
    search = await client.get(near["url"])
    assert search.status_code == 200, search.text
    assert [slot["id"] for slot in search.json()["items"]]
