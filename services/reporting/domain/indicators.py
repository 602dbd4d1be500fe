"""Indicators derived from summed facts: names, French labels, rates.

``sums`` maps a metric to ``(n, amount)``: the sums of its facts up to the as-of date.
"""

from __future__ import annotations

from datetime import date
from typing import Mapping

# Counted as "active at the date" unless a school year is asked (see queries._active_at_the_date):
# partnerships, classes and pupils (and schools, from the same years).
AT_THE_DATE = ("partnerships_active", "classes_reached")


def school_year_of(day: date) -> str:
    """The school year a day falls in: it runs from September 1 to August 31."""
    start = day.year if day.month >= 9 else day.year - 1
    return f"{start}-{start + 1}"


# (indicator, French label) in the order the API, the CSV and the dashboard show them.
LABELS: tuple[tuple[str, str], ...] = (
    ("campaigns_opened", "Campagnes ouvertes"),
    ("campaigns_closed", "Campagnes closes"),
    ("candidatures_submitted", "Candidatures déposées"),
    ("candidatures_withdrawn", "Candidatures retirées"),
    ("candidatures_attributed", "Candidatures retenues"),
    ("candidatures_rejected", "Candidatures rejetées"),
    ("attribution_rate", "Taux d'attribution"),
    ("attributions_late", "Attributions tardives"),
    ("places_released", "Places rendues aux offres (classes)"),
    ("partnerships_active", "Jumelages actifs"),
    ("schools_reached", "Écoles touchées"),
    ("classes_reached", "Classes touchées"),
    ("pupils_reached", "Élèves touchés"),
    ("actions_planned", "Actions prévues"),
    ("actions_realised", "Actions réalisées"),
    ("actions_cancelled", "Actions annulées"),
    ("participants", "Participants"),
    ("meetings_held", "Réunions tenues"),
    ("bilans_recorded", "Bilans enregistrés"),
    ("satisfaction_avg", "Satisfaction moyenne (1-5)"),
    ("wish_to_continue", "Souhaits de poursuivre"),
    ("renewals_requested", "Renouvellements demandés"),
    ("renewals_granted", "Renouvellements accordés"),
    ("renewals_declined", "Renouvellements refusés"),
    ("renewal_rate", "Taux de renouvellement"),
    ("cnr_concertation", "Projets CNR ayant tenu leur concertation"),
    ("cnr_projet_pedagogique", "Projets CNR ayant écrit leur projet pédagogique"),
    ("cnr_financement", "Projets CNR ayant demandé un financement"),
    ("reminders_sent", "Rappels envoyés"),
    ("reminders_failed", "Rappels en échec"),
    ("overdue_work_meeting", "Jumelages sans réunion de travail (en retard)"),
    ("overdue_bilan", "Jumelages sans bilan (en retard)"),
)
LABEL = dict(LABELS)


def labels(school_year: str | None, by: str | None = None) -> dict[str, str]:
    """The labels, with what partnerships, schools, classes and pupils count said in the header:
    those active at the date, or those of a school year (asked, or the rows of a breakdown by it)."""
    when = f"année scolaire {school_year}" if school_year else \
        "par année scolaire" if by == "school_year" else "à la date"
    return {key: f"{label} ({when})" if key in AT_THE_DATE + ("schools_reached", "pupils_reached") else label
            for key, label in LABELS}

# Dimensions a breakdown (``by=``) may use, with their French column header.
DIMENSIONS: dict[str, str] = {
    "academie": "Académie", "departement": "Département", "dispositif": "Dispositif",
    "school_year": "Année scolaire", "domain": "Domaine EAC", "ep": "Éducation prioritaire",
    "ruralite": "Ruralité", "level": "Niveau", "kind": "Type", "month": "Mois", "year_index": "Année du jumelage",
}

_COUNTS = ("campaigns_opened", "campaigns_closed", "candidatures_submitted", "candidatures_withdrawn",
           "candidatures_attributed", "candidatures_rejected", "attributions_late", "places_released",
           "partnerships_active", "classes_reached",
           "actions_planned", "actions_realised", "actions_cancelled", "meetings_held", "bilans_recorded",
           "wish_to_continue", "renewals_requested", "renewals_granted", "renewals_declined", "reminders_sent",
           "reminders_failed", "cnr_concertation", "cnr_projet_pedagogique", "cnr_financement")


def ratio(part: int, whole: int) -> float | None:
    return round(part / whole, 4) if whole > 0 else None


def derive(sums: Mapping[str, tuple[int, int]]) -> dict[str, int | float | None]:
    """The indicators from metric sums. Rates are None when their denominator is zero."""

    def n(metric: str) -> int:
        return int((sums.get(metric) or (0, 0))[0])

    def amount(metric: str) -> int:
        return int((sums.get(metric) or (0, 0))[1])

    out: dict[str, int | float | None] = {name: n(name) for name in _COUNTS}
    # Attribution rate: attributed over candidatures still standing (submitted minus withdrawn).
    out["attribution_rate"] = ratio(n("candidatures_attributed"),
                                    n("candidatures_submitted") - n("candidatures_withdrawn"))
    out["pupils_reached"] = amount("classes_reached")
    out["participants"] = amount("participants")
    out["satisfaction_avg"] = round(amount("satisfaction") / n("satisfaction"), 2) if n("satisfaction") else None
    out["renewal_rate"] = ratio(n("renewals_granted"), n("renewals_requested"))
    return out
