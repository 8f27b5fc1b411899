"""sharing: a share's SMART Health Card file (immunizations, a visit) beside its FHIR document,
and which file a ticket opens

Revision ID: 0016
Revises: 0015
Create Date: 2026-12-07
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0016"
down_revision: str | None = "0015"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    with op.batch_alter_table("share_link", schema=None) as batch_op:
        batch_op.add_column(sa.Column("card_jwe", sa.Text(), nullable=True))
    with op.batch_alter_table("share_ticket", schema=None) as batch_op:
        batch_op.add_column(
            sa.Column(
                "content_type",
                sa.String(length=40),
                nullable=False,
                server_default="application/fhir+json",
            )
        )


def downgrade() -> None:
    with op.batch_alter_table("share_ticket", schema=None) as batch_op:
        batch_op.drop_column("content_type")
    with op.batch_alter_table("share_link", schema=None) as batch_op:
        batch_op.drop_column("card_jwe")
