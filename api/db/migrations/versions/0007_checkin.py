"""check-in: per-department daily queues and their tickets

Revision ID: 0007
Revises: 0006
Create Date: 2026-11-22
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

import api.core.db

revision: str = "0007"
down_revision: str | None = "0006"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "queue",
        sa.Column("id", sa.Uuid(), nullable=False),
        sa.Column("facility_id", sa.String(length=32), nullable=False),
        sa.Column("department_id", sa.Uuid(), nullable=False),
        sa.Column("queue_date", sa.Date(), nullable=False),
        sa.Column("last_issued", sa.Integer(), nullable=False),
        sa.Column("last_called", sa.Integer(), nullable=False),
        sa.Column("created_at", api.core.db.UtcDateTime(timezone=True), nullable=False),
        sa.Column("updated_at", api.core.db.UtcDateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(
            ["department_id"],
            ["department.id"],
            name=op.f("fk_queue_department_id_department"),
            ondelete="CASCADE",
        ),
        sa.ForeignKeyConstraint(
            ["facility_id"],
            ["facility.id"],
            name=op.f("fk_queue_facility_id_facility"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_queue")),
        sa.UniqueConstraint(
            "facility_id",
            "department_id",
            "queue_date",
            name=op.f("uq_queue_facility_id_department_id_queue_date"),
        ),
    )
    op.create_table(
        "queue_ticket",
        sa.Column("id", sa.Uuid(), nullable=False),
        sa.Column("queue_id", sa.Uuid(), nullable=False),
        sa.Column("number", sa.Integer(), nullable=False),
        sa.Column("citizen_id", sa.Uuid(), nullable=False),
        sa.Column("appointment_id", sa.Uuid(), nullable=True),
        sa.Column("source", sa.String(length=16), nullable=False),
        sa.Column("status", sa.String(length=16), nullable=False),
        sa.Column("issued_at", api.core.db.UtcDateTime(timezone=True), nullable=False),
        sa.Column("called_at", api.core.db.UtcDateTime(timezone=True), nullable=True),
        sa.Column("announced_at", api.core.db.UtcDateTime(timezone=True), nullable=True),
        sa.Column("recalls", sa.Integer(), nullable=False),
        sa.Column("room", sa.String(length=64), nullable=True),
        sa.Column("finished_at", api.core.db.UtcDateTime(timezone=True), nullable=True),
        sa.Column("approaching_told", sa.Boolean(), nullable=False),
        sa.ForeignKeyConstraint(
            ["appointment_id"],
            ["appointment.id"],
            name=op.f("fk_queue_ticket_appointment_id_appointment"),
            ondelete="CASCADE",
        ),
        sa.ForeignKeyConstraint(
            ["citizen_id"],
            ["citizen.id"],
            name=op.f("fk_queue_ticket_citizen_id_citizen"),
            ondelete="CASCADE",
        ),
        sa.ForeignKeyConstraint(
            ["queue_id"],
            ["queue.id"],
            name=op.f("fk_queue_ticket_queue_id_queue"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_queue_ticket")),
        sa.UniqueConstraint("appointment_id", name=op.f("uq_queue_ticket_appointment_id")),
        sa.UniqueConstraint("queue_id", "number", name=op.f("uq_queue_ticket_queue_id_number")),
    )
    with op.batch_alter_table("queue_ticket", schema=None) as batch_op:
        batch_op.create_index(
            batch_op.f("ix_queue_ticket_citizen_id_issued_at"),
            ["citizen_id", "issued_at"],
            unique=False,
        )
        batch_op.create_index(
            batch_op.f("ix_queue_ticket_queue_id_called_at"),
            ["queue_id", "called_at"],
            unique=False,
        )


def downgrade() -> None:
    with op.batch_alter_table("queue_ticket", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_queue_ticket_queue_id_called_at"))
        batch_op.drop_index(batch_op.f("ix_queue_ticket_citizen_id_issued_at"))

    op.drop_table("queue_ticket")
    op.drop_table("queue")
