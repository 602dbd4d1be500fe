"""Acceptance walkthrough of a CNR project (« Notre école, faisons-la ensemble », seed 003) over HTTP.

Two schools of a network join the démarche together in January, long after the calendar's
submission date, with their initial concertation only; the académie accepts the project as it
comes; in March they write their projet pédagogique and ask the fonds d'innovation pédagogique for
funding, which the académie grants and the school spends; in June the school alone records the
bilan (a CNR project has no partner structure).

Run it while ``CLOCK=manual python3 dev.py run`` is going (the script moves each service's clock):

    .venv/bin/python deploy/demo/cnr_walkthrough.py

Same conventions as ``walkthrough.py`` (whose helpers it uses): base URLs from CANDIDATURES_URL,
PROGRAMMES_URL, NOTIFICATIONS_URL, REPORTING_URL; tokens signed with JWT_SECRET; every check
printed; exit status 1 when one failed; ids carry a suffix of the run, so it can run again.
"""

from __future__ import annotations

import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

from eventkit.auth import mint_token  # noqa: E402
from eventkit.settings import ServiceSettings  # noqa: E402

from walkthrough import (  # noqa: E402
    ACADEMIE,
    RUN,
    UAI,
    YEAR,
    Api,
    at,
    check,
    counted,
    eventually,
    figures,
    finish,
    open_campaign,
    reminders,
    services_ready,
    step,
)


MATERNELLE = "0750712S"  # the nursery school of the same network, joining with UAI above
CAMPAIGN, PROJECT = f"cnr-walk-{RUN}", f"cnr-projet-{RUN}"
BELLEVILLE = {"uai": UAI, "name": "École élémentaire Belleville", "academie": ACADEMIE, "departement": "75",
              "education_prioritaire": "REP+"}
RAMPONEAU = {"uai": MATERNELLE, "name": "École maternelle Ramponeau", "academie": ACADEMIE, "departement": "75",
             "education_prioritaire": "REP+"}
JULES_FERRY = {"uai": "0930001W", "name": "École Jules Ferry", "academie": "creteil", "departement": "93"}


def main() -> int:
    api = Api()
    secret = ServiceSettings.from_env("jumelage").jwt_secret
    api.tokens["maternelle"] = {"Authorization": f"Bearer {mint_token(secret, 'school', MATERNELLE)}"}
    api.tokens["creteil"] = {"Authorization": f"Bearer {mint_token(secret, 'academie', 'creteil')}"}
    if not services_ready():
        return finish()
    school_year = f"{YEAR}-{YEAR + 1}"

    step("1. The académie opens its CNR register for the school year")
    api.clock(at(YEAR, 9, 1))
    base = figures(api)
    calendar = {"submission_deadline": f"{YEAR}-10-31T22:59:00Z", "attribution_date": f"{YEAR}-11-15",
                "work_meeting_window": {"start": f"{YEAR}-11-16", "end": f"{YEAR}-12-18"},
                "bilan_window": {"start": f"{YEAR + 1}-05-09", "end": f"{YEAR + 1}-06-30"},
                "renewal_deadline": f"{YEAR + 1}-06-30T21:59:00Z"}
    open_campaign(api, CAMPAIGN, "concertation", f"Notre école, faisons-la ensemble {school_year}", calendar)
    counted(api, base, {"campaigns_opened": 1}, "the campaign is counted")

    step("2. January: two schools of the network join together, with their concertation only")
    api.clock(at(YEAR + 1, 1, 15))
    body = {"candidature_id": PROJECT, "school": BELLEVILLE, "associated_schools": [RAMPONEAU],
            "school_objective": "Une école où les familles du quartier ont leur place",
            "classes": [{"class_id": "ce2-a", "label": "CE2 A", "level": "CE2", "pupils": 24,
                         "objective": "Une cour partagée, pensée avec les familles"}],
            "concertation": {"concertation_summary": "Deux temps d'échange avec les familles, la mairie et le "
                                                     "centre social, un questionnaire aux élèves"}}
    foreign = api.call("POST", "candidatures", f"/campaigns/{CAMPAIGN}/candidatures", "school", expect=(422,),
                       json={**body, "associated_schools": [RAMPONEAU, JULES_FERRY]}).json()
    check(foreign.get("rule") == "school_must_belong_to_the_campaign_academie"
          and foreign.get("field") == "associated_schools.1.academie",
          "a school of another académie cannot be part of the project (422, field named)", foreign)
    base = figures(api)
    joined = api.post("candidatures", f"/campaigns/{CAMPAIGN}/candidatures", "school", body)
    check([e["type"] for e in joined["events"]] == ["CandidatureSubmitted"],
          "the project is submitted in January, seven months after the calendar's submission date", joined)
    counted(api, base, {"candidatures_submitted": 1}, "the project is counted")
    seen = api.get("candidatures", f"/candidatures/{PROJECT}", "maternelle")
    check([s["uai"] for s in seen["data"]["associated_schools"]] == [MATERNELLE],
          "the maternelle, associated to the project, reads it with its own token")
    api.call("GET", "candidatures", f"/candidatures/{PROJECT}", "creteil", expect=(403,))
    check(True, "another académie cannot read it (403)")

    step("3. The académie accepts the project as it comes: not late, no reason asked")
    api.post("candidatures", f"/candidatures/{PROJECT}/reviews", "academie",
             {"avis": "favourable", "comment": "Groupe d'appui : démarche bien engagée"})
    accepted = api.post("candidatures", f"/candidatures/{PROJECT}/attribute", "academie", {})
    pid = accepted.get("partnership_id")
    history = api.get("candidatures", f"/candidatures/{PROJECT}", "academie")["history"]
    attributed = next((h["data"] for h in history if h["type"] == "PartnershipAttributed"), {})
    check(bool(pid) and attributed.get("late") is False and attributed.get("partner") is None,
          "PartnershipAttributed: not late, no partner structure", attributed.get("late"))

    step("4. Programmes opens the project at the step it reached")
    P = f"/partnerships/{pid}"
    project = eventually(lambda: api.call("GET", "programmes", P, "maternelle", expect=(200, 404)).status_code == 200
                         and api.get("programmes", P, "maternelle"), "programmes opens the project")
    year = (project or {}).get("current_year") or {}
    check(year.get("steps_done") == ["concertation"] and year.get("funding") == [],
          "the year opens with the concertation step only", year.get("steps_done"))
    check((project or {}).get("associated_uais") == [MATERNELLE], "the maternelle follows it in programmes too")
    deadline_rules = {"campaign_deadline_j_minus_7", "campaign_deadline_j_minus_1", "draft_deadline_j_minus_7",
                      "draft_deadline_j_minus_1"}
    planned = {r["rule"] for who in ("academie", "school") for r in reminders(api, who, campaign_id=CAMPAIGN)}
    check(not planned & deadline_rules, "no « date limite » reminder was planned for the CNR campaign", planned)

    step("5. March: the projet pédagogique, then the funding request, granted and spent")
    api.clock(at(YEAR + 1, 3, 2))
    api.post("programmes", f"{P}/steps", "maternelle", {
        "track": "concertation", "step": "projet_pedagogique",
        "summary": "Une cour partagée entre l'élémentaire et la maternelle, végétalisée avec les familles"})
    api.post("programmes", f"{P}/funding", "school", {
        "funding_id": "fip", "amount_eur": 6000,
        "budget": [{"label": "Aménagement", "amount_eur": 4500}, {"label": "Outils", "amount_eur": 1500}]})
    api.clock(at(YEAR + 1, 3, 20))
    api.post("programmes", f"{P}/funding/fip/grant", "academie", {"amount_eur": 5000, "granted_by": "Rectorat de Paris"})
    api.post("programmes", f"{P}/steps", "school", {"track": "concertation", "step": "financement",
                                                    "summary": "Fonds d'innovation pédagogique obtenu"})
    api.clock(at(YEAR + 1, 4, 10))
    api.post("programmes", f"{P}/funding/fip/spend", "school", {
        "expense_id": "facture-2028-04", "amount_eur": 1200, "label": "Bacs et plants", "spent_on": f"{YEAR + 1}-04-10"})
    year = api.get("programmes", P, "academie")["current_year"]
    check(year["steps_done"] == ["concertation", "projet_pedagogique", "financement"],
          "the three steps are done, in the order the team chose", year["steps_done"])
    check(year["funding"] == [{"funding_id": "fip", "requested_eur": 6000, "granted_eur": 5000, "spent_eur": 1200,
                               "expenses": 1}], "6 000 € requested, 5 000 € granted, 1 200 € spent", year["funding"])

    step("6. June: the school alone records the bilan (no partner structure)")
    api.clock(at(YEAR + 1, 6, 1))
    api.post("programmes", f"{P}/meetings", "school", {
        "meeting_id": "bilan-cnr", "kind": "bilan", "starts_at": at(YEAR + 1, 6, 8, 16), "place": "École Belleville"})
    api.clock(at(YEAR + 1, 6, 8, 18))
    api.post("programmes", f"{P}/meetings/bilan-cnr/held", "school", {"minutes": "Bilan avec les familles"})
    base = figures(api)
    bilan = api.post("programmes", f"{P}/bilan/school", "school",
                     {"satisfaction": 5, "wish_to_continue": True, "comments": "La cour est devenue un lieu commun"})
    check([e["type"] for e in bilan["events"]] == ["BilanSideRecorded", "BilanRecorded"],
          "the school's part completes the bilan: BilanRecorded", bilan)
    counted(api, base, {"bilans_recorded": 1}, "the bilan is counted")

    step("7. What the académie reads in reporting")
    timeline = eventually(lambda: (lambda t: "BilanRecorded" in [e["type"] for e in t["timeline"]] and t)(
        api.get("reporting", f"{P}/timeline", "academie")), "the project's timeline reaches its bilan")
    types = [e["type"] for e in (timeline or {}).get("timeline", [])]
    check(types.count("StepCompleted") == 3 and {"FundingRequested", "FundingGranted", "FundingSpent"} <= set(types),
          "the timeline shows the three steps and the funding", types)
    return finish()


if __name__ == "__main__":
    sys.exit(main())
