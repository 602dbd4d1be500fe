"""An independent recount of the figures académies ask for (issue 12), straight from raw events:
CNR funds, the centres sociaux' rencontres and productions, the end-of-year questionnaire.

Written without the projection's code (the rules are the README's): walk the events up to a
date, keep plain dicts per partnership-year, count."""

from __future__ import annotations

from collections import Counter
from datetime import date, datetime
from typing import Any, Iterable

from jumelage_contracts import Envelope

from reporting_recount import paris_day

SHORT, TOP = 80, 10


def _side(d: dict[str, Any]) -> dict[str, Any]:
    """The school of a year, or an ACM organiser holding the school side without one (seed 001)."""
    if d.get("school"):
        return d["school"]
    o = d["organiser"]
    return {"departement": o["departement"], "name": o["name"], "education_prioritaire": "none", "ruralite": None}


def _years(events: list[Envelope]) -> tuple[dict, dict]:
    """(pid, school year) -> the school as it stood that year; pid -> its fixed dimensions."""
    years, parts = {}, {}
    for e in events:
        if e.type == "ProgrammeYearOpened":
            d, school = e.data, _side(e.data)
            years[(d["partnership_id"], d["school_year"])] = {
                "ep": school.get("education_prioritaire") or "none", "ruralite": school.get("ruralite") or "unknown"}
            parts[d["partnership_id"]] = {"departement": school["departement"], "dispositif": d["dispositif"],
                                          "school_name": school["name"],
                                          "partner_name": (d.get("partner") or {}).get("name")}
    return years, parts


def _until(events: Iterable[Envelope], as_of: date) -> list[Envelope]:
    return [e for e in events if paris_day(e.occurred_at) <= as_of]


def _keep(flt: dict[str, Any], academie: str | None, year: str, cls: dict, part: dict) -> bool:
    have = {"academie": academie, "school_year": year, "ep": cls["ep"], "ruralite": cls["ruralite"],
            "departement": part["departement"], "dispositif": part["dispositif"]}
    return all(have[k] == v for k, v in flt.items())


def funds(events: Iterable[Envelope], as_of: date, flt: dict[str, Any]) -> dict[str, Any]:
    events = list(events)
    years, parts = _years(events)
    requested, granted, spent = set(), set(), set()
    rows: dict[tuple, dict[str, int]] = {}
    for e in _until(events, as_of):
        d = e.data
        if e.type not in ("FundingRequested", "FundingGranted", "FundingSpent"):
            continue
        pid, year = d["partnership_id"], d["school_year"]
        cls, part = years[(pid, year)], parts[pid]
        funding = (pid, year, d["funding_id"])
        if e.type == "FundingRequested":
            seen, figure, count, key = requested, "requested_eur", "requests", funding
        elif e.type == "FundingGranted":
            seen, figure, count, key = granted, "granted_eur", "grants", funding
        else:
            seen, figure, count, key = spent, "spent_eur", "expenses", funding + (d["expense_id"],)
        if key in seen or not _keep(flt, e.academie, year, cls, part):
            continue
        seen.add(key)
        row = rows.setdefault((e.academie, part["departement"], year, cls["ep"]), Counter())
        row[figure] += d["amount_eur"]
        row[count] += 1
    figures = ("requested_eur", "granted_eur", "spent_eur", "requests", "grants", "expenses")
    items = [{"academie": k[0], "departement": k[1], "school_year": k[2], "ep": k[3], **{f: v[f] for f in figures}}
             for k, v in sorted(rows.items())]
    return {"totals": {f: sum(i[f] for i in items) for f in figures}, "items": items}


def _normal(text: str) -> str:
    return " ".join(text.split())


def questionnaire(events: Iterable[Envelope], as_of: date, flt: dict[str, Any]) -> list[dict[str, Any]]:
    """Each side's answers count once per partnership-year: from its own BilanSideRecorded when it
    recorded one, else from the joint BilanRecorded; a question once per side (its first answer)."""
    events = list(events)
    years, parts = _years(events)
    done: dict[tuple[str, str], set[str]] = {}  # (pid, year) -> sides counted
    closed: set[tuple[str, str]] = set()
    tally: dict[tuple[str, str], Counter] = {}
    for e in _until(events, as_of):
        if e.type not in ("BilanSideRecorded", "BilanRecorded"):
            continue
        d = e.data
        pid, year = d["partnership_id"], d["school_year"]
        if (pid, year) in closed:
            continue
        sides = {d["side"]} if e.type == "BilanSideRecorded" else {"school", "partner"}
        sides -= done.setdefault((pid, year), set())
        done[(pid, year)] |= sides
        if e.type == "BilanRecorded":
            closed.add((pid, year))
        if not _keep(flt, e.academie, year, years[(pid, year)], parts[pid]):
            continue
        asked = set()
        for a in d.get("questionnaire") or []:
            question = _normal(a["question"])
            if a["side"] not in sides or (a["side"], question) in asked:
                continue
            asked.add((a["side"], question))
            text = _normal(a["answer"])
            if text:
                tally.setdefault((question, a["side"]), Counter())[text.casefold() if len(text) <= SHORT else None] += 1
    out = []
    for (question, side), counts in sorted(tally.items()):
        short = sorted(((v, n) for v, n in counts.items() if v is not None), key=lambda x: (-x[1], x[0]))
        out.append({"question": question, "side": side, "respondents": sum(counts.values()),
                    "answers": [{"answer": v, "count": n} for v, n in short[:TOP]],
                    "other_answers": sum(n for _, n in short[TOP:]), "free_text": counts[None]})
    return out


def rencontres(events: Iterable[Envelope], as_of: date, flt: dict[str, Any]) -> dict[str, Any]:
    events = list(events)
    years, parts = _years(events)
    scheduled: dict[tuple[str, str], dict] = {}
    held: set[tuple[str, str]] = set()
    items: dict[tuple[str, str], dict] = {}
    for e in _until(events, as_of):
        d = e.data
        if e.type == "MeetingScheduled":
            scheduled.setdefault((d["partnership_id"], d["meeting_id"]), d)
        if e.type != "MeetingHeld" or (d["partnership_id"], d["meeting_id"]) in held:
            continue
        held.add((d["partnership_id"], d["meeting_id"]))
        pid, year = d["partnership_id"], d["school_year"]
        productions = [{"kind": p["kind"], "title": p["title"], "url": p.get("url")} for p in d.get("productions") or []]
        if (d["kind"] != "rencontre" and not productions) or not _keep(flt, e.academie, year, years[(pid, year)],
                                                                        parts[pid]):
            continue
        plan = scheduled.get((pid, d["meeting_id"])) or {}
        item = items.setdefault((pid, year), {
            "partnership_id": pid, "academie": e.academie, "departement": parts[pid]["departement"],
            "dispositif": parts[pid]["dispositif"], "school_name": parts[pid]["school_name"],
            "partner_name": parts[pid]["partner_name"], "school_year": year, "rencontres": []})
        item["rencontres"].append({
            "meeting_id": d["meeting_id"], "kind": d["kind"], "number": plan.get("rencontre_number"),
            "held_on": paris_day(datetime.fromisoformat(d["held_at"])).isoformat(), "title": plan.get("title"),
            "productions": productions})
    listed = []
    for key in sorted(items, key=lambda k: ("partnership:" + k[0], k[1])):
        item = items[key]
        item["rencontres"].sort(key=lambda r: (r["held_on"], r["meeting_id"]))
        listed.append(item)
    academies: dict[str, dict] = {}
    for item in listed:
        count = academies.setdefault(item["academie"], {
            "academie": item["academie"], "partnerships": set(), "rencontres_held": 0, "productions": 0,
            "productions_by_kind": {"video": 0, "paper": 0, "other": 0}})
        count["partnerships"].add(item["partnership_id"])
        for r in item["rencontres"]:
            count["rencontres_held"] += r["kind"] == "rencontre"
            count["productions"] += len(r["productions"])
            for p in r["productions"]:
                count["productions_by_kind"][p["kind"]] += 1
    return {"academies": [{**c, "partnerships": len(c["partnerships"])} for _, c in sorted(academies.items())],
            "items": listed}
