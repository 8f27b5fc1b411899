"""sharing: first access of a link (its owner's push), the sweep of expired links and tickets

Revision ID: 0014
Revises: 0013
Create Date: 2026-12-07
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

import api.core.db

revision: str = "0014"
down_revision: str | None = "0013"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    with op.batch_alter_table("share_link", schema=None) as batch_op:
        batch_op.add_column(
            sa.Column("first_accessed_at", api.core.db.UtcDateTime(timezone=True), nullable=True)
        )
        batch_op.add_column(
            sa.Column("swept_at", api.core.db.UtcDateTime(timezone=True), nullable=True)
        )
        batch_op.alter_column("jwe", existing_type=sa.Text(), nullable=True)
    op.create_index(
        op.f("ix_share_ticket_expires_at"), "share_ticket", ["expires_at"], unique=False
    )


def downgrade() -> None:
    # a swept link has no ciphertext left: it cannot come back under NOT NULL
    op.drop_index(op.f("ix_share_ticket_expires_at"), table_name="share_ticket")
    op.execute("DELETE FROM share_link WHERE jwe IS NULL")
    with op.batch_alter_table("share_link", schema=None) as batch_op:
        batch_op.alter_column("jwe", existing_type=sa.Text(), nullable=False)
        batch_op.drop_column("swept_at")
        batch_op.drop_column("first_accessed_at")
