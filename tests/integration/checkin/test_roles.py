"""Who may do what with check-in: beyond the role matrix, with real codes and real queues."""

from __future__ import annotations

import uuid
from collections.abc import Awaitable, Callable

import httpx
from litestar import Litestar

from tests.integration.checkin.conftest import (
    FACILITY,
    Booked,
    Clinic,
    Kiosk,
    Person,
    problem_type,
)
from tests.support.auth import bearer
from tests.support.hospital import make_hospital
from tests.support.problems import problem_uri


async def test_only_a_kiosk_of_the_facility_checks_in(
    client: httpx.AsyncClient,
    clinic: Clinic,
    kiosk: Kiosk,
    admin_token: str,
    book_soon: Callable[..., Awaitable[list[Booked]]],
) -> None:
    [booked] = await book_soon(1)
    body = {"code": await booked.token()}
    for token in (booked.person.token, clinic.hospital.token, admin_token):
        refused = await client.post("/kiosk/check-ins", json=body, headers=bearer(token))
        assert (refused.status_code, problem_type(refused)) == (
            403,
            problem_uri("insufficient-scope"),
        )
    anonymous = await client.post("/kiosk/check-ins", json=body)
    assert anonymous.status_code == 401
    assert (await booked.person.get(booked.appointment_id)).json()["status"] == "booked"
    assert (await kiosk.check_in(body["code"])).status_code == 201


async def test_citizens_reach_only_their_own_codes_and_tickets(
    client: httpx.AsyncClient,
    kiosk: Kiosk,
    book_soon: Callable[..., Awaitable[list[Booked]]],
    person: Callable[..., Awaitable[Person]],
) -> None:
    [booked] = await book_soon(1)
    stranger = await person()
    path = f"/citizens/me/appointments/{booked.appointment_id}/check-in"
    for suffix in ("", ".png", ".svg"):
        response = await client.get(path + suffix, headers=stranger.headers)
        assert response.status_code == 404
    other = f"/citizens/{booked.person.id}/walk-ins"
    walk_in = await client.post(other, json={"code": "x"}, headers=stranger.headers)
    assert walk_in.status_code == 404
    missing = await client.get(
        f"/citizens/me/appointments/{uuid.uuid4()}/check-in", headers=booked.person.headers
    )
    assert missing.status_code == 404


async def test_a_hospital_calls_only_its_own_queues(
    app: Litestar, client: httpx.AsyncClient, clinic: Clinic, admin_token: str
) -> None:
    other = await make_hospital(app, client, admin_token, facility_id="01009")
    # 01009 has no department NOI: the hospital's facility comes from its token, never the path
    response = await client.post("/hospital/queues/NOI/call-next", headers=bearer(other.token))
    assert response.status_code == 404
    own = await client.post("/hospital/queues/NOI/call-next", headers=clinic.headers)
    assert own.status_code == 200
    assert own.json()["status"]["facility_id"] == FACILITY
