"""``Idempotency-Key`` for citizen writes: a retried request gets the first request's answer.

Keys are scoped per citizen (the caller) and kept ``idempotency_key_ttl_hours``. The answer is
stored in the transaction of the work it answers, so a booking and its recorded answer commit
together. Refusals that follow from the request and the state it met (slot full, not bookable,
already booked, limit reached: the 4xx domain errors, see :func:`storable`) are answers too: their
problem document is rendered once, stored, and sent as those exact bytes — the first time and at
every replay (with the first request's ``request_id``). Transient failures (503, 429, anything
unexpected) are never stored: the key is given up, so a retry runs the request anew.

- PostgreSQL: the work runs in one transaction that first takes a transaction-scoped advisory lock
  on (citizen, key) with ``pg_try_advisory_xact_lock``: a request that cannot take it knows a
  duplicate is in flight. No ``in_progress`` row is ever written.
- SQLite (one writer at a time, so a duplicate would only queue behind the first): the first
  request *claims* the key in a short transaction of its own (an ``in_progress`` row, committed),
  then does its work and marks the row ``done`` with the answer.

Then, for the same key:

- same request, answer stored: the stored answer again, success or refusal, byte for byte
  (``Idempotent-Replayed: true``);
- another request (different body or target): 422 ``idempotency-key-reused``;
- the first still in progress: 409 ``idempotency-key-in-use`` with ``Retry-After``;
- a request that failed unexpectedly (database down) releases its key, so a retry runs anew; one
  whose process died leaves an ``in_progress`` row that is taken over after ``STALE_AFTER``.

Rows older than the TTL count as absent and are purged opportunistically (about one claim in a
hundred deletes the expired rows, through the index on ``created_at``).
"""

from __future__ import annotations

import datetime as dt
import hashlib
import secrets
import uuid
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import msgspec
from sqlalchemy import bindparam, delete, or_, select, update
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.ext.asyncio import AsyncSession

from api.appointments.errors import IdempotencyInProgress, IdempotencyMismatch
from api.appointments.locking import begin_write
from api.appointments.models import DONE, IN_PROGRESS, IdempotencyKey
from api.core.errors import PROBLEM_TYPES, DomainError

STALE_AFTER = dt.timedelta(seconds=60)
"""An ``in_progress`` claim this old belongs to a request that will never finish."""
PURGE_ONE_IN = 100


_TRANSIENT = frozenset({408, 425, 429})

RenderError = Callable[[DomainError], bytes]
"""The exact problem document a domain error answers the current request with."""


class _Legacy(msgspec.Struct):
    """An error answer as releases before byte-for-byte error replay stored it."""

    slug: str
    detail: str | None = None
    extra: dict[str, Any] | None = None


class ReplayedProblem(DomainError):
    """A stored error answer of the legacy form, rendered again for a retried request."""

    def __init__(self, stored: _Legacy) -> None:
        super().__init__(stored.detail, extra=stored.extra, headers={"Idempotent-Replayed": "true"})
        self.problem = PROBLEM_TYPES[stored.slug]  # type: ignore[misc]


@dataclass(frozen=True)
class Answer:
    """What a write answered: its status and body (JSON, or a problem document), byte for byte."""

    status: int
    body: bytes
    replayed: bool = False


def storable(error: DomainError) -> bool:
    """Whether a refusal is the request's answer (a 4xx that follows from the request and the
    state it met) rather than a transient failure to retry (5xx, 408, 425, 429), or one whose
    response headers a stored body would lose."""
    status = error.problem.status
    return 400 <= status < 500 and status not in _TRANSIENT and not error.headers


def _replayed(status: int, body: bytes) -> Answer:
    if status >= 400 and body.startswith(b'{"slug":'):
        raise ReplayedProblem(msgspec.json.decode(body, type=_Legacy))
    return Answer(status, body, replayed=True)


def request_hash(operation: str, body: msgspec.Struct) -> str:
    """The fingerprint of a request: what it does, to whom, with which (canonical) body."""
    digest = hashlib.sha256(operation.encode())
    digest.update(b"\x00")
    digest.update(msgspec.json.encode(body, order="sorted"))
    return digest.hexdigest()


def _insert(session: AsyncSession) -> Any:
    dialect = session.get_bind().dialect.name
    builder = postgresql.insert if dialect == "postgresql" else sqlite.insert
    return builder(IdempotencyKey)


def lock_key(citizen_id: uuid.UUID, key: str) -> int:
    """The advisory-lock number of (citizen, key): 64 bits of a SHA-256."""
    digest = hashlib.sha256(citizen_id.bytes + key.encode()).digest()
    return int.from_bytes(digest[:8], "big", signed=True)


def _decide(row: Any, fingerprint: str, now: dt.datetime, ttl: dt.timedelta) -> Answer | None:
    """What an existing row means: ``None`` when the request may run (expired, or a stale
    claim), the stored answer, or raise (another request, or one in progress)."""
    expired = row.created_at <= now - ttl
    if not expired and row.request_hash != fingerprint:
        raise IdempotencyMismatch(
            "this Idempotency-Key was used for another request; use a new key per request"
        )
    if expired or (row.status == IN_PROGRESS and row.locked_at <= now - STALE_AFTER):
        return None
    if row.status == DONE and row.response_status is not None and row.response_body is not None:
        return _replayed(row.response_status, row.response_body)
    raise IdempotencyInProgress(
        "a request with this Idempotency-Key is in progress", headers={"Retry-After": "1"}
    )


_COLUMNS = (
    IdempotencyKey.request_hash,
    IdempotencyKey.status,
    IdempotencyKey.response_status,
    IdempotencyKey.response_body,
    IdempotencyKey.created_at,
    IdempotencyKey.locked_at,
)
_LOOKUP = select(*_COLUMNS).where(
    IdempotencyKey.citizen_id == bindparam("citizen_id"),
    IdempotencyKey.key == bindparam("key"),
)


async def lookup(
    session: AsyncSession,
    citizen_id: uuid.UUID,
    key: str,
    fingerprint: str,
    *,
    now: dt.datetime,
    ttl: dt.timedelta,
) -> Answer | None:
    """In the caller's transaction (holding the key's lock): the stored answer to replay, or
    ``None`` when the request is to run. Raises as :func:`claim` does."""
    row = (await session.execute(_LOOKUP, {"citizen_id": citizen_id, "key": key})).one_or_none()
    return None if row is None else _decide(row, fingerprint, now, ttl)


_ANSWER = ("request_hash", "status", "response_status", "response_body", "created_at", "locked_at")


def _upsert(builder: Any, *, only_over: bool) -> Any:
    table = IdempotencyKey.__table__
    statement = builder(table)
    return statement.on_conflict_do_update(
        index_elements=[table.c.citizen_id, table.c.key],
        set_={name: statement.excluded[name] for name in _ANSWER},
        where=(
            or_(table.c.created_at <= bindparam("expired_before"), table.c.status == IN_PROGRESS)
            if only_over
            else None
        ),
    )


_SAVE = {
    (name, only_over): _upsert(builder, only_over=only_over)
    for name, builder in (("postgresql", postgresql.insert), ("sqlite", sqlite.insert))
    for only_over in (False, True)
}
"""Upserts of an answer, built once per dialect."""


async def save(
    session: AsyncSession,
    citizen_id: uuid.UUID,
    key: str,
    fingerprint: str,
    answer: Answer,
    *,
    now: dt.datetime,
    only_over: dt.datetime | None = None,
) -> None:
    """Store the answer, in the caller's transaction. An existing row is replaced — only when it
    expired before ``only_over`` or is an unfinished claim, if ``only_over`` is given."""
    dialect = session.get_bind().dialect.name
    params: dict[str, Any] = {
        "citizen_id": citizen_id,
        "key": key,
        "request_hash": fingerprint,
        "status": DONE,
        "response_status": answer.status,
        "response_body": answer.body,
        "created_at": now,
        "locked_at": now,
    }
    if only_over is not None:
        params["expired_before"] = only_over
    await session.execute(_SAVE[dialect, only_over is not None], params)


async def save_error(
    session: AsyncSession,
    citizen_id: uuid.UUID,
    key: str,
    fingerprint: str,
    answer: Answer,
    *,
    now: dt.datetime,
    ttl: dt.timedelta,
) -> None:
    """Store a refusal as the answer, in a transaction of its own (the work's rolled back);
    never over the answer of a duplicate that ran meanwhile."""
    await save(session, citizen_id, key, fingerprint, answer, now=now, only_over=now - ttl)
    await session.commit()


def error_answer(error: DomainError, render: RenderError) -> Answer:
    """The refusal's problem document, rendered once: ``error`` answers with these bytes."""
    error.recorded = render(error)
    return Answer(error.problem.status, error.recorded)


async def claim(
    session: AsyncSession,
    citizen_id: uuid.UUID,
    key: str,
    fingerprint: str,
    *,
    now: dt.datetime,
    ttl: dt.timedelta,
) -> Answer | None:
    """Take ``key`` for this request (an ``in_progress`` row, committed; answer ``None``) or
    answer the stored result (SQLite's way, see the module docstring).

    Raises :class:`IdempotencyMismatch` or :class:`IdempotencyInProgress`, and re-raises a stored
    error answer."""
    await begin_write(session)
    fresh = {
        "request_hash": fingerprint,
        "status": IN_PROGRESS,
        "response_status": None,
        "response_body": None,
        "created_at": now,
        "locked_at": now,
    }
    inserted = await session.execute(
        _insert(session)
        .values(citizen_id=citizen_id, key=key, **fresh)
        .on_conflict_do_nothing()
        .returning(IdempotencyKey.key)
    )
    if inserted.scalar_one_or_none() is not None:
        await maybe_purge(session, now - ttl)
        await session.commit()
        return None
    row = (await session.execute(_LOOKUP, {"citizen_id": citizen_id, "key": key})).one()
    try:
        stored = _decide(row, fingerprint, now, ttl)
    except DomainError:
        await session.rollback()
        raise
    if stored is not None:
        await session.rollback()
        return stored
    # expired, or a stale claim: take it over, unless another retry did so first
    taken = await session.execute(
        update(IdempotencyKey)
        .where(
            IdempotencyKey.citizen_id == citizen_id,
            IdempotencyKey.key == key,
            IdempotencyKey.locked_at == row.locked_at,
            IdempotencyKey.status == row.status,
        )
        .values(**fresh)
        .execution_options(synchronize_session=False)
    )
    if taken.rowcount == 1:  # type: ignore[attr-defined]
        await session.commit()
        return None
    await session.rollback()
    raise IdempotencyInProgress(
        "a request with this Idempotency-Key is in progress", headers={"Retry-After": "1"}
    )


async def finish(session: AsyncSession, citizen_id: uuid.UUID, key: str, answer: Answer) -> None:
    """Store the answer, in the transaction of the work it answers (the caller commits)."""
    await session.execute(
        update(IdempotencyKey)
        .where(IdempotencyKey.citizen_id == citizen_id, IdempotencyKey.key == key)
        .values(status=DONE, response_status=answer.status, response_body=answer.body)
        .execution_options(synchronize_session=False)
    )


async def finish_with_error(
    session: AsyncSession, citizen_id: uuid.UUID, key: str, answer: Answer
) -> None:
    """Store a refusal as the answer of a claimed key (after the work rolled back)."""
    await begin_write(session)
    await finish(session, citizen_id, key, answer)
    await session.commit()


async def release(session: AsyncSession, citizen_id: uuid.UUID, key: str) -> None:
    """Give the key up after an unexpected failure, so that a retry runs the request again."""
    await begin_write(session)
    await session.execute(
        delete(IdempotencyKey).where(
            IdempotencyKey.citizen_id == citizen_id,
            IdempotencyKey.key == key,
            IdempotencyKey.status == IN_PROGRESS,
        )
    )
    await session.commit()


async def maybe_purge(session: AsyncSession, before: dt.datetime) -> None:
    """About one call in ``PURGE_ONE_IN`` purges the expired keys (in the caller's transaction)."""
    if secrets.randbelow(PURGE_ONE_IN) == 0:
        await purge(session, before)


async def purge(session: AsyncSession, before: dt.datetime) -> int:
    """Delete the keys created before ``before`` (in the caller's transaction)."""
    result = await session.execute(delete(IdempotencyKey).where(IdempotencyKey.created_at < before))
    return int(result.rowcount or 0)  # type: ignore[attr-defined]
