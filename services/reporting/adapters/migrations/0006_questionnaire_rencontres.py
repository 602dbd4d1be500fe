"""The figures académies ask for (issue 12): the end-of-year questionnaire's answers (``answer``)
and the centres sociaux' rencontres with their productions (``rencontre``), in the current
generation. CNR funds are facts (``funds_requested``, ``funds_granted``, ``funds_spent``) and need
no table.

Events projected before this migration are not in them (nor their funds facts) until the next
``python -m reporting rebuild``, which fills every figure from the streams.

Revision ID: reporting_0006
Revises: reporting_0005
Create Date: 2026-12-06
"""

from alembic import op

from reporting.adapters.tables import create_missing_sync, current_generation_sync

revision = "reporting_0006"
down_revision = "reporting_0005"
branch_labels = None
depends_on = None


def upgrade() -> None:
    bind = op.get_bind()
    gen = current_generation_sync(bind)
    create_missing_sync(bind, (gen.answer, gen.rencontre))


def downgrade() -> None:
    pass
