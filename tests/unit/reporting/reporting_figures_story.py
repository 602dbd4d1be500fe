"""Partnership-years told through programmes' events for the tests of issue 12's figures
(questionnaire, centres sociaux' rencontres, CNR funds): dated, validated, numbered as the producer
would."""

from __future__ import annotations

import json
import random
from datetime import date, datetime, timezone

from reporting.sample import HistoryBuilder
from reporting_app import EXAMPLES

YEAR = json.loads((EXAMPLES / "ProgrammeYearOpened.v1.json").read_text("utf-8"))
Q = "Le jumelage a-t-il répondu à vos attentes ?"


class Story:
    """Partnership-years told through programmes' events, dated, as the producer would write them."""

    def __init__(self) -> None:
        self.b = HistoryBuilder(random.Random(7))

    def at(self, day: date, hour: int = 10) -> datetime:
        return datetime(day.year, day.month, day.day, hour, tzinfo=timezone.utc)

    def open(self, pid: str, dispositif: str, academie: str = "paris", departement: str = "75", ep: str = "REP+",
             school_year: str = "2025-2026", uai: str = "0750655E") -> dict:
        base = {"partnership_id": pid, "school_year": school_year, "year_index": 1}
        school = {**YEAR["school"], "academie": academie, "departement": departement, "education_prioritaire": ep,
                  "uai": uai}
        self.emit(date(2025, 7, 5), "ProgrammeYearOpened", base, academie,
                  {**YEAR, **base, "dispositif": dispositif, "school": school, "tier": None})
        return base

    def emit(self, day: date, type_: str, base: dict, academie: str = "paris", data: dict | None = None,
             hour: int = 10) -> None:
        self.b.emit(self.at(day, hour), type_, f"partnership-{base['partnership_id']}", academie,
                    {**(data or {}), **base})

    def bilan_side(self, day: date, base: dict, side: str, answers: list[tuple[str, str]], **kw) -> None:
        self.emit(day, "BilanSideRecorded", base, data={
            "side": side, "recorded_at": self.at(day).isoformat(),
            "evaluation": {"satisfaction": 4, "wish_to_continue": True},
            "questionnaire": [{"side": side, "question": q, "answer": a} for q, a in answers]}, **kw)

    def bilan(self, day: date, base: dict, answers: list[tuple[str, str, str]], partner: bool = True) -> None:
        part = {"satisfaction": 4, "wish_to_continue": True}
        self.emit(day, "BilanRecorded", base, data={
            "bilan_meeting_id": "bilan", "recorded_at": self.at(day).isoformat(), "per_class": [], "planned": 0,
            "realised": 0, "cancelled": 0, "pupils_reached": 0, "school": part, "partner": part if partner else None,
            "questionnaire": [{"side": s, "question": q, "answer": a} for s, q, a in answers],
            "wish_to_continue": True}, hour=12)

    def envelopes(self):
        return self.b.envelopes()


def rencontre(s: Story, base: dict, number: int, day: date, productions: list[dict], academie: str = "paris",
              held: bool = True) -> None:
    mid = f"{base['partnership_id']}-r{number}"
    s.emit(day.replace(day=1), "MeetingScheduled", base, academie, {
        "meeting_id": mid, "kind": "rencontre", "rencontre_number": number, "starts_at": s.at(day).isoformat(),
        "place": "Centre social", "title": f"Rencontre {number}"})
    if held:
        s.emit(day, "MeetingHeld", base, academie, {
            "meeting_id": mid, "kind": "rencontre", "held_at": s.at(day).isoformat(), "minutes": "Échanges",
            "productions": productions})


VIDEO = {"kind": "video", "title": "Ce qui fait que ça marche", "url": "https://example.fr/v1"}
PAPER = {"kind": "paper", "title": "Les ressources du quartier", "url": None}


def funding(s: Story, base: dict, fid: str, asked: int, granted: int | None, spent: list[int],
            academie: str = "paris") -> None:
    s.emit(date(2025, 11, 10), "FundingRequested", base, academie, {
        "funding_id": fid, "amount_eur": asked, "requested_at": s.at(date(2025, 11, 10)).isoformat()})
    if granted is None:
        return
    s.emit(date(2026, 1, 20), "FundingGranted", base, academie, {
        "funding_id": fid, "amount_eur": granted, "granted_by": "DASEN", "granted_at": s.at(date(2026, 1, 20)).isoformat()})
    total = 0
    for n, amount in enumerate(spent):
        total += amount
        s.emit(date(2026, 3, 1 + n), "FundingSpent", base, academie, {
            "funding_id": fid, "expense_id": f"{fid}-e{n}", "amount_eur": amount, "label": "Matériel",
            "spent_on": f"2026-03-0{1 + n}", "total_spent_eur": total})


def three_figures() -> list:
    """One académie (Paris) with a CNR project funded, a centre social's rencontre and a JES bilan."""
    s = Story()
    a = s.open("p-cnr-a", "concertation")
    funding(s, a, "f1", 3000, 2500, [1000])
    cs = s.open("p-cs", "centre_social", uai="0759138A")
    rencontre(s, cs, 1, date(2025, 11, 20), [VIDEO])
    jes = s.open("p-jes", "entreprise", uai="0751354P")
    s.bilan(date(2026, 6, 1), jes, [("school", Q, "Oui"), ("partner", Q, "Oui")])
    return s.envelopes()
