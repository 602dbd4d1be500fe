"""Timeline rows keep the producing store's ``recorded_at``: between events of one instant (an
event another service derived from one it consumed takes that one's ``occurred_at``) the timeline
orders by it instead of by arrival in reporting.

Added to the current generation; its existing rows keep NULL (ordered as before) until the next
``python -m reporting rebuild``.

Revision ID: reporting_0004
Revises: reporting_0003
Create Date: 2026-11-23
"""

import sqlalchemy as sa
from alembic import op

revision = "reporting_0004"
down_revision = "reporting_0003"
branch_labels = None
depends_on = None


def upgrade() -> None:
    bind = op.get_bind()
    number = bind.execute(sa.text("SELECT value FROM rpt_meta WHERE key = 'generation'")).scalar_one()
    table = f"rpt_g{number}_timeline"
    if "recorded_at" not in {c["name"] for c in sa.inspect(bind).get_columns(table)}:
        op.add_column(table, sa.Column("recorded_at", sa.DateTime(timezone=True)))


def downgrade() -> None:
    pass
