"""Reporting read models: the generation pointer and the tables of generation 1.

Revision ID: reporting_0001
Revises:
Create Date: 2026-11-23
"""

from alembic import op

from reporting.adapters.tables import create_generation_sync, meta_md, rpt_meta

revision = "reporting_0001"
down_revision = None
branch_labels = None
depends_on = None


def upgrade() -> None:
    bind = op.get_bind()
    meta_md.create_all(bind)
    create_generation_sync(bind, 1)
    op.bulk_insert(rpt_meta, [{"key": "generation", "value": "1"}])


def downgrade() -> None:
    op.drop_table("rpt_meta")
