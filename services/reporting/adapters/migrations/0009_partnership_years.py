"""One row per académie, school year and partnership (``pyear``, issue 14) in the current
generation, filled from its facts: the first day of each fact that makes the year active, stopped,
due or met — what the académie's indicators read instead of grouping the facts per year. No
rebuild needed: the rows are exactly what the projection would have written for those facts.

Revision ID: reporting_0009
Revises: reporting_0008
Create Date: 2026-12-06
"""

import sqlalchemy as sa
from alembic import op

from reporting.adapters.tables import create_missing_sync, current_generation_sync

revision = "reporting_0009"
down_revision = "reporting_0008"
branch_labels = None
depends_on = None


def upgrade() -> None:
    bind = op.get_bind()
    gen = current_generation_sync(bind)
    create_missing_sync(bind, (gen.pyear, gen.subject))  # and subject_schools_of
    f, p = gen.fact.c, gen.pyear
    academie = sa.func.coalesce(f.academie, "")
    # the same choice as reporting.adapters.projector.pyear_column, in SQL
    columns = {
        "active_from": f.metric == "partnerships_active",
        "stop_on": sa.or_(f.metric == "partnerships_ended",
                          sa.and_(f.metric == "programme_years_closed", f.kind.is_not(None), f.kind != "renewed")),
        "work_due_from": f.metric == "work_meeting_due",
        "work_held_on": sa.and_(f.metric == "meetings_held", f.kind == "work"),
        "bilan_due_from": f.metric == "bilan_due",
        "bilan_done_on": f.metric == "bilans_recorded",
    }
    bind.execute(p.delete())
    bind.execute(p.insert().from_select(
        ["academie", "school_year", "subject", *columns],
        sa.select(academie, f.school_year, f.subject,
                  *[sa.func.min(sa.case((sa.and_(cond, f.n > 0), f.day))) for cond in columns.values()])
        .where(sa.or_(*columns.values()), f.school_year.is_not(None), f.n > 0)
        .group_by(academie, f.school_year, f.subject)))
    # the school each attributed year carries: its partnership's (the projection takes it from the
    # attribution or renewal, which names the same school)
    s = gen.subject.c
    bind.execute(p.update().where(p.c.active_from.is_not(None)).values(
        uai=sa.select(s.uai).where(s.subject == p.c.subject).scalar_subquery()))


def downgrade() -> None:
    pass
