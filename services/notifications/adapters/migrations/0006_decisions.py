"""Decisions told to the people concerned: a timer carries the decision's own words (``detail``:
the reason of a rejection, the classes attributed) for its mail, and a partnership year keeps when
it was decided (``decided_at``) and its classes (``detail``), so a partner whose referent is named
later is told with the same dedup key and the same facts.

Revision ID: notifications_0006
Revises: notifications_0005
"""

import sqlalchemy as sa
from alembic import op

revision = "notifications_0006"
down_revision = "notifications_0005"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("notif_timers") as batch:
        batch.add_column(sa.Column("detail", sa.Text(), nullable=True))
    with op.batch_alter_table("notif_partnerships") as batch:
        batch.add_column(sa.Column("decided_at", sa.DateTime(timezone=True), nullable=True))
        batch.add_column(sa.Column("detail", sa.Text(), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table("notif_partnerships") as batch:
        batch.drop_column("detail")
        batch.drop_column("decided_at")
    with op.batch_alter_table("notif_timers") as batch:
        batch.drop_column("detail")
