"""hardening: the access log hash-chained per citizen, with a chain head per citizen

Revision ID: 0008
Revises: 0007
Create Date: 2026-11-22

Rows already in ``access_log`` are chained here, per citizen in the order they were written
(``at``, then ``id``). Health documents need no schema change for encryption at rest: documents
stored before it are encrypted by ``healthbook keys rewrap`` (run it once after this upgrade;
until then they are read as they are).
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

import api.core.db
from api.health_book.access_log import GENESIS, row_hash

revision: str = "0008"
down_revision: str | None = "0007"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

_BATCH = 1000


def _chain_existing_rows() -> None:
    log = sa.table(
        "access_log",
        sa.column("id", sa.Uuid()),
        sa.column("citizen_id", sa.Uuid()),
        sa.column("at", api.core.db.UtcDateTime(timezone=True)),
        sa.column("actor_kind", sa.String()),
        sa.column("actor_id", sa.String()),
        sa.column("action", sa.String()),
        sa.column("purpose", sa.String()),
        sa.column("resource", sa.String()),
        sa.column("detail", sa.JSON()),
        sa.column("seq", sa.Integer()),
        sa.column("prev_hash", sa.String()),
        sa.column("row_hash", sa.String()),
    )
    head = sa.table(
        "access_log_head",
        sa.column("citizen_id", sa.Uuid()),
        sa.column("seq", sa.Integer()),
        sa.column("hash", sa.String()),
    )
    bind = op.get_bind()
    rows = bind.execute(
        sa.select(
            log.c.id,
            log.c.citizen_id,
            log.c.at,
            log.c.actor_kind,
            log.c.actor_id,
            log.c.action,
            log.c.purpose,
            log.c.resource,
            log.c.detail,
        ).order_by(log.c.citizen_id, log.c.at, log.c.id)
    ).all()
    chains: dict[object, tuple[int, str]] = {}
    updates: list[dict[str, object]] = []
    for row in rows:
        seq, previous = chains.get(row.citizen_id, (0, GENESIS))
        seq += 1
        digest = row_hash(
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
            prev_hash=previous,
        )
        chains[row.citizen_id] = (seq, digest)
        updates.append({"b_id": row.id, "b_seq": seq, "b_prev": previous, "b_hash": digest})
    statement = (
        sa.update(log)
        .where(log.c.id == sa.bindparam("b_id"))
        .values(seq=sa.bindparam("b_seq"), prev_hash=sa.bindparam("b_prev"))
        .values(row_hash=sa.bindparam("b_hash"))
    )
    for start in range(0, len(updates), _BATCH):
        bind.execute(statement, updates[start : start + _BATCH])
    heads = [{"citizen_id": c, "seq": s, "hash": h} for c, (s, h) in chains.items()]
    for start in range(0, len(heads), _BATCH):
        bind.execute(sa.insert(head), heads[start : start + _BATCH])


def upgrade() -> None:
    op.create_table(
        "access_log_head",
        sa.Column("citizen_id", sa.Uuid(), nullable=False),
        sa.Column("seq", sa.Integer(), nullable=False),
        sa.Column("hash", sa.String(length=64), nullable=False),
        sa.ForeignKeyConstraint(
            ["citizen_id"],
            ["citizen.id"],
            name=op.f("fk_access_log_head_citizen_id_citizen"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("citizen_id", name=op.f("pk_access_log_head")),
    )
    with op.batch_alter_table("access_log", schema=None) as batch_op:
        batch_op.add_column(sa.Column("seq", sa.Integer(), nullable=True))
        batch_op.add_column(sa.Column("prev_hash", sa.String(length=64), nullable=True))
        batch_op.add_column(sa.Column("row_hash", sa.String(length=64), nullable=True))
    _chain_existing_rows()
    with op.batch_alter_table("access_log", schema=None) as batch_op:
        batch_op.alter_column("seq", existing_type=sa.Integer(), nullable=False)
        batch_op.alter_column("prev_hash", existing_type=sa.String(length=64), nullable=False)
        batch_op.alter_column("row_hash", existing_type=sa.String(length=64), nullable=False)
        batch_op.create_unique_constraint(
            batch_op.f("uq_access_log_citizen_id_seq"), ["citizen_id", "seq"]
        )


def downgrade() -> None:
    with op.batch_alter_table("access_log", schema=None) as batch_op:
        batch_op.drop_constraint(batch_op.f("uq_access_log_citizen_id_seq"), type_="unique")
        batch_op.drop_column("row_hash")
        batch_op.drop_column("prev_hash")
        batch_op.drop_column("seq")
    op.drop_table("access_log_head")
