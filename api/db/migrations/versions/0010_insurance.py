"""insurance: facilities' signing certificates, received envelopes and accepted episodes

Revision ID: 0010
Revises: 0009
Create Date: 2026-12-07
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

import api.core.db

revision: str = "0010"
down_revision: str | None = "0009"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "insurance_certificate",
        sa.Column("id", sa.Uuid(), nullable=False),
        sa.Column("facility_id", sa.String(length=32), nullable=False),
        sa.Column("sha256", sa.String(length=64), nullable=False),
        sa.Column("subject", sa.String(length=500), nullable=False),
        sa.Column("not_after", api.core.db.UtcDateTime(timezone=True), nullable=False),
        sa.Column("pem", sa.Text(), nullable=False),
        sa.Column("added_at", api.core.db.UtcDateTime(timezone=True), nullable=False),
        sa.Column("added_by", sa.String(length=64), nullable=False),
        sa.ForeignKeyConstraint(
            ["facility_id"],
            ["facility.id"],
            name=op.f("fk_insurance_certificate_facility_id_facility"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_insurance_certificate")),
        sa.UniqueConstraint(
            "facility_id", "sha256", name=op.f("uq_insurance_certificate_facility_id_sha256")
        ),
    )
    op.create_index(
        op.f("ix_insurance_certificate_facility_id"),
        "insurance_certificate",
        ["facility_id"],
        unique=False,
    )
    op.create_table(
        "insurance_envelope",
        sa.Column("id", sa.Uuid(), nullable=False),
        sa.Column("facility_id", sa.String(length=32), nullable=False),
        sa.Column("sha256", sa.String(length=64), nullable=False),
        sa.Column("signed", sa.Boolean(), nullable=False),
        sa.Column("certificate_sha256", sa.String(length=64), nullable=True),
        sa.Column("signature_value", sa.Text(), nullable=True),
        sa.Column("received_at", api.core.db.UtcDateTime(timezone=True), nullable=False),
        sa.Column("received_by", sa.String(length=64), nullable=False),
        sa.Column("body", sa.LargeBinary(), nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_insurance_envelope")),
    )
    op.create_index(
        op.f("ix_insurance_envelope_facility_id"), "insurance_envelope", ["facility_id"]
    )
    op.create_index(op.f("ix_insurance_envelope_sha256"), "insurance_envelope", ["sha256"])
    op.create_table(
        "insurance_episode",
        sa.Column("id", sa.Uuid(), nullable=False),
        sa.Column("facility_id", sa.String(length=32), nullable=False),
        sa.Column("ma_lk", sa.String(length=100), nullable=False),
        sa.Column("citizen_id", sa.Uuid(), nullable=True),
        sa.Column("envelope_id", sa.Uuid(), nullable=False),
        sa.Column("hoso_index", sa.Integer(), nullable=False),
        sa.Column("document_id", sa.String(length=64), nullable=True),
        sa.Column("version", sa.Integer(), nullable=False),
        sa.Column("version_id", sa.String(length=64), nullable=True),
        sa.Column("content_sha256", sa.String(length=64), nullable=False),
        sa.Column("restricted_tables", sa.String(length=100), nullable=True),
        sa.Column("received_at", api.core.db.UtcDateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(
            ["envelope_id"],
            ["insurance_envelope.id"],
            name=op.f("fk_insurance_episode_envelope_id_insurance_envelope"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_insurance_episode")),
    )
    op.create_index(
        "ix_insurance_episode_facility_ma_lk", "insurance_episode", ["facility_id", "ma_lk"]
    )
    op.create_index(
        "ix_insurance_episode_citizen", "insurance_episode", ["citizen_id", "received_at"]
    )
    op.create_index(op.f("ix_insurance_episode_envelope_id"), "insurance_episode", ["envelope_id"])
    op.create_table(
        "insurance_follow_up",
        sa.Column("id", sa.Uuid(), nullable=False),
        sa.Column("citizen_id", sa.Uuid(), nullable=False),
        sa.Column("facility_id", sa.String(length=32), nullable=False),
        sa.Column("ma_lk", sa.String(length=100), nullable=False),
        sa.Column("due_date", sa.Date(), nullable=False),
        sa.Column("department", sa.String(length=50), nullable=True),
        sa.Column("created_at", api.core.db.UtcDateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_insurance_follow_up")),
    )
    op.create_index(
        "ix_insurance_follow_up_facility_ma_lk", "insurance_follow_up", ["facility_id", "ma_lk"]
    )
    op.create_index(
        "ix_insurance_follow_up_citizen", "insurance_follow_up", ["citizen_id", "due_date"]
    )


def downgrade() -> None:
    op.drop_table("insurance_follow_up")
    op.drop_table("insurance_episode")
    op.drop_table("insurance_envelope")
    op.drop_table("insurance_certificate")
