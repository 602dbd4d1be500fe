"""Query use cases of the figures académies ask for (issue 12), under the same scope rule as
every indicator (an académie reads its own, national and admin read all), and their tables for the
CSV / XLSX exports and the dashboard (French headers and values; the JSON keeps the codes)."""

from __future__ import annotations

from datetime import date
from typing import Any

from eventkit.auth import Principal
from reporting.adapters import figures
from reporting.adapters.queries import Filters
from reporting.app.reader import Reader, scoped
from reporting.domain import labels as fr

Table = tuple[list[str], list[list[Any]]]


async def funds(r: Reader, principal: Principal, as_of: date, flt: Filters) -> dict[str, Any]:
    flt = scoped(principal, flt)
    return {"as_of": as_of.isoformat(), "filters": flt.as_dict(), **await r.run(figures.funds, as_of, flt)}


async def questionnaire(r: Reader, principal: Principal, as_of: date, flt: Filters, offset: int = 0,
                        limit: int = 1000) -> dict[str, Any]:
    flt = scoped(principal, flt)
    items = await r.run(figures.questionnaire, as_of, flt)
    return {"as_of": as_of.isoformat(), "filters": flt.as_dict(), "total": len(items), "offset": offset,
            "limit": limit, "items": items[offset:offset + limit]}


async def rencontres(r: Reader, principal: Principal, as_of: date, flt: Filters, offset: int = 0,
                     limit: int = 1000) -> dict[str, Any]:
    flt = scoped(principal, flt)
    found = await r.run(figures.rencontres, as_of, flt)
    items = found["items"]
    return {"as_of": as_of.isoformat(), "filters": flt.as_dict(), "academies": found["academies"],
            "total": len(items), "offset": offset, "limit": limit, "items": items[offset:offset + limit]}


# -- tables ----------------------------------------------------------------------------------------


def funds_table(answer: dict[str, Any]) -> Table:
    headers = ["Académie", "Département", "Année scolaire", "Éducation prioritaire", "Demandé (€)",
               "Accordé (€)", "Dépensé (€)", "Demandes", "Attributions", "Dépenses"]
    rows = [[fr.value("academie", i["academie"]), i["departement"], i["school_year"], fr.value("ep", i["ep"]),
             i["requested_eur"], i["granted_eur"], i["spent_eur"], i["requests"], i["grants"], i["expenses"]]
            for i in answer["items"]]
    t = answer["totals"]
    rows.append(["Total", None, None, None, t["requested_eur"], t["granted_eur"], t["spent_eur"], t["requests"],
                 t["grants"], t["expenses"]])
    return headers, rows


def questionnaire_table(answer: dict[str, Any]) -> Table:
    """One line per question, side and answer counted; the other short answers and the free texts
    on lines of their own."""
    headers = ["Question", "Côté", "Répondants", "Réponse", "Nombre"]
    rows: list[list[Any]] = []
    for i in answer["items"]:
        head = [i["question"], fr.SIDES.get(i["side"], i["side"]), i["respondents"]]
        rows += [head + [a["answer"], a["count"]] for a in i["answers"]]
        if i["other_answers"]:
            rows.append(head + ["(autres réponses courtes)", i["other_answers"]])
        if i["free_text"]:
            rows.append(head + ["(réponses libres)", i["free_text"]])
    return headers, rows


PRODUCTION_KINDS = {"video": "Vidéo", "paper": "Papier", "other": "Autre"}


def rencontres_table(answer: dict[str, Any]) -> Table:
    """One line per production (a rencontre without production: one line without)."""
    headers = ["Jumelage", "École", "Centre social", "Académie", "Département", "Cycle (année scolaire)",
               "Réunion", "Rencontre n°", "Tenue le", "Production", "Type", "Lien"]
    rows: list[list[Any]] = []
    for i in answer["items"]:
        for m in i["rencontres"]:
            head = [i["partnership_id"], i["school_name"], i["partner_name"], fr.value("academie", i["academie"]),
                    i["departement"], i["school_year"], m["title"] or f"Réunion {fr.MEETINGS.get(m['kind'], m['kind'])}",
                    m["number"], m["held_on"]]
            rows += [head + [p["title"], PRODUCTION_KINDS.get(p["kind"], p["kind"]), p["url"]]
                     for p in m["productions"]] or [head + [None, None, None]]
    return headers, rows


def rencontres_by_academie_table(answer: dict[str, Any]) -> Table:
    headers = ["Académie", "Jumelages", "Rencontres tenues", "Productions"] + list(PRODUCTION_KINDS.values())
    return headers, [[fr.value("academie", a["academie"]), a["partnerships"], a["rencontres_held"], a["productions"]]
                     + [a["productions_by_kind"][k] for k in PRODUCTION_KINDS] for a in answer["academies"]]


# -- the académie dashboard --------------------------------------------------------------------------

DASHBOARD_ROWS = 20  # each table shows its first lines; the exports hold them all


async def dashboard_parts(r: Reader, principal: Principal, as_of: date, flt: Filters) -> dict[str, Any]:
    """The three small tables of the académie dashboard, with their exports' links."""
    query = f"?academie={flt.academie}&as_of={as_of.isoformat()}" + (
        f"&school_year={flt.school_year}" if flt.school_year else "")
    found = {"funds": funds_table(await funds(r, principal, as_of, flt)),
             "rencontres": rencontres_table(await rencontres(r, principal, as_of, flt, 0, 1000)),
             "questionnaire": questionnaire_table(await questionnaire(r, principal, as_of, flt, 0, 1000))}
    titles = {"funds": "Fonds d'innovation pédagogique (CNR)",
              "rencontres": "Centres sociaux : rencontres et productions",
              "questionnaire": "Questionnaire de fin d'année (par question et par côté)"}
    out = []
    for key, (headers, rows) in found.items():
        if key == "funds" and len(rows) == 1:  # only the total line: nothing requested
            rows = []
        out.append({"id": key, "title": titles[key], "headers": headers,
                    "rows": [["" if v is None else v for v in row] for row in rows[:DASHBOARD_ROWS]],
                    "more": max(0, len(rows) - DASHBOARD_ROWS),
                    "csv": f"/{key}.csv{query}", "xlsx": f"/{key}.xlsx{query}"})
    return {"figure_tables": out}
