"""Feeds: one URL per view (an académie's view of a person's feed is narrowed to its own
partnerships, ``academie`` = its code; ``*`` = the whole feed), and revoked URLs kept apart so
they answer 410 Gone, not 404, after a revoke or a rotation.

Revision ID: notifications_0005
Revises: notifications_0004
"""

import sqlalchemy as sa
from alembic import op

revision = "notifications_0005"
down_revision = "notifications_0004"
branch_labels = None
depends_on = None

TS = sa.DateTime(timezone=True)


def upgrade() -> None:
    with op.batch_alter_table("notif_feeds") as batch:
        batch.add_column(sa.Column("academie", sa.String(50), nullable=False, server_default="*"))
        batch.drop_constraint("notif_feeds_kind_key", type_="unique")
        batch.create_unique_constraint("notif_feeds_kind_key_academie", ["kind", "key", "academie"])
    op.create_table(
        "notif_feeds_revoked",
        sa.Column("token", sa.String(64), primary_key=True),
        sa.Column("kind", sa.String(20), nullable=False),
        sa.Column("key", sa.String(320), nullable=False),
        sa.Column("academie", sa.String(50), nullable=False),
        sa.Column("created_at", TS, nullable=False),
        sa.Column("revoked_at", TS, nullable=False),
    )


def downgrade() -> None:
    op.drop_table("notif_feeds_revoked")
    op.execute("DELETE FROM notif_feeds WHERE academie <> '*'")
    with op.batch_alter_table("notif_feeds") as batch:
        batch.drop_constraint("notif_feeds_kind_key_academie", type_="unique")
        batch.create_unique_constraint("notif_feeds_kind_key", ["kind", "key"])
        batch.drop_column("academie")
