"""Programmes snapshots: the folded state of a partnership stream at a version, so a long
partnership (three years, hundreds of events) loads from its snapshot plus the events after it.

A row is a cache: it can be deleted at any time and is rebuilt from the stream. ``state_schema``
names the shape of the pickled state; a row of another shape is ignored and rewritten.

Revision ID: programmes_0002
"""

import sqlalchemy as sa
from alembic import op

revision = "programmes_0002"
down_revision = "programmes_0001"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "prog_snapshots",
        sa.Column("stream_id", sa.String(250), primary_key=True),
        sa.Column("version", sa.Integer(), nullable=False),
        sa.Column("state_schema", sa.String(80), nullable=False),
        sa.Column("state", sa.LargeBinary(), nullable=False),
    )


def downgrade() -> None:
    op.drop_table("prog_snapshots")
