"""Retention (RGPD, issue 16): which partnerships each referent was designated on
(``prog_referents``, projected from ``ReferentDesignated`` in the transaction that appends it) and,
per partnership, the last year whose retention ran out (``prog_partnerships.retention_expired_year``,
from notifications' ``RetentionExpired``). A person is erased once every partnership of theirs is
past its retention. The designations stored before are copied from the events table (the
``referent_id`` and ``partnership_id`` of a ReferentDesignated are ids, never sealed).

Revision ID: programmes_0004
"""

import sqlalchemy as sa
from alembic import op

revision = "programmes_0004"
down_revision = "programmes_0003"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "prog_referents",
        sa.Column("referent_id", sa.String(200), primary_key=True),
        sa.Column("partnership_id", sa.String(200), primary_key=True),
    )
    op.create_index("prog_referents_partnership", "prog_referents", ["partnership_id"])
    with op.batch_alter_table("prog_partnerships") as batch:
        batch.add_column(sa.Column("retention_expired_year", sa.Integer(), nullable=True))
    bind = op.get_bind()
    if bind.dialect.name == "postgresql":
        field = "data->>'{}'"
    else:
        field = "json_extract(data, '$.{}')"
    op.execute(
        "INSERT INTO prog_referents (referent_id, partnership_id) "
        f"SELECT DISTINCT {field.format('referent_id')}, {field.format('partnership_id')} FROM events "
        "WHERE type = 'ReferentDesignated' AND source = 'programmes'")


def downgrade() -> None:
    with op.batch_alter_table("prog_partnerships") as batch:
        batch.drop_column("retention_expired_year")
    op.drop_index("prog_referents_partnership", table_name="prog_referents")
    op.drop_table("prog_referents")
