"""Read side: every indicator as of a date is a sum over the fact ledger up to that date."""

from __future__ import annotations

from dataclasses import dataclass, fields
from datetime import date
from typing import Any

from sqlalchemy import and_, case, func, literal_column, not_, or_, select, true, union_all
from sqlalchemy.ext.asyncio import AsyncConnection

from reporting.domain.candidatures import PROJECT_SCHOOL
from reporting.domain.indicators import AT_THE_DATE, derive, school_year_of
from reporting.domain.model import mask_domains

from .tables import PYEAR_DAYS, Generation, generation, rpt_meta


@dataclass(frozen=True)
class Filters:
    academie: str | None = None
    departement: str | None = None
    dispositif: str | None = None
    school_year: str | None = None
    domain: int | None = None
    ep: str | None = None
    ruralite: str | None = None

    def as_dict(self) -> dict[str, Any]:
        return {f.name: getattr(self, f.name) for f in fields(self) if getattr(self, f.name) is not None}


async def current_generation(conn: AsyncConnection) -> Generation:
    value = (await conn.execute(select(rpt_meta.c.value).where(rpt_meta.c.key == "generation"))).scalar_one()
    return generation(int(value))


# Dimensions read from the fact row itself: a query using only these needs no join.
_FACT_DIMENSIONS = {"academie", "level", "kind", "month", "year_index"}


def _dimension(g: Generation, name: str):
    f, s = g.fact.c, g.subject.c
    return {
        "academie": f.academie, "departement": s.departement, "dispositif": s.dispositif,
        "school_year": func.coalesce(f.school_year, s.school_year), "domain": _domains(g),
        # as it stood when the fact happened; the subject's for facts written before facts had it
        "ep": func.coalesce(f.ep, s.ep), "ruralite": func.coalesce(f.ruralite, s.ruralite),
        "level": f.level, "kind": f.kind, "month": f.month, "year_index": f.year_index,
    }[name]


def _domains(g: Generation):
    return func.coalesce(g.fact.c.domains, g.subject.c.domains)


# EAC domains 0 (none) to 17, with their bit: a fact counts under each domain its mask holds.
_DOMAIN_VALUES = union_all(*[select(literal_column(str(d)).label("domain"), literal_column(str(1 << d)).label("bit"))
                             for d in range(18)]).subquery("dv")


def _source(g: Generation, flt: Filters, *dims: str | None):
    """The fact table alone when every filter and grouping reads the fact row, else joined to the
    subjects' dimensions (and, grouped by domain, to the domains each fact counts under)."""
    names = set(flt.as_dict()) | {d for d in dims if d}
    if names <= _FACT_DIMENSIONS:
        return g.fact
    source = g.fact.join(g.subject, g.subject.c.subject == g.fact.c.subject)
    if "domain" in dims:
        source = source.join(_DOMAIN_VALUES, _domains(g).op("&")(_DOMAIN_VALUES.c.bit) != 0)
    return source


def _where(g: Generation, as_of: date, flt: Filters) -> list[Any]:
    f = g.fact.c
    out = [f.day <= as_of]
    for name, value in flt.as_dict().items():
        if name == "domain":
            out.append(_domains(g).op("&")(literal_column(str(1 << int(value)))) != 0)
        else:
            out.append(_dimension(g, name) == value)
    return out


def _active_at_the_date(g: Generation, as_of: date, flt: Filters, by: str | None = None) -> list[Any]:
    """The conditions on the facts of ``AT_THE_DATE`` metrics (none: every fact counts). Partnerships, schools, classes and pupils: per school year (``school_year`` filter or
    breakdown) every year attributed by ``as_of`` counts; otherwise only the years *active* on
    ``as_of``: of the school year ``as_of`` falls in (Sept–Aug, so at most one per partnership),
    attributed by then, neither ended nor closed without renewal by then. A year closed because
    it was renewed stays active to the end of its school year; the next one starts on Sept 1."""
    if flt.school_year is not None or by == "school_year":
        return []
    f = g.fact.c
    x = g.fact.alias("stopped")
    year = school_year_of(as_of)
    # the few years of this school year stopped by then: one hashed set, not a lookup per fact
    stopped = select(x.c.subject).where(
        x.c.metric.in_(("partnerships_ended", "programme_years_closed")), x.c.day <= as_of,
        x.c.school_year == year, or_(x.c.metric == "partnerships_ended", x.c.kind.not_in(("renewed",))),
        *([x.c.academie == flt.academie] if flt.academie else []))  # the académie's covering index
    return [f.school_year == year, f.subject.not_in(stopped)]


async def metric_sums(conn: AsyncConnection, g: Generation, as_of: date, flt: Filters,
                      by: str | None = None) -> dict[Any, dict[str, tuple[int, int]]]:
    """``{group: {metric: (sum n, sum amount)}}``; the group is ``None`` without ``by``."""
    f = g.fact.c
    at_date = _active_at_the_date(g, as_of, flt, by)
    group = (_DOMAIN_VALUES.c.domain if by == "domain" else _dimension(g, by)) if by else None

    def sums(extra: list[Any], flag: int):
        keys = [group.label("grp")] if by else []
        return (select(*keys, f.metric, func.sum(f.n), func.sum(f.amount), literal_column(str(flag)).label("at"))
                .select_from(_source(g, flt, by)).where(*_where(g, as_of, flt), *extra)
                .group_by(*([group] if by else []), f.metric))

    # Active at the date: a second, narrow sum over those metrics' facts alone (the académie's
    # index reads them apart), rather than a condition tested on every fact.
    stmt = sums([], 0) if not at_date else union_all(sums([], 0), sums([f.metric.in_(AT_THE_DATE), *at_date], 1))
    out: dict[Any, dict[str, tuple[int, int]]] = {}
    for row in await conn.execute(stmt):
        grp, (metric, n, amount, flag) = (row[0], row[1:]) if by else (None, row)
        if at_date and metric in AT_THE_DATE and not flag:
            continue
        out.setdefault(grp, {})[metric] = (int(n or 0), int(amount or 0))
    return out


async def schools_reached(conn: AsyncConnection, g: Generation, as_of: date, flt: Filters) -> int:
    """Distinct UAIs with at least one partnership-year attributed by ``as_of`` (in the school year
    asked, or active on ``as_of``: see ``_active_at_the_date``)."""
    f = g.fact.c
    active = (select(f.subject).select_from(_source(g, flt))
              .where(f.metric == "partnerships_active", *_where(g, as_of, flt), *_active_at_the_date(g, as_of, flt))
              .group_by(f.subject).having(func.sum(f.n) > 0)).subquery()
    s = g.subject.c
    # the school carrying each partnership, and a CNR project's associated schools (rows under it)
    stmt = select(func.count(func.distinct(s.uai))).where(or_(
        s.subject.in_(select(active.c.subject)),
        and_(s.kind == PROJECT_SCHOOL, s.parent.in_(select(active.c.subject)))))
    return int((await conn.execute(stmt)).scalar_one() or 0)


async def overdue(conn: AsyncConnection, g: Generation, as_of: date, flt: Filters) -> dict[str, int]:
    """Partnership-years past their work-meeting (or bilan) window with none held (recorded),
    counted as of ``as_of``: the deadlines are facts dated the day after each window closes. Like
    "active at the date", a year stops being overdue once it ended, was closed other than as
    renewed, or its school year is over (whatever the ``school_year`` filter)."""
    f = g.fact.c

    def total(metric: str, kind: str | None = None):
        cond = f.metric == metric if kind is None else and_(f.metric == metric, f.kind == kind)
        return func.sum(case((cond, f.n), else_=0))

    stopped = or_(f.metric == "partnerships_ended",
                  and_(f.metric == "programme_years_closed", f.kind.not_in(("renewed",))))
    metrics = ("partnerships_active", "partnerships_ended", "programme_years_closed", "work_meeting_due",
               "meetings_held", "bilan_due", "bilans_recorded")
    per_year = (select(total("partnerships_active").label("active"),
                       func.sum(case((stopped, f.n), else_=0)).label("ended"),
                       total("work_meeting_due").label("wdue"), total("meetings_held", "work").label("wheld"),
                       total("bilan_due").label("bdue"), total("bilans_recorded").label("bdone"))
                .select_from(_source(g, flt))
                .where(f.metric.in_(metrics), *_where(g, as_of, flt), f.school_year >= school_year_of(as_of))
                .group_by(f.subject, f.school_year)).subquery()
    live = and_(per_year.c.active > 0, per_year.c.ended == 0)
    stmt = select(
        func.sum(case((and_(live, per_year.c.wdue > 0, per_year.c.wheld == 0), 1), else_=0)),
        func.sum(case((and_(live, per_year.c.bdue > 0, per_year.c.bdone == 0), 1), else_=0)),
    )
    work, bilan = (await conn.execute(stmt)).one()
    return {"overdue_work_meeting": int(work or 0), "overdue_bilan": int(bilan or 0)}


async def indicators(conn: AsyncConnection, g: Generation, as_of: date, flt: Filters) -> dict[str, Any]:
    if set(flt.as_dict()) <= {"academie"}:  # an académie's figures, or the nation's: the fast path
        return await _indicators_from_tally(conn, g, as_of, flt)
    sums = (await metric_sums(conn, g, as_of, flt)).get(None, {})
    out = derive(sums)
    out["schools_reached"] = await schools_reached(conn, g, as_of, flt)
    out.update(await overdue(conn, g, as_of, flt))
    return out


async def _indicators_from_tally(conn: AsyncConnection, g: Generation, as_of: date, flt: Filters) -> dict[str, Any]:
    """:func:`indicators` under no filter but the académie, in two statements: the per-day
    ``tally`` summed up to ``as_of`` (a few rows per metric and day, instead of every fact), and
    :func:`_year_at_the_date` for what depends on single partnership-years. Same figures as the
    general path, which the property tests check against the same recount."""
    t = g.tally.c
    stmt = select(t.metric, func.sum(t.n), func.sum(t.amount)).where(t.day <= as_of).group_by(t.metric)
    if flt.academie:
        stmt = stmt.where(t.academie == flt.academie)
    sums = {metric: (int(n or 0), int(amount or 0)) for metric, n, amount in await conn.execute(stmt)}
    year = await _year_at_the_date(conn, g, as_of, flt)
    sums["partnerships_active"] = (year["partnerships_active"], 0)
    sums["classes_reached"] = (year["classes_reached"], year["pupils_reached"])
    out = derive(sums)
    out["schools_reached"] = year["schools_reached"]
    out["overdue_work_meeting"], out["overdue_bilan"] = year["overdue_work_meeting"], year["overdue_bilan"]
    return out


_YEAR_METRICS = ("partnerships_active", "classes_reached", "partnerships_ended", "programme_years_closed",
                 "work_meeting_due", "meetings_held", "bilan_due", "bilans_recorded")


async def _year_at_the_date(conn: AsyncConnection, g: Generation, as_of: date, flt: Filters) -> dict[str, int]:
    """Partnerships, classes, pupils and schools active at the date (``_active_at_the_date``) and
    the overdue counts (:func:`overdue`), in one statement: the académie's ``pyear`` rows of the
    current and later school years (a few hundred to a few thousand narrow rows, no grouping but
    the nation's) say which years are active, stopped, due and met on ``as_of``; classes and pupils
    are the year's facts summed but those of the years stopped by then (a small set). Same figures
    as :func:`_year_from_facts` and the general path. Only without filters other than the académie."""
    year = school_year_of(as_of)
    p = g.pyear.c
    where = [*([p.academie == flt.academie] if flt.academie else []), p.school_year >= year]
    if flt.academie:
        rows = select(p.subject, p.school_year, *[getattr(p, name) for name in PYEAR_DAYS], p.uai).where(*where)
    else:  # the nation: a year's rows of every académie its facts carried, as one
        rows = (select(p.subject, p.school_year, *[func.min(getattr(p, name)).label(name) for name in PYEAR_DAYS],
                       func.max(p.uai).label("uai"))
                .where(*where).group_by(p.subject, p.school_year))
    cte = rows.cte("py")
    py = cte.c

    def by(column: Any) -> Any:  # seen by as_of
        return and_(column.is_not(None), column <= as_of)

    live = and_(by(py.active_from), not_(by(py.stop_on)))
    now = and_(py.school_year == year, live)
    f, s = g.fact.c, g.subject.c
    # as schools_reached: the school carrying each year (on its row), and a CNR project's associated
    # schools (a probe per year into their own small index, subject_schools_of)
    uais = union_all(select(py.uai).where(now),
                     select(s.uai).where(s.kind == PROJECT_SCHOOL, s.parent.in_(select(py.subject).where(now))))
    uais = uais.subquery("uais")
    schools = select(func.count(func.distinct(uais.c.uai))).scalar_subquery()
    stopped = select(py.subject).where(py.school_year == year, by(py.stop_on))
    classes = (select(func.coalesce(func.sum(f.n), 0), func.coalesce(func.sum(f.amount), 0))
               .where(*([f.academie == flt.academie] if flt.academie else []), f.metric == "classes_reached",
                      f.school_year == year, f.day <= as_of, f.subject.not_in(stopped))).subquery()

    def count(cond: Any) -> Any:
        return func.coalesce(func.sum(case((cond, 1), else_=0)), 0)

    counts = select(  # the rows read once for the three counts
        count(now).label("active"), count(and_(live, by(py.work_due_from), not_(by(py.work_held_on)))).label("work"),
        count(and_(live, by(py.bilan_due_from), not_(by(py.bilan_done_on)))).label("bilan")).subquery("counts")
    stmt = (select(counts.c.active, classes.c[0], classes.c[1], schools, counts.c.work, counts.c.bilan)
            .select_from(counts.join(classes, true())))  # one row each
    row = (await conn.execute(stmt)).one()
    names = ("partnerships_active", "classes_reached", "pupils_reached", "schools_reached", "overdue_work_meeting",
             "overdue_bilan")
    return {name: int(value or 0) for name, value in zip(names, row)}


async def _year_from_facts(conn: AsyncConnection, g: Generation, as_of: date, flt: Filters) -> dict[str, int]:
    """What :func:`_year_at_the_date` answers, from the facts alone: ONE read of the académie's
    facts of the current and later school years (their own index), grouped per partnership-year.
    What the académie's path ran before ``pyear`` (the benchmark still times it beside it)."""
    f = g.fact.c
    year = school_year_of(as_of)

    def total(cond: Any, value: Any = f.n):
        return func.sum(case((cond, value), else_=0))

    stop = or_(f.metric == "partnerships_ended",
               and_(f.metric == "programme_years_closed", f.kind.not_in(("renewed",))))
    per_year = (select(f.subject, f.school_year,
                       total(f.metric == "partnerships_active").label("active"),
                       total(f.metric == "classes_reached").label("classes"),
                       total(f.metric == "classes_reached", f.amount).label("pupils"),
                       total(stop, 1).label("stops"),  # _active_at_the_date: any stop, whatever its n
                       total(stop).label("ended"),  # overdue: their n
                       total(f.metric == "work_meeting_due").label("wdue"),
                       total(and_(f.metric == "meetings_held", f.kind == "work")).label("wheld"),
                       total(f.metric == "bilan_due").label("bdue"),
                       total(f.metric == "bilans_recorded").label("bdone"))
                .where(*([f.academie == flt.academie] if flt.academie else []), f.school_year >= year,
                       f.metric.in_(_YEAR_METRICS), f.day <= as_of)
                .group_by(f.subject, f.school_year)).cte("per_year")
    now = and_(per_year.c.school_year == year, per_year.c.stops == 0)
    live = and_(per_year.c.active > 0, per_year.c.ended == 0)
    s = g.subject.c
    active_now = select(per_year.c.subject).where(now, per_year.c.active > 0)
    # as schools_reached: the school carrying each partnership, and a CNR project's associated schools
    schools = (select(func.count(func.distinct(s.uai)))
               .where(or_(s.subject.in_(active_now), and_(s.kind == PROJECT_SCHOOL, s.parent.in_(active_now))))
               .scalar_subquery())
    stmt = select(
        func.sum(case((now, per_year.c.active), else_=0)), func.sum(case((now, per_year.c.classes), else_=0)),
        func.sum(case((now, per_year.c.pupils), else_=0)), schools,
        func.sum(case((and_(live, per_year.c.wdue > 0, per_year.c.wheld == 0), 1), else_=0)),
        func.sum(case((and_(live, per_year.c.bdue > 0, per_year.c.bdone == 0), 1), else_=0)))
    row = (await conn.execute(stmt)).one()
    names = ("partnerships_active", "classes_reached", "pupils_reached", "schools_reached", "overdue_work_meeting",
             "overdue_bilan")
    return {name: int(value or 0) for name, value in zip(names, row)}


async def breakdown(conn: AsyncConnection, g: Generation, as_of: date, flt: Filters, by: str) -> list[dict[str, Any]]:
    """One row per value of ``by``, with the summable indicators (distinct schools and overdue
    counts are only given as totals)."""
    groups = await metric_sums(conn, g, as_of, flt, by)
    rows = [{"group": key, **derive(sums)} for key, sums in groups.items()]
    return sorted(rows, key=lambda r: (r["group"] is None, r["group"] if isinstance(r["group"], int) else 0,
                                       str(r["group"])))


def _standing(g: Generation, as_of: date, flt: Filters, subjects: Any = None):
    """Per partnership (of ``subjects``, a list or a subquery, when given), the school as it stood
    as of ``as_of``: that of its latest year attributed by then (a renewal carries the school as it
    is that year)."""
    f = g.fact.c
    cond = [f.metric == "partnerships_active", f.n > 0, f.day <= as_of]
    if flt.academie:
        cond.append(f.academie == flt.academie)
    if subjects is not None:
        cond.append(f.subject.in_(subjects))
    ranked = (select(f.subject, f.ep, f.ruralite,
                     func.row_number().over(partition_by=f.subject, order_by=f.school_year.desc()).label("rn"))
              .where(*cond).subquery("ranked"))
    return select(ranked.c.subject, ranked.c.ep, ranked.c.ruralite).where(ranked.c.rn == 1).subquery("standing")


async def partnerships(conn: AsyncConnection, g: Generation, as_of: date, flt: Filters, uai: str | None,
                       offset: int, limit: int) -> tuple[int, list[dict[str, Any]]]:
    """Partnerships known by ``as_of``, each as it stood then (filters on éducation prioritaire
    and rurality read the same)."""
    s = g.subject.c
    now = _standing(g, as_of, flt, select(s.subject).where(s.uai == uai) if uai else None)
    ep, ruralite = func.coalesce(now.c.ep, s.ep), func.coalesce(now.c.ruralite, s.ruralite)
    cond = [s.kind == "partnership", s.first_day <= as_of]
    for name, value in flt.as_dict().items():
        if name == "domain":
            cond.append(s.domains.op("&")(literal_column(str(1 << int(value)))) != 0)
        else:
            cond.append({"ep": ep, "ruralite": ruralite}.get(name, getattr(s, name, None)) == value)
    if uai:
        cond.append(s.uai == uai)
    source = g.subject.outerjoin(now, now.c.subject == s.subject)
    total = int((await conn.execute(select(func.count()).select_from(source).where(*cond))).scalar_one())
    rows = await conn.execute(select(g.subject, ep.label("ep_then"), ruralite.label("ruralite_then"))
                              .select_from(source).where(*cond).order_by(s.subject).offset(offset).limit(limit))
    items = [{**_subject_row(r._mapping), "ep": r.ep_then, "ruralite": r.ruralite_then} for r in rows]
    await _add_years(conn, g, as_of, items)
    return total, items


async def _add_years(conn: AsyncConnection, g: Generation, as_of: date, items: list[dict[str, Any]]) -> None:
    """Each partnership's years attributed by ``as_of``: index, the school as it stood that year,
    the classes still in the programme and their pupils."""
    if not items:
        return
    f = g.fact.c
    subjects = ["partnership:" + i["partnership_id"] for i in items]
    rows = await conn.execute(
        select(f.subject, f.school_year, f.year_index, f.ep, f.ruralite).where(
            f.subject.in_(subjects), f.metric == "partnerships_active", f.day <= as_of)
        .group_by(f.subject, f.school_year, f.year_index, f.ep, f.ruralite).having(func.sum(f.n) > 0)
        .order_by(f.subject, f.school_year))
    classes = {(r[0], r[1]): (int(r[2] or 0), int(r[3] or 0)) for r in await conn.execute(
        select(f.subject, f.school_year, func.sum(f.n), func.sum(f.amount)).where(
            f.subject.in_(subjects), f.metric == "classes_reached", f.day <= as_of)
        .group_by(f.subject, f.school_year))}
    years: dict[str, list[dict[str, Any]]] = {}
    for subject, year, index, ep, ruralite in rows:
        n, pupils = classes.get((subject, year), (0, 0))
        years.setdefault(subject, []).append({"school_year": year, "year_index": index, "ep": ep,
                                              "ruralite": ruralite, "classes": n, "pupils": pupils})
    for item in items:
        item["years"] = years.get("partnership:" + item["partnership_id"], [])


def _subject_row(m: Any) -> dict[str, Any]:
    parent = m["parent"] or ""
    return {
        "partnership_id": m["subject"].split(":", 1)[1], "academie": m["academie"], "departement": m["departement"],
        "dispositif": m["dispositif"], "school_year": m["school_year"], "domains": mask_domains(m["domains"]),
        "ep": m["ep"], "ruralite": m["ruralite"], "uai": m["uai"], "school_name": m["school_name"],
        "partner_name": m["partner_name"], "since": m["first_day"].isoformat() if m["first_day"] else None,
        "candidature_id": parent.split(":", 1)[1] if parent.startswith("candidature:") else None,
    }


async def partnership(conn: AsyncConnection, g: Generation, partnership_id: str,
                      as_of: date) -> dict[str, Any] | None:
    """One partnership as it stood as of ``as_of`` (None if it was never known)."""
    s = g.subject.c
    now = _standing(g, as_of, Filters(), ["partnership:" + partnership_id])
    row = (await conn.execute(
        select(g.subject, func.coalesce(now.c.ep, s.ep).label("ep_then"),
               func.coalesce(now.c.ruralite, s.ruralite).label("ruralite_then"))
        .select_from(g.subject.outerjoin(now, now.c.subject == s.subject))
        .where(s.subject == "partnership:" + partnership_id))).first()
    if row is None:
        return None
    item = {**_subject_row(row._mapping), "ep": row.ep_then, "ruralite": row.ruralite_then}
    await _add_years(conn, g, as_of, [item])
    return item


async def timeline(conn: AsyncConnection, g: Generation, subjects: list[str], as_of: date) -> list[dict[str, Any]]:
    """What happened to ``subjects`` (a partnership and its candidature) up to ``as_of``, in order."""
    return [entry for _, entry in await _entries(conn, g, subjects, as_of)]


async def _entries(conn: AsyncConnection, g: Generation, subjects: list[str],
                   as_of: date) -> list[tuple[str, dict[str, Any]]]:
    t = g.timeline.c
    rows = await conn.execute(select(t.subject, t.day, t.occurred_at, t.source, t.type, t.summary, t.event_id)
                              .where(t.subject.in_(subjects), t.day <= as_of)
                              .order_by(t.occurred_at, func.coalesce(t.recorded_at, t.occurred_at), t.id))
    return [(r.subject, {"day": r.day.isoformat(), "occurred_at": r.occurred_at.isoformat(), "source": r.source,
                         "about": r.subject.split(":", 1)[0], "type": r.type, "summary": r.summary,
                         "event_id": r.event_id}) for r in rows]


async def candidatures(conn: AsyncConnection, g: Generation, as_of: date, uai: str) -> list[dict[str, Any]]:
    """A school's candidatures submitted by ``as_of``, where each stood then, with their history."""
    s, f = g.subject.c, g.fact.c
    found = (await conn.execute(select(g.subject).where(s.kind == "candidature", s.uai == uai, s.first_day <= as_of)
                                .order_by(s.first_day, s.subject))).all()
    if not found:
        return []
    keys = [r.subject for r in found]
    outcomes: dict[str, set[str]] = {}
    for subject, metric in await conn.execute(
            select(f.subject, f.metric).where(f.subject.in_(keys), f.day <= as_of, f.metric.in_(_OUTCOMES))
            .group_by(f.subject, f.metric).having(func.sum(f.n) > 0)):
        outcomes.setdefault(subject, set()).add(metric)
    partnerships_of = {r.parent: r.subject.split(":", 1)[1] for r in await conn.execute(
        select(s.subject, s.parent).where(s.kind == "partnership", s.parent.in_(keys), s.first_day <= as_of))}
    history = await _entries(conn, g, keys, as_of)
    out = []
    for r in found:
        done = outcomes.get(r.subject, set())
        status = next((code for metric, code in _OUTCOMES.items() if metric in done), "draft")
        out.append({"candidature_id": r.subject.split(":", 1)[1], "academie": r.academie, "dispositif": r.dispositif,
                    "school_year": r.school_year, "status": status,
                    "partnership_id": partnerships_of.get(r.subject) if "candidatures_attributed" in done else None,
                    "history": [e for key, e in history if key == r.subject]})
    return out


# A candidature's status as of a date: the first of these it has reached (the order matters). The
# candidatures service's codes, as everywhere else in the JSON API.
_OUTCOMES = {"candidatures_attributed": "attributed", "candidatures_rejected": "rejected",
             "candidatures_withdrawn": "withdrawn", "candidatures_awaiting_correction": "returned",
             "candidatures_submitted": "submitted"}


async def class_actions(conn: AsyncConnection, g: Generation, partnership_id: str, as_of: date) -> list[dict[str, Any]]:
    """Per class and school year: still in the programme, actions planned, realised, cancelled and
    pupils present."""
    f = g.fact.c
    rows = await conn.execute(
        select(f.class_ref, f.school_year, f.metric, func.sum(f.n), func.sum(f.amount))
        .where(f.subject == "partnership:" + partnership_id, f.day <= as_of, f.class_ref.is_not(None),
               f.metric.in_(("class_actions_planned", "class_actions_realised", "class_actions_cancelled",
                             "classes_reached")))
        .group_by(f.class_ref, f.school_year, f.metric).order_by(f.school_year, f.class_ref))
    out: dict[tuple[str, str], dict[str, Any]] = {}
    for class_ref, year, metric, n, amount in rows:
        row = out.setdefault((year, class_ref), {"school_year": year, "class_id": class_ref, "in_programme": False,
                                                 "pupils": 0, "planned": 0, "realised": 0, "cancelled": 0,
                                                 "pupils_present": 0})
        if metric == "classes_reached":
            row["in_programme"] = int(n or 0) > 0
            row["pupils"] = int(amount or 0)
        else:
            row[metric.removeprefix("class_actions_")] = int(n or 0)
            if metric == "class_actions_realised":
                row["pupils_present"] = int(amount or 0)
    return list(out.values())


async def lag_positions(conn: AsyncConnection, g: Generation) -> list[dict[str, Any]]:
    rows = await conn.execute(select(g.source))
    return [{"source": r.source, "last_position": int(r.last_position), "events_applied": int(r.events_applied),
             "last_occurred_at": r.last_occurred_at.isoformat() if r.last_occurred_at else None} for r in rows]
