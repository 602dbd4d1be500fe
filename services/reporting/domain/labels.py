"""French words for the codes the read model keeps (the JSON API answers the codes; the CSV
exports, the dashboard and the timelines' sentences show these)."""

from __future__ import annotations

from typing import Any

from jumelage_contracts.reference import Academie, EacDomain, Ruralite

DISPOSITIFS = {"culture": "Culture", "entreprise": "Entreprise (JES)", "mercredi": "Plan mercredi",
               "centre_social": "Centre social", "concertation": "Notre école (CNR)"}
EP = {"REP+": "REP+", "REP": "REP", "none": "Hors éducation prioritaire"}

# ``kind`` of a fact: action kinds, audiences, sides, meeting and convention kinds, culture tiers.
KINDS = {
    "visit": "Visite", "workshop": "Atelier", "meeting_professional": "Rencontre avec un professionnel",
    "professional_in_class": "Professionnel en classe", "observation_internship": "Stage d'observation",
    "company_visit": "Visite d'entreprise", "careers_forum": "Forum des métiers",
    "autonomous_activity": "Activité en autonomie", "performance": "Spectacle", "event": "Événement",
    "rencontre": "Rencontre", "other": "Autre",
    "pupils": "Élèves", "staff": "Personnels", "families": "Familles",
    "school": "École", "partner": "Partenaire",
    "work": "Réunion de travail", "follow_up": "Réunion de suivi", "bilan": "Réunion de bilan",
    "convention": "Convention", "charter": "Charte", "protocole": "Protocole",
    "approfondir": "Approfondir", "jumelage": "Jumelage",
    "favourable": "Avis favorable", "reserve": "Avis réservé", "defavorable": "Avis défavorable",
    # reminders, by rule (notifications' names)
    "action_j_minus_7": "Rappel action J-7", "action_j_minus_1": "Rappel action J-1",
    "meeting_j_minus_7": "Rappel réunion J-7", "meeting_j_minus_1": "Rappel réunion J-1",
    "campaign_deadline_j_minus_7": "Rappel fin de campagne J-7",
    "campaign_deadline_j_minus_1": "Rappel fin de campagne J-1",
    "draft_deadline_j_minus_7": "Rappel brouillon J-7", "draft_deadline_j_minus_1": "Rappel brouillon J-1",
    "work_meeting_to_hold": "Rappel réunion de travail à tenir",
    "work_meeting_escalation": "Alerte réunion de travail non tenue",
    "bilan_window_open": "Rappel bilan à faire", "bilan_escalation": "Alerte bilan non fait",
    "renewal_window": "Rappel renouvellement", "jes_questionnaire": "Rappel questionnaire JES",
    # decisions told (notifications' decision rules)
    "decision_attributed": "Décision : jumelage attribué", "decision_offer_chosen": "Décision : offre retenue",
    "decision_rejected": "Décision : candidature non retenue",
    "decision_returned_for_correction": "Décision : candidature à corriger",
    "decision_renewal_granted": "Décision : renouvellement accordé",
    "decision_renewal_declined": "Décision : renouvellement refusé",
}
# how a year closed, why a partnership ended
OUTCOMES = {"renewed": "renouvelée", "not_renewed": "non renouvelée", "ended": "terminée",
            "renewal_declined": "renouvellement refusé", "completed": "mené à son terme", "withdrawn": "retrait",
            "other": "autre motif"}
SIDES = {"school": "école", "partner": "partenaire"}
MEETINGS = {"work": "de travail", "follow_up": "de suivi", "bilan": "de bilan", "rencontre": "(rencontre)"}
NONE = "Non renseigné"


def domain(value: Any) -> str:
    return EacDomain(int(value)).label if value else "Aucun domaine"


def value(dimension: str, code: Any) -> Any:
    """``code`` of ``dimension`` (a breakdown's group, a partnership's field) in French."""
    if code is None:
        return NONE
    if dimension == "academie":
        return Academie(code).label if code in set(Academie) else code
    if dimension == "dispositif":
        return DISPOSITIFS.get(code, code)
    if dimension == "ep":
        return EP.get(code, code)
    if dimension == "ruralite":
        return Ruralite(code).label if code in set(Ruralite) else NONE
    if dimension == "domain":
        return domain(code)
    if dimension == "kind":
        return KINDS.get(code, code)
    return code
