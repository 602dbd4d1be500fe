"""Retention timers (RGPD, issue 16): one row per partnership, the durable timer that says
``RetentionExpired`` when its people's retention runs out (``app/retention.py``). Planned from
``ProgrammeYearOpened`` (the end of the year), moved by ``PartnershipEnded`` (an end after it) and
by a renewal (the next year's end); ``status`` pending → expired, or ``never`` for a dispositif
whose people are kept. ``stream_version`` is the row's stream ``retention-<partnership_id>``.

Revision ID: notifications_0009
Revises: notifications_0008
"""

import sqlalchemy as sa
from alembic import op

revision = "notifications_0009"
down_revision = "notifications_0008"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "notif_retention",
        sa.Column("partnership_id", sa.String(200), primary_key=True),
        sa.Column("academie", sa.String(50), nullable=False),
        sa.Column("dispositif", sa.String(30), nullable=False),
        sa.Column("school_year", sa.String(9), nullable=False),
        sa.Column("year_index", sa.Integer(), nullable=False),
        sa.Column("ended_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("retained_from", sa.DateTime(timezone=True), nullable=False),
        sa.Column("retention_years", sa.Integer(), nullable=True),
        sa.Column("due_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("status", sa.String(20), nullable=False),
        sa.Column("expired_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("stream_version", sa.Integer(), nullable=False, server_default="0"),
        sa.Column("updated_at", sa.DateTime(timezone=True), nullable=False),
    )
    op.create_index("notif_retention_due", "notif_retention", ["status", "due_at"])


def downgrade() -> None:
    op.drop_index("notif_retention_due", table_name="notif_retention")
    op.drop_table("notif_retention")
