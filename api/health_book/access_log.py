"""The access log: written inside the transaction of the access it records, never changed.

Each citizen's rows form a hash chain. When a session flushes new :class:`AccessLogEntry` rows,
a ``before_flush`` hook (bound by :func:`bind` to the process's own sessions) takes the citizen's
chain head — ``INSERT … ON CONFLICT DO UPDATE … RETURNING`` on ``access_log_head``, which holds
that row's lock until the transaction ends, so concurrent appends for one citizen line up — and
gives each new row the next ``seq``, the previous row's hash as ``prev_hash``, and its own
``row_hash`` = SHA-256 over its canonical content (:func:`canonical`). The head then records the
last row (its ``hash``, and its ``prev_hash`` too). Altering, removing or reordering a row breaks
the chain; ``healthbook audit verify``
(api/health_book/audit.py) finds where. On PostgreSQL the application's role may not UPDATE or
DELETE the table at all (``healthbook db grant-app-role``).

A hot path that logs one row (a SMART Health Link's recipient) appends it at once with
:func:`append` instead: on PostgreSQL **one statement**, the head's upsert and the row's insert
in one data-modifying CTE. The head's ``ON CONFLICT DO UPDATE`` takes the row lock (concurrent
appends for one citizen line up as above) and computes the new row's hash in the database from
the head it just locked: Python hands over the row's canonical JSON cut in three pieces around
the two values it cannot know (:func:`canonical_parts`: the previous hash and the seq), and
``sha256(p0 || prev_hash || p1 || seq || p2)`` is byte for byte the :func:`row_hash` Python
would compute, so the chain and ``healthbook audit verify`` are unchanged. The head keeps the
hash it replaced (``prev_hash``) because ``RETURNING`` sees only the new row; the row takes it
from there. SQLite (one writer at a time) takes three statements: reserve, row, head.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import json
import uuid
from typing import Any, cast

from sqlalchemy import (
    JSON,
    Integer,
    LargeBinary,
    String,
    Table,
    Uuid,
    bindparam,
    event,
    insert,
    text,
    update,
)
from sqlalchemy.engine import Connection
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker
from sqlalchemy.orm import Session

from api.core.db import UtcDateTime, session_class_of
from api.core.dialect import Dialect, PerDialect, dialect_of
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


def _dumps(value: Any) -> str:
    return json.dumps(value, sort_keys=True, separators=(",", ":"), ensure_ascii=False)


def canonical_parts(
    *,
    id: uuid.UUID | str,
    citizen_id: uuid.UUID | str,
    at: dt.datetime | str,
    actor_kind: str,
    actor_id: str,
    action: str,
    purpose: str | None,
    resource: str | None,
    detail: dict[str, Any] | str | None,
) -> tuple[bytes, bytes, bytes]:
    """:func:`canonical` of a row whose ``prev_hash`` and ``seq`` are not known yet, in three
    pieces: ``p0 + prev_hash + p1 + str(seq) + p2`` is ``canonical(…)`` (the keys are sorted:
    every other member but ``purpose``, ``resource`` and ``v`` comes before ``prev_hash``, and
    ``seq`` between ``resource`` and ``v``)."""
    before = _dumps(
        {
            "action": str(action),
            "actor_id": str(actor_id),
            "actor_kind": str(actor_kind),
            "at": _instant(at),
            "citizen_id": _uuid(citizen_id),
            "detail": _json(detail),
            "id": _uuid(id),
        }
    )
    p0 = before[:-1] + ',"prev_hash":"'
    p1 = f'","purpose":{_dumps(purpose)},"resource":{_dumps(resource)},"seq":'
    p2 = f',"v":{_VERSION}}}'
    return p0.encode(), p1.encode(), p2.encode()


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
    .values(
        hash=bindparam("last_hash", type_=String()),
        prev_hash=bindparam("last_prev", type_=String()),
    )
)
_INSERT_ROW = insert(cast("Table", AccessLogEntry.__table__))

# PostgreSQL: the head's upsert (lock, next seq, the new row's hash from the locked head) and
# the row's insert in one round trip; see the module's docstring.
_APPEND = text(
    """
    WITH head AS (
        INSERT INTO access_log_head AS h (citizen_id, seq, hash, prev_hash)
        VALUES (:citizen_id, 1, :first_hash, :genesis)
        ON CONFLICT (citizen_id) DO UPDATE SET
            seq = h.seq + 1,
            prev_hash = h.hash,
            hash = encode(sha256(
                CAST(:p0 AS bytea) || convert_to(h.hash, 'UTF8') || CAST(:p1 AS bytea)
                || convert_to(CAST(h.seq + 1 AS text), 'UTF8') || CAST(:p2 AS bytea)
            ), 'hex')
        RETURNING seq, prev_hash, hash
    )
    INSERT INTO access_log (id, citizen_id, at, actor_kind, actor_id, action, purpose,
                            resource, detail, seq, prev_hash, row_hash)
    SELECT :id, :citizen_id, :at, :actor_kind, :actor_id, :action, :purpose, :resource,
           CAST(:detail AS json), head.seq, head.prev_hash, head.hash
    FROM head
    """
).bindparams(
    bindparam("citizen_id", type_=Uuid()),
    bindparam("id", type_=Uuid()),
    bindparam("at", type_=UtcDateTime()),
    bindparam("detail", type_=JSON(none_as_null=True)),
    bindparam("p0", type_=LargeBinary()),
    bindparam("p1", type_=LargeBinary()),
    bindparam("p2", type_=LargeBinary()),
)


async def append(
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
) -> uuid.UUID:
    """Append one row to the citizen's chain now, in the session's transaction (one statement
    on PostgreSQL, three on SQLite; see the module's docstring); its id."""
    entry_id = uuid.uuid4()
    columns: dict[str, Any] = {
        "id": entry_id,
        "citizen_id": citizen_id,
        "at": now,
        "actor_kind": actor_kind,
        "actor_id": actor_id[:64],
        "action": action,
        "purpose": purpose,
        "resource": resource,
        "detail": detail,
    }
    p0, p1, p2 = canonical_parts(**columns)
    if dialect_of(session).writable_ctes:
        first = hashlib.sha256(p0 + GENESIS.encode() + p1 + b"1" + p2).hexdigest()
        await session.execute(
            _APPEND,
            {**columns, "p0": p0, "p1": p1, "p2": p2, "first_hash": first, "genesis": GENESIS},
        )
        return entry_id
    parameters = {"head_citizen": citizen_id, "count": 1, "added": 1}
    row = cast("tuple[Any, Any]", (await session.execute(_RESERVE.of(session), parameters)).one())
    seq, previous = int(row[0]), str(row[1])
    digest = hashlib.sha256(p0 + previous.encode() + p1 + str(seq).encode() + p2).hexdigest()
    await session.execute(
        _INSERT_ROW, {**columns, "seq": seq, "prev_hash": previous, "row_hash": digest}
    )
    await session.execute(
        _SET_HEAD, {"head_citizen": citizen_id, "last_hash": digest, "last_prev": previous}
    )
    return entry_id


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
        connection.execute(
            _SET_HEAD,
            {"head_citizen": citizen_id, "last_hash": previous, "last_prev": rows[-1].prev_hash},
        )
