"""The directory knows the ACM organiser holding a plan mercredi partnership's school side
(seed 001: an ACM held in dedicated places may have no school, so ``uai`` may be empty), and the
organiser lists the partnerships it organises with its partner token. Rows written before stay without one until
their partnership's next year opens.

Revision ID: programmes_0003
"""

import sqlalchemy as sa
from alembic import op

revision = "programmes_0003"
down_revision = "programmes_0002"
branch_labels = None
depends_on = None


def upgrade() -> None:
    # batch mode: SQLite alters a column by copying the table
    with op.batch_alter_table("prog_partnerships") as batch:
        batch.alter_column("uai", existing_type=sa.String(8), nullable=True)  # no school: no UAI
        batch.add_column(sa.Column("organiser_id", sa.String(200), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table("prog_partnerships") as batch:
        batch.drop_column("organiser_id")
        batch.alter_column("uai", existing_type=sa.String(8), nullable=False)
