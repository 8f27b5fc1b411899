"""sharing: a share's content also as a PDF file beside its FHIR document

Revision ID: 0019
Revises: 0018
Create Date: 2026-12-08
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0019"
down_revision: str | None = "0018"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    with op.batch_alter_table("share_link", schema=None) as batch_op:
        batch_op.add_column(sa.Column("pdf_jwe", sa.Text(), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table("share_link", schema=None) as batch_op:
        batch_op.drop_column("pdf_jwe")
