"""At most one OPEN campaign per (académie, dispositif, school year).

The decider refuses a second opening when it sees the first one; this partial unique index is what
holds when two openings are decided at the same moment: the row of the second one cannot be
inserted (it waits for the first transaction, then fails), its transaction rolls back with its
events, and the handler re-decides on the fresh data, which names the rule. Closing a campaign
sets its row to ``closed`` and frees the key for a new call.

Revision ID: candidatures_0002
"""

import sqlalchemy as sa
from alembic import op

revision = "candidatures_0002"
down_revision = "candidatures_0001"
branch_labels = None
depends_on = None

OPEN = sa.text("status = 'open'")


def upgrade() -> None:
    op.create_index("ux_cand_campaigns_open_key", "cand_campaigns", ["academie", "dispositif", "school_year"],
                    unique=True, postgresql_where=OPEN, sqlite_where=OPEN)


def downgrade() -> None:
    op.drop_index("ux_cand_campaigns_open_key", table_name="cand_campaigns")
