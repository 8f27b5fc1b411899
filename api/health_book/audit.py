"""``healthbook audit verify``: walk every citizen's access-log chain and find the first break.

Rows are read in (citizen, seq) order, a page at a time, beside the chain heads in the same
order. For each chain: ``seq`` runs 1, 2, 3... without gaps, the first ``prev_hash`` is the
genesis value, each ``prev_hash`` is the previous ``row_hash``, each ``row_hash`` is the hash of
the row's content as stored, and the chain ends where its head says. The first row that breaks
one of these is named with the reason.

What it cannot see: a whole chain removed together with its head, or a chain recomputed by
someone able to write both rows and heads. Ship the log (or the heads, periodically) to storage
the database's users cannot rewrite for that.
"""

from __future__ import annotations

import uuid
from collections.abc import AsyncIterator
from typing import Any

import msgspec
from sqlalchemy import and_, func, or_, select
from sqlalchemy.ext.asyncio import AsyncSession

from api.core.progress import Progress
from api.health_book.access_log import GENESIS, row_hash
from api.health_book.models import AccessLogEntry, AccessLogHead

_PAGE = 2000


class ChainBreak(msgspec.Struct, frozen=True):
    """The first place the access log is not what was written."""

    citizen_id: str
    reason: str
    row_id: str | None = None
    seq: int | None = None

    def describe(self) -> str:
        where = f"access_log row {self.row_id} (citizen {self.citizen_id}, seq {self.seq})"
        if self.row_id is None:
            where = f"access-log chain of citizen {self.citizen_id}"
        return f"{where}: {self.reason}"


class VerifyReport(msgspec.Struct, frozen=True):
    rows: int
    chains: int
    first_break: ChainBreak | None = None

    @property
    def ok(self) -> bool:
        return self.first_break is None


_COLUMNS = (
    AccessLogEntry.id,
    AccessLogEntry.citizen_id,
    AccessLogEntry.seq,
    AccessLogEntry.at,
    AccessLogEntry.actor_kind,
    AccessLogEntry.actor_id,
    AccessLogEntry.action,
    AccessLogEntry.purpose,
    AccessLogEntry.resource,
    AccessLogEntry.detail,
    AccessLogEntry.prev_hash,
    AccessLogEntry.row_hash,
)


async def _rows(session: AsyncSession) -> AsyncIterator[Any]:
    last: tuple[uuid.UUID, int] | None = None
    while True:
        query = select(*_COLUMNS).order_by(AccessLogEntry.citizen_id, AccessLogEntry.seq)
        if last is not None:
            query = query.where(
                or_(
                    AccessLogEntry.citizen_id > last[0],
                    and_(AccessLogEntry.citizen_id == last[0], AccessLogEntry.seq > last[1]),
                )
            )
        page = (await session.execute(query.limit(_PAGE))).all()
        for row in page:
            yield row
        if len(page) < _PAGE:
            return
        last = (page[-1].citizen_id, page[-1].seq)


async def _heads(session: AsyncSession) -> AsyncIterator[Any]:
    last: uuid.UUID | None = None
    while True:
        query = select(AccessLogHead.citizen_id, AccessLogHead.seq, AccessLogHead.hash)
        if last is not None:
            query = query.where(AccessLogHead.citizen_id > last)
        page = (await session.execute(query.order_by(AccessLogHead.citizen_id).limit(_PAGE))).all()
        for head in page:
            yield head
        if len(page) < _PAGE:
            return
        last = page[-1].citizen_id


def _check_row(row: Any, expected_seq: int, previous: str) -> str | None:
    if row.seq != expected_seq:
        if row.seq > expected_seq:
            return f"seq {expected_seq} is missing before it (a row was removed)"
        return f"seq {row.seq} where {expected_seq} was expected"
    if row.prev_hash != previous:
        return "prev_hash is not the previous row's hash (a row before it was removed or changed)"
    recomputed = row_hash(
        id=row.id,
        citizen_id=row.citizen_id,
        seq=row.seq,
        at=row.at,
        actor_kind=row.actor_kind,
        actor_id=row.actor_id,
        action=row.action,
        purpose=row.purpose,
        resource=row.resource,
        detail=row.detail,
        prev_hash=row.prev_hash,
    )
    if recomputed != row.row_hash:
        return "its content does not match its hash (the row was altered)"
    return None


def _check_end(citizen_id: uuid.UUID, seq: int, last_hash: str, head: Any) -> ChainBreak | None:
    if head is None or head.citizen_id != citizen_id:
        return ChainBreak(str(citizen_id), "the chain has no head row (access_log_head)")
    if head.seq != seq or head.hash != last_hash:
        return ChainBreak(
            str(citizen_id),
            f"the chain ends at seq {seq} but its head says seq {head.seq}: rows were removed "
            "from its end, or the head was changed",
        )
    return None


def _headless_rows(head: Any) -> ChainBreak:
    return ChainBreak(
        str(head.citizen_id),
        f"its head says seq {head.seq} but the chain has no rows (all were removed)",
    )


async def verify(session: AsyncSession, progress: Progress | None = None) -> VerifyReport:
    """Check every chain; stops at the first break (in citizen, seq order). ``progress`` hears
    the number of rows the chains' heads account for, then the rows as they are checked."""
    if progress is not None:
        total = await session.scalar(select(func.coalesce(func.sum(AccessLogHead.seq), 0)))
        progress.start(int(total or 0))
    heads = _heads(session)
    head = await anext(heads, None)
    rows = chains = 0
    current: uuid.UUID | None = None
    seq, previous = 0, GENESIS
    async for row in _rows(session):
        if row.citizen_id != current:
            if current is not None:
                problem = _check_end(current, seq, previous, head)
                if problem is not None:
                    return VerifyReport(rows, chains, problem)
                head = await anext(heads, None)
            if head is not None and head.citizen_id < row.citizen_id:
                return VerifyReport(rows, chains, _headless_rows(head))
            current, seq, previous = row.citizen_id, 0, GENESIS
            chains += 1
        reason = _check_row(row, seq + 1, previous)
        if reason is not None:
            return VerifyReport(
                rows, chains, ChainBreak(str(row.citizen_id), reason, str(row.id), row.seq)
            )
        rows += 1
        if progress is not None and rows % _PAGE == 0:
            progress.advance(_PAGE)
        seq, previous = row.seq, row.row_hash
    if progress is not None:
        progress.advance(rows % _PAGE)
    if current is not None:
        problem = _check_end(current, seq, previous, head)
        if problem is not None:
            return VerifyReport(rows, chains, problem)
        head = await anext(heads, None)
    if head is not None:
        return VerifyReport(rows, chains, _headless_rows(head))
    return VerifyReport(rows, chains)
