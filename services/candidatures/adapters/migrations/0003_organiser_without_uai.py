"""A candidature row may have no UAI, and names its ACM organiser (``organiser_id``, the partner id
the organiser's token is scoped to, so its listing finds its own candidatures): an ACM organiser applying to a plan mercredi campaign from a
dedicated place, with no partner school (seed 001). Batch mode so SQLite can alter the column.

Revision ID: candidatures_0003
"""

import sqlalchemy as sa
from alembic import op

revision = "candidatures_0003"
down_revision = "candidatures_0002"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("cand_candidatures") as batch:
        batch.alter_column("uai", existing_type=sa.String(8), nullable=True)
        batch.add_column(sa.Column("organiser_id", sa.String(200), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table("cand_candidatures") as batch:
        batch.drop_column("organiser_id")
        batch.alter_column("uai", existing_type=sa.String(8), nullable=False)
