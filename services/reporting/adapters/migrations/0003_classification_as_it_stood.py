"""Facts carry the classification as it stood (éducation prioritaire, rurality, EAC domains as a
bitmask); subjects carry all their EAC domains and a partnership its candidature.

Added to the current generation; its existing facts keep NULL there (queries then fall back on
the subject's values, as before) and its subjects get their single former domain as a mask, until
the next ``python -m reporting rebuild`` fills everything (several domains, the candidature's
history in partnership timelines).

Revision ID: reporting_0003
Revises: reporting_0002
Create Date: 2026-11-23
"""

import sqlalchemy as sa
from alembic import op

revision = "reporting_0003"
down_revision = "reporting_0002"
branch_labels = None
depends_on = None

_ADDED = {
    "fact": (("ep", sa.String(5)), ("ruralite", sa.String(40)), ("domains", sa.Integer())),
    "subject": (("domains", sa.Integer()), ("parent", sa.String(220))),
}


def upgrade() -> None:
    bind = op.get_bind()
    number = bind.execute(sa.text("SELECT value FROM rpt_meta WHERE key = 'generation'")).scalar_one()
    for name, columns in _ADDED.items():
        table = f"rpt_g{number}_{name}"
        present = {c["name"] for c in sa.inspect(bind).get_columns(table)}
        for column, type_ in columns:
            if column not in present:
                op.add_column(table, sa.Column(column, type_))
        if name == "subject" and "domain" in present:
            # the former single domain (0: none) as a mask
            bind.execute(sa.text(f'UPDATE "{table}" SET domains = CASE WHEN domain > 0 THEN 1 << domain ELSE 1 END '
                                 "WHERE domain IS NOT NULL AND domains IS NULL"))


def downgrade() -> None:
    pass
