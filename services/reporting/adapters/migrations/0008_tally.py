"""Per-day sums of the facts (``tally``) and the indexes of the académie's fast path (issue 14),
in the current generation; the tally is filled from the facts already there.

``down_revision`` is 0006: 0007 may come from another branch — the chain is set when they merge.

Revision ID: reporting_0008
Revises: reporting_0006
Create Date: 2026-12-06
"""

import sqlalchemy as sa
from alembic import op

from reporting.adapters.tables import create_missing_sync, current_generation_sync

revision = "reporting_0008"
down_revision = "reporting_0006"
branch_labels = None
depends_on = None


def upgrade() -> None:
    bind = op.get_bind()
    gen = current_generation_sync(bind)
    create_missing_sync(bind, (gen.tally, gen.fact, gen.subject))
    f, t = gen.fact.c, gen.tally
    academie = sa.func.coalesce(f.academie, "")
    bind.execute(t.delete())
    bind.execute(t.insert().from_select(
        ["academie", "metric", "day", "n", "amount"],
        sa.select(academie, f.metric, f.day, sa.func.sum(f.n), sa.func.sum(f.amount))
        .group_by(academie, f.metric, f.day)))


def downgrade() -> None:
    pass
