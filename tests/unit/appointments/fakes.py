"""In-memory stand-ins for what the appointment use cases ask of the database (no I/O).

:class:`FakeDatabase` keeps what was committed: the stored answers of ``Idempotency-Key`` s and
the places taken on each slot. A :class:`FakeSession` writes into its own pending state, applied
on commit and dropped on rollback; the request locks it holds end with its transaction, as the
real ones do. :func:`unit_of_work` gives the real :class:`~api.core.uow.UnitOfWorkFactory` on
those sessions, so the use cases run exactly as in production around a fake store.
"""

from __future__ import annotations

import datetime as dt
import uuid
from dataclasses import dataclass, field
from typing import Any

import msgspec
import pytest

from api.appointments import booking, idempotency
from api.appointments.errors import SlotFull
from api.appointments.idempotency import Answer
from api.appointments.models import DONE
from api.appointments.rules import Limits
from api.appointments.schemas import AppointmentCreate
from api.core.uow import UnitOfWorkFactory


@dataclass
class StoredKey:
    """An ``idempotency_key`` row, as :func:`api.appointments.idempotency._decide` reads it."""

    request_hash: str
    status: str
    response_status: int | None
    response_body: bytes | None
    created_at: dt.datetime
    locked_at: dt.datetime


@dataclass
class FakeDatabase:
    capacity: dict[uuid.UUID, int] = field(default_factory=dict)
    booked: dict[uuid.UUID, list[uuid.UUID]] = field(default_factory=dict)
    """slot -> the citizens holding a place, in booking order"""
    keys: dict[tuple[uuid.UUID, str], StoredKey] = field(default_factory=dict)
    locks: set[int] = field(default_factory=set)
    log: list[str] = field(default_factory=list)
    fail_after_taking: Exception | None = None
    """Raised by the booking once it has taken its place (e.g. the facility closed meanwhile)."""
    crash: Exception | None = None
    """Raised by the booking before anything is written (e.g. the database went away)."""

    def open_slot(self, capacity: int) -> uuid.UUID:
        slot_id = uuid.uuid4()
        self.capacity[slot_id] = capacity
        self.booked[slot_id] = []
        return slot_id


class FakeSession:
    """One transaction at a time over a :class:`FakeDatabase`."""

    def __init__(self, db: FakeDatabase) -> None:
        self.db = db
        self._reset()

    def _reset(self) -> None:
        self.pending_keys: dict[tuple[uuid.UUID, str], StoredKey] = {}
        self.pending_places: list[tuple[uuid.UUID, uuid.UUID]] = []
        self.held: set[int] = set()

    def _release(self) -> None:
        self.db.locks -= self.held
        self._reset()

    async def commit(self) -> None:
        self.db.keys.update(self.pending_keys)
        for slot_id, citizen_id in self.pending_places:
            self.db.booked[slot_id].append(citizen_id)
        self.db.log.append("commit")
        self._release()

    async def rollback(self) -> None:
        self.db.log.append("rollback")
        self._release()

    def in_transaction(self) -> bool:
        return bool(self.held or self.pending_keys or self.pending_places)

    async def close(self) -> None:
        self._release()


def unit_of_work(db: FakeDatabase) -> UnitOfWorkFactory:
    return UnitOfWorkFactory(lambda: FakeSession(db))  # type: ignore[arg-type,return-value]


# --- the booking's collaborators, on the fake store -----------------------------------------


async def _lock_booking(session: FakeSession, request_lock: int, citizen_id: uuid.UUID) -> bool:
    if request_lock in session.db.locks:
        return False
    session.db.locks.add(request_lock)
    session.held.add(request_lock)
    return True


async def _lookup(
    session: FakeSession,
    citizen_id: uuid.UUID,
    key: str,
    fingerprint: str,
    *,
    now: dt.datetime,
    ttl: dt.timedelta,
) -> Answer | None:
    row = session.db.keys.get((citizen_id, key))
    return None if row is None else idempotency._decide(row, fingerprint, now, ttl)


async def _save(
    session: FakeSession,
    citizen_id: uuid.UUID,
    key: str,
    fingerprint: str,
    answer: Answer,
    *,
    now: dt.datetime,
    only_over: dt.datetime | None = None,
) -> None:
    existing = session.db.keys.get((citizen_id, key))
    if only_over is not None and existing is not None and existing.created_at > only_over:
        return  # a live answer of a duplicate stays
    session.pending_keys[(citizen_id, key)] = StoredKey(
        fingerprint, DONE, answer.status, answer.body, now, now
    )


async def _nothing(*args: Any, **kwargs: Any) -> None:
    return None


async def _book(
    session: FakeSession,
    citizen_id: uuid.UUID,
    actor_id: uuid.UUID,
    data: AppointmentCreate,
    limits: Limits,
    now: dt.datetime,
) -> Answer:
    """The place-taking of :func:`api.appointments.booking._book`, in memory: a refusal before
    anything is written is :class:`~api.appointments.booking.Refused`."""
    db = session.db
    if db.crash is not None:
        raise db.crash
    holders = db.booked[data.slot_id] + [c for s, c in session.pending_places if s == data.slot_id]
    if len(holders) >= db.capacity[data.slot_id]:
        error = SlotFull("every place of the slot is taken")
        raise booking.Refused(error) from error
    session.pending_places.append((data.slot_id, citizen_id))
    if db.fail_after_taking is not None:
        raise db.fail_after_taking
    body = {"id": str(uuid.uuid4()), "citizen_id": str(citizen_id), "slot_id": str(data.slot_id)}
    return Answer(201, msgspec.json.encode(body))


def install(monkeypatch: pytest.MonkeyPatch) -> None:
    """Route the booking's reads and writes to the fake store."""
    monkeypatch.setattr(booking, "lock_booking", _lock_booking)
    monkeypatch.setattr(booking, "_book", _book)
    monkeypatch.setattr(idempotency, "lookup", _lookup)
    monkeypatch.setattr(idempotency, "save", _save)
    monkeypatch.setattr(idempotency, "maybe_purge", _nothing)
    monkeypatch.setattr(idempotency, "begin_write", _nothing)
