"""The access log: written inside the transaction of the access it records, never changed.

Each citizen's rows form a hash chain. When a session flushes new :class:`AccessLogEntry` rows,
a ``before_flush`` hook (registered here, for every session of the process) takes the citizen's
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
from typing import Any

from sqlalchemy import Integer, bindparam, event, update
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.engine import Connection
from sqlalchemy.ext.asyncio import AsyncSession
from sqlalchemy.orm import Session

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


def _instant(at: dt.datetime) -> str:
    if at.tzinfo is None:  # read back from SQLite by a caller that bypassed UtcDateTime
        at = at.replace(tzinfo=dt.UTC)
    return at.astimezone(dt.UTC).strftime("%Y-%m-%dT%H:%M:%S.%fZ")


def canonical(
    *,
    id: uuid.UUID,
    citizen_id: uuid.UUID,
    seq: int,
    at: dt.datetime,
    actor_kind: str,
    actor_id: str,
    action: str,
    purpose: str | None,
    resource: str | None,
    detail: dict[str, Any] | None,
    prev_hash: str,
) -> bytes:
    """The bytes a row's hash covers: every column but ``row_hash``, as JSON with sorted keys,
    no spaces, UTF-8, instants in UTC to the microsecond."""
    content = {
        "v": _VERSION,
        "id": str(id),
        "citizen_id": str(citizen_id),
        "seq": seq,
        "at": _instant(at),
        "actor_kind": actor_kind,
        "actor_id": actor_id,
        "action": action,
        "purpose": purpose,
        "resource": resource,
        "detail": detail,
        "prev_hash": prev_hash,
    }
    return json.dumps(content, sort_keys=True, separators=(",", ":"), ensure_ascii=False).encode()


def row_hash(**columns: Any) -> str:
    """The ``row_hash`` of a row with these columns (those :func:`canonical` takes)."""
    return hashlib.sha256(canonical(**columns)).hexdigest()


def _build_reserve(dialect: Any) -> Any:
    return (
        dialect.insert(AccessLogHead)
        .values(citizen_id=bindparam("head_citizen"), seq=bindparam("count"), hash=GENESIS)
        .on_conflict_do_update(
            index_elements=[AccessLogHead.citizen_id],
            set_={"seq": AccessLogHead.seq + bindparam("added", type_=Integer())},
        )
        .returning(AccessLogHead.seq, AccessLogHead.hash)
    )


# Built once: constructing a statement costs more CPU than running a cached one, and this runs
# at every flush that logs an access.
_RESERVE = {"postgresql": _build_reserve(postgresql), "sqlite": _build_reserve(sqlite)}
_SET_HEAD = (
    update(AccessLogHead)
    .where(AccessLogHead.citizen_id == bindparam("head_citizen"))
    .values(hash=bindparam("last_hash"))
)


def _reserve(connection: Connection, citizen_id: uuid.UUID, count: int) -> tuple[int, str]:
    """Take ``count`` places at the end of the citizen's chain: answers the last seq taken and
    the hash of the row before the first one. Locks the head row until the transaction ends."""
    statement = _RESERVE["postgresql" if connection.dialect.name == "postgresql" else "sqlite"]
    parameters = {"head_citizen": citizen_id, "count": count, "added": count}
    last_seq, previous = connection.execute(statement, parameters).one()
    return int(last_seq), str(previous)


@event.listens_for(Session, "before_flush")
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
