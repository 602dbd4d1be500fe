"""Order and lateness: each timer's grace (``late_until``: sent late until then, recorded as
missed after), the effects held until their cause arrives (``notif_parked``) and the facts that
settle a subject whatever order the events come in (``notif_settled``).

Timers planned before keep ``late_until`` NULL: the scheduler sends them late without limit, as
before; ``python -m notifications rebuild`` gives them their grace.

Revision ID: notifications_0004
Revises: notifications_0003
"""

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql

revision = "notifications_0004"
down_revision = "notifications_0003"
branch_labels = None
depends_on = None

TS = sa.DateTime(timezone=True)
JSON_DATA = sa.JSON().with_variant(postgresql.JSONB(), "postgresql")


def upgrade() -> None:
    with op.batch_alter_table("notif_timers") as batch:
        batch.add_column(sa.Column("late_until", TS, nullable=True))
    op.create_table(
        "notif_parked",
        sa.Column("seq", sa.Integer(), primary_key=True, autoincrement=True),
        sa.Column("event_id", sa.String(36), nullable=False),
        sa.Column("waiting_for", sa.String(400), nullable=False),
        sa.Column("type", sa.String(100), nullable=False),
        sa.Column("envelope", JSON_DATA, nullable=False),
        sa.Column("parked_at", TS, nullable=False),
    )
    op.create_index("notif_parked_waiting_for", "notif_parked", ["waiting_for"])
    op.create_table(
        "notif_settled",
        sa.Column("key", sa.String(400), primary_key=True),
        sa.Column("event_id", sa.String(36), nullable=True),
    )


def downgrade() -> None:
    op.drop_table("notif_settled")
    op.drop_table("notif_parked")
    with op.batch_alter_table("notif_timers") as batch:
        batch.drop_column("late_until")
