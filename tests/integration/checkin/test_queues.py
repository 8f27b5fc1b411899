"""Walk-ins by facility code, arrivals with the shared profile, and the hospital's calls: pushes,
public status, live updates on Redis pub/sub."""

from __future__ import annotations

import asyncio
import datetime as dt
from collections import Counter
from collections.abc import Awaitable, Callable
from typing import Any

import httpx
import msgspec
from litestar import Litestar

from api.checkin.status_publisher import channel
from api.core.clock import FrozenClock
from tests.integration.checkin.conftest import (
    FACILITY,
    Clinic,
    Person,
    decode_svg,
    outbox,
    problem_type,
)
from tests.support.clock import within_one_local_day
from tests.support.problems import problem_uri

MakePerson = Callable[..., Awaitable[Person]]


async def facility_code(http: httpx.AsyncClient, department: str = "NOI") -> str:
    response = await http.get(f"/facilities/{FACILITY}/departments/{department}/qr.svg")
    assert response.status_code == 200, response.text
    assert response.headers["content-type"].startswith("image/svg+xml")
    assert "Khoa" in response.text  # captioned with the department's name
    return decode_svg(response.content)


async def walk_in(citizen: Person, code: str, on_behalf_of: str = "me") -> httpx.Response:
    return await citizen.http.post(
        f"/citizens/{on_behalf_of}/walk-ins", json={"code": code}, headers=citizen.headers
    )


async def test_walk_in_ticket_and_rescan_within_thirty_minutes(
    app: Litestar, clinic: Clinic, clock: FrozenClock, person: MakePerson
) -> None:
    citizen = await person()  # logged in before the clock moves
    within_one_local_day(clock, span=dt.timedelta(minutes=40))
    code = await facility_code(clinic.http)
    assert code.startswith(f"HBW1:{FACILITY}:NOI:")
    first = await walk_in(citizen, code)
    assert first.status_code == 201, first.text
    ticket = first.json()
    assert (ticket["number"], ticket["label"], ticket["appointment_id"]) == (1, "NOI-001", None)
    clock.advance(minutes=29)
    again = await walk_in(citizen, code)
    assert again.status_code == 200, again.text
    assert again.json() == ticket
    other = await walk_in(citizen, await facility_code(clinic.http, "NHI"))
    assert (other.status_code, other.json()["label"]) == (201, "NHI-001")
    clock.advance(minutes=2)  # 31 minutes after the first scan
    later = await walk_in(citizen, code)
    assert later.status_code == 201
    assert (later.json()["number"], later.json()["people_ahead"]) == (2, 1)
    assert len(await outbox(app, "checked_in", citizen.id)) == 3

    altered = code.replace(":NOI:", ":NHI:")
    refused = await walk_in(citizen, altered)
    assert (refused.status_code, problem_type(refused)) == (
        422,
        problem_uri("walk-in-code-invalid"),
    )
    for text in ("HBW1:01001:NOI", "https://example.org/", "HBW1::NOI:x"):
        assert problem_type(await walk_in(citizen, text)) == problem_uri("walk-in-code-invalid")
    missing = await clinic.http.get(f"/facilities/{FACILITY}/departments/NONE/qr.svg")
    assert missing.status_code == 404


async def test_concurrent_scans_by_one_citizen_share_one_ticket(
    clinic: Clinic, person: MakePerson
) -> None:
    code = await facility_code(clinic.http)
    citizen = await person()
    answers = await asyncio.gather(*(walk_in(citizen, code) for _ in range(10)))
    assert Counter(a.status_code for a in answers) == {201: 1, 200: 9}
    assert len({a.json()["ticket_id"] for a in answers}) == 1
    # the numbers the losers took were given back: the next citizen is number 2
    assert (await walk_in(await person(), code)).json()["number"] == 2


async def test_arrivals_show_the_shared_profile(clinic: Clinic, person: MakePerson) -> None:
    code = await facility_code(clinic.http)
    citizen = await person(name="Trần Thị B", birthdate="1985-07-09", gender="female")
    assert (await walk_in(citizen, code)).status_code == 201
    page = await clinic.http.get("/hospital/queues/NOI/arrivals", headers=clinic.headers)
    assert page.status_code == 200, page.text
    [arrival] = page.json()["items"]
    assert arrival["patient"] == {
        "citizen_id": citizen.id,
        "full_name": "Trần Thị B",
        "birth_year": 1985,
        "sex": "female",
        "insurance_card": None,
    }
    assert (arrival["label"], arrival["status"], arrival["source"]) == (
        "NOI-001",
        "waiting",
        "walk_in",
    )
    empty = await clinic.http.get(
        "/hospital/queues/NHI/arrivals", params={"status": "waiting"}, headers=clinic.headers
    )
    assert empty.json()["items"] == []
    unknown = await clinic.http.get("/hospital/queues/NONE/arrivals", headers=clinic.headers)
    assert unknown.status_code == 404


class Listener:
    """Collects the QueueStatus messages published on one queue's channel."""

    def __init__(self, app: Litestar, facility_id: str, department: str) -> None:
        self.app = app
        self.pubsub = app.state.redis.pubsub()
        self.name = channel(facility_id, department)
        self.messages: list[dict[str, Any]] = []

    async def __aenter__(self) -> Listener:
        await self.pubsub.subscribe(self.name)
        return self

    async def __aexit__(self, *_: object) -> None:
        await self.pubsub.aclose()

    async def drain(self) -> list[dict[str, Any]]:
        await self.app.state.runtime.checkin.publisher.flush()
        while True:
            message = await self.pubsub.get_message(timeout=0.2)
            if message is None:
                return self.messages
            if message["type"] == "message":
                self.messages.append(msgspec.json.decode(message["data"]))


async def test_calls_tell_the_citizens_and_update_the_board(
    app: Litestar, clinic: Clinic, clock: FrozenClock, person: MakePerson
) -> None:
    citizens = [await person() for _ in range(7)]  # logged in before the clock moves
    within_one_local_day(clock, span=dt.timedelta(minutes=20))
    code = await facility_code(clinic.http)
    async with Listener(app, FACILITY, "NOI") as listener:
        for citizen in citizens[:6]:
            assert (await walk_in(citizen, code)).status_code == 201
        published = await listener.drain()
        assert published[-1]["waiting"] == 6  # coalesced, but the last one is the latest state
        # the first four were told the queue at issue (3 or fewer ahead); five and six not yet
        assert await outbox(app, "queue_approaching") == []

        async def desk(action: str, **body: Any) -> dict[str, Any]:
            response = await clinic.http.post(
                f"/hospital/queues/NOI/{action}", json=body or None, headers=clinic.headers
            )
            assert response.status_code == 200, response.text
            return response.json()

        called = await desk("call-next")
        assert called["called"]["label"] == "NOI-001"
        assert called["called"]["room"] == "P.101"
        assert called["previous"] is None
        assert called["status"]["now_serving"] == {"number": 1, "label": "NOI-001", "room": "P.101"}
        [turn] = await outbox(app, "your_turn", citizens[0].id)
        assert (turn.payload["queue_number"], turn.payload["room"]) == (1, "P.101")
        [near] = await outbox(app, "queue_approaching")
        assert (str(near.citizen_id), near.payload["ahead"]) == (citizens[4].id, 3)

        clock.advance(minutes=6)
        recalled = await desk("recall", room="P.105")
        assert (recalled["called"]["number"], recalled["called"]["room"]) == (1, "P.105")
        assert len(await outbox(app, "your_turn", citizens[0].id)) == 2

        skipped = await desk("skip")
        assert skipped["previous"]["status"] == "skipped"
        assert skipped["called"]["label"] == "NOI-002"
        clock.advance(minutes=4)
        served = await desk("call-next", room="P.102")
        assert (served["previous"]["number"], served["previous"]["status"]) == (2, "served")
        status = served["status"]
        assert status["now_serving"] == {"number": 3, "label": "NOI-003", "room": "P.102"}
        assert status["waiting"] == 3
        assert [c["number"] for c in status["recent_calls"]] == [3, 2, 1]
        # calls at 0, 6 and 10 minutes: five minutes a person
        assert status["average_service_minutes"] == 5.0
        told = await outbox(app, "queue_approaching")
        assert [str(t.citizen_id) for t in told] == [citizens[4].id, citizens[5].id]

        newcomer = await walk_in(citizens[6], code)
        assert (newcomer.json()["people_ahead"], newcomer.json()["estimated_wait_minutes"]) == (
            3,
            15,
        )
        public = (await clinic.http.get(f"/facilities/{FACILITY}/queues/NOI")).json()
        assert public["waiting"] == 4
        published = await listener.drain()
        assert published[-1] == public

    for _ in range(4):
        await desk("call-next")
    empty = await desk("call-next")
    assert empty["called"] is None
    assert empty["status"]["now_serving"] is None
    assert empty["status"]["waiting"] == 0
    for action in ("recall", "skip"):
        response = await clinic.http.post(f"/hospital/queues/NOI/{action}", headers=clinic.headers)
        assert (response.status_code, problem_type(response)) == (
            409,
            problem_uri("queue-nothing-called"),
        )
    page = await clinic.http.get("/hospital/queues/NOI/arrivals", headers=clinic.headers)
    assert [a["status"] for a in page.json()["items"]] == ["skipped"] + ["served"] * 6


async def test_public_status_of_a_quiet_queue(clinic: Clinic) -> None:
    status = await clinic.http.get(f"/facilities/{FACILITY}/queues/NHI")
    assert status.status_code == 200
    body = status.json()
    assert body["department_name"] == "Khoa Nhi"
    assert (body["now_serving"], body["waiting"], body["recent_calls"]) == (None, 0, [])
    assert body["average_service_minutes"] is None
    assert (await clinic.http.get(f"/facilities/{FACILITY}/queues/NONE")).status_code == 404
    assert (await clinic.http.get("/facilities/NO-SUCH/queues/NOI")).status_code == 404
