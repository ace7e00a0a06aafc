"""Emergency unblinding requests: site staff ask, the data manager grants or declines.

Only a new table: existing rows are untouched, so a study created at 0002 still verifies against
its audit trail after the upgrade, and its lock data hash is unchanged (an empty table adds no
rows to the hash).

Revision ID: 0003
Revises: 0002
Create Date: 2026-12-02 09:00:00.000000

"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

# revision identifiers, used by Alembic.
revision: str = "0003"
down_revision: str | Sequence[str] | None = "0002"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    """Upgrade schema."""
    op.create_table(
        "unblinding_requests",
        sa.Column("id", sa.Integer(), autoincrement=True, nullable=False),
        sa.Column("participant_id", sa.Integer(), nullable=False),
        sa.Column("reason", sa.Text(), nullable=False),
        sa.Column("requested_by", sa.String(length=80), nullable=False),
        sa.Column("requested_at", sa.String(length=32), nullable=False),
        sa.Column("decision", sa.String(length=20), nullable=True),
        sa.Column("decided_by", sa.String(length=80), nullable=True),
        sa.Column("decided_at", sa.String(length=32), nullable=True),
        sa.Column("decision_reason", sa.Text(), nullable=True),
        sa.ForeignKeyConstraint(
            ["participant_id"],
            ["participants.id"],
            name=op.f("fk_unblinding_requests_participant_id_participants"),
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_unblinding_requests")),
    )
    with op.batch_alter_table("unblinding_requests", schema=None) as batch_op:
        batch_op.create_index(
            batch_op.f("ix_unblinding_requests_participant_id"), ["participant_id"], unique=False
        )


def downgrade() -> None:
    """Downgrade schema: the table goes; the audit rows that wrote it stay (append-only)."""
    with op.batch_alter_table("unblinding_requests", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_unblinding_requests_participant_id"))
    op.drop_table("unblinding_requests")
