"""Each response keeps the day it was done: PROMs sent home on a participant's link may be
filled a day or more after the assessor's tests of the same visit.

Only a nullable column: existing responses keep NULL, which means "the visit's day" (the one
completion day a visit had before this revision), so no row changes, the audit trail still
verifies, and a lock's data hash is unchanged (services/locking.py hashes this column only when
it holds a day).

Revision ID: 0004
Revises: 0003
Create Date: 2026-11-27 00:40:00.000000

"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

# revision identifiers, used by Alembic.
revision: str = "0004"
down_revision: str | Sequence[str] | None = "0003"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    """Upgrade schema."""
    with op.batch_alter_table("responses", schema=None) as batch_op:
        batch_op.add_column(sa.Column("done_on", sa.Date(), nullable=True))


def downgrade() -> None:
    """Downgrade schema: the per-response days go (each visit keeps its first day)."""
    with op.batch_alter_table("responses", schema=None) as batch_op:
        batch_op.drop_column("done_on")
