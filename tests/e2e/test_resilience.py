"""PostgreSQL or Redis goes away under load and comes back; the processes are stopped gracefully.

Real ``healthbook serve`` and ``healthbook worker`` processes on a private PostgreSQL cluster and a
private Redis (tests/support/private_servers.py; the shared servers are never touched), the fake
FCM server for pushes, and a bounded load of bookings (with Idempotency-Keys), publishes and
reads over HTTP. In the middle of it one backing server is stopped for a few seconds and started
again. Then:

- during the outage nothing answers 500 and nothing hangs: what needs the missing server answers
  503 (problem details, or an OperationOutcome on the FHIR endpoint) within
  ``DATABASE_TIMEOUT_SECONDS`` plus a small margin; ``/health/ready`` answers 503 naming it;
- ``/health/ready`` answers 200 again within 10 s of the server's return (measured);
- clients retry what failed with the same Idempotency-Key (bookings) or the same bundle
  (publishes), and afterwards the data hold: every booking answered 201 exists exactly once,
  with its confirmation and reminders in the outbox, and no booking exists that no answer
  announced; every slot's ``booked`` equals its active appointments; every publish is stored
  once, with its notification;
- the relay resumes, and once it has drained, every committed notification reached each device
  exactly once (the fake FCM counts) and the inbox holds it once.

Graceful shutdown: SIGTERM to ``healthbook serve`` with requests in flight lets them complete
and exits 0; SIGTERM to ``healthbook worker`` with pushes in flight records them when they finish
within the grace period, and gives the claimed rows back (another worker sends them at once,
none lost, none twice) when they do not.
"""

from __future__ import annotations

import asyncio
import datetime as dt
import itertools
import json
import random
import signal
import time
import uuid
from collections import Counter, defaultdict
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import asyncpg
import httpx
import pytest
from sqlalchemy import func, select

from api.appointments.models import Appointment, IdempotencyKey, Slot
from api.core.db import create_engine, create_sessionmaker
from api.health_book.models import HealthDocument
from notifications.models import DEAD, PENDING, SENT, InboxEntry, OutboxEntry
from tests.support.problems import problem_uri
from tests.support.service_stack import DOCUMENT_SYSTEM, Citizen, Stack, service_stack

STACK_BASE_URL = "http://healthbook.test"
"""``PUBLIC_BASE_URL`` of the service stack (its problem ``type`` URIs are under it)."""

DATABASE_TIMEOUT = 3.0
"""``DATABASE_TIMEOUT_SECONDS`` of the served processes."""
FAIL_FAST = DATABASE_TIMEOUT + 1.5
"""The slowest a request may take to fail while a backing server is away."""
READY_WITHIN = 10.0
"""The acceptance bound: ready again this soon after the server is back."""
OUTAGE = 4.0
WARMUP = 3.0
AFTER = 3.0
"""Load keeps running this long after readiness returns."""
CONCURRENCY = 6
BOOK_REMINDERS = 2  # the default APPOINTMENT_REMINDER_MINUTES (24 h and 2 h), both ahead

PROBLEM_JSON = "application/problem+json"
FHIR_JSON = "application/fhir+json"


@pytest.fixture
def stack(tmp_path: Path) -> Iterator[Stack]:
    with service_stack(
        tmp_path,
        DATABASE_TIMEOUT_SECONDS=str(DATABASE_TIMEOUT),
        REDIS_TIMEOUT_SECONDS="1",
        DATABASE_POOL_SIZE="10",
        RELAY_LEASE_SECONDS="10",
    ) as running:
        yield running


# --- the load ----------------------------------------------------------------------------------


@dataclass
class Call:
    kind: str
    """``book``, ``publish``, ``read_appointments`` or ``read_book``."""
    started: float
    ended: float
    status: int | None
    error: str | None = None
    content_type: str = ""
    body: bytes = b""
    retry_after: str | None = None
    citizen: Citizen | None = None
    ref: dict[str, Any] = field(default_factory=dict)

    @property
    def elapsed(self) -> float:
        return self.ended - self.started

    def json(self) -> Any:
        return json.loads(self.body)


class Load:
    """``CONCURRENCY`` callers doing bookings, publishes and reads until told to stop."""

    def __init__(self, stack: Stack, http: httpx.AsyncClient, seed: int) -> None:
        self.stack = stack
        self.http = http
        self.rng = random.Random(seed)
        self.calls: list[Call] = []
        self.documents = itertools.count(1)
        self.slot_ids = list(stack.slots)

    async def request(self, kind: str, method: str, path: str, **kwargs: Any) -> Call:
        started = time.monotonic()
        try:
            response = await self.http.request(method, path, **kwargs)
        except httpx.HTTPError as exc:
            return Call(kind, started, time.monotonic(), None, error=repr(exc))
        return Call(
            kind,
            started,
            time.monotonic(),
            response.status_code,
            content_type=response.headers.get("content-type", ""),
            body=response.content,
            retry_after=response.headers.get("retry-after"),
        )

    async def book(self, citizen: Citizen, slot_id: str, key: str) -> Call:
        call = await self.request(
            "book",
            "POST",
            "/citizens/me/appointments",
            json={"slot_id": slot_id},
            headers={**citizen.headers, "Idempotency-Key": key},
        )
        call.citizen = citizen
        call.ref = {"slot_id": slot_id, "key": key}
        return call

    async def publish(self, citizen: Citizen, document_key: str) -> Call:
        call = await self.request(
            "publish",
            "POST",
            "/hospital/summaries",
            content=self.stack.summary_for(citizen, document_key),
            headers={**self.stack.hospital, "content-type": FHIR_JSON},
        )
        call.citizen = citizen
        call.ref = {"document_key": document_key}
        return call

    async def one(self) -> Call:
        citizen = self.rng.choice(self.stack.citizens)
        roll = self.rng.random()
        if roll < 0.5:
            return await self.book(citizen, self.rng.choice(self.slot_ids), str(uuid.uuid4()))
        if roll < 0.7:
            return await self.publish(citizen, f"doc-{next(self.documents)}")
        if roll < 0.85:
            return await self.request(
                "read_appointments", "GET", "/citizens/me/appointments", headers=citizen.headers
            )
        return await self.request(
            "read_book", "GET", "/citizens/me/health-book", headers=citizen.headers
        )

    async def run(self, stop: asyncio.Event) -> None:
        async def caller() -> None:
            while not stop.is_set():
                self.calls.append(await self.one())
                await asyncio.sleep(0.01)

        await asyncio.gather(*(caller() for _ in range(CONCURRENCY)))


@dataclass
class Probe:
    at: float
    status: int | None
    elapsed: float
    body: dict[str, Any] | None


async def probe_readiness(http: httpx.AsyncClient, stop: asyncio.Event, into: list[Probe]) -> None:
    """``GET /health/ready`` every 0.1 s, as an orchestrator's readiness probe would."""
    while not stop.is_set():
        started = time.monotonic()
        try:
            response = await http.get("/health/ready")
            body = response.json()
            status: int | None = response.status_code
        except (httpx.HTTPError, ValueError):
            status, body = None, None
        into.append(Probe(started, status, time.monotonic() - started, body))
        await asyncio.sleep(0.1)


@dataclass
class Outage:
    service: str
    stopping: float = 0.0
    down: float = 0.0
    """When the server was fully stopped (its port closed)."""
    starting: float = 0.0
    up: float = 0.0
    """When the server accepted connections again."""
    ready_again: float = 0.0
    """When ``/health/ready`` first answered 200 after ``up`` (0: never)."""

    @property
    def recovery(self) -> float:
        return self.ready_again - self.up


def _first_ready(probes: list[Probe], after: float) -> float:
    return next((p.at + p.elapsed for p in probes if p.at >= after and p.status == 200), 0.0)


async def outage_under_load(
    stack: Stack, service: str, seed: int
) -> tuple[Load, list[Probe], Outage]:
    """Run the load; stop ``service`` after the warm-up, start it after the outage; return when
    the service is ready again and the load has gone on a little longer."""
    outage = Outage(service)
    probes: list[Probe] = []
    limits = httpx.Limits(max_connections=CONCURRENCY + 4)
    async with (
        httpx.AsyncClient(base_url=stack.base_url, timeout=30, limits=limits) as http,
        httpx.AsyncClient(base_url=stack.base_url, timeout=30) as prober,
    ):
        load = Load(stack, http, seed)
        stop = asyncio.Event()
        tasks = [
            asyncio.create_task(load.run(stop)),
            asyncio.create_task(probe_readiness(prober, stop, probes)),
        ]
        try:
            await asyncio.sleep(WARMUP)
            outage.stopping = time.monotonic()
            if service == "database":
                await asyncio.to_thread(stack.pg.stop, "immediate")
            else:
                await asyncio.to_thread(stack.redis.stop)
            outage.down = time.monotonic()
            await asyncio.sleep(OUTAGE)
            outage.starting = time.monotonic()
            if service == "database":
                await asyncio.to_thread(stack.pg.start)
            else:
                await asyncio.to_thread(stack.redis.start)
            outage.up = time.monotonic()
            deadline = outage.up + READY_WITHIN + 5
            while time.monotonic() < deadline and not _first_ready(probes, outage.up):
                await asyncio.sleep(0.05)
            await asyncio.sleep(AFTER)
        finally:
            stop.set()
            await asyncio.gather(*tasks)
    outage.ready_again = _first_ready(probes, outage.up)
    return load, probes, outage


# --- what the answers must look like -------------------------------------------------------------

ALLOWED = {
    "book": {201, 409, 503},
    "publish": {201, 503},
    "read_appointments": {200, 503},
    "read_book": {200, 503},
}
NEEDS = {
    "database": {"book", "publish", "read_appointments"},
    "redis": set(),
}
"""What must answer 503 while the server is away (the health book's overview is built from the
database when Redis is away, and read from Redis when the database is)."""


def check_answers(load: Load, outage: Outage) -> dict[str, Any]:
    """Every answer allowed, no 500, no hang, nothing but 503 for what needs the missing server;
    returns figures."""
    assert load.calls, "the load made no requests"
    errors = [c for c in load.calls if c.status is None]
    assert not errors, [c.error for c in errors[:5]]  # no reset, no timeout: every request answered
    for call in load.calls:
        assert call.status in ALLOWED[call.kind], (call.kind, call.status, call.body[:300])
    during = [c for c in load.calls if c.started >= outage.down and c.ended <= outage.starting]
    unavailable = [c for c in load.calls if c.status == 503]
    assert during, "no request was made while the server was away"
    for call in during:
        assert call.elapsed < FAIL_FAST, (call.kind, call.status, call.elapsed)  # no hanging
        if call.kind in NEEDS[outage.service]:
            assert call.status == 503, (call.kind, call.status, call.body[:300])
    for call in unavailable:
        assert call.elapsed < FAIL_FAST, (call.kind, call.elapsed)
        assert call.retry_after is not None
        if call.kind == "publish":
            assert call.content_type.startswith(FHIR_JSON)
            outcome = call.json()
            assert outcome["resourceType"] == "OperationOutcome"
            assert outcome["issue"][0]["code"] == "transient"
        else:
            assert call.content_type.startswith(PROBLEM_JSON), call.content_type
            assert call.json()["type"] == problem_uri("service-unavailable", STACK_BASE_URL), (
                call.body
            )
    before = [c for c in load.calls if c.ended < outage.stopping and c.status in (200, 201)]
    after = [c for c in load.calls if c.started > outage.ready_again and c.status in (200, 201)]
    assert before, "nothing got through before the outage"
    assert after, "nothing got through after it"
    for kind in ("book", "publish"):
        assert any(c.kind == kind and c.status == 201 for c in after), f"no {kind} after"
    return {
        "requests": len(load.calls),
        "during_outage": len(during),
        "answered_503": len(unavailable),
        "slowest_503_s": round(max((c.elapsed for c in unavailable), default=0.0), 3),
        "slowest_during_outage_s": round(max(c.elapsed for c in during), 3),
        "statuses": dict(Counter(f"{c.kind}:{c.status}" for c in load.calls)),
    }


def check_readiness(probes: list[Probe], outage: Outage) -> None:
    down = [p for p in probes if p.at >= outage.down and p.at + p.elapsed <= outage.starting]
    assert down, "readiness was not probed during the outage"
    for probe in down:
        assert probe.status == 503, probe
        assert probe.body is not None
        assert probe.body["failing"] == [outage.service], probe.body
        assert probe.elapsed < FAIL_FAST, probe
    assert outage.ready_again, "never ready again"
    assert outage.recovery < READY_WITHIN, outage.recovery
    # ready stays ready
    assert all(p.status == 200 for p in probes if p.at > outage.ready_again + 0.5)


# --- clients retry what failed -------------------------------------------------------------------


async def retry_until_answered(load: Load, call: Call) -> Call:
    """The client's retry of a failed write: same Idempotency-Key and body (bookings), same
    bundle (publishes), until the service answers something other than 503."""
    deadline = time.monotonic() + 15
    while True:
        assert call.citizen is not None
        if call.kind == "book":
            again = await load.book(call.citizen, call.ref["slot_id"], call.ref["key"])
        else:
            again = await load.publish(call.citizen, call.ref["document_key"])
        if again.status != 503 and not (
            again.status == 409
            and again.json()["type"] == problem_uri("idempotency-key-in-use", STACK_BASE_URL)
        ):
            return again
        assert time.monotonic() < deadline, again.body
        await asyncio.sleep(0.2)


@dataclass
class Outcomes:
    appointments: dict[str, Call] = field(default_factory=dict)
    """Appointment id -> the answer (201) that announced it."""
    documents: dict[str, str] = field(default_factory=dict)
    """Document key -> document id, for every publish answered 201 (or 200 on a retry)."""
    published_despite_503: int = 0


async def settle(stack: Stack, load: Load) -> Outcomes:
    """Retry what failed; replay a sample of what succeeded (the same answer must come back);
    collect what the clients were told exists."""
    outcomes = Outcomes()
    async with httpx.AsyncClient(base_url=stack.base_url, timeout=30) as http:
        retrier = Load(stack, http, 0)
        gate = asyncio.Semaphore(CONCURRENCY)

        async def final(call: Call) -> Call:
            if call.status != 503:
                return call
            async with gate:
                again = await retry_until_answered(retrier, call)
            assert again.status in ({201, 409} if call.kind == "book" else {200, 201})
            if call.kind == "publish" and again.status == 200:
                outcomes.published_despite_503 += 1  # it had committed: its answer was lost
            return again

        finals = await asyncio.gather(
            *(final(call) for call in load.calls if call.kind in ("book", "publish"))
        )
        booked = [c for c in finals if c.kind == "book" and c.status == 201]
        for call in booked:
            appointment = call.json()
            assert appointment["id"] not in outcomes.appointments  # two keys, one booking?
            outcomes.appointments[appointment["id"]] = call
        for call in finals:
            if call.kind == "book" and call.status == 409:
                assert call.json()["type"] in (
                    problem_uri("slot-full", STACK_BASE_URL),
                    problem_uri("appointment-exists", STACK_BASE_URL),
                ), call.body
            if call.kind == "publish":
                assert call.status in (200, 201), call.body
                outcomes.documents[call.ref["document_key"]] = call.json()["document_id"]
        # the same key again answers the same booking, byte for byte, and books nothing more
        for call in booked[:: max(1, len(booked) // 25)]:
            assert call.citizen is not None
            again = await retrier.book(call.citizen, call.ref["slot_id"], call.ref["key"])
            assert again.status == 201, again.body
            assert again.body == call.body
    return outcomes


# --- the data afterwards -------------------------------------------------------------------------


async def wait_drained(stack: Stack, timeout: float = 40) -> None:
    """Until no due notification is pending (the relay resumed and caught up)."""
    engine = create_engine(stack.settings)
    try:
        deadline = time.monotonic() + timeout
        while True:
            async with engine.connect() as connection:
                due = await connection.scalar(
                    select(func.count())
                    .select_from(OutboxEntry)
                    .where(
                        OutboxEntry.status == PENDING,
                        (OutboxEntry.due_at.is_(None))
                        | (OutboxEntry.due_at <= dt.datetime.now(dt.UTC)),
                    )
                )
            if due == 0:
                return
            assert time.monotonic() < deadline, f"{due} notifications still due"
            await asyncio.sleep(0.2)
    finally:
        await engine.dispose()


async def check_data(stack: Stack, outcomes: Outcomes) -> dict[str, int]:
    """The invariants, read straight from the database; the pushes, from the fake FCM."""
    engine = create_engine(stack.settings)
    sessions = create_sessionmaker(engine)
    try:
        async with sessions() as session:
            active = {
                str(row.id): row
                for row in await session.scalars(
                    select(Appointment).where(Appointment.status != "cancelled")
                )
            }
            slots = {str(s.id): s for s in await session.scalars(select(Slot))}
            outbox = list(await session.scalars(select(OutboxEntry)))
            documents = list(await session.scalars(select(HealthDocument)))
            inbox = set(await session.scalars(select(InboxEntry.id)))
            in_progress = await session.scalar(
                select(func.count())
                .select_from(IdempotencyKey)
                .where(IdempotencyKey.status != "done")
            )
    finally:
        await engine.dispose()
    # bookings: exactly those the clients were told about, once each
    assert set(active) == set(outcomes.appointments)
    for appointment_id, call in outcomes.appointments.items():
        row = active[appointment_id]
        assert call.citizen is not None
        assert str(row.citizen_id) == call.citizen.id
        assert str(row.slot_id) == call.ref["slot_id"]
    per_slot = Counter(str(row.slot_id) for row in active.values())
    for slot_id, slot in slots.items():
        assert slot.booked == per_slot[slot_id], slot_id
        assert slot.booked <= slot.capacity
    assert in_progress == 0
    # each booking's notifications: one confirmation and its reminders, written with it
    keys = Counter(row.dedupe_key for row in outbox if row.dedupe_key)
    assert max(keys.values(), default=1) == 1
    for appointment_id in active:
        assert keys[f"appointment:{appointment_id}:booked"] == 1
        reminders = [k for k in keys if k.startswith(f"appointment:{appointment_id}:v0:reminder")]
        assert len(reminders) == BOOK_REMINDERS
    booking_rows = [k for k in keys if k.startswith("appointment:")]
    assert len(booking_rows) == len(active) * (1 + BOOK_REMINDERS)
    # publishes: each document once (one version), its notification once
    by_key = defaultdict(list)
    for document in documents:  # stored as "system|value" of the Bundle's identifier
        by_key[document.document_key.removeprefix(f"{DOCUMENT_SYSTEM}|")].append(document)
    assert set(by_key) == set(outcomes.documents)
    for key, versions in by_key.items():
        assert len(versions) == 1, key
        assert str(versions[0].id) == outcomes.documents[key]
        assert keys[f"record:{versions[0].id}"] == 1  # its "new record" notification
    # notifications: none dead, each sent one reached every device of its citizen exactly once
    assert not [row for row in outbox if row.status == DEAD]
    sent = [row for row in outbox if row.status == SENT]
    assert inbox == {row.id for row in sent}
    tokens = stack.tokens_by_citizen()
    expected = {(str(row.id), token) for row in sent for token in tokens[str(row.citizen_id)]}
    accepted = stack.fcm.accepted()
    assert set(accepted) == expected
    assert stack.fcm.duplicates() == 0
    return {
        "appointments": len(active),
        "documents": len(documents),
        "notifications_sent": len(sent),
        "pushes": len(expected),
    }


def report(name: str, figures: dict[str, Any]) -> None:
    """Print the figures (``pytest -s`` shows them) and keep them under test-artifacts/."""
    print(f"\n{name}: {json.dumps(figures, sort_keys=True)}")
    folder = Path(__file__).resolve().parents[2] / "test-artifacts" / "resilience"
    folder.mkdir(parents=True, exist_ok=True)
    (folder / f"{name}.json").write_text(json.dumps(figures, indent=2, sort_keys=True))


# --- the tests -----------------------------------------------------------------------------------


@pytest.mark.parametrize("service", ["database", "redis"])
async def test_a_backing_server_stops_under_load_and_comes_back(stack: Stack, service: str) -> None:
    stack.start_api()
    stack.start_worker()
    await stack.populate(citizens=12, devices=2, slots=150, capacity=3)
    load, probes, outage = await outage_under_load(stack, service, seed=7)
    figures = check_answers(load, outage)
    check_readiness(probes, outage)
    outcomes = await settle(stack, load)
    drained_from = time.monotonic()
    await wait_drained(stack)
    figures |= await check_data(stack, outcomes)
    figures |= {
        "outage_s": round(outage.starting - outage.down, 2),
        "ready_again_after_s": round(outage.recovery, 3),
        "drained_after_settle_s": round(time.monotonic() - drained_from, 2),
        "published_though_answered_503": outcomes.published_despite_503,
        "first_push_after_return_s": round(
            min(r.at for r in stack.fcm.received if r.at >= outage.up) - outage.up, 3
        ),
    }
    report(f"{service}_outage", figures)
    for process in (stack.api, *stack.workers):
        assert process is not None
        assert process.alive()  # nothing crashed or exited


# --- graceful shutdown ---------------------------------------------------------------------------


async def _waiting_on_locks(connection: asyncpg.Connection) -> int:
    # a fresh snapshot each time: inside a transaction, pg_stat_activity would keep its first
    return await connection.fetchval(
        "SELECT count(*) FROM pg_stat_activity, pg_stat_clear_snapshot() AS cleared"
        " WHERE wait_event_type = 'Lock' AND datname = current_database()"
    )


async def _refused(base_url: str, within: float = 5.0) -> bool:
    """Whether new connections are refused within ``within`` seconds."""
    deadline = time.monotonic() + within
    async with httpx.AsyncClient(base_url=base_url, timeout=2) as fresh:
        while time.monotonic() < deadline:
            try:
                await fresh.get("/health/live", headers={"Connection": "close"})
            except httpx.ConnectError:
                return True
            await asyncio.sleep(0.1)
    return False


async def test_sigterm_lets_requests_in_flight_finish_then_serve_exits_0(stack: Stack) -> None:
    api = stack.start_api()
    await stack.populate(citizens=8, devices=1, slots=1, capacity=10)
    (slot_id,) = stack.slots
    # Hold the slot's row: every booking of it waits inside the server, in flight.
    lock = await asyncpg.connect(
        host=stack.pg.host, port=stack.pg.port, user=stack.pg.user, database="healthbook"
    )
    try:
        locked = lock.transaction()
        await locked.start()
        await lock.execute(
            "SELECT id FROM appointment_slot WHERE id = $1 FOR UPDATE", uuid.UUID(slot_id)
        )
        async with httpx.AsyncClient(base_url=stack.base_url, timeout=30) as http:
            load = Load(stack, http, 0)
            bookings = [
                asyncio.create_task(load.book(citizen, slot_id, str(uuid.uuid4())))
                for citizen in stack.citizens
            ]
            deadline = time.monotonic() + 10
            while await _waiting_on_locks(lock) < len(bookings):
                assert time.monotonic() < deadline, "the bookings never reached the database"
                await asyncio.sleep(0.05)
            api.signal(signal.SIGTERM)
            assert await _refused(stack.base_url)  # it accepts no new connection...
            assert api.alive()  # ...and waits for the requests it accepted
            released = time.monotonic()
            await locked.rollback()
            answers = await asyncio.gather(*bookings)
    finally:
        await lock.close()
    code = await asyncio.to_thread(api.wait, 15)
    exited_after = time.monotonic() - released
    assert code == 0, api.text()[-3000:]
    assert [a.status for a in answers] == [201] * len(answers), [a.error for a in answers]
    engine = create_engine(stack.settings)
    try:
        async with engine.connect() as connection:
            booked = await connection.scalar(
                select(Slot.booked).where(Slot.id == uuid.UUID(slot_id))
            )
            count = await connection.scalar(select(func.count()).select_from(Appointment))
    finally:
        await engine.dispose()
    assert booked == count == len(answers)
    report("serve_sigterm", {"in_flight": len(answers), "exited_after_release_s": exited_after})


async def _publish_for(stack: Stack, citizens: list[Citizen], prefix: str) -> None:
    async with httpx.AsyncClient(base_url=stack.base_url, timeout=30) as http:
        load = Load(stack, http, 0)
        for n, citizen in enumerate(citizens):
            call = await load.publish(citizen, f"{prefix}-{n}")
            assert call.status == 201, call.body


async def _outbox(stack: Stack) -> list[OutboxEntry]:
    engine = create_engine(stack.settings)
    try:
        async with create_sessionmaker(engine)() as session:
            return list(await session.scalars(select(OutboxEntry)))
    finally:
        await engine.dispose()


def _wait_for_fcm(stack: Stack, what: str, count: int, timeout: float = 20) -> None:
    stack.fcm.wait_for(lambda fcm: fcm.stats()[what] >= count, timeout=timeout)


async def test_sigterm_to_a_worker_lets_pushes_in_flight_finish_and_records_them(
    stack: Stack,
) -> None:
    stack.start_api()
    await stack.populate(citizens=5, devices=2, slots=1, capacity=1)
    await _publish_for(stack, stack.citizens, "first")  # before the relay starts: one batch
    stack.fcm.hold()  # FCM takes the pushes and keeps its answers
    worker = stack.start_worker(RELAY_STOP_GRACE_SECONDS="20", FCM_TIMEOUT_SECONDS="30")
    _wait_for_fcm(stack, "received", 10)
    stopping = time.monotonic()
    worker.signal(signal.SIGTERM)
    await asyncio.sleep(1.0)
    assert worker.alive()  # waiting for the batch in hand
    await _publish_for(stack, stack.citizens[:1], "later")  # committed while it stops
    await asyncio.sleep(1.5)
    assert stack.fcm.stats()["received"] == 10  # a stopping relay claims nothing more
    stack.fcm.release()
    code = await asyncio.to_thread(worker.wait, 15)
    assert code == 0, worker.text()[-3000:]
    stopped_after = time.monotonic() - stopping
    rows = {row.dedupe_key: row for row in await _outbox(stack)}
    later = [row for key, row in rows.items() if key and row.status == PENDING]
    assert len(later) == 1
    assert later[0].lease_until is None
    assert {row.status for row in rows.values() if row is not later[0]} == {SENT}
    assert {row.attempts for row in rows.values() if row is not later[0]} == {1}
    successor = stack.start_worker()
    await wait_drained(stack, timeout=20)
    sent = [row for row in await _outbox(stack) if row.status == SENT]
    assert len(sent) == 6
    tokens = stack.tokens_by_citizen()
    expected = {(str(row.id), token) for row in sent for token in tokens[str(row.citizen_id)]}
    assert set(stack.fcm.accepted()) == expected
    assert stack.fcm.duplicates() == 0
    assert successor.alive()
    report("worker_sigterm_within_grace", {"stopped_after_s": round(stopped_after, 2)})


async def test_a_worker_stopped_past_its_grace_gives_claimed_rows_back(stack: Stack) -> None:
    stack.start_api()
    await stack.populate(citizens=5, devices=2, slots=1, capacity=1)
    # the lease is long: the rows must come back because they are released, not because it ran out
    await _publish_for(stack, stack.citizens, "stalled")  # before the relay starts: one batch
    stack.fcm.stall()  # the pushes wait before FCM takes them
    worker = stack.start_worker(RELAY_STOP_GRACE_SECONDS="1", RELAY_LEASE_SECONDS="120")
    _wait_for_fcm(stack, "stalled", 10)
    claimed = await _outbox(stack)
    assert all(row.claim_token is not None for row in claimed)
    stopping = time.monotonic()
    worker.signal(signal.SIGTERM)
    code = await asyncio.to_thread(worker.wait, 15)
    stopped_after = time.monotonic() - stopping
    assert code == 0, worker.text()[-3000:]
    assert stopped_after < 1 + 5  # the grace, then at most the release's own bound
    assert any(e.get("msg") == "relay released claimed rows" for e in worker.json_lines())
    released = await _outbox(stack)
    assert len(released) == 5
    for row in released:
        assert row.status == PENDING
        assert row.lease_until is None
        assert row.claim_token is None
        assert row.attempts == 0  # an interrupted claim is not an attempt
    stack.fcm.release()
    _wait_for_fcm(stack, "dropped", 10)  # the sends it gave up never reached FCM
    assert stack.fcm.accepted() == Counter()
    taken_over = time.monotonic()
    stack.start_worker(RELAY_LEASE_SECONDS="120")
    await wait_drained(stack, timeout=20)
    sent = await _outbox(stack)
    assert {row.status for row in sent} == {SENT}
    assert {row.attempts for row in sent} == {1}
    tokens = stack.tokens_by_citizen()
    expected = {(str(row.id), token) for row in sent for token in tokens[str(row.citizen_id)]}
    assert set(stack.fcm.accepted()) == expected
    assert stack.fcm.duplicates() == 0
    report(
        "worker_sigterm_past_grace",
        {
            "stopped_after_s": round(stopped_after, 2),
            "sent_by_successor_within_s": round(time.monotonic() - taken_over, 2),
        },
    )
