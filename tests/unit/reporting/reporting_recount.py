"""An independent recount of the reporting indicators straight from raw events.

Written without the projection's code: it walks the events up to a date, keeps plain dicts per
campaign / candidature / partnership / action / reminder, and counts. The property tests compare
the read model against it.
"""

from __future__ import annotations

from collections import defaultdict
from datetime import date, datetime, timedelta
from typing import Any, Iterable
from zoneinfo import ZoneInfo

from jumelage_contracts import Envelope

PARIS = ZoneInfo("Europe/Paris")


def paris_day(moment: datetime) -> date:
    return moment.astimezone(PARIS).date()


def paris_month(value: str) -> str:
    return datetime.fromisoformat(value).astimezone(PARIS).strftime("%Y-%m")


def _applicant(d: dict[str, Any]) -> dict[str, Any]:
    """A candidature's school, or for an ACM organiser naming none (plan mercredi) its académie and
    département, no éducation prioritaire, no rurality, no UAI."""
    if d.get("school"):
        return _school(d["school"])
    o = d["organiser"]
    return {"academie": o["academie"], "departement": o["departement"], "ep": "none", "ruralite": "unknown",
            "uai": None}


def _school(school: dict[str, Any]) -> dict[str, Any]:
    return {"academie": school["academie"], "departement": school["departement"],
            "ep": school.get("education_prioritaire"), "ruralite": school.get("ruralite") or "unknown",
            "uai": school["uai"]}


class _Now:
    """Dimensions looked up when counting, not when the event happened: a candidature counts
    under its classification as of the date asked (its latest content by then)."""

    def __init__(self, holder: dict) -> None:
        self.holder = holder

    def get(self, name: str, default: Any = None) -> Any:
        return self.holder["dims"].get(name, default)


def recount(events: Iterable[Envelope], as_of: date, flt: dict[str, Any]) -> dict[str, Any]:
    """Indicators (the same names as the API) for ``flt`` as of the end of ``as_of``."""
    events = list(events)
    campaigns: dict[str, dict] = {}
    offers: dict[str, set[int]] = {}     # offer id -> its EAC domains as they stand
    cands: dict[str, dict] = {}
    parts: dict[str, dict] = {}          # partnership id -> {"domains", "latest": dims of its latest year}
    ydims: dict[tuple[str, str], dict] = {}  # (pid, school year) -> the school as it stood that year
    years: dict[tuple[str, str], dict] = {}  # (pid, school year) -> what happened that year
    actions: dict[str, dict] = {}
    meetings: set[str] = set()
    reminders: dict[str, dict] = {}
    counts: dict[str, list[tuple[dict, str | None, int, int, str | None]]] = defaultdict(list)
    stopped: set[tuple[str, str]] = set()  # (pid, school year) ended, or closed without renewal
    project_schools: dict[str, set[str]] = {}  # a CNR project's associated schools

    def add(metric: str, dims: dict, year: str | None, n: int = 1, amount: int = 0, month: str | None = None) -> None:
        counts[metric].append((dims, year, n, amount, month))

    # A campaign's dimensions never change: known from its first event, whatever the date asked
    # (a campaign opened after D simply has nothing to count before D).
    for e in events:
        d = e.data
        if e.type == "CampaignOpened":
            campaigns[d["campaign_id"]] = {"academie": d["academie"], "dispositif": d["dispositif"],
                                           "school_year": d["school_year"]}

    def domains_of(offer_id: str | None) -> set[int]:
        # an offer's domains as they stand now (in the walk); none at all counts as domain 0
        return set(offers.get(offer_id or "") or ()) or {0}

    def year_dims(pid: str, year: str) -> dict:
        return {**ydims[(pid, year)], "domains": parts[pid]["domains"]}

    def this_year(d: dict) -> dict:  # the partnership-year a programmes event is about
        return year_dims(d["partnership_id"], d["school_year"])

    for e in events:
        if paris_day(e.occurred_at) > as_of:
            continue
        d, t = e.data, e.type
        if t in ("OfferPublished", "OfferUpdated"):
            offers[d["offer_id"]] = {int(x) for x in d.get("eac_domains") or []}
        elif t == "CampaignOpened":
            add("campaigns_opened", campaigns[d["campaign_id"]], d["school_year"])
        elif t == "CampaignClosed":
            c = campaigns[d["campaign_id"]]
            if not c.get("closed"):
                c["closed"] = True
                add("campaigns_closed", c, None)
        elif t in ("CandidatureSubmitted", "CandidatureAmended", "CandidatureResubmitted"):
            camp = campaigns[d["campaign_id"]]
            cand = cands.setdefault(d["candidature_id"], {"flags": set()})
            cand["dims"] = {**_applicant(d), "dispositif": d["dispositif"], "school_year": camp["school_year"],
                            "domains": domains_of(d.get("offer_id"))}
            cand["offer_id"] = d.get("offer_id")
            if t == "CandidatureSubmitted" and "submitted" not in cand["flags"]:
                cand["flags"].add("submitted")
                add("candidatures_submitted", _Now(cand), camp["school_year"])
        elif t in ("CandidatureWithdrawn", "CandidatureRejected"):
            cand = cands[d["candidature_id"]]
            metric = "candidatures_withdrawn" if t == "CandidatureWithdrawn" else "candidatures_rejected"
            if metric not in cand["flags"]:
                cand["flags"].add(metric)
                add(metric, _Now(cand), cand["dims"]["school_year"])
        elif t in ("PartnershipAttributed", "RenewalGranted"):
            pid, year = d["partnership_id"], d["school_year"]
            if (pid, year) in years:
                continue
            cand = cands[d["candidature_id"]]
            ydims[(pid, year)] = {**_applicant(d), "dispositif": d["dispositif"], "school_year": year}
            if d.get("associated_schools"):  # a CNR project's other schools (not restated on a renewal)
                project_schools[pid] = {school["uai"] for school in d["associated_schools"]}
            if t == "PartnershipAttributed":
                # a partnership's EAC domains: its offer's at attribution, for all its years
                parts[pid] = {"domains": domains_of(d.get("offer_id") or cand.get("offer_id"))}
                add("candidatures_attributed", _Now(cand), cand["dims"]["school_year"])
                if d.get("late"):
                    add("attributions_late", _Now(cand), cand["dims"]["school_year"])
                parts[pid]["first_year"], parts[pid]["released"] = year, set()
            parts[pid]["latest"] = year_dims(pid, year)
            if t == "RenewalGranted":
                add("renewals_granted", year_dims(pid, year), year)
            window = d["calendar"]
            years[(pid, year)] = {
                "work_due": date.fromisoformat(window["work_meeting_window"]["end"]) + timedelta(days=1),
                "bilan_due": date.fromisoformat(window["bilan_window"]["end"]) + timedelta(days=1),
                "work_held": False, "bilan": False, "ended": False, "closed": False}
            years[(pid, year)]["classes"] = {c["class_id"]: c["pupils"] for c in d["classes"]}
            add("partnerships_active", {**year_dims(pid, year), "pid": pid}, year)
            for c in d["classes"]:
                add("classes_reached", {**year_dims(pid, year), "pid": pid}, year, 1, c["pupils"])
        elif t == "ClassCancelled":
            pid, year = d["partnership_id"], d["school_year"]
            y = years[(pid, year)]
            if d["class_id"] in y["classes"]:
                add("classes_reached", {**year_dims(pid, year), "pid": pid}, year, -1, -y["classes"].pop(d["class_id"]))
            for action_id in d["cancelled_action_ids"]:
                a = actions[action_id]
                if a["status"] == "planned":
                    a["status"] = "cancelled"
                    add("actions_cancelled", year_dims(pid, year), year, month=a["month"])
        elif t == "OfferPlacesReleased":
            part = parts[d["partnership_id"]]
            new = set(d["class_ids"]) - part["released"]
            part["released"] |= new
            if new:  # under the partnership's first year, whatever happened since
                add("places_released", year_dims(d["partnership_id"], part["first_year"]), part["first_year"], len(new))
        elif t in ("RenewalRequested", "RenewalDeclined"):
            pid, year = d["partnership_id"], d["school_year"]
            metric = "renewals_requested" if t == "RenewalRequested" else "renewals_declined"
            y = years.setdefault((pid, "asked:" + year), {})
            if not y.get(metric):
                y[metric] = True
                add(metric, parts[pid]["latest"], year)  # classified by its current year
        elif t == "MeetingHeld":
            if d["meeting_id"] not in meetings:
                meetings.add(d["meeting_id"])
                add("meetings_held", this_year(d), d["school_year"])
                if d["kind"] == "work":
                    years[(d["partnership_id"], d["school_year"])]["work_held"] = True
        elif t == "ActionScheduled":
            if d["action_id"] not in actions:
                month = paris_month(d["starts_at"])
                actions[d["action_id"]] = {"month": month, "status": "planned"}
                add("actions_planned", this_year(d), d["school_year"], month=month)
        elif t == "ActionRescheduled":
            a = actions[d["action_id"]]
            month = paris_month(d["starts_at"])
            if a["status"] == "planned" and month != a["month"]:
                add("actions_planned", this_year(d), d["school_year"], -1, month=a["month"])
                add("actions_planned", this_year(d), d["school_year"], 1, month=month)
            a["month"] = month
        elif t == "ActionCancelled":
            a = actions[d["action_id"]]
            if a["status"] == "planned":
                a["status"] = "cancelled"
                add("actions_cancelled", this_year(d), d["school_year"], month=a["month"])
        elif t == "ActionCompleted":
            a = actions[d["action_id"]]
            if a["status"] != "realised":
                a["status"] = "realised"
                month = paris_month(d["completed_at"])
                add("actions_realised", this_year(d), d["school_year"], month=month)
                people = sum(p["pupils_present"] for p in d["participants"]) + d["staff_present"] + d["families_present"]
                add("participants", this_year(d), d["school_year"], 0, people, month=month)
        elif t == "BilanRecorded":
            y = years[(d["partnership_id"], d["school_year"])]
            if not y["bilan"]:
                y["bilan"] = True
                dims = this_year(d)
                add("bilans_recorded", dims, d["school_year"])
                for side in ("school", "partner"):
                    if d.get(side):  # no partner part: a CNR project, or a bilan closed without it
                        add("satisfaction", dims, d["school_year"], 1, d[side]["satisfaction"])
                if d["wish_to_continue"]:
                    add("wish_to_continue", dims, d["school_year"])
        elif t == "StepCompleted":
            y = years[(d["partnership_id"], d["school_year"])]
            if d["track"] == "concertation" and d["step"] not in y.setdefault("cnr_steps", set()):
                y["cnr_steps"].add(d["step"])
                add(f"cnr_{d['step']}", this_year(d), d["school_year"])
        elif t == "PartnershipEnded":
            years[(d["partnership_id"], d["school_year"])]["ended"] = True
            stopped.add((d["partnership_id"], d["school_year"]))
        elif t == "ProgrammeYearClosed" and d["outcome"] != "renewed":
            stopped.add((d["partnership_id"], d["school_year"]))
        elif t == "ReminderScheduled":
            ref = d["subject"]
            if d["reminder_id"] not in reminders:
                reminders[d["reminder_id"]] = {"dims": {"academie": ref["academie"], "dispositif": ref.get("dispositif"),
                                                        "school_year": ref.get("school_year"), "uai": ref.get("uai")},
                                               "done": False}
        elif t in ("ReminderSent", "ReminderFailed", "ReminderCancelled"):
            r = reminders[d["reminder_id"]]
            sent_after_all = r["done"] == "ReminderCancelled" and t == "ReminderSent"
            if (r["done"] and not sent_after_all) or (t == "ReminderFailed" and not d["final"]):
                continue
            r["done"] = t
            if t != "ReminderCancelled":
                metric = "reminders_sent" if t == "ReminderSent" else "reminders_failed"
                add(metric, r["dims"], r["dims"]["school_year"])

    def keep(dims: Any, year: str | None) -> bool:
        for name, value in flt.items():
            if name == "domain":
                if value not in (dims.get("domains") or ()):
                    return False
                continue
            have = (year or dims.get("school_year")) if name == "school_year" else dims.get(name)
            if have != value:
                return False
        return True

    # Without a school year asked, partnerships / schools / classes / pupils are those of the years
    # active on the date: of the school year (Sept-Aug) the date falls in, not ended or closed
    # without renewal by then.
    current = f"{as_of.year}-{as_of.year + 1}" if as_of.month >= 9 else f"{as_of.year - 1}-{as_of.year}"

    def active(metric: str, dims: Any, year: str | None) -> bool:
        if metric not in ("partnerships_active", "classes_reached") or "school_year" in flt:
            return True
        return year == current and (dims.get("pid"), year) not in stopped

    def n(metric: str) -> int:
        return sum(x[2] for x in counts[metric] if keep(x[0], x[1]) and active(metric, x[0], x[1]))

    def amount(metric: str) -> int:
        return sum(x[3] for x in counts[metric] if keep(x[0], x[1]) and active(metric, x[0], x[1]))

    out: dict[str, Any] = {m: n(m) for m in (
        "campaigns_opened", "campaigns_closed", "candidatures_submitted", "candidatures_withdrawn",
        "candidatures_attributed", "candidatures_rejected", "attributions_late", "places_released",
        "partnerships_active", "classes_reached", "actions_planned", "actions_realised", "actions_cancelled", "meetings_held", "bilans_recorded",
        "wish_to_continue", "renewals_requested", "renewals_granted", "renewals_declined", "reminders_sent",
        "reminders_failed", "cnr_concertation", "cnr_projet_pedagogique", "cnr_financement")}
    standing = out["candidatures_submitted"] - out["candidatures_withdrawn"]
    out["attribution_rate"] = round(out["candidatures_attributed"] / standing, 4) if standing > 0 else None
    out["pupils_reached"] = amount("classes_reached")
    out["participants"] = amount("participants")
    sat_n = n("satisfaction")
    out["satisfaction_avg"] = round(amount("satisfaction") / sat_n, 2) if sat_n else None
    out["renewal_rate"] = (round(out["renewals_granted"] / out["renewals_requested"], 4)
                           if out["renewals_requested"] else None)
    # the school carrying each partnership active, and a CNR project's associated schools; an ACM
    # organiser without a school reaches no school
    out["schools_reached"] = len({uai for x in counts["partnerships_active"]
                                  if keep(x[0], x[1]) and active("partnerships_active", x[0], x[1])
                                  for uai in (x[0]["uai"], *project_schools.get(x[0]["pid"], ())) if uai})
    # Overdue: a year still running on the date (its school year not over, neither ended nor
    # closed without renewal by then) past its window with nothing held.
    live = [(pid, year, y) for (pid, year), y in years.items() if not year.startswith("asked:")
            and (pid, year) not in stopped and year >= current and keep(year_dims(pid, year), year)]
    out["overdue_work_meeting"] = sum(1 for _, _, y in live if as_of >= y["work_due"] and not y["work_held"])
    out["overdue_bilan"] = sum(1 for _, _, y in live if as_of >= y["bilan_due"] and not y["bilan"])
    out["_by_month"] = {
        metric: _by_month(counts[metric], keep) for metric in ("actions_planned", "actions_realised")}
    return out


def by_domain(events: Iterable[Envelope], as_of: date, flt: dict[str, Any], metrics: Iterable[str]) -> dict:
    """``{domain: {metric: n}}`` for the domains with anything: a subject with several domains
    counts in each."""
    events = list(events)
    out = {}
    for domain in range(18):
        values = recount(events, as_of, {**flt, "domain": domain})
        row = {m: values[m] for m in metrics}
        if any(row.values()):
            out[domain] = row
    return out


def _by_month(rows, keep) -> dict[str, int]:
    out: dict[str, int] = defaultdict(int)
    for dims, year, n, _, month in rows:
        if keep(dims, year):
            out[month] += n
    return {k: v for k, v in out.items() if v}


def partnerships_as_of(events: Iterable[Envelope], as_of: date) -> dict[str, dict[str, Any]]:
    """Each partnership attributed by ``as_of`` as it stood then: the school's classification of
    its latest year, and per year the classification, the classes still in and their pupils."""
    found: dict[str, dict] = {}
    for e in events:
        if paris_day(e.occurred_at) > as_of:
            continue
        d, t = e.data, e.type
        if t in ("PartnershipAttributed", "RenewalGranted"):
            years = found.setdefault(d["partnership_id"], {})
            if d["school_year"] not in years:
                who = _applicant(d)
                years[d["school_year"]] = {
                    "year_index": d["year_index"], "ep": who["ep"], "ruralite": who["ruralite"],
                    "classes": {c["class_id"]: c["pupils"] for c in d["classes"]}}
        elif t == "ClassCancelled":
            found[d["partnership_id"]][d["school_year"]]["classes"].pop(d["class_id"], None)
    out = {}
    for pid, years in found.items():
        latest = years[max(years)]
        out[pid] = {"ep": latest["ep"], "ruralite": latest["ruralite"], "years": [
            (year, y["year_index"], y["ep"], y["ruralite"], len(y["classes"]), sum(y["classes"].values()))
            for year, y in sorted(years.items())]}
    return out


def timeline_ids(events: Iterable[Envelope], as_of: date, partnership_id: str) -> set[str]:
    """Ids of the events a partnership's timeline shows by ``as_of``: its candidature's, its own,
    and its reminders' (a reminder's first outcome, and a sending after a cancellation; a failure
    only once final)."""
    events = [e for e in events if paris_day(e.occurred_at) <= as_of]
    candidature = next((e.data["candidature_id"] for e in events if e.data.get("partnership_id") == partnership_id
                        and "candidature_id" in e.data), None)
    reminders: dict[str, str | bool] = {}  # reminder id -> the type of its outcome, False before
    out = set()
    for e in events:
        d = e.data
        if e.type == "ReminderScheduled":
            if (d["subject"] or {}).get("partnership_id") == partnership_id:
                reminders[d["reminder_id"]] = False
                out.add(str(e.id))
        elif e.type in ("ReminderSent", "ReminderFailed", "ReminderCancelled"):
            done = reminders.get(d["reminder_id"])
            if d["reminder_id"] in reminders and (not done or (done == "ReminderCancelled" and e.type == "ReminderSent")) \
                    and (e.type != "ReminderFailed" or d["final"]):
                reminders[d["reminder_id"]] = e.type
                out.add(str(e.id))
        elif d.get("partnership_id") == partnership_id or (candidature and d.get("candidature_id") == candidature):
            out.add(str(e.id))
    return out


def candidature_statuses(events: Iterable[Envelope], as_of: date, uai: str) -> dict[str, str]:
    """A school's candidatures submitted by ``as_of`` and where each stood then: attributed,
    rejected or withdrawn once decided; returned while sent back for correction and not yet
    resubmitted; submitted otherwise."""
    found: dict[str, dict[str, Any]] = {}
    for e in events:
        if paris_day(e.occurred_at) > as_of:
            continue
        d, t = e.data, e.type
        if t == "CandidatureSubmitted" and (d.get("school") or {}).get("uai") == uai:
            found.setdefault(d["candidature_id"], {"outcome": None, "returned": False})
        cand = found.get(d.get("candidature_id") or "")
        if cand is None:
            continue
        if t == "CandidatureReturnedForCorrection":
            cand["returned"] = True
        elif t == "CandidatureResubmitted":
            cand["returned"] = False
        elif t in ("PartnershipAttributed", "CandidatureRejected", "CandidatureWithdrawn") and not cand["outcome"]:
            cand["outcome"] = {"PartnershipAttributed": "attributed", "CandidatureRejected": "rejected",
                               "CandidatureWithdrawn": "withdrawn"}[t]
    return {cid: c["outcome"] or ("returned" if c["returned"] else "submitted") for cid, c in found.items()}
