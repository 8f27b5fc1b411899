"""measurements: home readings in the book (an entry may have no document) and their
bookkeeping (idempotency and deduplication keys, soft deletes)

Revision ID: 0020
Revises: 0019
Create Date: 2026-12-08
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

import api.core.db

revision: str = "0020"
down_revision: str | None = "0019"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

_ACTIVE_SOURCE = ["citizen_id", "facility_id", "category", "source_key"]


def _document_id_nullable(nullable: bool) -> None:
    # SQLite rebuilds the table: the partial unique index is dropped first and made again after
    op.drop_index("uq_health_entry_active_source", table_name="health_entry")
    with op.batch_alter_table("health_entry", schema=None) as batch_op:
        batch_op.alter_column("document_id", existing_type=sa.Uuid(), nullable=nullable)
    op.create_index(
        "uq_health_entry_active_source",
        "health_entry",
        _ACTIVE_SOURCE,
        unique=True,
        postgresql_where=sa.text("active"),
        sqlite_where=sa.text("active"),
    )


def upgrade() -> None:
    _document_id_nullable(True)
    op.create_table(
        "home_measurement",
        sa.Column("id", sa.Uuid(), nullable=False),
        sa.Column("citizen_id", sa.Uuid(), nullable=False),
        sa.Column("kind", sa.String(length=24), nullable=False),
        sa.Column("origin", sa.String(length=16), nullable=False),
        sa.Column("idempotency_key", sa.String(length=255), nullable=True),
        sa.Column("request_hash", sa.String(length=64), nullable=True),
        sa.Column("dedup_hash", sa.String(length=64), nullable=True),
        sa.Column("effective_at", api.core.db.UtcDateTime(timezone=True), nullable=False),
        sa.Column("recorded_by", sa.String(length=64), nullable=False),
        sa.Column("created_at", api.core.db.UtcDateTime(timezone=True), nullable=False),
        sa.Column("updated_at", api.core.db.UtcDateTime(timezone=True), nullable=False),
        sa.Column("deleted_at", api.core.db.UtcDateTime(timezone=True), nullable=True),
        sa.Column("version", sa.Integer(), nullable=False),
        sa.ForeignKeyConstraint(
            ["citizen_id"],
            ["citizen.id"],
            name=op.f("fk_home_measurement_citizen_id_citizen"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_home_measurement")),
        sa.UniqueConstraint(
            "citizen_id",
            "idempotency_key",
            name=op.f("uq_home_measurement_citizen_id_idempotency_key"),
        ),
        sa.UniqueConstraint(
            "citizen_id", "dedup_hash", name=op.f("uq_home_measurement_citizen_id_dedup_hash")
        ),
    )
    op.create_index(
        op.f("ix_home_measurement_citizen_id_effective_at"),
        "home_measurement",
        ["citizen_id", "effective_at"],
    )


def downgrade() -> None:
    op.drop_index(op.f("ix_home_measurement_citizen_id_effective_at"), "home_measurement")
    op.drop_table("home_measurement")
    op.execute(sa.text("DELETE FROM health_entry WHERE document_id IS NULL"))
    _document_id_nullable(False)
