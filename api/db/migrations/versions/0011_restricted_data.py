"""restricted data: the citizen's choice to show HIV/TB records, which book documents are
restricted, and the restricted episodes' documents kept until the citizen shows them

Revision ID: 0011
Revises: 0010
Create Date: 2026-12-07
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

import api.core.db

revision: str = "0011"
down_revision: str | None = "0010"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "restricted_data_choice",
        sa.Column("citizen_id", sa.Uuid(), nullable=False),
        sa.Column("show", sa.Boolean(), nullable=False),
        sa.Column("changed_at", api.core.db.UtcDateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(
            ["citizen_id"],
            ["citizen.id"],
            name=op.f("fk_restricted_data_choice_citizen_id_citizen"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("citizen_id", name=op.f("pk_restricted_data_choice")),
    )
    with op.batch_alter_table("health_document", schema=None) as batch_op:
        batch_op.add_column(
            sa.Column("restricted", sa.Boolean(), server_default=sa.false(), nullable=False)
        )
    with op.batch_alter_table("insurance_episode", schema=None) as batch_op:
        batch_op.add_column(sa.Column("document", sa.LargeBinary(), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table("insurance_episode", schema=None) as batch_op:
        batch_op.drop_column("document")
    with op.batch_alter_table("health_document", schema=None) as batch_op:
        batch_op.drop_column("restricted")
    op.drop_table("restricted_data_choice")
