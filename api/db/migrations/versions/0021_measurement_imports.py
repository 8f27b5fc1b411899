"""measurements: Apple Health file imports (a job row each) and the import that stored a reading

Revision ID: 0021
Revises: 0020
Create Date: 2026-12-08
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

import api.core.db

revision: str = "0021"
down_revision: str | None = "0020"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "measurement_import",
        sa.Column("id", sa.Uuid(), nullable=False),
        sa.Column("citizen_id", sa.Uuid(), nullable=False),
        sa.Column("status", sa.String(length=16), nullable=False),
        sa.Column("active", sa.Boolean(), nullable=False),
        sa.Column("media_type", sa.String(length=64), nullable=False),
        sa.Column("size", sa.BigInteger(), nullable=False),
        sa.Column("bytes_read", sa.BigInteger(), nullable=False),
        sa.Column("bytes_total", sa.BigInteger(), nullable=True),
        sa.Column("samples", sa.Integer(), nullable=False),
        sa.Column("imported", sa.Integer(), nullable=False),
        sa.Column("duplicates", sa.Integer(), nullable=False),
        sa.Column("refused", sa.Integer(), nullable=False),
        sa.Column("refusals", sa.JSON(), nullable=False),
        sa.Column("skipped", sa.JSON(), nullable=False),
        sa.Column("problem", sa.JSON(), nullable=True),
        sa.Column("recorded_by", sa.String(length=64), nullable=False),
        sa.Column("guardian", sa.String(length=64), nullable=True),
        sa.Column("created_at", api.core.db.UtcDateTime(timezone=True), nullable=False),
        sa.Column("updated_at", api.core.db.UtcDateTime(timezone=True), nullable=False),
        sa.Column("finished_at", api.core.db.UtcDateTime(timezone=True), nullable=True),
        sa.ForeignKeyConstraint(
            ["citizen_id"],
            ["citizen.id"],
            name=op.f("fk_measurement_import_citizen_id_citizen"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_measurement_import")),
    )
    op.create_index(
        "uq_measurement_import_active",
        "measurement_import",
        ["citizen_id"],
        unique=True,
        postgresql_where=sa.text("active"),
        sqlite_where=sa.text("active"),
    )
    op.create_index(
        op.f("ix_measurement_import_citizen_id_created_at"),
        "measurement_import",
        ["citizen_id", "created_at"],
    )
    with op.batch_alter_table("home_measurement", schema=None) as batch_op:
        batch_op.add_column(sa.Column("import_id", sa.Uuid(), nullable=True))
        batch_op.create_index(batch_op.f("ix_home_measurement_import_id"), ["import_id"])


def downgrade() -> None:
    with op.batch_alter_table("home_measurement", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_home_measurement_import_id"))
        batch_op.drop_column("import_id")
    op.drop_index(
        op.f("ix_measurement_import_citizen_id_created_at"), table_name="measurement_import"
    )
    op.drop_index("uq_measurement_import_active", table_name="measurement_import")
    op.drop_table("measurement_import")
