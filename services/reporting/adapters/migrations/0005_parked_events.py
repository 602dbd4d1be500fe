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

from reporting.adapters.tables import generation
from reporting.domain.order import LEGACY

revision = "reporting_0005"
down_revision = "reporting_0004"
branch_labels = None
depends_on = None


def upgrade() -> None:
    bind = op.get_bind()
    number = int(bind.execute(sa.text("SELECT value FROM rpt_meta WHERE key = 'generation'")).scalar_one())
    gen = generation(number)
    gen.parked.create(bind, checkfirst=True)
    for index in gen.parked.indexes:
        index.create(bind, checkfirst=True)
    holds_events = bind.execute(sa.select(gen.applied.c.event_id).limit(1)).first() is not None
    already = bind.execute(sa.select(gen.state.c.key).where(gen.state.c.key == LEGACY)).first() is not None
    if holds_events and not already:
        bind.execute(gen.state.insert().values(key=LEGACY, value={"since": "reporting_0005"}))


def downgrade() -> None:
    pass
