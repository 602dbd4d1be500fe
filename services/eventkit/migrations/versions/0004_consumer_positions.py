"""Consumer positions: the last stream sequence each durable consumer has applied, per stream.

A consumer writes its row in the same transaction as its effects and its inbox rows, so after a
crash the row says exactly what was committed; on start the consumer asks JetStream for what
comes after it (see ``eventkit.bus.consumer``). ``stream_created`` is the creation time JetStream
reports for the stream the position counts in: a stream deleted and made again starts its
sequences at 1 again, and an old position must not skip its first messages.

Revision ID: eventkit_0004
Revises: eventkit_0003
"""

import sqlalchemy as sa
from alembic import op

revision = "eventkit_0004"
down_revision = "eventkit_0003"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "consumer_positions",
        sa.Column("consumer", sa.String(200), primary_key=True),
        sa.Column("stream", sa.String(200), primary_key=True),
        sa.Column("position", sa.BigInteger(), nullable=False),
        sa.Column("stream_created", sa.String(64), nullable=True),
    )


def downgrade() -> None:
    op.drop_table("consumer_positions")
