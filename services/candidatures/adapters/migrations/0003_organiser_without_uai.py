"""A candidature row may have no UAI: an ACM organiser applying to a plan mercredi campaign from a
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


def downgrade() -> None:
    with op.batch_alter_table("cand_candidatures") as batch:
        batch.alter_column("uai", existing_type=sa.String(8), nullable=False)
