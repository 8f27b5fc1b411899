"""sharing: SMART Health Links of the book and their file tickets

Revision ID: 0012
Revises: 0011
Create Date: 2026-12-07
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

import api.core.db

revision: str = "0012"
down_revision: str | None = "0011"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "share_link",
        sa.Column("id", sa.Uuid(), nullable=False),
        sa.Column("citizen_id", sa.Uuid(), nullable=False),
        sa.Column("created_by", sa.Uuid(), nullable=False),
        sa.Column("manifest_id", sa.String(length=43), nullable=False),
        sa.Column("content", sa.String(length=16), nullable=False),
        sa.Column("label", sa.String(length=80), nullable=True),
        sa.Column("flags", sa.String(length=4), nullable=False),
        sa.Column("created_at", api.core.db.UtcDateTime(timezone=True), nullable=False),
        sa.Column("expires_at", api.core.db.UtcDateTime(timezone=True), nullable=False),
        sa.Column("revoked_at", api.core.db.UtcDateTime(timezone=True), nullable=True),
        sa.Column("passcode_hash", sa.String(length=200), nullable=True),
        sa.Column("attempts_remaining", sa.Integer(), nullable=False),
        sa.Column("key", sa.LargeBinary(), nullable=True),
        sa.Column("jwe", sa.Text(), nullable=False),
        sa.Column("jwe_at", api.core.db.UtcDateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(
            ["citizen_id"],
            ["citizen.id"],
            name=op.f("fk_share_link_citizen_id_citizen"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_share_link")),
        sa.UniqueConstraint("manifest_id", name=op.f("uq_share_link_manifest_id")),
    )
    op.create_index(
        "ix_share_link_citizen", "share_link", ["citizen_id", "created_at"], unique=False
    )
    op.create_table(
        "share_ticket",
        sa.Column("token", sa.String(length=43), nullable=False),
        sa.Column("link_id", sa.Uuid(), nullable=False),
        sa.Column("expires_at", api.core.db.UtcDateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(
            ["link_id"],
            ["share_link.id"],
            name=op.f("fk_share_ticket_link_id_share_link"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("token", name=op.f("pk_share_ticket")),
    )
    op.create_index(op.f("ix_share_ticket_link_id"), "share_ticket", ["link_id"], unique=False)


def downgrade() -> None:
    op.drop_index(op.f("ix_share_ticket_link_id"), table_name="share_ticket")
    op.drop_table("share_ticket")
    op.drop_index("ix_share_link_citizen", table_name="share_link")
    op.drop_table("share_link")
