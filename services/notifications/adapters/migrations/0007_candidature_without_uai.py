"""A candidature notifications remembers may have no UAI: an ACM organiser's plan mercredi
candidature held in a dedicated place with no partner school (seed 001); ``school_name`` then
holds the organiser's name. Batch mode so SQLite can alter the column.

Revision ID: notifications_0007
Revises: notifications_0006
"""

import sqlalchemy as sa
from alembic import op

revision = "notifications_0007"
down_revision = "notifications_0006"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("notif_candidatures") as batch:
        batch.alter_column("uai", existing_type=sa.String(8), nullable=True)


def downgrade() -> None:
    with op.batch_alter_table("notif_candidatures") as batch:
        batch.alter_column("uai", existing_type=sa.String(8), nullable=False)
