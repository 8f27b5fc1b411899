"""facility: the algorithm of our client assertions to its token endpoint

Revision ID: 0009
Revises: 0008
Create Date: 2026-12-07

Facilities registered before default to ES384 (SMART Backend Services asks every client to
support it; until now the assertions were EdDSA — set ``fhir_assertion_alg`` to ``EdDSA`` for a
facility whose server was configured for that).
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0009"
down_revision: str | None = "0008"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    with op.batch_alter_table("facility", schema=None) as batch_op:
        batch_op.add_column(
            sa.Column(
                "fhir_assertion_alg", sa.String(length=8), server_default="ES384", nullable=False
            )
        )


def downgrade() -> None:
    with op.batch_alter_table("facility", schema=None) as batch_op:
        batch_op.drop_column("fhir_assertion_alg")
