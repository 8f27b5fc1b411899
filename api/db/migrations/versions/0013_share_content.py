"""sharing: what a share holds (a visit, categories, restricted data) and its recipient hint

Revision ID: 0013
Revises: 0012
Create Date: 2026-12-07
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0013"
down_revision: str | None = "0012"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    with op.batch_alter_table("share_link") as batch:
        batch.add_column(sa.Column("visit_id", sa.Uuid(), nullable=True))
        batch.add_column(sa.Column("categories", sa.String(length=200), nullable=True))
        batch.add_column(
            sa.Column("include_restricted", sa.Boolean(), server_default=sa.false(), nullable=False)
        )
        batch.add_column(sa.Column("recipient", sa.String(length=80), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table("share_link") as batch:
        batch.drop_column("recipient")
        batch.drop_column("include_restricted")
        batch.drop_column("categories")
        batch.drop_column("visit_id")
