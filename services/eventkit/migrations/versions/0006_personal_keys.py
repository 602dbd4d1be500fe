"""Personal data keys (RGPD erasure, ``eventkit.shredding``): one AES-GCM key per subject (a
person, or a stream for free text) and per owner (the service whose events it seals). A service
holds its own keys and, as a consumer, copies of the owners' keys it fetched. Erasure sets
``key`` to NULL and ``erased_at``: the row stays as a tombstone so the key is never fetched or
made again, and every ciphertext sealed with it is unreadable for good.

Revision ID: eventkit_0006
Revises: eventkit_0004
"""

import sqlalchemy as sa
from alembic import op

revision = "eventkit_0006"
down_revision = "eventkit_0004"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "personal_keys",
        sa.Column("owner", sa.String(50), primary_key=True),
        sa.Column("subject", sa.String(300), primary_key=True),
        sa.Column("key", sa.LargeBinary(), nullable=True),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("erased_at", sa.DateTime(timezone=True), nullable=True),
    )


def downgrade() -> None:
    op.drop_table("personal_keys")
