"""health cards: revocations of SMART Health Cards (the CRL of each issuer key)

Revision ID: 0015
Revises: 0014
Create Date: 2026-12-07
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

import api.core.db

revision: str = "0015"
down_revision: str | None = "0014"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "health_card_revocation",
        sa.Column("id", sa.Uuid(), nullable=False),
        sa.Column("kid", sa.String(length=43), nullable=False),
        sa.Column("rid", sa.String(length=24), nullable=False),
        sa.Column("revoked_before", sa.BigInteger(), nullable=False),
        sa.Column("citizen_id", sa.Uuid(), nullable=False),
        sa.Column("created_at", api.core.db.UtcDateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_health_card_revocation")),
    )
    op.create_index(
        "ix_health_card_revocation_kid",
        "health_card_revocation",
        ["kid", "created_at"],
        unique=False,
    )


def downgrade() -> None:
    op.drop_index("ix_health_card_revocation_kid", table_name="health_card_revocation")
    op.drop_table("health_card_revocation")
