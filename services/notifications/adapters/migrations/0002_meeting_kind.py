"""The kind of a meeting (work, follow_up, bilan...) on its calendar item, so that cancelling the
year's only work meeting can bring its reminder and the académie's escalation back.

Revision ID: notifications_0002
Revises: notifications_0001
"""

import sqlalchemy as sa
from alembic import op

revision = "notifications_0002"
down_revision = "notifications_0001"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("notif_calendar_items") as batch:
        batch.add_column(sa.Column("meeting_kind", sa.String(30), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table("notif_calendar_items") as batch:
        batch.drop_column("meeting_kind")
