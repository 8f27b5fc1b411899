"""After the load: wait (bounded) until the relays have drained the outbox, then check each
invariant against the database, the fake FCM server's counts, and what the load saw."""

from __future__ import annotations

import asyncio
import time
import uuid
from collections import Counter
from dataclasses import dataclass, field
from typing import Any

import asyncpg
import httpx

from bench.scale_out.load import Load
from bench.scale_out.population import BOOKING_FACILITY, CHECKIN_FACILITY, Population


@dataclass
class Invariant:
    name: str
    holds: bool
    detail: str
    data: dict[str, Any] = field(default_factory=dict)

    def line(self) -> str:
        return (
            f"invariant {self.name}: {'holds' if self.holds else 'DOES NOT HOLD'} ({self.detail})"
        )


def _asyncpg_dsn(database_url: str) -> str:
    return database_url.replace("postgresql+asyncpg://", "postgresql://", 1)


_DUE_UNFINISHED = """
SELECT count(*) FROM notification_outbox
WHERE status = 'pending' AND (due_at IS NULL OR due_at <= now())
"""


async def drain(database_url: str, limit_s: float) -> tuple[bool, float, dict[str, int]]:
    """Wait until no due notification is pending (the relays sent or finished every one);
    answers (drained, seconds waited, outbox rows per status)."""
    started = time.monotonic()
    connection = await asyncpg.connect(_asyncpg_dsn(database_url))
    try:
        while True:
            left = await connection.fetchval(_DUE_UNFINISHED)
            if left == 0 or time.monotonic() - started > limit_s:
                break
            await asyncio.sleep(0.1)
        statuses = {
            row["status"]: row["n"]
            for row in await connection.fetch(
                "SELECT status, count(*) AS n FROM notification_outbox GROUP BY status"
            )
        }
    finally:
        await connection.close()
    return left == 0, time.monotonic() - started, statuses


async def check(
    database_url: str,
    fcm_url: str,
    population: Population,
    load: Load,
    drained: bool,
) -> list[Invariant]:
    connection = await asyncpg.connect(_asyncpg_dsn(database_url))
    try:
        invariants = [
            await _slots(connection),
            await _bookings(connection, load),
            await _notifications(connection, fcm_url, population, drained),
            await _checkins(connection, load, population),
            await _publishes(connection, load),
        ]
    finally:
        await connection.close()
    invariants.append(_no_server_errors(load))
    invariants.append(_only_expected_answers(load))
    return invariants


async def _slots(connection: asyncpg.Connection) -> Invariant:
    rows = await connection.fetch(
        """
        SELECT s.id, s.facility_id, s.capacity, s.booked,
               count(a.id) FILTER (WHERE a.status IN ('booked', 'checked_in')) AS active
        FROM appointment_slot s LEFT JOIN appointment a ON a.slot_id = s.id
        GROUP BY s.id
        """
    )
    over = [str(r["id"]) for r in rows if r["booked"] > r["capacity"]]
    mismatched = [str(r["id"]) for r in rows if r["booked"] != r["active"]]
    contended_full = sum(
        1
        for r in rows
        if r["facility_id"] == BOOKING_FACILITY and r["capacity"] == 5 and r["booked"] == 5
    )
    return Invariant(
        "slots_within_capacity",
        not over and not mismatched,
        f"{len(rows)} slots, {contended_full} contended slots full at 5/5, {len(over)} over "
        f"capacity, {len(mismatched)} whose booked count differs from their active appointments",
        {"over_capacity": over[:20], "booked_mismatch": mismatched[:20]},
    )


async def _bookings(connection: asyncpg.Connection, load: Load) -> Invariant:
    observed = load.observed
    stored = {
        str(r["id"])
        for r in await connection.fetch(
            "SELECT id FROM appointment WHERE facility_id = $1", BOOKING_FACILITY
        )
    }
    answered = set(observed.booked)
    bad_replays = [r for r in observed.replays if not r["same"]]
    holds = stored == answered and not observed.duplicate_booking_ids and not bad_replays
    return Invariant(
        "bookings_once_per_key",
        holds,
        f"{len(answered)} bookings answered 201, {len(stored)} appointments stored; "
        f"{len(observed.replays)} retries with the same Idempotency-Key, "
        f"{len(observed.replays) - len(bad_replays)} answered the first answer again",
        {
            "answered_not_stored": sorted(answered - stored)[:20],
            "stored_not_answered": sorted(stored - answered)[:20],
            "duplicate_ids": observed.duplicate_booking_ids[:20],
            "bad_replays": bad_replays[:20],
        },
    )


async def _fake_accepted(fcm_url: str) -> tuple[Counter[tuple[str, str]], dict[str, Any]]:
    async with httpx.AsyncClient(base_url=fcm_url, timeout=60) as client:
        pairs = (await client.get("/_fake/accepted")).json()["accepted"]
        stats = (await client.get("/_fake/stats")).json()
    return Counter({(str(n), str(t)): int(c) for n, t, c in pairs}), stats


async def _notifications(
    connection: asyncpg.Connection, fcm_url: str, population: Population, drained: bool
) -> Invariant:
    """Every committed notification due so far went out, once to each phone registered for its
    citizen, and reached the inbox once."""
    phones = {uuid.UUID(c.id): c.devices for c in population.citizens()}
    rows = await connection.fetch(
        "SELECT id, citizen_id, kind, status, due_at <= now() AS due FROM notification_outbox"
    )
    due = [r for r in rows if r["due"] is None or r["due"]]
    sent = [r for r in due if r["status"] == "sent"]
    not_sent = [r for r in due if r["status"] != "sent"]
    expected = {(str(r["id"]), token) for r in sent for token in phones.get(r["citizen_id"], [])}
    accepted, stats = await _fake_accepted(fcm_url)
    registered = await connection.fetchval("SELECT count(*) FROM notification_device")
    inbox = await connection.fetchval("SELECT count(*) FROM notification")
    per_relay = {
        str(r["claimed_by"]): r["n"]
        for r in await connection.fetch(
            "SELECT claimed_by, count(*) AS n FROM notification_outbox WHERE status = 'sent' "
            "GROUP BY claimed_by ORDER BY claimed_by"
        )
    }
    duplicates = {pair: n for pair, n in accepted.items() if n > 1}
    missing = expected - set(accepted)
    unexpected = set(accepted) - expected
    holds = (
        drained
        and not not_sent
        and not missing
        and not unexpected
        and not duplicates
        and stats.get("errors", 0) == 0
        and inbox == len(sent)
        and registered == sum(len(d) for d in phones.values())
    )
    kinds = Counter(str(r["kind"]) for r in sent)
    by_kind = ", ".join(f"{kind} {n}" for kind, n in kinds.most_common())
    return Invariant(
        "notifications_once_per_device",
        holds,
        f"{len(sent)} due notifications sent ({by_kind}), "
        f"{len(expected)} (notification, phone) pairs expected, {len(accepted)} accepted by the "
        f"fake FCM, {len(missing)} missing, {len(unexpected)} unexpected, {len(duplicates)} "
        f"twice or more; {len(not_sent)} due but not sent; inbox {inbox}",
        {
            "drained": drained,
            "missing": [list(p) for p in sorted(missing)[:20]],
            "unexpected": [list(p) for p in sorted(unexpected)[:20]],
            "duplicates": [[*p, n] for p, n in list(duplicates.items())[:20]],
            "not_sent": [[str(r["id"]), r["status"]] for r in not_sent[:20]],
            "fake_fcm_stats": stats,
            "devices_registered": registered,
            "sent_per_relay": per_relay,
        },
    )


async def _checkins(
    connection: asyncpg.Connection, load: Load, population: Population
) -> Invariant:
    observed = load.observed
    tickets = await connection.fetch(
        """
        SELECT t.appointment_id, count(*) AS n FROM queue_ticket t JOIN queue q ON q.id = t.queue_id
        WHERE q.facility_id = $1 AND t.appointment_id IS NOT NULL GROUP BY t.appointment_id
        """,
        CHECKIN_FACILITY,
    )
    twice = [str(r["appointment_id"]) for r in tickets if r["n"] > 1]
    with_ticket = {str(r["appointment_id"]) for r in tickets}
    checked_in = {
        str(r["id"])
        for r in await connection.fetch(
            "SELECT id FROM appointment WHERE facility_id = $1 AND status = 'checked_in'",
            CHECKIN_FACILITY,
        )
    }
    numbers_twice = await connection.fetchval(
        "SELECT count(*) FROM (SELECT queue_id, number FROM queue_ticket "
        "GROUP BY queue_id, number HAVING count(*) > 1) AS d"
    )
    successes: Counter[str] = Counter()
    for appointment_id, status, _slug in observed.checkin_single:
        if status == 201:
            successes[appointment_id] += 1
    bad_pairs = []
    for appointment_id, answers in observed.checkin_pairs:
        statuses = sorted(status for status, _ in answers)
        if statuses == [201, 409]:
            successes[appointment_id] += 1
        else:
            bad_pairs.append({"appointment_id": appointment_id, "answers": answers})
    used_twice = [a for a, n in successes.items() if n > 1]
    holds = (
        not twice
        and not used_twice
        and not bad_pairs
        and not numbers_twice
        and set(successes) == with_ticket == checked_in
    )
    return Invariant(
        "checkin_code_used_once",
        holds,
        f"{len(successes)} check-ins succeeded ({len(observed.checkin_pairs)} codes scanned twice "
        f"at once: {len(observed.checkin_pairs) - len(bad_pairs)} with exactly one 201 and one "
        f"409), {len(with_ticket)} tickets, {len(checked_in)} appointments checked in, "
        f"{len(twice)} appointments with two tickets, {numbers_twice} queue numbers given twice",
        {
            "bad_pairs": bad_pairs[:20],
            "tickets_without_201": sorted(with_ticket - set(successes))[:20],
            "appointments_twice": twice[:20],
            "codes_prepared": len(population.checkin_codes),
        },
    )


async def _publishes(connection: asyncpg.Connection, load: Load) -> Invariant:
    from bench.scale_out.load import DOCUMENT_SYSTEM

    observed = load.observed
    rows = await connection.fetch(
        "SELECT document_key, count(*) AS n, max(version) AS v, array_agg(id::text) AS ids "
        "FROM health_document WHERE facility_id = $1 GROUP BY document_key",
        BOOKING_FACILITY,
    )
    stored = {r["document_key"].removeprefix(f"{DOCUMENT_SYSTEM}|"): r for r in rows}
    versions = [k for k, r in stored.items() if r["n"] != 1 or r["v"] != 1]
    wrong_id = [
        value
        for value, document_id in observed.published.items()
        if value in stored and stored[value]["ids"] != [document_id]
    ]
    bad_republishes = [r for r in observed.republishes if not r["same"]]
    holds = (
        set(stored) == set(observed.published)
        and not versions
        and not wrong_id
        and not bad_republishes
        and not observed.publish_other
    )
    return Invariant(
        "publish_stored_once",
        holds,
        f"{len(observed.published)} summaries published (201 created), {len(stored)} documents "
        f"stored, {len(versions)} with more than one version; {len(observed.republishes)} sent "
        f"again, {len(observed.republishes) - len(bad_republishes)} answered 200 unchanged with "
        "the same id",
        {
            "published_not_stored": sorted(set(observed.published) - set(stored))[:20],
            "stored_not_published": sorted(set(stored) - set(observed.published))[:20],
            "versions": versions[:20],
            "wrong_id": wrong_id[:20],
            "bad_republishes": bad_republishes[:20],
            "other_answers": observed.publish_other[:20],
        },
    )


def _no_server_errors(load: Load) -> Invariant:
    """No 5xx and no failed connection in any phase of the load (the setup stops at its
    first)."""
    totals = load.totals()
    per = {name: t.server_errors for name, t in totals.items() if t.server_errors}
    transport = {name: dict(t.transport_errors) for name, t in totals.items() if t.transport_errors}
    total = sum(per.values())
    return Invariant(
        "no_5xx",
        total == 0 and not transport,
        f"{total} answers 5xx, {sum(sum(t.values()) for t in transport.values())} transport errors",
        {"per_scenario": per, "transport_errors": transport},
    )


def _only_expected_answers(load: Load) -> Invariant:
    unexpected = {name: dict(t.unexpected) for name, t in load.totals().items() if t.unexpected}
    return Invariant(
        "only_expected_answers",
        not unexpected,
        f"{sum(sum(u.values()) for u in unexpected.values())} answers outside each scenario's "
        "success and expected refusals",
        {"unexpected": unexpected},
    )
