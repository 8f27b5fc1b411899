"""Rate limits at the boundary, per class: exactly N requests pass, the N+1st gets 429 with the
right ``Retry-After``, and one window later requests pass again (a frozen clock moves time)."""

from __future__ import annotations

import asyncio
import re
import uuid
from collections.abc import AsyncIterator, Awaitable, Callable
from typing import Any

import httpx
import pytest
import redis.asyncio as redis_asyncio
from litestar import Litestar, get, post
from litestar.middleware import DefineMiddleware

from api.app import create_app
from api.core.clock import FrozenClock
from api.core.problem_handlers import EXCEPTION_HANDLERS
from api.core.ratelimit import (
    RateLimited,
    RateLimiter,
    RateLimitMiddleware,
    RateLimitUnavailable,
    classify,
    client_address,
)
from api.core.redis import create_redis
from api.core.settings import Settings
from tests.support.auth import bearer
from tests.support.hospital import Hospital
from tests.support.problems import problem_uri
from tests.support.running import app_client

pytestmark = pytest.mark.redis  # every limiter test also runs on the Redis Cluster

WINDOW = 60
BUDGETS = {
    "rate_limit_token": f"4/{WINDOW}",
    "rate_limit_booking": f"3/{WINDOW}",
    "rate_limit_checkin": f"3/{WINDOW}",
    "rate_limit_publishing": f"3/{WINDOW}",
    "rate_limit_reads": f"5/{WINDOW}",
    "rate_limit_writes": f"3/{WINDOW}",
    "trusted_proxy_hops": 1,
}

Send = Callable[[], Awaitable[httpx.Response]]


@pytest.fixture
def app(settings: Settings, clock: FrozenClock) -> Litestar:
    return create_app(settings.replace(**BUDGETS), clock=clock)


def assert_limited(response: httpx.Response, limit_class: str, retry_after: int) -> None:
    assert response.status_code == 429, response.text
    assert response.headers["retry-after"] == str(retry_after)
    body = response.json()
    if response.headers["content-type"].startswith("application/fhir+json"):
        # the FHIR endpoints answer every error as an OperationOutcome
        assert body["resourceType"] == "OperationOutcome"
        assert body["issue"][0]["code"] == "throttled"
    else:
        assert response.headers["content-type"].startswith("application/problem+json")
        assert body["type"] == problem_uri("rate-limited")
        assert body["limit_class"] == limit_class
        assert body["window_seconds"] == WINDOW
    assert response.headers["ratelimit"] == f'"{limit_class}";r=0;t={retry_after}'


async def assert_boundary(send: Send, clock: FrozenClock, limit_class: str, budget: int) -> None:
    """``budget`` requests pass; the next is refused with Retry-After = the window;
    a second before the window ends still refused (Retry-After 1); at its end one passes."""
    for n in range(1, budget + 1):
        response = await send()
        assert response.status_code != 429, f"request {n} of {budget}: {response.text}"
        policy = f'"{limit_class}";q={budget};w={WINDOW}'
        assert response.headers["ratelimit-policy"] == policy
        assert response.headers["ratelimit"] == f'"{limit_class}";r={budget - n};t={WINDOW}'
    assert_limited(await send(), limit_class, WINDOW)
    clock.advance(seconds=WINDOW - 1)
    assert_limited(await send(), limit_class, 1)
    clock.advance(seconds=1)
    response = await send()
    assert response.status_code != 429, response.text
    # every request of the first window was at one instant: all of them left it together
    assert response.headers["ratelimit"] == f'"{limit_class}";r={budget - 1};t={WINDOW}'


async def test_token_exchange_is_limited_per_ip_address(client, clock) -> None:
    def send_from(address: str) -> Send:
        async def send() -> httpx.Response:
            return await client.post(
                "/auth/token",
                data={"grant_type": "client_credentials"},
                headers={"X-Forwarded-For": f"198.51.100.9, {address}"},
            )

        return send

    await assert_boundary(send_from("203.0.113.7"), clock, "token", 4)
    for _ in range(4):
        limited = await send_from("203.0.113.7")()
    assert limited.status_code == 429
    assert limited.json()["error"] == "temporarily_unavailable"  # the token endpoint's OAuth code
    # another address has a budget of its own; the forged left-hand entry does not matter
    assert (await send_from("203.0.113.8")()).status_code == 400


async def test_booking_cancel_and_reschedule_share_the_booking_budget(
    client, clock, citizen
) -> None:
    tokens = await citizen("001090000101")
    headers = bearer(tokens["access_token"])
    appointment = uuid.uuid4()
    paths = iter(
        [
            "/citizens/me/appointments",
            f"/citizens/me/appointments/{appointment}/cancel",
            f"/citizens/me/appointments/{appointment}/reschedule",
        ]
    )

    async def send() -> httpx.Response:
        path = next(paths, "/citizens/me/appointments")
        return await client.post(path, json={}, headers=headers)

    await assert_boundary(send, clock, "booking", 3)
    # the same citizen still reads and writes (other classes); another citizen books
    assert (await client.get("/citizens/me", headers=headers)).status_code == 200
    other = bearer((await citizen("001090000102"))["access_token"])
    response = await client.post("/citizens/me/appointments", json={}, headers=other)
    assert response.status_code != 429


async def test_publishing_is_limited_per_hospital_client(client, clock, hospital: Hospital) -> None:
    headers = bearer(hospital.token)
    calls = iter([0, 1])

    async def send() -> httpx.Response:
        if next(calls, 0):
            return await client.put("/hospital/slots", json=[], headers=headers)
        return await client.post(
            "/hospital/summaries",
            content=b'{"resourceType": "Bundle"}',
            headers={**headers, "Content-Type": "application/fhir+json"},
        )

    await assert_boundary(send, clock, "publishing", 3)


async def test_reads_are_limited_per_citizen_and_per_address(client, clock, citizen) -> None:
    headers = bearer((await citizen("001090000103"))["access_token"])

    async def send() -> httpx.Response:
        return await client.get("/citizens/me", headers=headers)

    await assert_boundary(send, clock, "reads", 5)

    async def anonymous() -> httpx.Response:
        return await client.get("/facilities", headers={"X-Forwarded-For": "192.0.2.44"})

    await assert_boundary(anonymous, clock, "reads", 5)
    # probes are never limited
    for _ in range(8):
        assert (await client.get("/health/live")).status_code == 200


async def test_other_writes_have_their_own_budget(client, clock, citizen) -> None:
    headers = bearer((await citizen("001090000104"))["access_token"])

    async def send() -> httpx.Response:
        return await client.post("/citizens/me/notifications/read-all", headers=headers)

    await assert_boundary(send, clock, "writes", 3)


async def test_a_bad_token_counts_against_the_address(client, clock) -> None:
    async def send() -> httpx.Response:
        return await client.get(
            "/citizens/me",
            headers={"Authorization": "Bearer not-a-token", "X-Forwarded-For": "192.0.2.77"},
        )

    for _ in range(5):
        assert (await send()).status_code == 401
    assert_limited(await send(), "reads", WINDOW)


# check-in: the class applies by route pattern, so these routes are limited whoever serves them


@pytest.fixture
async def checkin_client(
    settings: Settings, clock: FrozenClock
) -> AsyncIterator[httpx.AsyncClient]:
    @post("/kiosk/check-ins", status_code=201, sync_to_thread=False)
    def kiosk_check_in() -> dict[str, str]:
        return {"ticket": "A001"}

    @post("/citizens/{citizen_id:str}/walk-ins", status_code=201, sync_to_thread=False)
    def walk_in() -> dict[str, str]:
        return {"ticket": "B001"}

    @get("/kiosk/page", sync_to_thread=False, opt={"rate_limit": "exempt"})
    def page() -> str:
        return "page"

    async def lifespan_state(app: Litestar) -> None:
        app.state.rate_limiter = RateLimiter.from_settings(
            settings.replace(**BUDGETS), app.state.redis, clock
        )

    mini = Litestar(
        route_handlers=[kiosk_check_in, walk_in, page],
        middleware=[
            DefineMiddleware(
                RateLimitMiddleware,
                caller_of=lambda scope: next(
                    (v.decode() for n, v in scope["headers"] if n == b"x-caller"), None
                ),
            )
        ],
        exception_handlers=EXCEPTION_HANDLERS,
        on_startup=[lifespan_state],
    )
    mini.state.redis = create_redis(settings)
    mini.state.settings = settings  # the public base URL of its problem types
    try:
        async with app_client(mini) as http:
            yield http
    finally:
        await mini.state.redis.aclose()


async def test_kiosk_check_ins_and_walk_ins_are_the_checkin_class(checkin_client, clock) -> None:
    async def kiosk() -> httpx.Response:
        return await checkin_client.post("/kiosk/check-ins", headers={"X-Caller": "client:k1"})

    await assert_boundary(kiosk, clock, "checkin", 3)

    async def walk_in() -> httpx.Response:
        return await checkin_client.post(
            "/citizens/me/walk-ins", headers={"X-Caller": "citizen:c1"}
        )

    await assert_boundary(walk_in, clock, "checkin", 3)
    for _ in range(5):  # a handler may opt out
        assert (await checkin_client.get("/kiosk/page")).status_code == 200


# classification, addresses, Redis away


@pytest.mark.parametrize(
    ("method", "template", "expected"),
    [
        ("POST", "/auth/token", "token"),
        ("POST", "/citizens/{citizen_id}/appointments", "booking"),
        ("POST", "/citizens/{citizen_id}/appointments/{appointment_id}/cancel", "booking"),
        ("POST", "/citizens/{citizen_id}/appointments/{appointment_id}/reschedule", "booking"),
        ("GET", "/citizens/{citizen_id}/appointments", "reads"),
        ("POST", "/kiosk/check-ins", "checkin"),
        ("POST", "/citizens/{citizen_id}/walk-ins", "checkin"),
        ("POST", "/hospital/summaries", "publishing"),
        ("POST", "/hospital/summaries/{document_id}/entered-in-error", "publishing"),
        ("PUT", "/hospital/slots", "publishing"),
        ("GET", "/hospital/appointments", "reads"),
        ("POST", "/auth/logout", "writes"),
        ("DELETE", "/citizens/{citizen_id}/devices/{installation_id}", "writes"),
        ("GET", "/health/ready", None),
        ("GET", "/metrics", None),
        ("OPTIONS", "/citizens/{citizen_id}", None),
    ],
)
def test_classes_by_route(method: str, template: str, expected: str | None) -> None:
    assert classify(method, template) == expected


def _scope(peer: str, *forwarded: str) -> dict[str, Any]:
    return {
        "client": (peer, 4242),
        "headers": [(b"x-forwarded-for", value.encode()) for value in forwarded],
    }


def test_client_address_trusts_only_the_configured_proxies() -> None:
    assert client_address(_scope("10.0.0.5", "1.1.1.1"), 0) == "10.0.0.5"
    assert client_address(_scope("10.0.0.5", "6.6.6.6, 1.1.1.1"), 1) == "1.1.1.1"
    assert client_address(_scope("10.0.0.5", "6.6.6.6, 1.1.1.1, 10.0.0.4"), 2) == "1.1.1.1"
    assert client_address(_scope("10.0.0.5", "6.6.6.6", "1.1.1.1"), 1) == "1.1.1.1"
    assert client_address(_scope("10.0.0.5"), 1) == "10.0.0.5"
    assert client_address(_scope("10.0.0.5", "1.1.1.1"), 3) == "1.1.1.1"


async def test_without_redis_booking_and_checkin_fail_closed_and_the_rest_open(clock) -> None:
    unreachable = redis_asyncio.Redis(host="127.0.0.1", port=1, socket_connect_timeout=1)
    limiter = RateLimiter.from_settings(Settings.from_flat(**BUDGETS), unreachable, clock)
    try:
        for limit_class in ("token", "publishing", "reads", "writes"):
            assert await limiter.hit(limit_class, "citizen:x") is None
        for limit_class in ("booking", "checkin"):
            with pytest.raises(RateLimitUnavailable) as refused:
                await limiter.hit(limit_class, "citizen:x")
            assert refused.value.problem.status == 503
            assert refused.value.headers["Retry-After"] == "5"
    finally:
        await unreachable.aclose()


async def test_limiter_keys_are_single_slot_and_budgets_independent(settings, clock) -> None:
    redis = create_redis(settings)
    limiter = RateLimiter.from_settings(settings.replace(**BUDGETS), redis, clock)
    try:
        key = limiter.key("booking", "citizen:abc")
        assert key == "rl:{booking:citizen:abc}"
        for _ in range(3):
            assert (await limiter.hit("booking", "citizen:abc")) is not None
        with pytest.raises(RateLimited):
            await limiter.hit("booking", "citizen:abc")
        # the refused request was not counted: exactly the budget is in the window
        assert await redis.zcard(key) == 3
        assert await redis.pttl(key) > 0
        assert (await limiter.hit("booking", "citizen:other")).remaining == 2
        unlimited = RateLimiter(redis, clock, {"reads": None})
        assert await unlimited.hit("reads", "citizen:abc") is None
    finally:
        await redis.aclose()


async def test_limits_switched_off_cost_nothing(settings, clock) -> None:
    app = create_app(settings.replace(**BUDGETS, rate_limit_enabled=False), clock=clock)
    async with app_client(app) as http:
        for _ in range(8):
            response = await http.get("/facilities")
            assert response.status_code == 200
            assert "ratelimit" not in response.headers


def test_every_served_route_has_its_class(tmp_path) -> None:
    """The app's own route table: check-in, booking and publishing routes fall in their classes
    (a new route with a write method lands in ``writes`` unless a rule names it)."""
    app = create_app(Settings(data_dir=str(tmp_path / "data")))
    classes: dict[tuple[str, str], str | None] = {}
    for route in app.routes:
        template = re.sub(r"\{(\w+):[^}]+\}", r"{\1}", route.path)
        for method in getattr(route, "methods", ()):
            classes[(method, template)] = classify(method, template)
    assert classes[("POST", "/kiosk/check-ins")] == "checkin"
    assert classes[("POST", "/citizens/{citizen_id}/walk-ins")] == "checkin"
    assert classes[("POST", "/citizens/{citizen_id}/appointments")] == "booking"
    assert classes[("POST", "/hospital/summaries")] == "publishing"
    assert classes[("PUT", "/hospital/slots")] == "publishing"
    assert classes[("POST", "/auth/token")] == "token"
    assert classes[("POST", "/hospital/queues/{department}/call-next")] == "writes"
    assert classes[("GET", "/citizens/{citizen_id}/health-book")] == "reads"
    unlimited = {key for key, found in classes.items() if found is None}
    assert {key for key in unlimited if key[0] not in ("OPTIONS", "HEAD")} == {
        ("GET", "/health/live"),
        ("GET", "/health/ready"),
        ("GET", "/metrics"),
    }


async def test_a_burst_larger_than_the_redis_pool_queues_instead_of_failing(
    settings, clock
) -> None:
    """A client's pool has REDIS_MAX_CONNECTIONS (100) connections: 300 requests at once must
    not fail closed for want of a connection."""
    redis = create_redis(settings)
    limiter = RateLimiter.from_settings(
        settings.replace(rate_limit_booking="1000/60"), redis, clock
    )
    try:
        results = await asyncio.gather(
            *(limiter.hit("booking", f"citizen:{n}") for n in range(300)), return_exceptions=True
        )
        assert [r for r in results if isinstance(r, BaseException)] == []
    finally:
        await redis.aclose()
