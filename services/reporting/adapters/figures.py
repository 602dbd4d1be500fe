"""Read side of the figures académies ask for (issue 12): CNR funds, the centres sociaux'
rencontres and productions, the end-of-year questionnaire. As every indicator: what is dated on
or before ``as_of``, under the filters (an académie's scope is applied by the reader)."""

from __future__ import annotations

from datetime import date
from typing import Any

from sqlalchemy import func, literal_column, select
from sqlalchemy.ext.asyncio import AsyncConnection

from reporting.domain.questionnaire import TOP

from .queries import Filters, _dimension, _source, _where
from .tables import Generation

FUNDS = {"funds_requested": ("requested_eur", "requests"), "funds_granted": ("granted_eur", "grants"),
         "funds_spent": ("spent_eur", "expenses")}
FUND_GROUPS = ("academie", "departement", "school_year", "ep")
FUND_FIGURES = ("requested_eur", "granted_eur", "spent_eur", "requests", "grants", "expenses")


async def funds(conn: AsyncConnection, g: Generation, as_of: date, flt: Filters) -> dict[str, Any]:
    """CNR funds (fonds d'innovation pédagogique) requested, granted and spent, in euros, with how
    many requests, grants and expenses, per académie, département, school year and éducation
    prioritaire (the school as it stood that year)."""
    f = g.fact.c
    groups = [_dimension(g, name) for name in FUND_GROUPS]
    stmt = (select(*groups, f.metric, func.sum(f.n), func.sum(f.amount))
            .select_from(_source(g, flt, *FUND_GROUPS))
            .where(*_where(g, as_of, flt), f.metric.in_(tuple(FUNDS)))
            .group_by(*groups, f.metric))
    rows: dict[tuple[Any, ...], dict[str, Any]] = {}
    for *key, metric, n, amount in await conn.execute(stmt):
        row = rows.setdefault(tuple(key), {**dict(zip(FUND_GROUPS, key)), **{k: 0 for k in FUND_FIGURES}})
        euros, count = FUNDS[metric]
        row[euros] += int(amount or 0)
        row[count] += int(n or 0)
    items = [rows[k] for k in sorted(rows, key=lambda k: tuple(str(v) for v in k))]
    totals = {k: sum(r[k] for r in items) for k in FUND_FIGURES}
    return {"totals": totals, "items": items}


def _rows_where(g: Generation, table: Any, as_of: date, flt: Filters) -> tuple[Any, list[Any]]:
    """The rows of ``table`` (answer, rencontre) under the filters: its own académie, school year and
    classification as it stood that year; the partnership's département, dispositif and domains."""
    t, s = table.c, g.subject.c
    cond = [t.day <= as_of]
    for name, value in flt.as_dict().items():
        if name in ("academie", "school_year", "ep", "ruralite"):
            cond.append(getattr(t, name) == value)
        elif name == "domain":
            cond.append(s.domains.op("&")(literal_column(str(1 << int(value)))) != 0)
        else:
            cond.append(getattr(s, name) == value)
    return table.outerjoin(g.subject, s.subject == t.subject), cond


async def questionnaire(conn: AsyncConnection, g: Generation, as_of: date, flt: Filters) -> list[dict[str, Any]]:
    """Per question and side: respondents, the :data:`TOP` most frequent short answers (ties by
    text), the other short answers and the free texts counted (``reporting.domain.questionnaire``)."""
    a = g.answer.c
    source, cond = _rows_where(g, g.answer, as_of, flt)
    rows = await conn.execute(select(a.question, a.side, a.answer, func.count()).select_from(source).where(*cond)
                              .group_by(a.question, a.side, a.answer))
    found: dict[tuple[str, str], dict[str | None, int]] = {}
    for question, side, answer, n in rows:
        found.setdefault((question, side), {})[answer] = int(n)
    out = []
    for (question, side), counts in sorted(found.items()):
        short = sorted(((v, n) for v, n in counts.items() if v is not None), key=lambda x: (-x[1], x[0]))
        out.append({"question": question, "side": side, "respondents": sum(counts.values()),
                    "answers": [{"answer": v, "count": n} for v, n in short[:TOP]],
                    "other_answers": sum(n for _, n in short[TOP:]), "free_text": counts.get(None, 0)})
    return out


PRODUCTION_KINDS = ("video", "paper", "other")


async def rencontres(conn: AsyncConnection, g: Generation, as_of: date, flt: Filters) -> dict[str, Any]:
    """Centres sociaux: per partnership and cycle (its school year), the rencontres held and every
    meeting's productions (title, kind, link); counted per académie."""
    r, s = g.rencontre.c, g.subject.c
    source, cond = _rows_where(g, g.rencontre, as_of, flt)
    rows = await conn.execute(
        select(r.subject, r.academie, r.school_year, r.meeting_id, r.kind, r.number, r.held_on, r.title,
               r.productions, s.departement, s.dispositif, s.school_name, s.partner_name)
        .select_from(source).where(*cond).order_by(r.subject, r.school_year, r.held_on, r.meeting_id))
    items: dict[tuple[str, str], dict[str, Any]] = {}
    academies: dict[str, dict[str, Any]] = {}
    for row in rows:
        item = items.setdefault((row.subject, row.school_year), {
            "partnership_id": row.subject.split(":", 1)[1], "academie": row.academie, "departement": row.departement,
            "dispositif": row.dispositif, "school_name": row.school_name, "partner_name": row.partner_name,
            "school_year": row.school_year, "rencontres": []})
        productions = list(row.productions or [])
        item["rencontres"].append({"meeting_id": row.meeting_id, "kind": row.kind, "number": row.number,
                                   "held_on": row.held_on.isoformat(), "title": row.title,
                                   "productions": productions})
        count = academies.setdefault(row.academie, {"academie": row.academie, "partnerships": set(),
                                                    "rencontres_held": 0, "productions": 0,
                                                    "productions_by_kind": {k: 0 for k in PRODUCTION_KINDS}})
        count["partnerships"].add(row.subject)
        count["rencontres_held"] += row.kind == "rencontre"
        count["productions"] += len(productions)
        for p in productions:
            count["productions_by_kind"][p.get("kind") if p.get("kind") in PRODUCTION_KINDS else "other"] += 1
    per_academie = [{**c, "partnerships": len(c["partnerships"])}
                    for _, c in sorted(academies.items(), key=lambda kv: str(kv[0]))]
    return {"academies": per_academie, "items": list(items.values())}
