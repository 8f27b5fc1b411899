"""Check-in codes and the kiosk's check-in: QR round trip, single use under concurrency and
after Redis lost its data, every refusal with its own problem type, Redis down, numbering."""

from __future__ import annotations

import asyncio
import base64
import json
from collections import Counter
from collections.abc import Awaitable, Callable

import httpx
import jwt
import pytest
from litestar import Litestar
from redis.asyncio import Redis

from api.core.clock import FrozenClock
from tests.integration.checkin.conftest import (
    FACILITY,
    Booked,
    Clinic,
    Kiosk,
    decode_png,
    decode_svg,
    outbox,
    problem_type,
)
from tests.support.auth import bearer
from tests.support.hospital import register_facility
from tests.support.problems import problem_uri

BookSoon = Callable[..., Awaitable[list[Booked]]]


def _segment(token: str, index: int) -> dict[str, object]:
    part = token.split(".")[index]
    return json.loads(base64.urlsafe_b64decode(part + "=" * (-len(part) % 4)))


async def test_qr_images_decode_to_the_token_and_the_kiosk_accepts_it(
    app: Litestar, kiosk: Kiosk, book_soon: BookSoon
) -> None:
    [booked] = await book_soon(1)
    code = await booked.code()
    base = f"/citizens/me/appointments/{booked.appointment_id}"
    png = await booked.person.http.get(f"{base}/check-in.png", headers=booked.person.headers)
    svg = await booked.person.http.get(f"{base}/check-in.svg", headers=booked.person.headers)
    assert png.status_code == 200
    assert png.headers["content-type"] == "image/png"
    assert svg.status_code == 200
    assert svg.headers["content-type"].startswith("image/svg+xml")
    assert "no-store" in png.headers["cache-control"]
    scanned = decode_png(png.content)
    assert scanned == code["token"]
    assert decode_svg(svg.content) == code["token"]
    assert (await booked.code()) == code  # the same code each time

    response = await kiosk.check_in(scanned)
    assert response.status_code == 201, response.text
    ticket = response.json()
    assert ticket["number"] == 1
    assert ticket["label"] == "NOI-001"
    assert ticket["department"] == "NOI"
    assert ticket["department_name"] == "Khoa Nội"
    assert ticket["room"] == "P.101"
    assert ticket["facility_id"] == FACILITY
    assert ticket["people_ahead"] == 0
    assert ticket["estimated_wait_minutes"] == 0
    assert ticket["appointment_id"] == booked.appointment_id
    appointment = await booked.person.get(booked.appointment_id)
    assert appointment.json()["status"] == "checked_in"
    [pushed] = await outbox(app, "checked_in", booked.person.id)
    assert pushed.payload["queue_number"] == 1
    assert pushed.payload["ticket_id"] == ticket["ticket_id"]


async def test_the_code_is_a_signed_token_with_opaque_ids_only(
    client: httpx.AsyncClient, kiosk: Kiosk, book_soon: BookSoon
) -> None:
    [booked] = await book_soon(1)
    code = await booked.code()
    header, claims = _segment(code["token"], 0), _segment(code["token"], 1)
    assert header == {"alg": "EdDSA", "kid": code["kid"], "typ": "checkin+jwt"}
    assert set(claims) == {"iss", "aud", "sub", "fac", "ver", "nbf", "exp", "jti"}
    assert claims["sub"] == booked.appointment_id
    assert claims["fac"] == FACILITY
    assert claims["exp"] - claims["nbf"] == 90 * 60  # 60 minutes before to 30 after the start
    jwks = (await client.get("/.well-known/jwks.json")).json()
    key = next(k for k in jwks["keys"] if k["kid"] == code["kid"])
    verified = jwt.decode(
        code["token"],
        jwt.PyJWK(key).key,
        algorithms=["EdDSA"],
        audience=claims["aud"],
        options={"verify_nbf": False},
    )
    assert verified["jti"] == claims["jti"]
    # an access token is not a check-in code, and a check-in code is not an access token
    refused = await kiosk.check_in(booked.person.token)
    assert refused.status_code == 422
    assert problem_type(refused) == problem_uri("check-in-code-invalid")
    as_bearer = await client.get("/citizens/me", headers=bearer(code["token"]))
    assert as_bearer.status_code == 401


@pytest.mark.redis
async def test_each_refusal_has_its_own_problem_type(
    app: Litestar,
    client: httpx.AsyncClient,
    clinic: Clinic,
    clock: FrozenClock,
    kiosk: Kiosk,
    make_kiosk: Callable[[str], Awaitable[Kiosk]],
    book_soon: BookSoon,
    admin_token: str,
) -> None:
    early, late, cancelled, done = await book_soon(4)
    tokens = {
        "early": await early.token(),
        "late": await late.token(),
        "cancelled": await cancelled.token(),
        "done": await done.token(),
    }

    garbage = await kiosk.check_in("not a code")
    assert (garbage.status_code, problem_type(garbage)) == (
        422,
        problem_uri("check-in-code-invalid"),
    )
    head, body, signature = tokens["early"].split(".")
    altered = f"{head}.{body}.{signature[:-4]}{'AAAA' if signature[-4:] != 'AAAA' else 'BBBB'}"
    forged = await kiosk.check_in(altered)
    assert problem_type(forged) == problem_uri("check-in-code-invalid")

    await register_facility(client, admin_token, "01002", name="Bệnh viện Khác")
    elsewhere = await (await make_kiosk("01002")).check_in(tokens["early"])
    assert (elsewhere.status_code, problem_type(elsewhere)) == (
        422,
        problem_uri("check-in-wrong-facility"),
    )
    assert elsewhere.json()["facility_id"] == FACILITY

    start = clock.now()
    clock.advance(minutes=-31)  # 61 minutes before the start: the window opens at 60
    too_early = await kiosk.check_in(tokens["early"])
    assert (too_early.status_code, problem_type(too_early)) == (
        422,
        problem_uri("check-in-too-early"),
    )
    assert "valid_from" in too_early.json()
    clock.set(start)

    cancelling = await clinic.http.post(
        f"/hospital/appointments/{cancelled.appointment_id}/status",
        json={"status": "cancelled", "reason": "bác sĩ nghỉ"},
        headers=clinic.headers,
    )
    assert cancelling.status_code == 200, cancelling.text
    refused = await kiosk.check_in(tokens["cancelled"])
    assert (refused.status_code, problem_type(refused)) == (
        409,
        problem_uri("appointment-cancelled"),
    )
    again = await kiosk.check_in(tokens["cancelled"])  # not "used": the truth again
    assert problem_type(again) == problem_uri("appointment-cancelled")

    assert (await kiosk.check_in(tokens["done"])).status_code == 201
    used = await kiosk.check_in(tokens["done"])
    assert (used.status_code, problem_type(used)) == (409, problem_uri("check-in-code-used"))
    await app.state.redis.flushdb()
    replay = await kiosk.check_in(tokens["done"])
    assert (replay.status_code, problem_type(replay)) == (
        409,
        problem_uri("appointment-already-checked-in"),
    )

    clock.advance(minutes=61)  # 31 minutes after the start: the window closed at 30
    expired = await kiosk.check_in(tokens["late"])
    assert (expired.status_code, problem_type(expired)) == (422, problem_uri("check-in-expired"))
    assert "valid_until" in expired.json()
    shown = await late.person.http.get(
        f"/citizens/me/appointments/{late.appointment_id}/check-in", headers=late.person.headers
    )
    assert problem_type(shown) == problem_uri("check-in-expired")


async def test_a_code_shown_before_the_appointment_moved_is_superseded(
    clinic: Clinic, clock: FrozenClock, kiosk: Kiosk, book_soon: BookSoon
) -> None:
    [moved] = await book_soon(1, minutes=180)  # movable: beyond the two-hour cut-off
    old = await moved.token()
    later_slot = await clinic.open("moved-to", hours=3.1)
    response = await moved.person.reschedule(moved.appointment_id, later_slot)
    assert response.status_code == 200, response.text
    clock.advance(minutes=150)  # inside the old code's window (and the new one's)
    stale = await kiosk.check_in(old)
    assert (stale.status_code, problem_type(stale)) == (
        409,
        problem_uri("check-in-code-superseded"),
    )
    fresh = await moved.token()
    assert fresh != old
    assert (await kiosk.check_in(fresh)).status_code == 201


@pytest.mark.redis
async def test_fifty_concurrent_scans_of_one_code_check_in_once(
    app: Litestar, clinic: Clinic, kiosk: Kiosk, book_soon: BookSoon
) -> None:
    [booked] = await book_soon(1)
    token = await booked.token()
    answers = await asyncio.gather(*(kiosk.check_in(token) for _ in range(50)))
    statuses = Counter(a.status_code for a in answers)
    assert statuses == {201: 1, 409: 49}, statuses
    assert {problem_type(a) for a in answers if a.status_code == 409} == {
        problem_uri("check-in-code-used")
    }
    assert len(await outbox(app, "checked_in", booked.person.id)) == 1
    # Redis forgets every marker; the database still knows
    await app.state.redis.flushdb()
    replays = await asyncio.gather(*(kiosk.check_in(token) for _ in range(5)))
    assert [a.status_code for a in replays] == [409] * 5
    assert {problem_type(a) for a in replays} <= {
        problem_uri("appointment-already-checked-in"),
        problem_uri("check-in-code-used"),
    }
    assert problem_uri("appointment-already-checked-in") in {problem_type(a) for a in replays}
    arrivals = await clinic.http.get("/hospital/queues/NOI/arrivals", headers=clinic.headers)
    assert [a["number"] for a in arrivals.json()["items"]] == [1]


async def test_redis_down_answers_503_and_checks_nothing_in(
    app: Litestar, kiosk: Kiosk, book_soon: BookSoon
) -> None:
    [booked] = await book_soon(1)
    token = await booked.token()
    checkin = app.state.runtime.checkin
    working = checkin.redis
    broken = Redis.from_url("redis://127.0.0.1:9", socket_connect_timeout=0.5)
    checkin.redis = broken
    try:
        down = await kiosk.check_in(token)
    finally:
        checkin.redis = working
        await broken.aclose()
    assert down.status_code == 503, down.text
    assert problem_type(down) == problem_uri("service-unavailable")
    assert down.headers["retry-after"] == "5"
    assert "check-in cannot be confirmed" in down.json()["detail"]
    assert (await booked.person.get(booked.appointment_id)).json()["status"] == "booked"
    assert await outbox(app, "checked_in") == []
    back = await kiosk.check_in(token)
    assert back.status_code == 201, back.text
    assert back.json()["number"] == 1  # the failed attempt took no number


async def test_hundred_concurrent_check_ins_number_one_to_hundred(
    app: Litestar, kiosk: Kiosk, book_soon: BookSoon, clinic: Clinic
) -> None:
    booked = await book_soon(100)
    tokens = [await b.token() for b in booked]
    answers = await asyncio.gather(*(kiosk.check_in(t) for t in tokens))
    assert all(a.status_code == 201 for a in answers), [
        a.text for a in answers if a.status_code != 201
    ]
    numbers = sorted(a.json()["number"] for a in answers)
    assert numbers == list(range(1, 101))
    for answer in answers:
        ticket = answer.json()
        assert ticket["people_ahead"] == ticket["number"] - 1
        assert ticket["label"] == f"NOI-{ticket['number']:03d}"
    status = (await kiosk.http.get(f"/facilities/{FACILITY}/queues/NOI")).json()
    assert status["waiting"] == 100
    # another department counts from 1 on its own
    [other] = await book_soon(1, department="NHI")
    first = await kiosk.check_in(await other.token())
    assert (first.json()["number"], first.json()["label"]) == (1, "NHI-001")
    assert len(await outbox(app, "checked_in")) == 101
