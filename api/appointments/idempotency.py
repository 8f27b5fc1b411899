"""``Idempotency-Key`` for citizen writes: a retried request gets the first request's answer.

Keys are scoped per citizen (the caller) and kept ``idempotency_key_ttl_hours``. The answer is
stored in the transaction of the work it answers, so a booking and its recorded answer commit
together. Refusals that follow from the request and the state it met (slot full, not bookable,
already booked, limit reached: the 4xx domain errors, see :func:`storable`) are answers too: their
problem document is rendered once, stored, and sent as those exact bytes — the first time and at
every replay (with the first request's ``request_id``). Transient failures (503, 429, anything
unexpected) are never stored: the key is given up, so a retry runs the request anew.

The work runs in one transaction that first takes the request's lock on (citizen, key) (see
:meth:`api.core.dialect.Dialect.lock_request`: an advisory lock on PostgreSQL, the single writer
and the process's registry of requests in flight on SQLite): a request that cannot take it knows a
duplicate is in flight. The lock ends with the transaction, so a failed request frees its key
before it answers. No ``in_progress`` row is written.

Then, for the same key:

- same request, answer stored: the stored answer again, success or refusal, byte for byte
  (``Idempotent-Replayed: true``);
- another request (different body or target): 422 ``idempotency-key-reused``;
- the first still in progress: 409 ``idempotency-key-in-use`` with ``Retry-After``;
- a request that failed unexpectedly (database down) releases its key, so a retry runs anew; an
  ``in_progress`` row (written by earlier releases, whose process died) is taken over after
  ``STALE_AFTER``.

Rows older than the TTL count as absent and are purged opportunistically (about one booking in a
hundred deletes the expired rows, through the index on ``created_at``).
"""

from __future__ import annotations

import datetime as dt
import hashlib
import secrets
import uuid
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, cast

import msgspec
from sqlalchemy import CursorResult, bindparam, delete, or_, select
from sqlalchemy.ext.asyncio import AsyncSession

from api.appointments.errors import IdempotencyInProgress, IdempotencyMismatch
from api.appointments.models import DONE, IN_PROGRESS, IdempotencyKey
from api.core.dialect import Dialect, PerDialect, begin_write
from api.core.errors import DomainError, ProblemCatalogue
from api.core.uow import UnitOfWork

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
        # the problem type is the stored one, not the class's: set on this instance
        self.problem = ProblemCatalogue.loaded()[stored.slug]  # type: ignore[misc]


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
    ``None`` when the request is to run. Raises :class:`IdempotencyMismatch` (another request)
    or :class:`IdempotencyInProgress`, and re-raises a stored error answer of the legacy form."""
    row = (await session.execute(_LOOKUP, {"citizen_id": citizen_id, "key": key})).one_or_none()
    return None if row is None else _decide(row, fingerprint, now, ttl)


_ANSWER = ("request_hash", "status", "response_status", "response_body", "created_at", "locked_at")


def _upsert(dialect: Dialect, *, only_over: bool) -> Any:
    table = IdempotencyKey.__table__
    return dialect.upsert(
        table,
        on=[table.c.citizen_id, table.c.key],
        update=_ANSWER,
        where=(
            or_(table.c.created_at <= bindparam("expired_before"), table.c.status == IN_PROGRESS)
            if only_over
            else None
        ),
    )


_SAVE = PerDialect(lambda dialect: _upsert(dialect, only_over=False))
_SAVE_OVER = PerDialect(lambda dialect: _upsert(dialect, only_over=True))
"""Upserts of an answer (replacing any row, or only an expired one or an unfinished claim)."""


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
    if only_over is None:
        await session.execute(_SAVE.of(session), params)
        return
    params["expired_before"] = only_over
    await session.execute(_SAVE_OVER.of(session), params)


async def save_error(
    uow: UnitOfWork,
    citizen_id: uuid.UUID,
    key: str,
    fingerprint: str,
    answer: Answer,
    *,
    now: dt.datetime,
    ttl: dt.timedelta,
) -> None:
    """Store a refusal as the answer in a transaction of its own: the unit of work's work so far
    is rolled back, and its commit stores only this answer — never over the answer of a
    duplicate that ran meanwhile."""
    await uow.rollback()
    await begin_write(uow.session)
    await save(uow.session, citizen_id, key, fingerprint, answer, now=now, only_over=now - ttl)


def error_answer(error: DomainError, render: RenderError) -> Answer:
    """The refusal's problem document, rendered once: ``error`` answers with these bytes."""
    error.recorded = render(error)
    return Answer(error.problem.status, error.recorded)


async def maybe_purge(session: AsyncSession, before: dt.datetime) -> None:
    """About one call in ``PURGE_ONE_IN`` purges the expired keys (in the caller's transaction)."""
    if secrets.randbelow(PURGE_ONE_IN) == 0:
        await purge(session, before)


async def purge(session: AsyncSession, before: dt.datetime) -> int:
    """Delete the keys created before ``before`` (in the caller's transaction)."""
    statement = delete(IdempotencyKey).where(IdempotencyKey.created_at < before)
    result = cast("CursorResult[Any]", await session.execute(statement))  # a DELETE's result
    return int(result.rowcount or 0)
