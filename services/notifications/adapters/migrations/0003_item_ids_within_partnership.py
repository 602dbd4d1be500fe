"""Action and meeting ids are unique within their partnership only: reminders about an action or a
meeting name it as ``<partnership_id>/<id>`` and calendar items as
``action-<partnership_id>.<id>@…`` (see ``domain/planning.subject_of`` and ``app/facts.item_uid``).
Rows written before keep working: they are renamed here.

Revision ID: notifications_0003
Revises: notifications_0002
"""

import sqlalchemy as sa
from alembic import op

revision = "notifications_0003"
down_revision = "notifications_0002"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("notif_timers") as batch:
        batch.alter_column("scope_id", existing_type=sa.String(200), type_=sa.String(300), existing_nullable=False)
    op.execute("UPDATE notif_timers SET scope_id = partnership_id || '/' || scope_id "
               "WHERE scope IN ('action', 'meeting') AND partnership_id IS NOT NULL")
    for kind in ("action", "meeting"):
        prefix = f"{kind}-"
        op.execute(f"UPDATE notif_calendar_items SET uid = '{prefix}' || partnership_id || '.' || "
                   f"substr(uid, {len(prefix) + 1}) WHERE kind = '{kind}' AND uid LIKE '{prefix}%' "
                   "AND partnership_id IS NOT NULL")


def downgrade() -> None:
    for kind in ("action", "meeting"):
        prefix = f"{kind}-"
        op.execute(f"UPDATE notif_calendar_items SET uid = '{prefix}' || "
                   f"substr(uid, {len(prefix) + 2} + length(partnership_id)) WHERE kind = '{kind}' "
                   f"AND uid LIKE '{prefix}%' AND partnership_id IS NOT NULL")
    op.execute("UPDATE notif_timers SET scope_id = substr(scope_id, length(partnership_id) + 2) "
               "WHERE scope IN ('action', 'meeting') AND partnership_id IS NOT NULL")
