"""The fact ledger carries the envelope's académie (an académie's figures then skip the join).

A database made by 0001 before this column existed gets it on its current generation; its old
facts keep NULL until the next ``python -m reporting rebuild`` fills them.

Revision ID: reporting_0002
Revises: reporting_0001
Create Date: 2026-11-23
"""

import sqlalchemy as sa
from alembic import op

revision = "reporting_0002"
down_revision = "reporting_0001"
branch_labels = None
depends_on = None


def upgrade() -> None:
    bind = op.get_bind()
    number = bind.execute(sa.text("SELECT value FROM rpt_meta WHERE key = 'generation'")).scalar_one()
    table = f"rpt_g{number}_fact"
    columns = {c["name"] for c in sa.inspect(bind).get_columns(table)}
    if "academie" not in columns:
        op.add_column(table, sa.Column("academie", sa.String(30)))
        op.create_index(f"rpt_g{number}_fact_academie", table, ["academie", "metric", "day"])


def downgrade() -> None:
    pass
