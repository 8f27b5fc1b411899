"""The access log: written inside the transaction of the access it records, never changed.

Each citizen's rows form a hash chain. When a session flushes new :class:`AccessLogEntry` rows,
a ``before_flush`` hook (bound by :func:`bind` to the process's own sessions) takes the citizen's
chain head — ``INSERT … ON CONFLICT DO UPDATE … RETURNING`` on ``access_log_head``, which holds
that row's lock until the transaction ends, so concurrent appends for one citizen line up — and
gives each new row the next ``seq``, the previous row's hash as ``prev_hash``, and its own
``row_hash`` = SHA-256 over its canonical content (:func:`canonical`). The head then records the
last row. Altering, removing or reordering a row breaks the chain; ``healthbook audit verify``
(api/health_book/audit.py) finds where. On PostgreSQL the application's role may not UPDATE or
DELETE the table at all (``healthbook db grant-app-role``).
"""

from __future__ import annotations

import datetime as dt
import hashlib
import json
import uuid
from typing import Any, cast

from sqlalchemy import Integer, String, Uuid, bindparam, event, update
from sqlalchemy.engine import Connection
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker
from sqlalchemy.orm import Session

from api.core.db import session_class_of
from api.core.dialect import Dialect, PerDialect
from api.health_book.models import AccessLogEntry, AccessLogHead

GENESIS = "0" * 64
"""The ``prev_hash`` of each citizen's first row."""

_VERSION = 1


def record(
    session: AsyncSession,
    *,
    citizen_id: uuid.UUID,
    actor_kind: str,
    actor_id: str,
    action: str,
    now: dt.datetime,
    resource: str | None = None,
    purpose: str | None = None,
    detail: dict[str, Any] | None = None,
) -> None:
    """Add a row to ``session``; it is chained when the session flushes (at commit)."""
    session.add(
        AccessLogEntry(
            id=uuid.uuid4(),
            citizen_id=citizen_id,
            at=now,
            actor_kind=actor_kind,
            actor_id=actor_id[:64],
            action=action,
            purpose=purpose,
            resource=resource,
            detail=detail,
        )
    )


def _uuid(value: uuid.UUID | str | bytes) -> str:
    """A UUID in its canonical form (lowercase, hyphenated), whatever a driver handed back:
    a ``UUID``, 32 hex digits (SQLite), the hyphenated text or 16 raw bytes."""
    if isinstance(value, uuid.UUID):
        return str(value)
    if isinstance(value, bytes | bytearray | memoryview):
        raw = bytes(value)
        return str(uuid.UUID(bytes=raw) if len(raw) == 16 else uuid.UUID(raw.decode()))
    return str(uuid.UUID(str(value)))


def _instant(at: dt.datetime | str) -> str:
    """An instant as ``YYYY-MM-DDTHH:MM:SS.ffffffZ`` in UTC; a stored value read back as text
    (SQLite, ``2030-05-01 09:30:15.123456``) or without a zone is taken as UTC."""
    if isinstance(at, str):
        at = dt.datetime.fromisoformat(at)
    if at.tzinfo is None:
        at = at.replace(tzinfo=dt.UTC)
    return at.astimezone(dt.UTC).strftime("%Y-%m-%dT%H:%M:%S.%fZ")


def _json(value: dict[str, Any] | str | bytes | None) -> Any:
    """A JSON column's value as data (a driver may hand back the stored text)."""
    if isinstance(value, str | bytes | bytearray):
        return json.loads(value)
    return value


def canonical(
    *,
    id: uuid.UUID | str,
    citizen_id: uuid.UUID | str,
    seq: int,
    at: dt.datetime | str,
    actor_kind: str,
    actor_id: str,
    action: str,
    purpose: str | None,
    resource: str | None,
    detail: dict[str, Any] | str | None,
    prev_hash: str,
) -> bytes:
    """The bytes a row's hash covers: every column but ``row_hash``, as JSON with sorted keys,
    no spaces, UTF-8, UUIDs lowercase and hyphenated, instants in UTC to the microsecond.

    Each value is normalised here, not by the database driver or the column's type, so a row
    hashes the same whichever backend stored it and whichever process (with whichever models
    imported) reads it back."""
    content = {
        "v": _VERSION,
        "id": _uuid(id),
        "citizen_id": _uuid(citizen_id),
        "seq": int(seq),
        "at": _instant(at),
        "actor_kind": str(actor_kind),
        "actor_id": str(actor_id),
        "action": str(action),
        "purpose": purpose,
        "resource": resource,
        "detail": _json(detail),
        "prev_hash": str(prev_hash),
    }
    return json.dumps(content, sort_keys=True, separators=(",", ":"), ensure_ascii=False).encode()


def row_hash(**columns: Any) -> str:
    """The ``row_hash`` of a row with these columns (those :func:`canonical` takes)."""
    return hashlib.sha256(canonical(**columns)).hexdigest()


def _build_reserve(dialect: Dialect) -> Any:
    return (
        dialect.upsert(
            AccessLogHead,
            on=[AccessLogHead.citizen_id],
            update={"seq": AccessLogHead.seq + bindparam("added", type_=Integer())},
        )
        .values(
            citizen_id=bindparam("head_citizen", type_=Uuid()),
            seq=bindparam("count", type_=Integer()),
            hash=GENESIS,
        )
        .returning(AccessLogHead.seq, AccessLogHead.hash)
    )


# Built once: constructing a statement costs more CPU than running a cached one, and this runs
# at every flush that logs an access.
_RESERVE = PerDialect(_build_reserve)
_SET_HEAD = (
    update(AccessLogHead)
    .where(AccessLogHead.citizen_id == bindparam("head_citizen", type_=Uuid()))
    .values(hash=bindparam("last_hash", type_=String()))
)


def _reserve(connection: Connection, citizen_id: uuid.UUID, count: int) -> tuple[int, str]:
    """Take ``count`` places at the end of the citizen's chain: answers the last seq taken and
    the hash of the row before the first one. Locks the head row until the transaction ends."""
    parameters = {"head_citizen": citizen_id, "count": count, "added": count}
    # the statement is built per dialect (typed Any): it returns (seq, row_hash)
    row = cast("tuple[Any, Any]", connection.execute(_RESERVE.of(connection), parameters).one())
    last_seq, previous = row
    return int(last_seq), str(previous)


def bind(sessionmaker: async_sessionmaker[AsyncSession]) -> None:
    """Chain the access-log rows that sessions of ``sessionmaker`` flush (every process binds it
    to its own sessions; sessions made elsewhere are left alone)."""
    event.listen(session_class_of(sessionmaker), "before_flush", _chain_new_rows)


def _chain_new_rows(session: Session, _context: Any, _instances: Any) -> None:
    pending: dict[uuid.UUID, list[AccessLogEntry]] = {}
    for obj in session.new:
        if isinstance(obj, AccessLogEntry) and obj.row_hash is None:
            pending.setdefault(obj.citizen_id, []).append(obj)
    if not pending:
        return
    connection = session.connection()
    for citizen_id in sorted(pending):  # one order everywhere: no deadlock between two chains
        rows = pending[citizen_id]
        last_seq, previous = _reserve(connection, citizen_id, len(rows))
        seq = last_seq - len(rows)
        for row in rows:
            seq += 1
            if row.id is None:
                row.id = uuid.uuid4()
            row.seq = seq
            row.prev_hash = previous
            row.row_hash = previous = row_hash(
                id=row.id,
                citizen_id=row.citizen_id,
                seq=seq,
                at=row.at,
                actor_kind=row.actor_kind,
                actor_id=row.actor_id,
                action=row.action,
                purpose=row.purpose,
                resource=row.resource,
                detail=row.detail,
                prev_hash=row.prev_hash,
            )
        connection.execute(_SET_HEAD, {"head_citizen": citizen_id, "last_hash": previous})
