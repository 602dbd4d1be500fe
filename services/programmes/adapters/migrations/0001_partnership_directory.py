"""Programmes read table: the directory of partnerships (who, which académie, current year,
status), written in the same transaction as the year-level events it is projected from.

Revision ID: programmes_0001
"""

import sqlalchemy as sa
from alembic import op

revision = "programmes_0001"
down_revision = None
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "prog_partnerships",
        sa.Column("partnership_id", sa.String(200), primary_key=True),
        sa.Column("academie", sa.String(50), nullable=False),
        sa.Column("uai", sa.String(8), nullable=False),
        sa.Column("partner_id", sa.String(200), nullable=True),
        sa.Column("dispositif", sa.String(30), nullable=False),
        sa.Column("school_name", sa.String(300), nullable=False),
        sa.Column("partner_name", sa.String(300), nullable=True),
        sa.Column("school_year", sa.String(9), nullable=False),
        sa.Column("year_index", sa.Integer(), nullable=False),
        sa.Column("status", sa.String(20), nullable=False),
        sa.Column("ended_reason", sa.String(50), nullable=True),
    )
    op.create_index("ix_prog_partnerships_academie", "prog_partnerships", ["academie", "school_year"])
    op.create_index("ix_prog_partnerships_uai", "prog_partnerships", ["uai"])
    op.create_index("ix_prog_partnerships_partner", "prog_partnerships", ["partner_id"])


def downgrade() -> None:
    op.drop_table("prog_partnerships")
