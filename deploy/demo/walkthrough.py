"""Acceptance walkthrough: one culture partnership's life over HTTP, as its real users drive it.

Run it while ``CLOCK=manual python3 dev.py run`` is going (the script moves each service's clock):

    .venv/bin/python deploy/demo/walkthrough.py

Base URLs come from CANDIDATURES_URL, PROGRAMMES_URL, NOTIFICATIONS_URL, REPORTING_URL (defaults:
the dev ports 8101-8104); tokens are signed with JWT_SECRET (the dev secret otherwise). Every step
prints what it did and what it checked; the exit status is 1 when a check failed. Ids carry a
suffix of the run, and reporting figures are checked as differences, so it can run again on the
same data.
"""

from __future__ import annotations

import csv
import email
import email.policy
import io
import os
import sys
import time
import uuid
from datetime import datetime, timezone
from pathlib import Path
from typing import Any, Callable

import httpx
import icalendar

from eventkit.auth import mint_token
from eventkit.settings import ServiceSettings

URLS = {name: os.environ.get(f"{name.upper()}_URL", f"http://127.0.0.1:{port}")
        for name, port in (("candidatures", 8101), ("programmes", 8102), ("notifications", 8103),
                           ("reporting", 8104))}
WITHIN = float(os.environ.get("WALK_WITHIN", "2"))  # seconds an event may take to reach a service
YEAR = int(os.environ.get("WALK_YEAR", "2027"))  # the school year YEAR-YEAR+1
ACADEMIE, UAI = "paris", "0750655E"
RUN = uuid.uuid4().hex[:8]
PARTNER = f"musee-walk-{RUN}"
CAMPAIGN, OFFER, CANDIDATURE = f"culture-walk-{RUN}", f"offre-walk-{RUN}", f"cand-walk-{RUN}"
CLASSES = [("cm1", "CM1", 24), ("cm2", "CM2", 26)]

failures: list[str] = []


def step(title: str) -> None:
    print(f"\n== {title}")


def check(ok: bool, what: str, detail: Any = "") -> bool:
    print(f"   [{'ok' if ok else 'FAIL'}] {what}" + (f" — {detail}" if detail != "" and not ok else ""))
    if not ok:
        failures.append(what)
    return ok


def at(y: int, m: int, d: int, hour: int = 9, minute: int = 0) -> str:
    return datetime(y, m, d, hour, minute, tzinfo=timezone.utc).isoformat()


class Api:
    def __init__(self) -> None:
        secret = ServiceSettings.from_env("jumelage").jwt_secret
        self.tokens = {who: {"Authorization": f"Bearer {mint_token(secret, role, scope)}"}
                       for who, role, scope in (("academie", "academie", ACADEMIE), ("school", "school", UAI),
                                                ("partner", "partner", PARTNER), ("admin", "admin", "*"))}
        self.http = httpx.Client(timeout=10)

    def call(self, method: str, service: str, path: str, who: str, expect: tuple[int, ...] = (200, 201),
             **kw: Any) -> httpx.Response:
        try:
            response = self.http.request(method, URLS[service] + path, headers=self.tokens[who], **kw)
        except httpx.TransportError as exc:
            check(False, f"{method} {service}{path} as {who}", f"{type(exc).__name__}: {exc}")
            raise SystemExit(finish()) from None
        if response.status_code not in expect:
            check(False, f"{method} {service}{path} as {who} answers {expect}",
                  f"{response.status_code} {response.text[:600]}")
            raise SystemExit(finish())
        return response

    def get(self, service: str, path: str, who: str, **kw: Any) -> Any:
        return self.call("GET", service, path, who, **kw).json()

    def post(self, service: str, path: str, who: str, body: dict | None = None, **kw: Any) -> Any:
        """POST ``body`` as JSON, or no body at all (commands whose fields are all optional)."""
        return self.call("POST", service, path, who, **({"json": body} if body is not None else {}), **kw).json()

    def clock(self, when: str, *services: str) -> None:
        for service in services or tuple(URLS):
            self.post(service, "/admin/clock", "admin", {"now": when})
        print(f"   clock of {', '.join(services or tuple(URLS))} -> {when}")


def eventually(probe: Callable[[], Any], what: str, within: float = WITHIN) -> Any:
    """Poll ``probe`` until it returns something truthy; check it came within ``within`` seconds."""
    started = time.monotonic()
    value = None
    while time.monotonic() - started < max(within, 10):
        value = probe()
        if value:
            took = time.monotonic() - started
            return value if check(took <= within, f"{what} (in {took:.2f} s)", f"took {took:.2f} s") else value
        time.sleep(0.05)
    check(False, what, f"not within 10 s, last: {value!r}"[:600])
    return None


def figures(api: Api, school_year: str | None = None) -> dict[str, Any]:
    """The académie's indicators as of the reporting service's "today" (its clock); partnerships,
    classes and pupils are those active today, or of ``school_year`` when given."""
    query = f"&school_year={school_year}" if school_year else ""
    return api.get("reporting", f"/indicators?academie={ACADEMIE}{query}", "academie")["indicators"]


def counted(api: Api, base: dict[str, Any], changes: dict[str, int], what: str,
            school_year: str | None = None) -> None:
    """Reporting shows ``base`` moved by ``changes`` (figures read just before the command, so the
    data of earlier runs does not matter)."""
    eventually(lambda: all(figures(api, school_year)[k] == base[k] + n for k, n in changes.items()),
               f"reporting: {what} ({', '.join(f'{k} +{n}' for k, n in changes.items())})")


def reminders(api: Api, who: str, **match: Any) -> list[dict]:
    """The caller's upcoming reminders whose fields equal ``match``."""
    return [r for r in api.get("notifications", "/reminders", who)["reminders"]
            if all(r.get(k) == v for k, v in match.items())]


def open_campaign(api: Api, campaign_id: str, dispositif: str, title: str, calendar: dict[str, Any]) -> None:
    """The académie opens the YEAR-YEAR+1 campaign of ``dispositif``. One campaign per académie,
    dispositif and year may be open: what an interrupted run (or the README's curl) left open in
    the way is closed first."""
    school_year = f"{YEAR}-{YEAR + 1}"
    for left in api.get("candidatures", "/campaigns", "academie"):
        if (left["status"] == "open" and left["academie"] == ACADEMIE and left["dispositif"] == dispositif
                and left["school_year"] == school_year):
            api.post("candidatures", f"/campaigns/{left['campaign_id']}/close", "academie")
            print(f"   closed {left['campaign_id']}, already open for {dispositif} {school_year}")
    opened = api.post("candidatures", "/campaigns", "academie", {
        "campaign_id": campaign_id, "academie": ACADEMIE, "dispositif": dispositif, "school_year": school_year,
        "title": title, "calendar": calendar})
    check([e["type"] for e in opened["events"]] == ["CampaignOpened"], "CampaignOpened recorded", opened)


def finish() -> int:
    print()
    if failures:
        print(f"{len(failures)} check(s) failed:")
        for failure in failures:
            print(f"  - {failure}")
        return 1
    print("every check passed")
    return 0


def services_ready() -> bool:
    """Check that each service answers /readyz; False (with the checks failed) when one does not."""
    for service, url in URLS.items():
        try:
            status = httpx.get(url + "/readyz", timeout=5).status_code
        except httpx.TransportError as exc:
            status = f"{type(exc).__name__}: {exc} (is `CLOCK=manual python3 dev.py run` going?)"
        check(status == 200, f"{service} ready at {url}", status)
    return not failures


def main() -> int:
    api = Api()
    if not services_ready():
        return finish()
    school_year = f"{YEAR}-{YEAR + 1}"

    step("1. The académie opens a culture campaign")
    api.clock(at(YEAR, 3, 1))
    base = figures(api)
    calendar = {"submission_deadline": f"{YEAR}-05-31T21:59:00Z", "attribution_date": f"{YEAR}-07-02",
                "work_meeting_window": {"start": f"{YEAR}-09-13", "end": f"{YEAR}-10-15"},
                "bilan_window": {"start": f"{YEAR + 1}-05-09", "end": f"{YEAR + 1}-06-16"},
                "renewal_deadline": f"{YEAR + 1}-06-23T21:59:00Z"}
    open_campaign(api, CAMPAIGN, "culture", f"Jumelages culture {school_year}", calendar)
    counted(api, base, {"campaigns_opened": 1}, "the campaign is counted")
    eventually(lambda: {r["rule"] for r in reminders(api, "academie", campaign_id=CAMPAIGN)}
               == {"campaign_deadline_j_minus_7", "campaign_deadline_j_minus_1"},
               "notifications plans the campaign's J-7 / J-1 deadline reminders")

    step("2. The partner publishes its offer in the campaign")
    offer = api.post("candidatures", f"/campaigns/{CAMPAIGN}/offers", "partner", {
        "offer_id": OFFER, "title": "Le musée en classe",
        "partner": {"partner_id": PARTNER, "kind": "cultural_structure", "name": "Musée de la walkthrough",
                    "address": "23 rue de Sévigné", "commune": "Paris", "postcode": "75003"},
        "resources": [{"kind": "workshop", "description": "Ateliers de pratique au musée"}],
        "eac_domains": [], "levels": ["CM1", "CM2"], "capacity_classes": 4})
    check([e["type"] for e in offer["events"]] == ["OfferPublished"], "OfferPublished recorded", offer)
    offers = api.get("candidatures", f"/campaigns/{CAMPAIGN}/offers", "school")
    check(OFFER in str(offers), "the school sees the offer in the campaign", offers)

    step("3. The school drafts its candidature with two classes, then submits it")
    body = {"candidature_id": CANDIDATURE, "offer_id": OFFER, "tier": "approfondir",
            "school": {"uai": UAI, "name": "École élémentaire Belleville", "academie": ACADEMIE,
                       "departement": "75", "education_prioritaire": "REP+"},
            "school_objective": "Ouvrir l'école sur le musée du quartier",
            "classes": [{"class_id": cid, "label": f"{level} A", "level": level, "pupils": pupils,
                         "objective": f"Découvrir les collections ({level})"} for cid, level, pupils in CLASSES],
            "wishes": {"staff": True, "families": True}}
    draft = api.post("candidatures", f"/campaigns/{CAMPAIGN}/drafts", "school", body)
    check([e["type"] for e in draft["events"]] == ["CandidatureDrafted"], "CandidatureDrafted recorded", draft)
    drafts = lambda: [r for r in reminders(api, "school") if CANDIDATURE in r["dedup_key"]]  # noqa: E731
    eventually(lambda: {r["rule"] for r in drafts()} == {"draft_deadline_j_minus_7", "draft_deadline_j_minus_1"},
               "notifications plans the draft's J-7 / J-1 reminders to the school")
    base = figures(api)
    submitted = api.post("candidatures", f"/candidatures/{CANDIDATURE}/submit", "school")  # as saved
    check([e["type"] for e in submitted["events"]] == ["CandidatureSubmitted"], "CandidatureSubmitted recorded", submitted)
    eventually(lambda: not drafts(), "the draft reminders are cancelled once submitted")
    counted(api, base, {"candidatures_submitted": 1}, "the submission is counted")

    step("4. A reviewer of the académie records an avis")
    reviewed = api.post("candidatures", f"/candidatures/{CANDIDATURE}/reviews", "academie",
                        {"avis": "favourable", "comment": "Projet solide, deux classes motivées"})
    check([e["type"] for e in reviewed["events"]] == ["CandidatureReviewed"], "CandidatureReviewed recorded", reviewed)

    step("5. Past the deadline, the académie attributes the candidature")
    api.clock(at(YEAR, 6, 10))
    # attributed in June for the next school year: active from September 1, so read that year's figures
    base = figures(api, school_year)
    attributed = api.post("candidatures", f"/candidatures/{CANDIDATURE}/attribute", "academie")
    pid = attributed.get("partnership_id")
    check("PartnershipAttributed" in [e["type"] for e in attributed["events"]] and bool(pid), "PartnershipAttributed recorded",
          attributed)
    seen = api.get("candidatures", f"/candidatures/{CANDIDATURE}", "school")
    check(seen["status"] == "attributed", "the school sees its candidature attributed", seen["status"])
    pupils = sum(p for _, _, p in CLASSES)
    counted(api, base, {"candidatures_attributed": 1, "partnerships_active": 1, "classes_reached": 2,
                        "pupils_reached": pupils}, "the partnership, its classes and pupils are counted", school_year)
    eventually(lambda: {r["rule"] for r in reminders(api, "school", partnership_id=pid)}
               >= {"work_meeting_to_hold", "bilan_window_open"},
               "notifications plans the work-meeting and bilan reminders of year 1")

    closed = api.post("candidatures", f"/campaigns/{CAMPAIGN}/close", "academie")
    check([e["type"] for e in closed["events"]] == ["CampaignClosed"], "the académie closes the campaign once it has attributed", closed)

    step("6. Programmes opens the partnership (from PartnershipAttributed, over NATS)")
    partnership = eventually(lambda: api.call("GET", "programmes", f"/partnerships/{pid}", "school",
                                              expect=(200, 404)).status_code == 200
                             and api.get("programmes", f"/partnerships/{pid}", "school"),
                             "the partnership is open in programmes")
    year = (partnership or {}).get("current_year") or {}
    check(year.get("school_year") == school_year and year.get("year_index") == 1
          and [c["class_id"] for c in year.get("classes", [])] == [c for c, _, _ in CLASSES],
          "year 1 is open with the two classes", year)
    P = f"/partnerships/{pid}"

    step("7. Each side designates its referent and signs the convention")
    api.clock(at(YEAR, 9, 6))
    api.post("programmes", f"{P}/referents", "school", {
        "referent_id": "ref-ecole", "side": "school", "role": "teacher", "name": "Claire Martin",
        "email": "claire.martin@ac-paris.fr"})
    api.post("programmes", f"{P}/referents", "partner", {
        "referent_id": "ref-musee", "side": "partner", "role": "coordinator", "name": "Paul Durand",
        "email": "paul.durand@musee.example.org"})
    api.post("programmes", f"{P}/convention/signatures", "school", {"side": "school", "signed_by": "Mme la directrice"})
    api.post("programmes", f"{P}/convention/signatures", "partner", {"side": "partner", "signed_by": "M. le directeur"})
    year = api.get("programmes", P, "academie")["current_year"]
    check(len(year["referents"]) == 2 and year["convention"]["fully_signed"],
          "two referents named, convention signed by both sides", year["referents"])

    step("8. The work meeting is scheduled, then held")
    api.post("programmes", f"{P}/meetings", "school", {
        "meeting_id": "reunion-travail", "kind": "work", "starts_at": at(YEAR, 9, 20, 14), "place": "École Belleville"})
    eventually(lambda: "work_meeting_to_hold" not in {r["rule"] for r in reminders(api, "school", partnership_id=pid)}
               and {"meeting_j_minus_7", "meeting_j_minus_1"}
               <= {r["rule"] for r in reminders(api, "school", partnership_id=pid)},
               "notifications drops 'hold your work meeting' and plans the meeting's J-7 / J-1 reminders")
    api.clock(at(YEAR, 9, 20, 17))
    api.post("programmes", f"{P}/meetings/reunion-travail/held", "partner",
             {"minutes": "Programme de l'année construit classe par classe"})
    meetings = api.get("programmes", P, "school")["current_year"]["meetings"]
    check([m.get("status") for m in meetings] == ["held"], "the work meeting is held", meetings)

    step("9. Actions are scheduled for each class")
    actions = [("visite-cm1", "visit", "Visite des collections", ["cm1"], at(YEAR, 11, 10)),
               ("atelier-cm2", "workshop", "Atelier de gravure", ["cm2"], at(YEAR, 12, 8)),
               ("spectacle", "performance", "Restitution au musée", ["cm1", "cm2"], at(YEAR + 1, 3, 15))]
    base = figures(api)
    for action_id, kind, title, class_ids, starts_at in actions:
        api.post("programmes", f"{P}/actions", "school", {
            "action_id": action_id, "kind": kind, "title": title, "class_ids": class_ids,
            "starts_at": starts_at, "duration_minutes": 120, "place": "Musée"})
    programme = api.get("programmes", f"{P}/programme", "partner")
    check([[a["action_id"] for a in c["actions"]] for c in programme["classes"]]
          == [["visite-cm1", "spectacle"], ["atelier-cm2", "spectacle"]], "the programme lists each class's actions",
          programme["classes"])
    counted(api, base, {"actions_planned": 3}, "three actions planned")
    eventually(lambda: len([r for r in reminders(api, "partner", partnership_id=pid) if r.get("action_id")]) == 6,
               "notifications plans J-7 and J-1 for each action (6), seen by the partner")
    feed_url = api.get("notifications", f"/feeds/partnership/{pid}", "school")
    print(f"   feed: {feed_url['url']}")

    def calendar_items() -> dict[str, dict]:
        """The partnership's iCalendar feed as a calendar app reads it (no bearer token), by UID."""
        response = httpx.get(feed_url["url"], timeout=10)
        check(response.status_code == 200 and response.headers["content-type"].startswith("text/calendar"),
              "the iCal feed answers text/calendar without a token", response.status_code)
        parsed = icalendar.Calendar.from_ical(response.content)
        return {str(e["UID"]): {"summary": str(e.get("SUMMARY")), "status": str(e.get("STATUS", "")),
                                "start": e.decoded("DTSTART"), "sequence": int(e.get("SEQUENCE", 0))}
                for e in parsed.walk("VEVENT")}

    items = eventually(lambda: (lambda got: len([u for u in got if u.startswith("action-")]) == 3 and got)(
        calendar_items()), "the iCal feed lists the 3 actions")
    visit = next((v for u, v in (items or {}).items() if "visite-cm1" in u), None)
    check(visit is not None and visit["start"] == datetime.fromisoformat(actions[0][4]),
          "the visit's VEVENT starts when it was scheduled", visit)
    check(any(u.startswith("meeting-") for u in items or {}), "the iCal feed lists the work meeting", list(items or {}))

    step("10. Two actions are completed, the third is cancelled")
    api.clock(at(YEAR + 1, 1, 10))
    base = figures(api)
    api.post("programmes", f"{P}/actions/visite-cm1/complete", "school",
             {"participants": [{"class_id": "cm1", "pupils_present": 23}], "staff_present": 2})
    api.post("programmes", f"{P}/actions/atelier-cm2/complete", "partner",
             {"participants": [{"class_id": "cm2", "pupils_present": 25}], "families_present": 4})
    api.post("programmes", f"{P}/actions/spectacle/cancel", "school", {"reason": "Salle indisponible en mars"})
    counts = api.get("programmes", P, "academie")["current_year"]["actions"]
    check(counts == {"scheduled": 3, "to_come": 0, "completed": 2, "cancelled": 1},
          "programmes: nothing left planned, 2 completed, 1 cancelled", counts)
    counted(api, base, {"actions_realised": 2, "actions_cancelled": 1}, "two actions realised, one cancelled")
    eventually(lambda: next((v["status"] for u, v in calendar_items().items() if "spectacle" in u), "") == "CANCELLED",
               "the cancelled action stays in the iCal feed as STATUS:CANCELLED")
    eventually(lambda: not [r for r in reminders(api, "school", partnership_id=pid) if r.get("action_id") == "spectacle"],
               "the cancelled action's reminders are dropped")

    step("11. The bilan meeting is held and the bilan recorded, both sides wishing to continue")
    api.clock(at(YEAR + 1, 5, 12))
    api.post("programmes", f"{P}/meetings", "partner", {
        "meeting_id": "reunion-bilan", "kind": "bilan", "starts_at": at(YEAR + 1, 5, 20, 14), "place": "Musée"})
    # Notifications plans against its own clock when the event reaches it: wait before moving time.
    eventually(lambda: {r["rule"] for r in reminders(api, "partner", partnership_id=pid)
                        if r.get("meeting_id") == "reunion-bilan"} == {"meeting_j_minus_7", "meeting_j_minus_1"},
               "notifications plans the bilan meeting's J-7 / J-1 reminders")
    api.clock(at(YEAR + 1, 5, 20, 17))
    api.post("programmes", f"{P}/meetings/reunion-bilan/held", "school", {"minutes": "Bilan de l'année"})
    api.clock(at(YEAR + 1, 5, 20, 17, 30))
    base = figures(api)
    # Each side records its own part with its own token; the second part completes the bilan.
    part = api.post("programmes", f"{P}/bilan/school", "school",
                    {"satisfaction": 5, "wish_to_continue": True, "comments": "Les élèves ont adoré"})
    check([e["type"] for e in part["events"]] == ["BilanSideRecorded"], "the school records its part", part)
    bilan = api.post("programmes", f"{P}/bilan/partner", "partner", {"satisfaction": 4, "wish_to_continue": True})
    check([e["type"] for e in bilan["events"]] == ["BilanSideRecorded", "BilanRecorded"],
          "the partner's part completes the bilan: BilanRecorded", bilan)
    recorded = api.get("programmes", P, "academie")["current_year"]["bilan"]
    recorded = recorded or {}
    check((recorded.get("planned"), recorded.get("realised"), recorded.get("cancelled"), recorded.get("pupils_reached"))
          == (3, 2, 1, 48) and recorded.get("wish_to_continue") is True,
          "the bilan computes 3 planned, 2 realised, 1 cancelled, 48 pupils reached, wish to continue", recorded)
    check({c["class_id"]: (c["planned"], c["realised"], c["cancelled"]) for c in recorded.get("per_class", [])}
          == {"cm1": (2, 1, 1), "cm2": (2, 1, 1)}, "per class: 2 planned, 1 realised, 1 cancelled each",
          recorded.get("per_class"))
    counted(api, base, {"bilans_recorded": 1}, "the bilan is counted")
    eventually(lambda: "renewal_window" in {r["rule"] for r in reminders(api, "school", partnership_id=pid)},
               "notifications plans the renewal reminder for the school")

    step("12. Candidatures learns the bilan; the school requests the renewal, the académie grants it")
    eventually(lambda: (api.get("candidatures", f"/partnerships/{pid}", "school")["partnership"] or {}).get(
        "bilan_noted"), "candidatures notes the bilan (PartnershipBilanNoted, over NATS)")
    api.clock(at(YEAR + 1, 5, 25))
    base = figures(api)
    requested = api.post("candidatures", f"/partnerships/{pid}/renewal", "school", {
        "motivation": "Poursuivre avec les mêmes classes montées d'un niveau",
        "classes": [{"class_id": "cm2-b", "label": "CM2 B", "level": "CM2", "pupils": 24,
                     "objective": "Approfondir la gravure"}]})
    check([e["type"] for e in requested["events"]] == ["RenewalRequested"], "RenewalRequested", requested)
    granted = api.post("candidatures", f"/partnerships/{pid}/renewal/grant", "academie")
    check([e["type"] for e in granted["events"]] == ["RenewalGranted"], "RenewalGranted", granted)

    step("13. Year 2 opens in programmes")
    year2 = eventually(lambda: (lambda p: p["current_year"]["year_index"] == 2 and p)(
        api.get("programmes", P, "school")), "programmes opens year 2 (from RenewalGranted)")
    if year2:
        check(year2["current_year"]["school_year"] == f"{YEAR + 1}-{YEAR + 2}"
              and [c["class_id"] for c in year2["current_year"]["classes"]] == ["cm2-b"]
              and len(year2["past_years"]) == 1, "year 2 is 2028-2029 with the renewed class, year 1 in the past",
              year2["current_year"])
    counted(api, base, {"renewals_requested": 1, "renewals_granted": 1}, "the renewal is counted")

    step("14. What the académie and the school read in reporting")
    story = ["CandidatureSubmitted", "CandidatureReviewed", "PartnershipAttributed", "ProgrammeYearOpened",
             "ConventionSigned", "MeetingHeld", "ActionCompleted", "ActionCancelled", "BilanRecorded",
             "PartnershipBilanNoted", "RenewalRequested"]

    def told(entries: list[dict]) -> bool:
        """In time order, and the story's steps in the story's order — except steps recorded at
        one instant (the manual clocks make ties: the bilan and candidatures noting it, the grant
        and the year it opens), which reach reporting by different consumers in any order."""
        moments = [datetime.fromisoformat(e["occurred_at"]) for e in entries]
        first = {}
        for entry, moment in zip(entries, moments):
            first.setdefault(entry["type"], moment)
        types = [e["type"] for e in entries]
        renewed = types[types.index("RenewalRequested"):] if "RenewalRequested" in types else []
        return (moments == sorted(moments) and all(t in first for t in story)
                and all(first[a] <= first[b] for a, b in zip(story, story[1:]))
                and {"RenewalGranted", "ProgrammeYearClosed", "ProgrammeYearOpened"} <= set(renewed))

    timeline = eventually(lambda: (lambda t: [e["type"] for e in t["timeline"]].count("ProgrammeYearOpened") == 2
                                   and "RenewalGranted" in [e["type"] for e in t["timeline"]]
                                   and t)(api.get("reporting", f"/partnerships/{pid}/timeline", "academie")),
                          "the partnership's timeline reaches year 2")
    entries = (timeline or {}).get("timeline", [])
    check(told(entries), "the timeline tells the story in order, candidature first", [e["type"] for e in entries])
    types = [e["type"] for e in entries]
    check(types.count("ReminderSent") >= 9, "the timeline shows the reminders sent (meetings, actions, bilan)",
          types.count("ReminderSent"))
    classes = {(c["school_year"], c["class_id"]): (c["planned"], c["realised"], c["cancelled"])
               for c in (timeline or {}).get("classes", [])}
    check(classes == {(school_year, "cm1"): (2, 1, 1), (school_year, "cm2"): (2, 1, 1),
                      (f"{YEAR + 1}-{YEAR + 2}", "cm2-b"): (0, 0, 0)}, "the timeline's classes: planned vs realised",
          classes)
    listed = api.get("reporting", f"/partnerships?uai={UAI}&limit=500", "academie")["items"]
    mine = next((p for p in listed if p["partnership_id"] == pid), {})
    check([(y["year_index"], y["classes"], y["pupils"]) for y in mine.get("years", [])] == [(1, 2, 50), (2, 1, 24)],
          "the partnership list shows both years with their classes and pupils", mine)
    school = api.get("reporting", f"/schools/{UAI}", "school")
    check(any(p["partnership_id"] == pid for p in school["partnerships"])
          and any(c["candidature_id"] == CANDIDATURE and c["partnership_id"] == pid for c in school["candidatures"]),
          "the school's own view lists the partnership and the candidature it came from")
    csv_response = api.call("GET", "reporting", f"/indicators.csv?academie={ACADEMIE}", "academie")
    rows = list(csv.reader(io.StringIO(csv_response.content.decode("utf-8-sig")), delimiter=";"))
    check(csv_response.headers["content-type"].startswith("text/csv") and rows[0] == ["Indicateur", "Valeur"]
          and len(rows) > 20, "the CSV export opens in a French spreadsheet (BOM, ';', French headers)", rows[:3])
    listing = api.call("GET", "reporting", f"/partnerships.csv?uai={UAI}", "academie").content.decode("utf-8-sig")
    check(pid in listing, "the partnership CSV export lists the partnership")
    token = api.tokens["academie"]["Authorization"].split()[1]
    dashboard = httpx.get(f"{URLS['reporting']}/dashboard/{ACADEMIE}", params={"token": token}, timeout=10)
    check(dashboard.status_code == 200 and 'data-indicator="renewals_granted"' in dashboard.text
          and "<svg" in dashboard.text, "the dashboard opens in a browser from a link with the token",
          dashboard.status_code)
    failed = [r for r in api.get("notifications", "/ops/reminders?state=failed", "academie")["reminders"]
              if r.get("partnership_id") == pid or r.get("campaign_id") == CAMPAIGN]
    check(not failed, "no reminder of this partnership or campaign failed", failed[:2])
    mail = Path(os.environ.get("JUMELAGE_DATA_DIR", "var")) / "mail"
    if mail.is_dir():  # the mail sink of `python3 dev.py run`, when this runs beside it
        keys = [email.message_from_bytes(f.read_bytes(), policy=email.policy.default)["X-Jumelage-Dedup-Key"] or ""
                for f in mail.glob("*.eml")]
        check(sum(CAMPAIGN in k for k in keys) == 2 and sum(pid in k for k in keys) >= 5,
              f"the e-mails are in {mail}: the campaign's J-7 and J-1, the partnership's reminders",
              sum(pid in k for k in keys))

    return finish()


if __name__ == "__main__":
    sys.exit(main())
