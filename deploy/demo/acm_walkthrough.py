"""Acceptance walkthrough of a plan mercredi year applied for by an ACM organiser (seed 001) over HTTP.

An association running an accueil collectif de mineurs on Wednesdays, in a place of its own (« dans
des lieux spécifiquement dédiés »), with no partner school, applies to the académie's plan
mercredi campaign with its groups of children by age band and the médiathèque it wishes to work
with; the académie attributes; programmes opens the year with the organiser holding the school
side (its groups as classes, its place shown); each side names its referent and signs; a work
meeting, two ateliers (one done, one cancelled), the bilan meeting and each side's own part of the
bilan. At each step it checks what programmes, notifications (the organiser's own e-mail, the iCal
feed) and reporting (indicators, the partnership, its timeline) show.

Run it while ``CLOCK=manual python3 dev.py run`` is going (the script moves each service's clock):

    .venv/bin/python deploy/demo/acm_walkthrough.py

Same conventions as ``walkthrough.py`` (whose helpers it uses): base URLs from CANDIDATURES_URL,
PROGRAMMES_URL, NOTIFICATIONS_URL, REPORTING_URL; tokens signed with JWT_SECRET; every check
printed; exit status 1 when one failed; ids carry a suffix of the run, so it can run again. The
e-mails are checked in the mail sink's folder (``$JUMELAGE_DATA_DIR/mail``) when there is one.
"""

from __future__ import annotations

import email
import email.policy
import os
import sys
from pathlib import Path

import httpx
import icalendar

sys.path.insert(0, str(Path(__file__).resolve().parent))

from eventkit.auth import mint_token  # noqa: E402
from eventkit.settings import ServiceSettings  # noqa: E402

from walkthrough import (  # noqa: E402
    ACADEMIE,
    RUN,
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

ORGANISER_ID, LIBRARY = f"acm-walk-{RUN}", f"mediatheque-walk-{RUN}"
CAMPAIGN, CANDIDATURE = f"mercredi-walk-{RUN}", f"acm-walk-{RUN}"
CONTACT = f"accueil-{RUN}@loisirs-couronnes.example.org"
NAME = "Association Loisirs des Couronnes"
GROUPS = [("petits", 6, 8, 20), ("grands", 9, 11, 16)]


def mails() -> list[email.message.EmailMessage]:
    """The e-mails the development mail sink kept, when this runs beside it."""
    folder = Path(os.environ.get("JUMELAGE_DATA_DIR", "var")) / "mail"
    if not folder.is_dir():
        return []
    return [email.message_from_bytes(f.read_bytes(), policy=email.policy.default) for f in sorted(folder.glob("*.eml"))]


def mails_to(address: str, dedup: str) -> list[str]:
    """Subjects of the mails to ``address`` whose dedup key mentions ``dedup``."""
    return [" ".join(str(m["Subject"]).split()) for m in mails()
            if address in str(m["To"]) and dedup in (m["X-Jumelage-Dedup-Key"] or "")]


def main() -> int:
    api = Api()
    secret = ServiceSettings.from_env("jumelage").jwt_secret
    for who, role, scope in (("organiser", "partner", ORGANISER_ID), ("library", "partner", LIBRARY),
                             ("other", "partner", f"acm-other-{RUN}")):
        api.tokens[who] = {"Authorization": f"Bearer {mint_token(secret, role, scope)}"}
    if not services_ready():
        return finish()
    school_year = f"{YEAR}-{YEAR + 1}"
    sink = bool(mails()) or (Path(os.environ.get("JUMELAGE_DATA_DIR", "var")) / "mail").is_dir()

    step("1. The académie opens its plan mercredi campaign")
    api.clock(at(YEAR, 3, 1))
    calendar = {"submission_deadline": f"{YEAR}-05-31T21:59:00Z", "attribution_date": f"{YEAR}-07-02",
                "work_meeting_window": {"start": f"{YEAR}-09-13", "end": f"{YEAR}-10-15"},
                "bilan_window": {"start": f"{YEAR + 1}-05-09", "end": f"{YEAR + 1}-06-16"},
                "renewal_deadline": f"{YEAR + 1}-06-23T21:59:00Z"}
    open_campaign(api, CAMPAIGN, "mercredi", f"Plan mercredi {school_year}", calendar)

    step("2. The ACM organiser applies: its dedicated place, its groups by age band, no school")
    api.clock(at(YEAR, 4, 2))
    body = {"candidature_id": CANDIDATURE, "school": None,
            "school_objective": "Projet éducatif : lire, raconter et mettre en voix des histoires le mercredi",
            "partner_wished": {"partner_id": LIBRARY, "kind": "cultural_structure", "name": "Médiathèque des Couronnes"},
            "organiser": {
                "partner_id": ORGANISER_ID, "kind": "association", "name": NAME, "academie": ACADEMIE,
                "departement": "75", "commune": "Paris", "postcode": "75020", "email": CONTACT,
                "places": [{"kind": "dedicated", "name": "Centre de loisirs des Couronnes",
                            "address": "12 rue des Couronnes", "commune": "Paris", "postcode": "75020"}],
                "groups": [{"group_id": g, "age_min": a, "age_max": b, "children": n} for g, a, b, n in GROUPS]}}
    other = api.call("POST", "candidatures", f"/campaigns/{CAMPAIGN}/candidatures", "other", expect=(403,),
                     json=body).json()
    check(other.get("rule") == "acm_organiser_acts_for_its_own_candidature",
          "another structure cannot apply in the organiser's name (403)", other)
    base = figures(api)
    submitted = api.post("candidatures", f"/campaigns/{CAMPAIGN}/candidatures", "organiser", body)
    check([e["type"] for e in submitted["events"]] == ["CandidatureSubmitted"], "CandidatureSubmitted recorded",
          submitted)
    counted(api, base, {"candidatures_submitted": 1}, "the organiser's candidature is counted")
    mine = api.get("candidatures", f"/candidatures/{CANDIDATURE}", "organiser")
    check(mine["uai"] is None and mine["school_name"] == NAME and mine["classes"] == 2 and mine["pupils"] == 36,
          "the organiser reads it: no UAI, its name, its 2 groups and 36 children", mine)

    step("3. The académie gives its avis and, past the deadline, attributes the partnership")
    api.post("candidatures", f"/candidatures/{CANDIDATURE}/reviews", "academie",
             {"avis": "favourable", "comment": "Projet éducatif construit avec la médiathèque"})
    api.clock(at(YEAR, 6, 10))
    base = figures(api, school_year)
    attributed = api.post("candidatures", f"/candidatures/{CANDIDATURE}/attribute", "academie")
    pid = attributed.get("partnership_id")
    history = api.get("candidatures", f"/candidatures/{CANDIDATURE}", "academie")["history"]
    data = next((h["data"] for h in history if h["type"] == "PartnershipAttributed"), {})
    check(bool(pid) and data.get("school") is None and (data.get("organiser") or {}).get("partner_id") == ORGANISER_ID
          and [c["label"] for c in data.get("classes", [])] == ["ACM 6-8 ans", "ACM 9-11 ans"],
          "PartnershipAttributed: no school, the organiser, its groups as classes", data)
    counted(api, base, {"candidatures_attributed": 1, "partnerships_active": 1, "classes_reached": 2,
                        "pupils_reached": 36, "schools_reached": 0},
            "the partnership, its groups and children are counted — and no school", school_year)
    if sink:
        eventually(lambda: any(s.startswith(f"Jumelage attribué : {NAME}") for s in mails_to(CONTACT, pid)),
                   "the organiser is told on its own contact e-mail: « Jumelage attribué »", within=10)
    api.post("candidatures", f"/campaigns/{CAMPAIGN}/close", "academie")

    step("4. Programmes opens the year: the organiser holds the school side")
    P = f"/partnerships/{pid}"
    partnership = eventually(lambda: api.call("GET", "programmes", P, "organiser", expect=(200, 404)).status_code == 200
                             and api.get("programmes", P, "organiser"), "the organiser sees the year in programmes")
    partnership = partnership or {}
    check(partnership.get("uai") is None and (partnership.get("organiser") or {}).get("name") == NAME
          and [p["kind"] for p in (partnership.get("organiser") or {}).get("places", [])] == ["dedicated"],
          "programmes: no UAI, the organiser and its dedicated place", partnership.get("organiser"))
    check([c["label"] for c in partnership.get("current_year", {}).get("classes", [])] == ["ACM 6-8 ans", "ACM 9-11 ans"],
          "the year's classes are the organiser's groups")
    listed = api.get("programmes", "/partnerships", "organiser")
    check([p["partnership_id"] for p in listed["items"]] == [pid], "the organiser lists its partnership", listed)
    api.call("GET", "programmes", P, "other", expect=(403,))
    check(True, "another structure does not see it (403)")
    eventually(lambda: {r["rule"] for r in reminders(api, "academie", partnership_id=pid)}
               >= {"work_meeting_to_hold", "bilan_window_open"},
               "notifications plans the work-meeting and bilan reminders of the year")

    step("5. Each side names its referent and signs the convention")
    api.clock(at(YEAR, 9, 6))
    api.post("programmes", f"{P}/referents", "organiser", {
        "referent_id": "ref-acm", "side": "school", "role": "coordinator", "name": "Samia Benali",
        "email": f"samia.benali-{RUN}@loisirs-couronnes.example.org"})
    api.post("programmes", f"{P}/referents", "library", {
        "referent_id": "ref-mediatheque", "side": "partner", "role": "coordinator", "name": "Louis Garnier",
        "email": f"louis.garnier-{RUN}@mediatheque.example.org"})
    api.call("POST", "programmes", f"{P}/convention/signatures", "organiser", expect=(403,),
             json={"side": "partner", "signed_by": "Samia Benali"})
    check(True, "the organiser cannot sign for the médiathèque (403)")
    api.post("programmes", f"{P}/convention/signatures", "organiser", {"side": "school", "signed_by": "La présidente"})
    api.post("programmes", f"{P}/convention/signatures", "library", {"side": "partner", "signed_by": "Le directeur"})
    year = api.get("programmes", P, "academie")["current_year"]
    check(len(year["referents"]) == 2 and year["convention"]["fully_signed"], "referents named, convention signed")
    feed = api.get("notifications", f"/feeds/partnership/{pid}", "organiser")

    def calendar_items() -> dict[str, str]:
        response = httpx.get(feed["url"], timeout=10)
        check(response.status_code == 200, "the iCal feed answers without a token", response.status_code)
        return {str(e["UID"]): str(e.get("SUMMARY")) for e in icalendar.Calendar.from_ical(response.content).walk("VEVENT")}

    items = calendar_items()
    window = next((s for u, s in items.items() if u.startswith("window-work-meeting-")), "")
    check(window == f"Période de la réunion de travail ({NAME})",
          "the iCal feed shows the work-meeting window, named by the organiser", items)

    step("6. The work meeting, then two ateliers for the groups: one done, one cancelled")
    api.post("programmes", f"{P}/meetings", "organiser", {
        "meeting_id": "travail", "kind": "work", "starts_at": at(YEAR, 9, 20, 14), "place": "Centre de loisirs"})
    api.clock(at(YEAR, 9, 19, 9))  # the meeting's J-7 and J-1 are due by now
    if sink:
        eventually(lambda: len(mails_to(f"samia.benali-{RUN}", pid)) >= 2,
                   "the work meeting's J-7 and J-1 reach the organiser's referent by e-mail", within=10)
    api.clock(at(YEAR, 9, 20, 16))
    api.post("programmes", f"{P}/meetings/travail/held", "organiser", {"minutes": "Deux ateliers arrêtés"})
    for aid, title, groups, when in (("lecture", "Atelier lecture à voix haute", ["petits"], at(YEAR, 11, 8, 14)),
                                     ("conte", "Heure du conte", ["petits", "grands"], at(YEAR, 12, 6, 14))):
        api.post("programmes", f"{P}/actions", "library", {
            "action_id": aid, "kind": "workshop", "title": title, "class_ids": groups, "starts_at": when,
            "duration_minutes": 90, "place": "Médiathèque des Couronnes"})
    base = figures(api)
    api.clock(at(YEAR, 11, 8, 17))
    api.post("programmes", f"{P}/actions/lecture/complete", "organiser",
             {"participants": [{"class_id": "petits", "pupils_present": 18}], "staff_present": 2})
    api.post("programmes", f"{P}/actions/conte/cancel", "library", {"reason": "Salle indisponible"})
    counted(api, base, {"actions_realised": 1, "actions_cancelled": 1}, "one atelier realised, one cancelled")
    items = eventually(lambda: (lambda got: sum(u.startswith("action-") for u in got) == 2 and got)(calendar_items()),
                       "the iCal feed lists both ateliers")

    step("7. The bilan meeting; each side records its own part")
    api.clock(at(YEAR + 1, 5, 12))
    api.post("programmes", f"{P}/meetings", "organiser", {
        "meeting_id": "bilan", "kind": "bilan", "starts_at": at(YEAR + 1, 5, 20, 17), "place": "Centre de loisirs"})
    api.clock(at(YEAR + 1, 5, 20, 19))
    api.post("programmes", f"{P}/meetings/bilan/held", "library", {"minutes": "Bilan partagé"})
    api.call("POST", "programmes", f"{P}/bilan/partner", "organiser", expect=(403,),
             json={"satisfaction": 5, "wish_to_continue": True})
    check(True, "the organiser cannot record the médiathèque's part (403)")
    base = figures(api)
    part = api.post("programmes", f"{P}/bilan/school", "organiser",
                    {"satisfaction": 5, "wish_to_continue": True, "comments": "Les enfants empruntent des livres"})
    check([e["type"] for e in part["events"]] == ["BilanSideRecorded"], "the organiser's part waits for the other", part)
    done = api.post("programmes", f"{P}/bilan/partner", "library", {"satisfaction": 4, "wish_to_continue": True})
    check([e["type"] for e in done["events"]] == ["BilanSideRecorded", "BilanRecorded"],
          "the médiathèque's part completes the bilan", done)
    counted(api, base, {"bilans_recorded": 1}, "the bilan is counted")

    step("8. What the académie reads in reporting")
    seen = eventually(lambda: (lambda p: (p or {}).get("school_name") == NAME and p)(
        api.get("reporting", f"{P}/timeline", "academie").get("partnership")),
        "reporting knows the partnership by its organiser")
    seen = seen or {}
    check(seen.get("uai") is None and seen.get("academie") == ACADEMIE and seen.get("departement") == "75"
          and [(y["classes"], y["pupils"]) for y in seen.get("years", [])] == [(2, 36)],
          "reporting: no UAI, the organiser's académie and département, 2 groups and 36 children", seen)
    timeline = eventually(lambda: (lambda t: "BilanRecorded" in [e["type"] for e in t["timeline"]] and t)(
        api.get("reporting", f"{P}/timeline", "academie")), "the partnership's timeline reaches its bilan")
    types = [e["type"] for e in (timeline or {}).get("timeline", [])]
    check({"CandidatureSubmitted", "PartnershipAttributed", "ProgrammeYearOpened", "ConventionSigned",
           "ActionCompleted", "ActionCancelled", "BilanRecorded"} <= set(types),
          "the timeline tells the year, from the organiser's candidature to the bilan", types)
    check("ReminderSent" in types, "the timeline shows the e-mails sent", types.count("ReminderSent"))
    failed = [r for r in api.get("notifications", "/ops/reminders?state=failed", "academie")["reminders"]
              if r.get("partnership_id") == pid or r.get("campaign_id") == CAMPAIGN]
    check(not failed, "no reminder of this partnership or campaign failed", failed[:2])
    return finish()


if __name__ == "__main__":
    sys.exit(main())
