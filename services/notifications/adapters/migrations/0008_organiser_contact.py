"""An ACM organiser's own contact e-mail (plan mercredi, seed 001): a partnership year may have
no UAI (an ACM held in dedicated places, no school), and the organiser's decisions and reminders
go to the e-mail its candidature gives (``contact_email`` on candidatures and partnership years),
not to a school's functional mailbox; the organiser (a partner structure, ``organiser_id``) reads
the partnership's reminders and feed with its partner token. Batch mode so SQLite can alter the column.

Revision ID: notifications_0008
Revises: notifications_0007
"""

import sqlalchemy as sa
from alembic import op

revision = "notifications_0008"
down_revision = "notifications_0007"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("notif_partnerships") as batch:
        batch.alter_column("uai", existing_type=sa.String(8), nullable=True)
        batch.add_column(sa.Column("contact_email", sa.String(320), nullable=True))
        batch.add_column(sa.Column("organiser_id", sa.String(200), nullable=True))
    with op.batch_alter_table("notif_candidatures") as batch:
        batch.add_column(sa.Column("contact_email", sa.String(320), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table("notif_candidatures") as batch:
        batch.drop_column("contact_email")
    with op.batch_alter_table("notif_partnerships") as batch:
        batch.drop_column("contact_email")
        batch.drop_column("organiser_id")
        batch.alter_column("uai", existing_type=sa.String(8), nullable=False)
