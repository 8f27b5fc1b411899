"""``healthbook keys rewrap``: every encrypted column under the primary document key.

Walks each column of type :class:`~api.core.encryption.EncryptedBlob` by primary key, a batch per
transaction, and rewrites the values whose data key is wrapped by another key (only the wrapped
data key changes; the encrypted content is kept) or that are still plaintext (stored before
encryption at rest: they get encrypted). Safe while the service runs: stored documents and entry
resources never change after they are written. ``dry_run`` only counts.

Key rotation: put the new key first in ``DOCUMENT_ENCRYPTION_KEYS`` everywhere (keeping the old
ones after it) and restart, run this, check with ``--dry-run`` that nothing is left under the old
key, then drop the old key from the setting.
"""

from __future__ import annotations

from collections import Counter

import msgspec
from sqlalchemy import (
    Column,
    LargeBinary,
    Table,
    bindparam,
    column,
    func,
    select,
    table,
    update,
)
from sqlalchemy.ext.asyncio import AsyncEngine

from api.core.encryption import DocumentKeys, EncryptedBlob, key_id_of
from api.core.progress import Progress
from api.db.models import Base


class ColumnReport(msgspec.Struct, kw_only=True):
    column: str
    values: int = 0
    encrypted_plaintext: int = 0
    rewrapped: int = 0
    by_key: dict[str, int] = msgspec.field(default_factory=dict)
    """Values per key id as found (``plaintext`` for unencrypted ones), before any rewrite."""


def encrypted_columns() -> list[tuple[Table, Column[bytes], EncryptedBlob]]:
    """Each encrypted column, with its table and its type (which holds the purpose)."""
    found: list[tuple[Table, Column[bytes], EncryptedBlob]] = []
    for model_table in Base.metadata.sorted_tables:
        for model_column in model_table.columns:
            if isinstance(model_column.type, EncryptedBlob):
                found.append((model_table, model_column, model_column.type))
    return found


async def count_values(engine: AsyncEngine) -> int:
    """How many values (not NULL) the encrypted columns hold together."""
    total = 0
    async with engine.connect() as connection:
        for model_table, model_column, _ in encrypted_columns():
            query = select(func.count()).select_from(model_table).where(model_column.is_not(None))
            total += (await connection.execute(query)).scalar_one()
    return total


async def rewrap(
    engine: AsyncEngine,
    keys: DocumentKeys,
    *,
    dry_run: bool = False,
    batch_size: int = 500,
    progress: Progress | None = None,
) -> list[ColumnReport]:
    """Rewrite what is not under the primary key, column by column. ``progress`` hears the
    number of values first (one count per column), then each batch's values as they are done."""
    reports: list[ColumnReport] = []
    if progress is not None:
        progress.start(await count_values(engine))
    for model_table, model_column, blob in encrypted_columns():
        (primary,) = model_table.primary_key.columns
        raw = table(
            model_table.name,
            column(primary.name, primary.type),
            column(model_column.name, LargeBinary()),
        )
        key, value = raw.c[primary.name], raw.c[model_column.name]
        purpose = blob.purpose.encode()
        deflate = bool(blob.deflate) and keys.deflate
        report = ColumnReport(column=f"{model_table.name}.{model_column.name}")
        counts: Counter[str] = Counter()
        statement = (
            update(raw).where(key == bindparam("b_key")).values({value: bindparam("b_value")})
        )
        last = None
        while True:
            query = select(key, value).where(value.is_not(None)).order_by(key).limit(batch_size)
            if last is not None:
                query = query.where(key > last)
            async with engine.begin() as connection:
                rows = (await connection.execute(query)).all()
                changes = []
                for row_key, stored in rows:
                    stored = bytes(stored)
                    found = key_id_of(stored)
                    counts[found or "plaintext"] += 1
                    if found == keys.primary_id:
                        continue
                    if not dry_run:
                        changes.append(
                            {
                                "b_key": row_key,
                                "b_value": keys.rewrap(stored, purpose, deflate=deflate),
                            }
                        )
                    if found is None:
                        report.encrypted_plaintext += 1
                    else:
                        report.rewrapped += 1
                if changes:
                    await connection.execute(statement, changes)
            report.values += len(rows)
            if progress is not None:
                progress.advance(len(rows))
            if len(rows) < batch_size:
                break
            last = rows[-1][0]
        report.by_key = dict(sorted(counts.items()))
        reports.append(report)
    return reports
