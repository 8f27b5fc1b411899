"""questionnaires: facilities' questionnaires (versions) and citizens' answers to them

Revision ID: 0018
Revises: 0017
Create Date: 2026-12-08
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

import api.core.db
import api.core.encryption

revision: str = "0018"
down_revision: str | None = "0017"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "questionnaire",
        sa.Column("id", sa.Uuid(), nullable=False),
        sa.Column("facility_id", sa.String(length=32), nullable=False),
        sa.Column("logical_id", sa.String(length=64), nullable=False),
        sa.Column("version", sa.Integer(), nullable=False),
        sa.Column("department_code", sa.String(length=32), nullable=False),
        sa.Column("required", sa.Boolean(), nullable=False),
        sa.Column("current", sa.Boolean(), nullable=False),
        sa.Column("status", sa.String(length=16), nullable=False),
        sa.Column("title", sa.String(length=500), nullable=True),
        sa.Column("url", sa.String(length=500), nullable=True),
        sa.Column("resource", sa.JSON(), nullable=False),
        sa.Column("content_hash", sa.String(length=64), nullable=False),
        sa.Column("published_by", sa.String(length=64), nullable=False),
        sa.Column("created_at", api.core.db.UtcDateTime(timezone=True), nullable=False),
        sa.Column("retired_at", api.core.db.UtcDateTime(timezone=True), nullable=True),
        sa.ForeignKeyConstraint(
            ["facility_id"],
            ["facility.id"],
            name=op.f("fk_questionnaire_facility_id_facility"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_questionnaire")),
        sa.UniqueConstraint(
            "facility_id",
            "logical_id",
            "version",
            name=op.f("uq_questionnaire_facility_id_logical_id_version"),
        ),
    )
    op.create_index(
        op.f("ix_questionnaire_facility_id_department_code_current"),
        "questionnaire",
        ["facility_id", "department_code", "current"],
        unique=False,
    )
    op.create_table(
        "questionnaire_response",
        sa.Column("id", sa.Uuid(), nullable=False),
        sa.Column("appointment_id", sa.Uuid(), nullable=False),
        sa.Column("citizen_id", sa.Uuid(), nullable=False),
        sa.Column("facility_id", sa.String(length=32), nullable=False),
        sa.Column("logical_id", sa.String(length=64), nullable=False),
        sa.Column("questionnaire_id", sa.Uuid(), nullable=False),
        sa.Column("status", sa.String(length=16), nullable=False),
        sa.Column(
            "resource",
            api.core.encryption.EncryptedBlob("questionnaire_response.resource"),
            nullable=False,
        ),
        sa.Column(
            "lines",
            api.core.encryption.EncryptedBlob("questionnaire_response.lines"),
            nullable=False,
        ),
        sa.Column("authored_by", sa.Uuid(), nullable=False),
        sa.Column("revision", sa.Integer(), nullable=False),
        sa.Column("created_at", api.core.db.UtcDateTime(timezone=True), nullable=False),
        sa.Column("updated_at", api.core.db.UtcDateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(
            ["appointment_id"],
            ["appointment.id"],
            name=op.f("fk_questionnaire_response_appointment_id_appointment"),
            ondelete="CASCADE",
        ),
        sa.ForeignKeyConstraint(
            ["citizen_id"],
            ["citizen.id"],
            name=op.f("fk_questionnaire_response_citizen_id_citizen"),
            ondelete="CASCADE",
        ),
        sa.ForeignKeyConstraint(
            ["questionnaire_id"],
            ["questionnaire.id"],
            name=op.f("fk_questionnaire_response_questionnaire_id_questionnaire"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_questionnaire_response")),
        sa.UniqueConstraint(
            "appointment_id",
            "logical_id",
            name=op.f("uq_questionnaire_response_appointment_id_logical_id"),
        ),
    )
    op.create_index(
        op.f("ix_questionnaire_response_facility_id_citizen_id"),
        "questionnaire_response",
        ["facility_id", "citizen_id"],
        unique=False,
    )


def downgrade() -> None:
    op.drop_index(
        op.f("ix_questionnaire_response_facility_id_citizen_id"),
        table_name="questionnaire_response",
    )
    op.drop_table("questionnaire_response")
    op.drop_index(
        op.f("ix_questionnaire_facility_id_department_code_current"),
        table_name="questionnaire",
    )
    op.drop_table("questionnaire")
