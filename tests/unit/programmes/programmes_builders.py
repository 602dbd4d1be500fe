"""Builders for the programmes tests: realistic partnerships, commands, and a given/when/then."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, datetime, timezone

import pytest

from jumelage_contracts.candidatures import CampaignCalendar, DateWindow, PartnerRef, SchoolRef
from jumelage_contracts.programmes import ProgrammeClass
from jumelage_contracts.reference import Dispositif, PartnerKind
from programmes.domain import commands as c
from programmes.domain import decide, fold
from programmes.domain.errors import DomainError

PID = "p-belleville-carnavalet"
UTC = timezone.utc


def at(y: int, m: int, d: int, h: int = 9, mi: int = 0) -> datetime:
    return datetime(y, m, d, h, mi, tzinfo=UTC)


def calendar(start_year: int = 2025) -> CampaignCalendar:
    return CampaignCalendar(
        submission_deadline=at(start_year, 5, 31, 21, 59), attribution_date=date(start_year, 7, 4),
        work_meeting_window=DateWindow(start=date(start_year, 9, 15), end=date(start_year, 10, 17)),
        bilan_window=DateWindow(start=date(start_year + 1, 5, 11), end=date(start_year + 1, 6, 19)),
        renewal_deadline=at(start_year + 1, 6, 26, 21, 59),
    )


SCHOOL = SchoolRef(uai="0750655E", name="Ecole elementaire Belleville", academie="paris", departement="75",
                   commune="Paris 20e", education_prioritaire="REP+")
COLLEGE = SchoolRef(uai="0750655E", name="College Belleville", academie="paris", departement="75")
PARTNERS = {
    Dispositif.culture: PartnerRef(partner_id="musee-carnavalet", kind=PartnerKind.cultural_structure,
                                   name="Musee Carnavalet"),
    Dispositif.entreprise: PartnerRef(partner_id="ratp-lagny", kind=PartnerKind.company, name="RATP atelier de Lagny"),
    Dispositif.mercredi: PartnerRef(partner_id="mediatheque-couronnes", kind=PartnerKind.cultural_structure,
                                    name="Mediatheque Couronnes"),
    Dispositif.centre_social: PartnerRef(partner_id="cs-belleville", kind=PartnerKind.social_centre,
                                         name="Centre social Belleville"),
    Dispositif.concertation: None,
}
CLASSES = (
    ProgrammeClass(class_id="cm1-a", label="CM1 A", level="CM1", pupils=24),
    ProgrammeClass(class_id="cm2-b", label="CM2 B", level="CM2", pupils=22),
)
JES_CLASSES = (
    ProgrammeClass(class_id="4e-a", label="4e A", level="4e", pupils=26),
    ProgrammeClass(class_id="3e-b", label="3e B", level="3e", pupils=25),
)


def open_year(dispositif: Dispositif | str = Dispositif.culture, year_index: int = 1, start_year: int = 2025,
              classes=None, now: datetime | None = None, pid: str = PID) -> c.OpenYear:
    dispositif = Dispositif(dispositif)
    classes = classes or (JES_CLASSES if dispositif is Dispositif.entreprise else CLASSES)
    return c.OpenYear(
        partnership_id=pid, candidature_id="cand-42", dispositif=dispositif,
        school_year=f"{start_year}-{start_year + 1}", year_index=year_index,
        school=COLLEGE if dispositif is Dispositif.entreprise else SCHOOL, classes=tuple(classes),
        calendar=calendar(start_year), opened_by="attribution" if year_index == 1 else "renewal",
        now=now or at(start_year, 7, 10), partner=PARTNERS[dispositif], campaign_id="camp-paris-2025",
    )


def opened(dispositif: Dispositif | str = Dispositif.culture, **kw) -> list:
    """The events of a freshly attributed partnership."""
    return decide(open_year(dispositif, **kw), fold([]))


def schedule(action_id: str = "act-1", class_ids=("cm1-a",), starts_at: datetime | None = None,
             kind: str = "visit", duration: int = 120, now: datetime | None = None) -> c.ScheduleAction:
    return c.ScheduleAction(
        action_id=action_id, kind=kind, title="Visite des collections", class_ids=tuple(class_ids),
        starts_at=starts_at or at(2025, 11, 18), duration_minutes=duration, place="Musee Carnavalet",
        now=now or at(2025, 10, 1))


def given_events_of(*commands) -> list:
    """Run commands from an empty partnership and return every event they produced."""
    return events_after([], *commands)


def events_after(history: list, *commands) -> list:
    """Run commands after ``history`` and return only the events they produced."""
    events: list = []
    for command in commands:
        events += decide(command, fold(history + events))
    return events


@dataclass
class Scenario:
    history: list

    def when(self, command) -> "Outcome":
        return Outcome(self.history, command)


@dataclass
class Outcome:
    history: list
    command: object

    def _run(self) -> list:
        return decide(self.command, fold(self.history))

    def then(self, expected: list) -> list:
        produced = self._run()
        assert produced == expected
        return produced

    def then_types(self, *types: str) -> list:
        produced = self._run()
        assert [e.type for e in produced] == list(types)
        return produced

    def raises(self, rule: str) -> DomainError:
        with pytest.raises(DomainError) as caught:
            self._run()
        assert caught.value.rule == rule, caught.value
        return caught.value


def given(*histories) -> Scenario:
    events: list = []
    for history in histories:
        events += list(history)
    return Scenario(events)
