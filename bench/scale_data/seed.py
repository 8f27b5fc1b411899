"""Seed a PostgreSQL database at national scale, fast: real template rows, cloned with COPY.

A few template rows of each large table are made the way production makes them — the running
service publishes small FHIR bundles, a hospital publishes a slot, a citizen books it — so they
carry every column the current schema has, encrypted the way the service encrypts. They are then
read back and cloned with ``COPY`` (asyncpg's ``copy_records_to_table``) into millions of rows,
each clone overriding only what makes it a different row: ids, the citizen, the facility, dates,
keys that must stay unique. Columns added later are cloned as the template has them, so the
seeder follows the schema without being told.

What each clone shares with its template (a bench's shortcut, said here once): the encrypted
document and entry bodies (the cipher binds a value to its column, not to its row, so they
decrypt as any row's would), and the entries' summaries. Access-log rows are not cloned: each
citizen's chain is computed with the service's own hash (:func:`api.health_book.access_log
.row_hash`), so ``healthbook audit verify`` holds over the seeded table.

Shape (``Sizes``), for ``C`` citizens: 3·C documents holding about 10·C entries, C/50 slots
carrying 5·C appointments, 10·C access-log rows, 2.5·C outbox rows and as many inbox rows.
Skew: facilities are drawn with Zipf weights (a few large hospitals take most visits), and one
citizen in 2,000 has 100–400 visits; the rest follow an exponential law around the mean.
"""

from __future__ import annotations

import datetime as dt
import itertools
import math
import random
import time
import uuid
from collections.abc import Callable, Iterable, Iterator, Sequence
from dataclasses import dataclass, field
from typing import Any

import asyncpg

from api.health_book.access_log import GENESIS, row_hash
from api.identity.national_id import keyed_hash, mask

NATIONAL_ID_BASE = 500_000_000_000
"""Seeded citizen ``i`` has the national ID number ``NATIONAL_ID_BASE + i`` (12 digits)."""
TEMPLATE_NATIONAL_ID = f"{NATIONAL_ID_BASE - 1:012d}"
"""The citizen whose published book is the documents' template."""
FACILITY_PREFIX = "9"
COPY_CHUNK = 20_000

# One namespace per table, so a seeded row's id tells what it is and ids never collide.
_NS = {
    "citizen": 0x5CA1E0001,
    "health_document": 0x5CA1E0002,
    "health_entry": 0x5CA1E0003,
    "access_log": 0x5CA1E0004,
    "appointment_slot": 0x5CA1E0005,
    "appointment": 0x5CA1E0006,
    "notification_outbox": 0x5CA1E0007,
}


def seeded_id(table: str, n: int) -> uuid.UUID:
    """The id of the ``n``-th seeded row of ``table`` (deterministic)."""
    return uuid.UUID(int=(_NS[table] << 64) | n)


def citizen_id(n: int) -> uuid.UUID:
    return seeded_id("citizen", n)


def national_id(n: int) -> str:
    return f"{NATIONAL_ID_BASE + n:012d}"


def facility_code(k: int) -> str:
    return f"{FACILITY_PREFIX}{k:04d}"


@dataclass(frozen=True)
class Sizes:
    """How many rows of each kind, for ``citizens`` citizens (the issue's proportions)."""

    citizens: int

    @property
    def facilities(self) -> int:
        return max(5, self.citizens // 20_000)

    @property
    def documents(self) -> int:
        return 3 * self.citizens

    @property
    def slots(self) -> int:
        return max(20, self.citizens // 50)

    @property
    def appointments(self) -> int:
        return 5 * self.citizens

    @property
    def access_log(self) -> int:
        return 10 * self.citizens

    @property
    def outbox(self) -> int:
        return self.citizens * 5 // 2

    @property
    def heavy(self) -> int:
        """Citizens with hundreds of visits (the first ``heavy`` seeded ones)."""
        return max(1, self.citizens // 2_000)


@dataclass
class Template:
    """Rows of one table to clone: the column names and the template rows (as dicts)."""

    table: str
    columns: list[str]
    rows: list[dict[str, Any]]


@dataclass
class Seeded:
    """What the seeding made, for the measurements: counts and the time it took."""

    sizes: Sizes
    counts: dict[str, int] = field(default_factory=dict)
    seconds: dict[str, float] = field(default_factory=dict)
    documents_of: list[int] = field(default_factory=list)
    """Documents per seeded citizen (index: the citizen's number)."""


async def load_template(conn: asyncpg.Connection, table: str, where: str, *args: Any) -> Template:
    """Rows of ``table`` matching ``where`` (SQL over the table's columns), every column."""
    columns = [
        r["column_name"]
        for r in await conn.fetch(
            "SELECT column_name FROM information_schema.columns "
            "WHERE table_schema = current_schema() AND table_name = $1 ORDER BY ordinal_position",
            table,
        )
    ]
    rows = await conn.fetch(f"SELECT * FROM {table} WHERE {where}", *args)
    if not rows:
        raise RuntimeError(f"no template row in {table} where {where}")
    return Template(table, columns, [dict(r) for r in rows])


def _clone(template: dict[str, Any], columns: Sequence[str], changes: dict[str, Any]) -> tuple:
    return tuple(changes[c] if c in changes else template[c] for c in columns)


async def copy_rows(
    conn: asyncpg.Connection, table: str, columns: Sequence[str], rows: Iterable[tuple]
) -> int:
    """COPY ``rows`` into ``table`` in chunks; answers how many."""
    total = 0
    iterator = iter(rows)
    while chunk := list(itertools.islice(iterator, COPY_CHUNK)):
        await conn.copy_records_to_table(table, records=chunk, columns=list(columns))
        total += len(chunk)
    return total


def zipf_weights(n: int, s: float = 1.1) -> list[float]:
    """Cumulative Zipf weights over ``n`` items: item 0 the largest."""
    return list(itertools.accumulate(1 / (k + 1) ** s for k in range(n)))


def documents_per_citizen(sizes: Sizes, rng: random.Random) -> list[int]:
    """How many documents each seeded citizen has: heavy citizens 100–400, the rest an
    exponential law (at least one) whose mean brings the total to ``sizes.documents``."""
    heavy = [rng.randint(100, 400) for _ in range(sizes.heavy)]
    rest = sizes.citizens - sizes.heavy
    mean = max(1.0, (sizes.documents - sum(heavy)) / max(rest, 1))
    if mean <= 1.0:
        return heavy + [1] * rest
    # 1 + floor(X), X exponential of mean mu, has the mean 1 + 1/(e^(1/mu) - 1): choose mu so
    # that this is ``mean``
    mu = 1 / math.log(1 + 1 / (mean - 1))
    return heavy + [1 + int(rng.expovariate(1 / mu)) for _ in range(rest)]


def _progress(label: str, started: float, done: int, total: int) -> None:
    rate = done / max(time.monotonic() - started, 1e-9)
    print(f"seed: {label}: {done:,}/{total:,} ({rate:,.0f}/s)", flush=True)


async def seed_citizens(
    conn: asyncpg.Connection, citizen: Template, sizes: Sizes, hash_key: str, now: dt.datetime
) -> int:
    template = citizen.rows[0]
    rng = random.Random(1)

    def rows() -> Iterator[tuple]:
        for n in range(sizes.citizens):
            number = national_id(n)
            yield _clone(
                template,
                citizen.columns,
                {
                    "id": citizen_id(n),
                    "national_id_hash": keyed_hash(hash_key, number),
                    "national_id_masked": mask(number),
                    "full_name": f"Công dân {n}",
                    "birth_date": dt.date(1940, 1, 1) + dt.timedelta(days=rng.randrange(30_000)),
                    "created_at": now - dt.timedelta(days=rng.randrange(1, 1_000)),
                    "updated_at": now,
                    "first_login_at": None,
                    "last_login_at": None,
                },
            )

    return await copy_rows(conn, "citizen", citizen.columns, rows())


async def seed_documents(
    conn: asyncpg.Connection,
    documents: Template,
    entries: Template,
    sizes: Sizes,
    facilities: Sequence[str],
    now: dt.datetime,
) -> tuple[int, int, list[int]]:
    """Documents and their entries, per citizen as :func:`documents_per_citizen` says; each
    document a clone of one template document, with that document's entries."""
    rng = random.Random(2)
    per_citizen = documents_per_citizen(sizes, rng)
    cumulative = zipf_weights(len(facilities))
    entries_of: dict[Any, list[dict[str, Any]]] = {}
    for entry in entries.rows:
        entries_of.setdefault(entry["document_id"], []).append(entry)
    templates = [d for d in documents.rows if d["id"] in entries_of]
    doc_rows: list[tuple] = []
    entry_rows: list[tuple] = []
    n_docs = n_entries = 0
    started = time.monotonic()
    total_docs = sum(per_citizen)
    for n, count in enumerate(per_citizen):
        owner = citizen_id(n)
        for _ in range(count):
            template = templates[n_docs % len(templates)]
            facility = rng.choices(facilities, cum_weights=cumulative)[0]
            when = now - dt.timedelta(days=rng.randrange(0, 3_650), minutes=rng.randrange(1_440))
            doc_id = seeded_id("health_document", n_docs)
            doc_rows.append(
                _clone(
                    template,
                    documents.columns,
                    {
                        "id": doc_id,
                        "citizen_id": owner,
                        "facility_id": facility,
                        "document_key": f"scale-{n_docs}",
                        "version": 1,
                        "document_date": when,
                        "received_at": when,
                        "status_changed_at": None,
                    },
                )
            )
            for entry in entries_of[template["id"]]:
                changes: dict[str, Any] = {
                    "id": seeded_id("health_entry", n_entries),
                    "document_id": doc_id,
                    "citizen_id": owner,
                    "facility_id": facility,
                    "source_key": f"{entry['source_key']}#{n_docs}",
                    "received_at": when,
                }
                if entry.get("encounter_key") is not None:
                    changes["encounter_key"] = f"{entry['encounter_key']}#{n_docs}"
                if entry.get("effective_at") is not None:
                    changes["effective_at"] = when
                if entry.get("effective_end") is not None:
                    changes["effective_end"] = when + dt.timedelta(hours=1)
                entry_rows.append(_clone(entry, entries.columns, changes))
                n_entries += 1
            n_docs += 1
        if len(doc_rows) >= COPY_CHUNK:
            await copy_rows(conn, "health_document", documents.columns, doc_rows)
            await copy_rows(conn, "health_entry", entries.columns, entry_rows)
            doc_rows.clear()
            entry_rows.clear()
            if n_docs % (COPY_CHUNK * 25) < COPY_CHUNK:
                _progress("documents", started, n_docs, total_docs)
    await copy_rows(conn, "health_document", documents.columns, doc_rows)
    await copy_rows(conn, "health_entry", entries.columns, entry_rows)
    return n_docs, n_entries, per_citizen


async def seed_access_log(conn: asyncpg.Connection, sizes: Sizes, now: dt.datetime) -> int:
    """Ten reads per citizen, each chain hashed as the service hashes it; and the heads."""
    per_citizen = max(1, sizes.access_log // sizes.citizens)
    columns = [
        "id",
        "citizen_id",
        "at",
        "actor_kind",
        "actor_id",
        "action",
        "purpose",
        "resource",
        "detail",
        "seq",
        "prev_hash",
        "row_hash",
    ]
    n_rows = 0
    heads: list[tuple] = []

    def rows() -> Iterator[tuple]:
        nonlocal n_rows
        for n in range(sizes.citizens):
            owner = citizen_id(n)
            previous = GENESIS
            for seq in range(1, per_citizen + 1):
                row = {
                    "id": seeded_id("access_log", n_rows),
                    "citizen_id": owner,
                    "seq": seq,
                    "at": now - dt.timedelta(hours=per_citizen - seq, seconds=n % 3_600),
                    "actor_kind": "citizen",
                    "actor_id": str(owner),
                    "action": "read",
                    "purpose": None,
                    "resource": "health-book",
                    "detail": None,
                    "prev_hash": previous,
                }
                previous = row_hash(**row)
                n_rows += 1
                yield tuple(previous if c == "row_hash" else row[c] for c in columns)
            heads.append((owner, per_citizen, previous))

    total = await copy_rows(conn, "access_log", columns, rows())
    await copy_rows(conn, "access_log_head", ["citizen_id", "seq", "hash"], heads)
    return total


async def seed_appointments(
    conn: asyncpg.Connection,
    slot: Template,
    appointment: Template,
    sizes: Sizes,
    departments: dict[str, uuid.UUID],
    now: dt.datetime,
) -> tuple[int, int]:
    """Slots over the last year and the next month, appointment ``a`` for citizen ``a % C`` in
    slot ``(5·citizen + a // C) % S`` (five distinct slots per citizen); past ones completed
    (one in ten cancelled), future ones booked."""
    facilities = sorted(departments)
    cumulative = zipf_weights(len(facilities))
    rng = random.Random(3)
    n_slots, n_appts = sizes.slots, sizes.appointments
    per_slot = [0] * n_slots
    status_of: list[str] = []
    slot_facility = [rng.choices(facilities, cum_weights=cumulative)[0] for _ in range(n_slots)]
    slot_start = [
        (
            now - dt.timedelta(days=365) + dt.timedelta(minutes=15 * rng.randrange(0, 37_000))
        ).replace(second=0, microsecond=0)
        for _ in range(n_slots)
    ]

    def slot_of(a: int) -> int:
        who, k = a % sizes.citizens, a // sizes.citizens
        return (5 * who + k) % n_slots

    for a in range(n_appts):
        s = slot_of(a)
        past_status = "cancelled" if a % 10 == 0 else "completed"
        status = "booked" if slot_start[s] > now else past_status
        status_of.append(status)
        if status != "cancelled":
            per_slot[s] += 1
    capacity = min(1_000, max(per_slot) + 5)
    st = slot.rows[0]

    def slot_rows() -> Iterator[tuple]:
        for s in range(n_slots):
            yield _clone(
                st,
                slot.columns,
                {
                    "id": seeded_id("appointment_slot", s),
                    "facility_id": slot_facility[s],
                    "external_id": f"scale-{s}",
                    "department_id": departments[slot_facility[s]],
                    "start_at": slot_start[s],
                    "end_at": slot_start[s] + dt.timedelta(minutes=15),
                    "capacity": capacity,
                    "booked": per_slot[s],
                    "status": "open",
                    "created_at": slot_start[s] - dt.timedelta(days=30),
                    "updated_at": slot_start[s] - dt.timedelta(days=30),
                },
            )

    at = appointment.rows[0]

    def appointment_rows() -> Iterator[tuple]:
        for a in range(n_appts):
            s = slot_of(a)
            who = citizen_id(a % sizes.citizens)
            start = slot_start[s]
            status = status_of[a]
            yield _clone(
                at,
                appointment.columns,
                {
                    "id": seeded_id("appointment", a),
                    "citizen_id": who,
                    "booked_by": who,
                    "slot_id": seeded_id("appointment_slot", s),
                    "facility_id": slot_facility[s],
                    "department_id": departments[slot_facility[s]],
                    "start_at": start,
                    "end_at": start + dt.timedelta(minutes=15),
                    "status": status,
                    "cancelled_by": "citizen" if status == "cancelled" else None,
                    "cancelled_at": start - dt.timedelta(days=1) if status == "cancelled" else None,
                    "cancel_reason": None,
                    "created_at": start - dt.timedelta(days=7),
                    "updated_at": start,
                    "checked_in_at": start if status == "completed" else None,
                    "finished_at": start + dt.timedelta(minutes=20)
                    if status == "completed"
                    else None,
                },
            )

    slots = await copy_rows(conn, "appointment_slot", slot.columns, slot_rows())
    appointments = await copy_rows(conn, "appointment", appointment.columns, appointment_rows())
    return slots, appointments


async def seed_notifications(
    conn: asyncpg.Connection, outbox: Template, sizes: Sizes, now: dt.datetime
) -> tuple[int, int]:
    """Outbox rows, 99 % sent (each with its inbox row), 1 % reminders due in the next weeks."""
    template = outbox.rows[0]
    inbox_columns = ["id", "citizen_id", "kind", "payload", "created_at"]
    rng = random.Random(4)
    inbox: list[tuple] = []

    def rows() -> Iterator[tuple]:
        for o in range(sizes.outbox):
            row_id = seeded_id("notification_outbox", o)
            who = citizen_id(o % sizes.citizens)
            created = now - dt.timedelta(minutes=rng.randrange(1, 525_600))
            pending = o % 100 == 0
            if not pending:
                inbox.append((row_id, who, template["kind"], template["payload"], created))
            yield _clone(
                template,
                outbox.columns,
                {
                    "id": row_id,
                    "citizen_id": who,
                    "dedupe_key": f"scale-{o}",
                    "status": "pending" if pending else "sent",
                    "due_at": now + dt.timedelta(minutes=rng.randrange(60, 40_000))
                    if pending
                    else created,
                    "attempts": 0 if pending else 1,
                    "lease_until": None,
                    "claim_token": None,
                    "claimed_by": None,
                    "last_error": None,
                    "created_at": created,
                    "updated_at": created,
                    "finished_at": None if pending else created + dt.timedelta(seconds=2),
                },
            )

    total = 0
    iterator = rows()
    while chunk := list(itertools.islice(iterator, COPY_CHUNK)):
        await conn.copy_records_to_table(
            "notification_outbox", records=chunk, columns=outbox.columns
        )
        await conn.copy_records_to_table("notification", records=inbox, columns=inbox_columns)
        total += len(chunk)
        inbox.clear()
    inbox_count = await conn.fetchval(
        "SELECT count(*) FROM notification WHERE id >= $1", seeded_id("notification_outbox", 0)
    )
    return total, int(inbox_count)


async def timed(label: str, seeded: Seeded, work: Callable[[], Any]) -> Any:
    started = time.monotonic()
    result = await work()
    seeded.seconds[label] = round(time.monotonic() - started, 1)
    print(f"seed: {label} done in {seeded.seconds[label]} s", flush=True)
    return result
