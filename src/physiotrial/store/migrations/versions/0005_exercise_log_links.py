"""A participant's link may open their home exercise log instead of one visit's forms.

``participant_links.visit_id`` becomes nullable and ``purpose`` is added: NULL for a visit link
(the only kind before this revision), ``'exercise_log'`` for a link to the home exercise log,
which names no visit. A check constraint keeps the two kinds apart (a visit link has a visit, an
exercise-log link has none).

``purpose`` is nullable, with NULL meaning "visit", rather than NOT NULL with a server default
'visit': a default would write 'visit' into every existing link row, which its audit snapshot
does not hold, so ``audit verify`` would name each of those rows as changed outside physiotrial
(as 0002's docstring explains for ``users``), and a lock taken before the upgrade would no longer
match its data hash. With NULL no existing row changes.

Revision ID: 0005
Revises: 0004
Create Date: 2026-12-03 10:00:00.000000

"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

# revision identifiers, used by Alembic.
revision: str = "0005"
down_revision: str | Sequence[str] | None = "0004"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

CHECK = "ck_participant_links_purpose"
RULE = (
    "(purpose IS NULL AND visit_id IS NOT NULL) OR (purpose = 'exercise_log' AND visit_id IS NULL)"
)


def upgrade() -> None:
    """Upgrade schema."""
    with op.batch_alter_table("participant_links", schema=None) as batch_op:
        batch_op.add_column(sa.Column("purpose", sa.String(length=20), nullable=True))
        batch_op.alter_column("visit_id", existing_type=sa.Integer(), nullable=True)
        batch_op.create_check_constraint(CHECK, RULE)


def downgrade() -> None:
    """Downgrade schema; refused while exercise-log links exist (they have no visit to keep)."""
    bind = op.get_bind()
    count = bind.execute(
        sa.text("SELECT count(*) FROM participant_links WHERE purpose IS NOT NULL")
    ).scalar_one()
    if count:
        raise RuntimeError(
            f"participant_links: {count} exercise-log link(s) exist; revision 0004 cannot hold "
            "them (every link there opens a visit), so the downgrade is refused"
        )
    with op.batch_alter_table("participant_links", schema=None) as batch_op:
        batch_op.drop_constraint(CHECK, type_="check")
        batch_op.alter_column("visit_id", existing_type=sa.Integer(), nullable=False)
        batch_op.drop_column("purpose")
