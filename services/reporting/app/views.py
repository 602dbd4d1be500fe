"""Shapes of the table exports (CSV and XLSX) and of the dashboard, from the reader's answers: French
headers and French values throughout (the JSON API keeps the codes). An export is a :data:`Table`
(headers, rows); ``csv_export`` and ``xlsx_export`` each write any table."""

from __future__ import annotations

from datetime import date
from typing import Any

from jumelage_contracts.reference import Academie, Dispositif

from reporting.adapters import csv_export, svg
from reporting.domain import labels as fr
from reporting.domain.indicators import DIMENSIONS, LABELS, labels


Table = tuple[list[str], list[list[Any]]]


def indicators_table(answer: dict[str, Any]) -> Table:
    values, named = answer["indicators"], labels(answer["filters"].get("school_year"))
    return ["Indicateur", "Valeur"], [[named[key], values.get(key)] for key, _ in LABELS]


def breakdown_table(answer: dict[str, Any]) -> Table:
    keys = [k for k, _ in LABELS if k in (answer["items"][0] if answer["items"] else {})] or \
        [k for k, _ in LABELS if k not in ("schools_reached", "overdue_work_meeting", "overdue_bilan")]
    by, named = answer["by"], labels(answer["filters"].get("school_year"), answer["by"])
    headers = [DIMENSIONS[by]] + [named[k] for k in keys]
    return headers, [[fr.value(by, row["group"])] + [row.get(k) for k in keys] for row in answer["items"]]


def partnerships_table(answer: dict[str, Any]) -> Table:
    headers = ["Jumelage", "UAI", "École", "Partenaire", "Académie", "Département", "Dispositif",
               "Année scolaire", "Éducation prioritaire", "Ruralité", "Domaines EAC", "Années", "Depuis le"]
    rows = [[p["partnership_id"], p["uai"], p["school_name"], p["partner_name"], fr.value("academie", p["academie"]),
             p["departement"], fr.value("dispositif", p["dispositif"]), p["school_year"], fr.value("ep", p["ep"]),
             fr.value("ruralite", p["ruralite"]), ", ".join(fr.domain(d) for d in p["domains"]) or fr.domain(None),
             ", ".join(f"{y['school_year']} (année {y['year_index']})" for y in p["years"]), p["since"]]
            for p in answer["items"]]
    return headers, rows


def _display(key: str, value: Any) -> str:
    if value is None:
        return "—"
    if key.endswith("_rate"):
        return f"{round(100 * value, 1):g} %".replace(".", ",")
    return csv_export.cell(value)


def dashboard_context(academie: str, as_of: date, school_year: str | None, totals: dict[str, Any],
                      by_dispositif: dict[str, Any], by_ep: dict[str, Any], by_month: dict[str, Any],
                      csv_url: str) -> dict[str, Any]:
    values = totals["indicators"]
    attributions = [(fr.value("dispositif", r["group"]), r["candidatures_attributed"])
                    for r in by_dispositif["items"] if r["group"] in set(Dispositif)]
    ep_rows = {r["group"]: r["partnerships_active"] for r in by_ep["items"]}
    ep_share = [(fr.EP[k], ep_rows.get(k, 0)) for k in ("REP+", "REP", "none")]
    months = [r for r in by_month["items"] if r["group"]]
    requested, granted, declined = (values["renewals_requested"], values["renewals_granted"],
                                    values["renewals_declined"])
    rate = _display("renewal_rate", values["renewal_rate"])
    return {
        "academie": academie,
        "academie_label": Academie(academie).label,
        "as_of": as_of.isoformat(),
        "as_of_fr": as_of.strftime("%d/%m/%Y"),
        "school_year": school_year,
        "csv_url": csv_url,
        "figures": [(key, label, _display(key, values.get(key))) for key, label in labels(school_year).items()],
        "chart_dispositif": svg.bars(attributions, title="Jumelages attribués par dispositif"),
        "chart_ep": svg.share(ep_share, title="Part des jumelages en REP / REP+ ("
                                          + (f"année scolaire {school_year})" if school_year else "actifs à la date)")),
        "chart_months": svg.grouped_columns(
            [r["group"] for r in months],
            [("Actions prévues", [r["actions_planned"] for r in months]),
             ("Actions réalisées", [r["actions_realised"] for r in months])],
            title="Actions prévues et réalisées par mois"),
        "chart_renewal": svg.bars([("Demandés", requested), ("Accordés", granted), ("Refusés", declined)],
                                  title=f"Renouvellements — taux {rate}"),
    }


NATIONAL_KEYS = ("candidatures_submitted", "candidatures_attributed", "attribution_rate", "partnerships_active",
                 "classes_reached", "pupils_reached", "actions_realised", "bilans_recorded", "renewal_rate")


def national_context(as_of: date, school_year: str | None, totals: dict[str, Any],
                     by_academie: dict[str, Any]) -> dict[str, Any]:
    """Every académie side by side on the main indicators (those without any activity too), then
    the whole country's line; each académie links to its own dashboard."""
    named = labels(school_year)
    rows = {r["group"]: r for r in by_academie["items"]}
    query = f"?as_of={as_of.isoformat()}" + (f"&school_year={school_year}" if school_year else "")

    def cells(values: dict[str, Any]) -> list[str]:
        return [_display(key, values.get(key, None if key.endswith("_rate") else 0)) for key in NATIONAL_KEYS]

    return {
        "as_of": as_of.isoformat(),
        "as_of_fr": as_of.strftime("%d/%m/%Y"),
        "school_year": school_year,
        "headers": [named[key] for key in NATIONAL_KEYS],
        "keys": NATIONAL_KEYS,
        "academies": [{"code": a.value, "label": a.label, "link": f"/dashboard/{a.value}{query}",
                       "cells": cells(rows.get(a.value, {}))} for a in sorted(Academie, key=lambda a: a.label)],
        "total": cells(totals["indicators"]),
        "csv_url": f"/indicators.csv?by=academie&as_of={as_of.isoformat()}"
                   + (f"&school_year={school_year}" if school_year else ""),
    }
