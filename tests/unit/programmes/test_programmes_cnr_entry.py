"""Given/when/then: a CNR project opens its programme from the steps it carried when the académie
accepted it (seed 003: three optional, distinct steps); the others come later, or never."""

from __future__ import annotations

from dataclasses import replace
from datetime import date

from jumelage_contracts.candidatures import BudgetLine, Concertation, FundingRequest
from jumelage_contracts.programmes import StepTrack
from programmes.domain import commands as c
from programmes.domain.years import FUNDING_ON_ENTRY
from programmes_builders import at, events_after, given, given_events_of, open_year

CONCERTATION_ONLY = Concertation(concertation_summary="Deux temps d'echange avec les familles et la mairie")
ALL_THREE = Concertation(concertation_summary="Deux temps d'echange", pedagogical_project="Une cour partagee",
                         funding=FundingRequest(amount_eur=6000, budget_lines=[
                             BudgetLine(label="Amenagement", amount_eur=4500),
                             BudgetLine(label="Outils", amount_eur=1500)]))


def accepted(steps: Concertation | None) -> c.OpenYear:
    return replace(open_year("concertation", now=at(2026, 1, 20)), steps_reached=steps)


def test_a_project_accepted_with_its_concertation_only_opens_with_that_step_alone():
    events = given().when(accepted(CONCERTATION_ONLY)).then_types("ProgrammeYearOpened", "StepCompleted")
    assert events[1].step == "concertation" and events[1].step_number == 1
    assert events[1].summary == CONCERTATION_ONLY.concertation_summary


def test_its_projet_and_funding_request_come_later_in_the_programme():
    history = given_events_of(accepted(CONCERTATION_ONLY))
    given(history).when(c.RequestFunding("f1", 3000, at(2026, 2, 1))).raises("funding_requires_the_pedagogical_project")
    later = events_after(history,
                         c.CompleteStep(StepTrack.concertation, "projet_pedagogique", "Une cour partagee",
                                        at(2026, 3, 2)),
                         c.RequestFunding("f1", 3000, at(2026, 3, 3)),
                         c.GrantFunding("f1", 2500, "Rectorat de Paris", at(2026, 4, 1)),
                         c.SpendFunding("f1", 900, "Bacs de plantation", date(2026, 4, 10), at(2026, 4, 10), "fact-1"))
    assert [e.type for e in later] == ["StepCompleted", "FundingRequested", "FundingGranted", "FundingSpent"]


def test_a_project_accepted_with_its_three_steps_opens_with_its_funding_request_to_grant():
    events = given().when(accepted(ALL_THREE)).then_types(
        "ProgrammeYearOpened", "StepCompleted", "StepCompleted", "FundingRequested")
    assert [e.step for e in events[1:3]] == ["concertation", "projet_pedagogique"]
    assert events[3].funding_id == FUNDING_ON_ENTRY and events[3].amount_eur == 6000 and len(events[3].budget) == 2
    history = given_events_of(accepted(ALL_THREE))
    given(history).when(c.GrantFunding(FUNDING_ON_ENTRY, 6000, "Rectorat de Paris", at(2026, 2, 1))).then_types(
        "FundingGranted")


def test_the_same_acceptance_twice_opens_nothing_twice():
    history = given_events_of(accepted(ALL_THREE))
    given(history).when(accepted(ALL_THREE)).then([])


def test_a_project_without_steps_carried_and_other_dispositifs_open_as_before():
    given().when(accepted(None)).then_types("ProgrammeYearOpened")
    given().when(open_year("culture")).then_types("ProgrammeYearOpened")


def test_the_schools_of_the_project_stay_with_it_into_the_next_year():
    from jumelage_contracts.candidatures import SchoolRef

    ramponeau = SchoolRef(uai="0750712S", name="Ecole maternelle Ramponeau", academie="paris", departement="75")
    year_one = replace(accepted(CONCERTATION_ONLY), associated_schools=(ramponeau,))
    history = given_events_of(year_one)
    assert history[0].associated_schools == [ramponeau]
    events = given(history).when(open_year("concertation", year_index=2, start_year=2026)).then_types(
        "ProgrammeYearClosed", "ProgrammeYearOpened")
    assert events[1].associated_schools == [ramponeau]
