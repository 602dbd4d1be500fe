"""Events whose cause has not been projected yet are parked instead of dropped
(``reporting.domain.order``): the ``parked`` table of the current generation.

A generation that already holds events was projected before streams were sequenced: it gets the
``order:legacy`` state row, so that a stream begun before this migration is taken up where it
stands instead of waiting forever for versions it projected unrecorded. The next
``python -m reporting rebuild`` makes a generation sequenced from every stream's first event.

Revision ID: reporting_0005
Revises: reporting_0004
Create Date: 2026-12-05
"""

import sqlalchemy as sa
from alembic import op

from reporting.adapters.tables import create_missing_sync, current_generation_sync
from reporting.domain.order import LEGACY

revision = "reporting_0005"
down_revision = "reporting_0004"
branch_labels = None
depends_on = None


def upgrade() -> None:
    bind = op.get_bind()
    gen = current_generation_sync(bind)
    create_missing_sync(bind, (gen.parked,))
    holds_events = bind.execute(sa.select(gen.applied.c.event_id).limit(1)).first() is not None
    already = bind.execute(sa.select(gen.state.c.key).where(gen.state.c.key == LEGACY)).first() is not None
    if holds_events and not already:
        bind.execute(gen.state.insert().values(key=LEGACY, value={"since": "reporting_0005"}))


def downgrade() -> None:
    pass
