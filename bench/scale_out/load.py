"""The mixed load: scenarios running at once for a bounded time, asyncio + httpx (HTTP/1.1,
kept-alive connections through nginx), every answer timed and judged.

Scenarios (each a number of concurrent users looping until the deadline):

- ``login``: token exchange with a fresh ID token, for a known citizen or a new one;
- ``book_read``: ``GET /citizens/me/health-book``;
- ``booking_contended``: many citizens on the same slot of capacity 5 until it is full, then the
  next slot (409 ``slot-full`` and ``appointment-exists`` expected); each with an Idempotency-Key,
  and a share retried with the same key (``booking_replay``: the first answer again);
- ``booking_distinct``: each request books a slot nobody else asks for;
- ``publish``: a FHIR visit Bundle with an identifier of its own for a citizen with phones (201
  ``created``), a share sent again byte for byte (``publish_replay``: 200 ``unchanged``, same id);
- ``checkin``: the kiosk posts an appointment's check-in code; for a share the same code is sent
  twice at once (one 201, one 409).
"""

from __future__ import annotations

import asyncio
import datetime as dt
import itertools
import json
import random
import time
from collections import Counter, deque
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import httpx

from api.demo.data import FACILITIES, Visit, visit_bundle
from bench.scale_out.population import Citizen, Population

DEMO_PERSON = "001090000001"
"""``visit_bundle`` writes one of the demo's people; the Patient's identifier is then replaced."""
NATIONAL_ID_SYSTEM = "https://fhir.moh.gov.vn/sid/cccd"
DOCUMENT_SYSTEM = "urn:healthbook:scaleout:document"
REPLAY_SHARE = 0.1
REPUBLISH_SHARE = 0.15
DUPLICATE_SCAN_SHARE = 0.15
NEW_CITIZEN_LOGIN_SHARE = 0.3

WEIGHTS: dict[str, int] = {
    "login": 2,
    "book_read": 6,
    "booking_contended": 6,
    "booking_distinct": 2,
    "publish": 3,
    "checkin": 3,
}
"""Concurrent users per scenario, in shares of ``--concurrency``."""

# (status, problem slug) answers a scenario expects besides its 2xx
EXPECTED: dict[str, set[tuple[int, str]]] = {
    "booking_contended": {
        (409, "slot-full"),
        (409, "appointment-exists"),
        (409, "appointment-limit-reached"),
    },
    "booking_replay": {
        (409, "slot-full"),
        (409, "appointment-exists"),
        (409, "appointment-limit-reached"),
    },
    "booking_distinct": {(409, "appointment-limit-reached")},
    "checkin_duplicate": {
        (409, "check-in-code-used"),
        (409, "appointment-already-checked-in"),
    },
}
SUCCESS: dict[str, set[int]] = {
    "baseline": {200},
    "login": {200},
    "book_read": {200},
    "booking_contended": {201},
    "booking_replay": {201},
    "booking_distinct": {201},
    "publish": {201},
    "publish_replay": {200},
    "checkin": {201},
    "checkin_duplicate": {201},
}


def slug(answer: httpx.Response) -> str:
    """The last segment of a problem+json ``type`` (``slot-full``), or ``""``."""
    if answer.status_code < 400:
        return ""
    try:
        kind = answer.json().get("type", "")
    except (ValueError, AttributeError):
        return ""
    return str(kind).rstrip("/").rsplit("/", 1)[-1]


@dataclass
class Tally:
    """What one scenario's requests got."""

    name: str
    latencies: list[float] = field(default_factory=list)
    ok: int = 0
    expected: Counter[str] = field(default_factory=Counter)
    unexpected: Counter[str] = field(default_factory=Counter)
    statuses: Counter[int] = field(default_factory=Counter)
    transport_errors: Counter[str] = field(default_factory=Counter)

    @property
    def requests(self) -> int:
        return len(self.latencies)

    @property
    def server_errors(self) -> int:
        return sum(n for status, n in self.statuses.items() if status >= 500)

    def judge(self, answer: httpx.Response, seconds: float) -> None:
        self.latencies.append(seconds)
        status = answer.status_code
        self.statuses[status] += 1
        if status in SUCCESS[self.name]:
            self.ok += 1
            return
        label = f"{status} {slug(answer)}".strip()
        if (status, slug(answer)) in EXPECTED.get(self.name, ()):
            self.expected[label] += 1
        else:
            self.unexpected[label] += 1

    def summary(self, wall: float) -> dict[str, Any]:
        ordered = sorted(self.latencies)

        def pct(p: float) -> float | None:
            if not ordered:
                return None
            return round(ordered[min(len(ordered) - 1, int(p * len(ordered)))] * 1000, 2)

        return {
            "requests": self.requests,
            "requests_per_s": round(self.requests / wall, 1) if wall else None,
            "p50_ms": pct(0.50),
            "p99_ms": pct(0.99),
            "ok": self.ok,
            "expected_non_2xx": dict(self.expected),
            "unexpected": dict(self.unexpected),
            "statuses": {str(k): v for k, v in sorted(self.statuses.items())},
            "transport_errors": dict(self.transport_errors),
        }


@dataclass
class Observed:
    """What the invariants are checked against, as the load saw it."""

    booked: dict[str, str] = field(default_factory=dict)
    """Appointment id -> the Idempotency-Key whose first answer created it (201)."""
    duplicate_booking_ids: list[str] = field(default_factory=list)
    booking_first: dict[str, tuple[int, str]] = field(default_factory=dict)
    """Idempotency-Key -> (status, appointment id or problem slug) of its first answer."""
    replays: list[dict[str, Any]] = field(default_factory=list)
    published: dict[str, str] = field(default_factory=dict)
    """Document identifier value -> document id, for every 201 ``created``."""
    publish_other: list[dict[str, Any]] = field(default_factory=list)
    republishes: list[dict[str, Any]] = field(default_factory=list)
    checkin_single: list[tuple[str, int, str]] = field(default_factory=list)
    checkin_pairs: list[tuple[str, list[tuple[int, str]]]] = field(default_factory=list)
    checkin_exhausted_at: float | None = None
    distinct_exhausted_at: float | None = None


class Load:
    def __init__(self, base_url: str, population: Population, concurrency: int, seed: int):
        self.base_url = base_url
        self.population = population
        self.concurrency = concurrency
        self.random = random.Random(seed)
        self.phases: dict[str, dict[str, Tally]] = {}
        self.tallies = self.phase("load")
        self.observed = Observed()
        self.users = allocate(concurrency)
        self._deadline = 0.0
        self._started = 0.0
        self._contended_index = 0
        self._distinct = iter(population.distinct_slots)
        self._checkins = deque(population.checkin_codes)
        self._booker_cycle = itertools.cycle(population.bookers)
        self._documents = itertools.count(1)
        self._new_national_id = itertools.count(population.next_national_id)
        self._run_tag = f"{int(time.time())}"

    def phase(self, name: str) -> dict[str, Tally]:
        """Count the requests from now on apart, as phase ``name`` (its tallies)."""
        self.tallies = {scenario: Tally(scenario) for scenario in SUCCESS}
        self.phases[name] = self.tallies
        return self.tallies

    def totals(self) -> dict[str, Tally]:
        """Every phase's tallies summed per scenario (for the invariants)."""
        totals = {scenario: Tally(scenario) for scenario in SUCCESS}
        for tallies in self.phases.values():
            for scenario, tally in tallies.items():
                total = totals[scenario]
                total.latencies += tally.latencies
                total.ok += tally.ok
                total.expected.update(tally.expected)
                total.unexpected.update(tally.unexpected)
                total.statuses.update(tally.statuses)
                total.transport_errors.update(tally.transport_errors)
        return totals

    # --- plumbing ------------------------------------------------------------------------------

    def _running(self) -> bool:
        return time.perf_counter() < self._deadline

    def _client(self, connections: int) -> httpx.AsyncClient:
        """A user's own client and kept-alive connection(s): one client shared by every user
        costs several times the CPU per request (its pool is searched on every request), and
        the load generator shares this machine's cores with the service."""
        return httpx.AsyncClient(
            base_url=self.base_url,
            timeout=httpx.Timeout(120, connect=10),
            limits=httpx.Limits(max_connections=connections, max_keepalive_connections=connections),
        )

    async def _send(
        self, http: httpx.AsyncClient, scenario: str, method: str, path: str, **kwargs: Any
    ) -> httpx.Response | None:
        tally = self.tallies[scenario]
        started = time.perf_counter()
        try:
            answer = await http.request(method, path, **kwargs)
        except httpx.HTTPError as exc:
            tally.latencies.append(time.perf_counter() - started)
            tally.transport_errors[type(exc).__name__] += 1
            return None
        tally.judge(answer, time.perf_counter() - started)
        return answer

    async def run(self, duration: float, scenarios: dict[str, int] | None = None) -> float:
        """Run the users of ``scenarios`` (default: the mix) until ``duration`` has passed and
        every request in flight has its answer; answers the wall time."""
        users = scenarios or self.users
        loops: dict[str, Callable[[httpx.AsyncClient], Any]] = {
            "baseline": self._baseline_user,
            "login": self._login_user,
            "book_read": self._read_user,
            "booking_contended": self._contended_user,
            "booking_distinct": self._distinct_user,
            "publish": self._publish_user,
            "checkin": self._checkin_user,
        }
        self._started = time.perf_counter()
        self._deadline = self._started + duration

        async def user(name: str) -> None:
            # a check-in user sends a duplicated scan's two requests at once
            async with self._client(2 if name == "checkin" else 1) as http:
                await loops[name](http)

        await asyncio.gather(*(user(name) for name, count in users.items() for _ in range(count)))
        return time.perf_counter() - self._started

    # --- scenarios -----------------------------------------------------------------------------

    async def _baseline_user(self, http: httpx.AsyncClient) -> None:
        while self._running():
            await self._send(http, "baseline", "GET", "/health/live")

    async def _login_user(self, http: httpx.AsyncClient) -> None:
        known = [c.national_id for c in self.population.citizens()]
        idp = self.population.idp
        while self._running():
            if self.random.random() < NEW_CITIZEN_LOGIN_SHARE:
                national_id = f"{next(self._new_national_id):012d}"
            else:
                national_id = self.random.choice(known)
            await self._send(
                http,
                "login",
                "POST",
                "/auth/token",
                content=idp.exchange_form(national_id),
                headers={"Content-Type": "application/x-www-form-urlencoded"},
            )

    async def _read_user(self, http: httpx.AsyncClient) -> None:
        readers = self.population.readers
        while self._running():
            citizen = self.random.choice(readers)
            await self._send(
                http, "book_read", "GET", "/citizens/me/health-book", headers=citizen.auth
            )

    async def _book(
        self, http: httpx.AsyncClient, scenario: str, citizen: Citizen, slot_id: str
    ) -> tuple[httpx.Response | None, str]:
        key = f"so-{self.random.getrandbits(96):024x}"
        body = json.dumps({"slot_id": slot_id}).encode()
        headers = {**citizen.auth, "Content-Type": "application/json", "Idempotency-Key": key}
        answer = await self._send(
            http, scenario, "POST", "/citizens/me/appointments", content=body, headers=headers
        )
        if answer is None:
            return None, key
        outcome = answer.json().get("id", "") if answer.status_code == 201 else slug(answer)
        self.observed.booking_first[key] = (answer.status_code, outcome)
        if answer.status_code == 201:
            if outcome in self.observed.booked:
                self.observed.duplicate_booking_ids.append(outcome)
            self.observed.booked[outcome] = key
        if self.random.random() < REPLAY_SHARE:
            again = await self._send(
                http,
                "booking_replay",
                "POST",
                "/citizens/me/appointments",
                content=body,
                headers=headers,
            )
            if again is not None:
                status = again.status_code
                replayed = again.json().get("id", "") if status == 201 else slug(again)
                header_ok = status != 201 or again.headers.get("idempotent-replayed") == "true"
                self.observed.replays.append(
                    {
                        "key": key,
                        "first": [answer.status_code, outcome],
                        "again": [status, replayed],
                        "same": (status, replayed) == (answer.status_code, outcome) and header_ok,
                    }
                )
        return answer, key

    async def _contended_user(self, http: httpx.AsyncClient) -> None:
        slots = self.population.contended_slots
        while self._running():
            index = min(self._contended_index, len(slots) - 1)
            answer, _key = await self._book(
                http, "booking_contended", self.random.choice(self.population.bookers), slots[index]
            )
            if answer is not None and answer.status_code == 409 and slug(answer) == "slot-full":
                # the hot slot is full: everyone moves to the next one
                self._contended_index = max(self._contended_index, index + 1)

    async def _distinct_user(self, http: httpx.AsyncClient) -> None:
        while self._running():
            slot_id = next(self._distinct, None)
            if slot_id is None:
                self.observed.distinct_exhausted_at = time.perf_counter() - self._started
                return
            await self._book(http, "booking_distinct", next(self._booker_cycle), slot_id)

    def _bundle(self, citizen: Citizen, number: int) -> tuple[str, bytes]:
        facility = FACILITIES[0]
        visit = Visit(
            number,
            1 + number % 30,
            facility,
            facility.departments[0],
            ("I10", "Tăng huyết áp"),
            120 + number % 30,
            80,
            60.0,
        )
        bundle = visit_bundle(DEMO_PERSON, visit, dt.datetime.now(dt.UTC))
        value = f"scaleout-{self._run_tag}-{number}"
        bundle["identifier"] = {"system": DOCUMENT_SYSTEM, "value": value}
        for entry in bundle["entry"]:
            resource = entry["resource"]
            if resource["resourceType"] == "Patient":
                resource["identifier"] = [
                    {"system": NATIONAL_ID_SYSTEM, "value": citizen.national_id}
                ]
            elif resource["resourceType"] == "Encounter":
                resource["identifier"][0]["value"] = value
        return value, json.dumps(bundle, ensure_ascii=False).encode()

    async def _publish_user(self, http: httpx.AsyncClient) -> None:
        headers = {**self.population.hospital, "Content-Type": "application/fhir+json"}
        while self._running():
            citizen = self.random.choice(self.population.readers)
            value, body = self._bundle(citizen, next(self._documents))
            answer = await self._send(
                http, "publish", "POST", "/hospital/summaries", content=body, headers=headers
            )
            if answer is None:
                continue
            result = answer.json() if answer.status_code in (200, 201) else {}
            if answer.status_code == 201 and result.get("outcome") == "created":
                self.observed.published[value] = result["document_id"]
            else:
                self.observed.publish_other.append(
                    {"identifier": value, "status": answer.status_code, "answer": result}
                )
                continue
            if self.random.random() < REPUBLISH_SHARE:
                again = await self._send(
                    http,
                    "publish_replay",
                    "POST",
                    "/hospital/summaries",
                    content=body,
                    headers=headers,
                )
                if again is None:
                    continue
                second = again.json() if again.status_code in (200, 201) else {}
                self.observed.republishes.append(
                    {
                        "identifier": value,
                        "status": again.status_code,
                        "outcome": second.get("outcome"),
                        "same": again.status_code == 200
                        and second.get("outcome") == "unchanged"
                        and second.get("document_id") == result["document_id"],
                    }
                )

    async def _checkin_user(self, http: httpx.AsyncClient) -> None:
        kiosk = {**self.population.kiosk, "Content-Type": "application/json"}
        while self._running():
            if not self._checkins:
                if self.observed.checkin_exhausted_at is None:
                    self.observed.checkin_exhausted_at = time.perf_counter() - self._started
                return
            item = self._checkins.popleft()
            body = json.dumps({"code": item.code}).encode()
            if self.random.random() < DUPLICATE_SCAN_SHARE:
                answers = await asyncio.gather(
                    *(
                        self._send(
                            http,
                            "checkin_duplicate",
                            "POST",
                            "/kiosk/check-ins",
                            content=body,
                            headers=kiosk,
                        )
                        for _ in range(2)
                    )
                )
                self.observed.checkin_pairs.append(
                    (
                        item.appointment_id,
                        [(a.status_code, slug(a)) if a else (0, "transport") for a in answers],
                    )
                )
                continue
            answer = await self._send(
                http, "checkin", "POST", "/kiosk/check-ins", content=body, headers=kiosk
            )
            if answer is not None:
                self.observed.checkin_single.append(
                    (item.appointment_id, answer.status_code, slug(answer))
                )


def allocate(concurrency: int) -> dict[str, int]:
    """Users per scenario: ``concurrency`` shared by :data:`WEIGHTS`, at least one each."""
    total = sum(WEIGHTS.values())
    return {name: max(1, round(concurrency * weight / total)) for name, weight in WEIGHTS.items()}
