"""The directory knows the ACM organiser holding a plan mercredi partnership's school side
(seed 001: an ACM held in dedicated places may have no school), so the organiser lists the
partnerships it organises with its partner token. Rows written before stay without one until
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
    op.add_column("prog_partnerships", sa.Column("organiser_id", sa.String(200), nullable=True))


def downgrade() -> None:
    op.drop_column("prog_partnerships", "organiser_id")
