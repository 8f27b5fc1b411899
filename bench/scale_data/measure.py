"""The request paths measured on each database: p50/p99 latency and server CPU per request.

Requests go one at a time over one keep-alive connection (loopback), so a path's latency is its
own, not a queue's; the server's CPU is read from ``/proc`` around each path's batch. Each path
runs ``n`` requests; what a request needs (a token, a free slot, a check-in code, a visit id) is
prepared before the clock starts.
"""

from __future__ import annotations

import datetime as dt
import statistics
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any

import httpx

from bench.procs import ServerProcess
from bench.scale_data.seed import NATIONAL_ID_BASE, national_id
from bench.scale_data.templates import Made, visit_bundle
from bench.scenarios import SetupContext
from bench.setups import booking_citizens, kiosk_token


@dataclass(frozen=True)
class Call:
    method: str
    path: str
    headers: dict[str, str]
    body: bytes | None = None
    expect: tuple[int, ...] = (200,)


@dataclass
class PathResult:
    name: str
    requests: int
    p50_ms: float
    p99_ms: float
    cpu_us_per_request: float
    statuses: dict[int, int] = field(default_factory=dict)

    def as_dict(self) -> dict[str, Any]:
        return {
            "requests": self.requests,
            "p50_ms": self.p50_ms,
            "p99_ms": self.p99_ms,
            "cpu_us_per_request": self.cpu_us_per_request,
            "statuses": {str(k): v for k, v in self.statuses.items()},
        }


def percentile(values: Sequence[float], q: float) -> float:
    ordered = sorted(values)
    if not ordered:
        return float("nan")
    index = min(len(ordered) - 1, max(0, round(q * (len(ordered) - 1))))
    return ordered[index]


def run_path(server: ServerProcess, name: str, calls: Sequence[Call]) -> PathResult:
    """Send ``calls`` one by one, the first as a warm-up (not counted); fail on an unexpected
    status (a bench of errors is no bench)."""
    latencies: list[float] = []
    statuses: dict[int, int] = {}
    warm_up, calls = calls[0], calls[1:]
    with httpx.Client(base_url=server.base_url, timeout=60) as http:
        http.request(warm_up.method, warm_up.path, headers=warm_up.headers, content=warm_up.body)
        cpu_before = server.cpu_seconds()
        for call in calls:
            started = time.perf_counter()
            answer = http.request(call.method, call.path, headers=call.headers, content=call.body)
            latencies.append((time.perf_counter() - started) * 1000)
            statuses[answer.status_code] = statuses.get(answer.status_code, 0) + 1
            if answer.status_code not in call.expect:
                raise RuntimeError(
                    f"{name}: {call.method} {call.path} answered {answer.status_code}: "
                    f"{answer.text[:300]}"
                )
        cpu = server.cpu_seconds() - cpu_before
    result = PathResult(
        name=name,
        requests=len(calls),
        p50_ms=round(statistics.median(latencies), 2),
        p99_ms=round(percentile(latencies, 0.99), 2),
        cpu_us_per_request=round(cpu * 1e6 / max(len(calls), 1), 1),
        statuses=statuses,
    )
    print(
        f"measure: {name:<22} p50 {result.p50_ms:8.2f} ms  p99 {result.p99_ms:8.2f} ms  "
        f"cpu {result.cpu_us_per_request:9.1f} µs/req",
        flush=True,
    )
    return result


def _bearer(token: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {token}"}


@dataclass
class Prepared:
    """Tokens and ids prepared for the measured paths."""

    citizens: list[str]
    """Tokens of ``n`` seeded citizens (consecutive numbers from ``first``)."""
    first: int
    heavy: str
    """Token of seeded citizen 0, who has hundreds of visits."""
    calls: dict[str, list[Call]]
    """What each path's measurement sends."""
    plan_calls: dict[str, list[Call]]
    """One more call per path for the plan capture (single-use calls are not reused)."""


def prepare(ctx: SetupContext, made: Made, *, n: int, citizens: int) -> Prepared:
    """Log in ``n`` seeded citizens from the middle of the population and the heaviest one, and
    prepare every path's calls (slots, bookings, check-in codes, deep cursors)."""
    first = citizens // 2
    # two citizens more than measured: one warms each path up (its first request in a fresh
    # process pays for imports and connections), one's calls are the plan capture's
    tokens = booking_citizens(ctx, n + 2, NATIONAL_ID_BASE + first)
    (heavy,) = booking_citizens(ctx, 1, NATIONAL_ID_BASE)
    hospital = _bearer(made.hospital)
    calls: dict[str, list[Call]] = {}

    calls["overview_cold"] = [Call("GET", "/citizens/me/health-book", _bearer(t)) for t in tokens]
    calls["overview_warm"] = [Call("GET", "/citizens/me/health-book", _bearer(t)) for t in tokens]

    visits: list[Call] = []
    for token in tokens:
        page = ctx.request_json(
            "GET", "/citizens/me/health-book/visits?limit=5", headers=_bearer(token)
        )
        if page["items"]:
            visit = page["items"][0]["id"]
            visits.append(Call("GET", f"/citizens/me/health-book/visits/{visit}", _bearer(token)))
    calls["visit_detail"] = visits

    # the deep page: the heavy citizen's observations, ten pages of 20 in
    path = "/citizens/me/health-book/observations?limit=20"
    for _ in range(10):
        page = ctx.request_json("GET", path, headers=_bearer(heavy))
        if not page.get("next_cursor"):
            break
        path = f"/citizens/me/health-book/observations?limit=20&cursor={page['next_cursor']}"
    calls["observations_deep_page"] = [Call("GET", path, _bearer(heavy)) for _ in range(n + 2)]

    calls["access_log"] = [Call("GET", "/citizens/me/access-log", _bearer(t)) for t in tokens]

    start = dt.datetime.now(dt.UTC).replace(microsecond=0)
    future = [
        {
            "id": f"measure-book-{k}",
            "department": "NOI",
            "start": (start + dt.timedelta(days=2, minutes=k)).isoformat(),
            "end": (start + dt.timedelta(days=2, minutes=k + 15)).isoformat(),
            "capacity": 1,
        }
        for k in range(n + 2)
    ]
    soon = [
        {
            "id": f"measure-checkin-{k}",
            "department": "NOI",
            "start": (start + dt.timedelta(minutes=20)).isoformat(),
            "end": (start + dt.timedelta(minutes=35)).isoformat(),
            "capacity": 1,
        }
        for k in range(n + 2)
    ]
    answer = ctx.request_json(
        "PUT", "/hospital/slots", json={"slots": future + soon}, headers=hospital, timeout=120
    )
    ids = [s["slot_id"] for s in answer["slots"]]
    book_ids, checkin_ids = ids[: n + 2], ids[n + 2 :]
    calls["booking"] = [
        Call(
            "POST",
            "/citizens/me/appointments",
            {
                **_bearer(t),
                "Content-Type": "application/json",
                "Idempotency-Key": f"scale-book-{k}",
            },
            f'{{"slot_id":"{book_ids[k]}"}}'.encode(),
            (201,),
        )
        for k, t in enumerate(tokens)
    ]
    kiosk = _bearer(kiosk_token(ctx, made.facilities[0]))
    checkins: list[Call] = []
    for k, token in enumerate(tokens):
        booked = ctx.request_json(
            "POST",
            "/citizens/me/appointments",
            json={"slot_id": checkin_ids[k]},
            headers={**_bearer(token), "Idempotency-Key": f"scale-checkin-{k}"},
        )
        code = ctx.request_json(
            "GET", f"/citizens/me/appointments/{booked['id']}/check-in", headers=_bearer(token)
        )
        checkins.append(
            Call(
                "POST",
                "/kiosk/check-ins",
                {**kiosk, "Content-Type": "application/json"},
                f'{{"code":"{code["token"]}"}}'.encode(),
                (200, 201),
            )
        )
    calls["checkin"] = checkins

    when = start - dt.timedelta(days=1)
    calls["publish"] = [
        Call(
            "POST",
            "/hospital/summaries",
            {**hospital, "Content-Type": "application/fhir+json"},
            visit_bundle(national_id(first + k), f"measure-{k}", 3, when),
            (200, 201),
        )
        for k in range(n + 2)
    ]
    # every path has n + 2 calls: the warm-up, the n measured, the plan capture's
    plan_calls = {name: [batch[-1]] for name, batch in calls.items()}
    measured = {name: batch[:-1] for name, batch in calls.items()}
    return Prepared(
        citizens=tokens, first=first, heavy=heavy, calls=measured, plan_calls=plan_calls
    )


PATHS: tuple[str, ...] = (
    "overview_cold",
    "overview_warm",
    "observations_deep_page",
    "visit_detail",
    "access_log",
    "booking",
    "checkin",
    "publish",
)


def measure_all(
    server: ServerProcess, prepared: Prepared, flush_cache: Callable[[], None]
) -> dict[str, PathResult]:
    """Every path in :data:`PATHS` order (cold before warm: the cache is flushed first)."""
    flush_cache()
    return {name: run_path(server, name, prepared.calls[name]) for name in PATHS}
