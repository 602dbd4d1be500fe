"""Given/when/then: the years of a partnership, its end, referents, convention and the JES charter."""

from __future__ import annotations

from datetime import date

import pytest

from jumelage_contracts.programmes import CharterEngagement, ReferentRole, Side, SideEvaluation, StepTrack
from programmes.domain import commands as c
from programmes.domain import decide, fold
from programmes.domain.state import Ended, Running
from programmes_builders import at, given, given_events_of, open_year, opened, schedule

ALL_SCHOOL = (CharterEngagement.establishment, CharterEngagement.education_nationale)


def school_teacher(now=None, referent_id="ref-school", replaces=None, name="Claire Martin"):
    return c.DesignateReferent(referent_id, Side.school, ReferentRole.teacher, name,
                               "claire.martin@ac-paris.fr", now or at(2025, 9, 5), replaces=replaces)


def partner_collaborator(now=None):
    return c.DesignateReferent("ref-partner", Side.partner, ReferentRole.collaborator, "Yannick Lebrun",
                               "y.lebrun@ratp.example.fr", now or at(2025, 9, 6))


def test_an_attribution_opens_year_one():
    events = given([]).when(open_year()).then_types("ProgrammeYearOpened")
    assert events[0].opened_by == "attribution"
    assert (str(events[0].year_starts_on), str(events[0].year_ends_on)) == ("2025-09-01", "2026-07-07")


def test_the_same_attribution_twice_opens_nothing_twice():
    given(opened()).when(open_year()).then([])


def test_a_granted_renewal_closes_the_year_and_opens_the_next_in_the_same_stream():
    renewal = open_year(year_index=2, start_year=2026, now=at(2026, 7, 8))
    events = given(opened()).when(renewal).then_types("ProgrammeYearClosed", "ProgrammeYearOpened")
    assert events[0].outcome == "renewed" and events[0].year_index == 1
    assert events[1].school_year == "2026-2027" and events[1].year_index == 2
    state = fold(opened() + events)
    assert isinstance(state, Running) and len(state.past_years) == 1


def test_a_renewal_cannot_skip_a_year():
    given(opened()).when(open_year(year_index=3, start_year=2027)).raises("years_follow_one_another")


def test_a_declined_renewal_closes_the_year_and_ends_the_partnership():
    events = given(opened()).when(c.DeclineRenewal(2, "bilan insuffisant", at(2026, 7, 5))).then_types(
        "ProgrammeYearClosed", "PartnershipEnded")
    assert events[1].reason == "renewal_declined" and events[1].years == 1
    assert isinstance(fold(opened() + events), Ended)
    given(opened(), events).when(c.DeclineRenewal(2, "bilan insuffisant", at(2026, 7, 5))).then([])


def test_an_ended_partnership_accepts_nothing():
    ended = given_events_of(open_year(), c.EndPartnership("withdrawn", at(2025, 12, 1)))
    given(ended).when(schedule()).raises("an_ended_partnership_accepts_nothing")
    given(ended).when(school_teacher()).raises("an_ended_partnership_accepts_nothing")
    given(ended).when(open_year(year_index=2, start_year=2026)).raises("an_ended_partnership_accepts_nothing")


def test_commands_on_a_partnership_never_attributed_are_not_found():
    given([]).when(schedule()).raises("the_partnership_must_be_open")


def test_a_referent_is_designated_then_replaced():
    history = given_events_of(open_year(), school_teacher())
    replacing = school_teacher(referent_id="ref-school-2", replaces="ref-school", name="Paul Durand")
    events = given(history).when(replacing).then_types("ReferentDesignated")
    state = fold(history + events)
    assert list(state.year.referents) == ["ref-school-2"]


def test_a_school_referent_cannot_be_a_company_collaborator():
    wrong = c.DesignateReferent("r", Side.school, ReferentRole.collaborator, "X", "x@ac-paris.fr", at(2025, 9, 5))
    given(opened()).when(wrong).raises("referent_role_fits_the_side")


def test_only_an_active_referent_of_the_same_side_can_be_replaced():
    history = given_events_of(open_year(), school_teacher())
    wrong = c.DesignateReferent("r2", Side.partner, ReferentRole.collaborator, "X", "x@m.fr", at(2025, 9, 5),
                                replaces="ref-school")
    given(history).when(wrong).raises("a_replaced_referent_is_active_on_the_same_side")


def test_the_convention_is_fully_signed_when_the_second_side_signs():
    first = given(opened()).when(c.SignConvention(Side.school, "Mme Diallo", at(2025, 9, 20))).then_types(
        "ConventionSigned")
    assert first[0].fully_signed is False and first[0].kind == "convention"
    second = given(opened(), first).when(c.SignConvention(Side.partner, "V. Guillaume", at(2025, 9, 26))).then_types(
        "ConventionSigned")
    assert second[0].fully_signed is True
    given(opened(), first, second).when(c.SignConvention(Side.partner, "V. Guillaume", at(2025, 9, 27))).then([])


def test_the_jes_charter_requires_each_side_to_accept_its_engagements():
    signing = c.SignConvention(Side.partner, "Directeur du site", at(2025, 9, 26))
    given(opened("entreprise")).when(signing).raises("jes_charter_engagements_are_accepted")


def test_jes_needs_both_referents_and_the_signed_charter_before_its_first_action():
    jes_action = schedule(class_ids=("3e-b",), kind="company_visit")
    opened_jes = given_events_of(open_year("entreprise"))
    given(opened_jes).when(jes_action).raises("jes_needs_both_referents_and_the_signed_charter")
    with_referents = given_events_of(open_year("entreprise"), school_teacher(), partner_collaborator())
    given(with_referents).when(jes_action).raises("jes_needs_both_referents_and_the_signed_charter")
    ready = given_events_of(
        open_year("entreprise"), school_teacher(), partner_collaborator(),
        c.SignConvention(Side.school, "Principal", at(2025, 9, 20), ALL_SCHOOL),
        c.SignConvention(Side.partner, "Directeur", at(2025, 9, 21), (CharterEngagement.company,)),
    )
    events = given(ready).when(jes_action).then_types("ActionScheduled")
    assert events[0].kind == "company_visit"


def test_a_culture_partnership_needs_no_charter_to_schedule():
    given(opened()).when(schedule()).then_types("ActionScheduled")


def test_each_year_has_its_own_referents():
    history = given_events_of(open_year(), school_teacher())
    renewed = decide(open_year(year_index=2, start_year=2026, now=at(2026, 7, 8)), fold(history))
    assert fold(history + renewed).year.referents == {}


def test_jes_with_the_charter_signed_but_one_referent_missing_cannot_act():
    jes_action = schedule(class_ids=("3e-b",), kind="company_visit")
    signed_one_referent = given_events_of(
        open_year("entreprise"), school_teacher(),
        c.SignConvention(Side.school, "Principal", at(2025, 9, 20), ALL_SCHOOL),
        c.SignConvention(Side.partner, "Directeur", at(2025, 9, 21), (CharterEngagement.company,)),
    )
    error = given(signed_one_referent).when(jes_action).raises("jes_needs_both_referents_and_the_signed_charter")
    assert error.field == "referents"


def test_jes_rule_starts_again_each_year_the_charter_and_referents_are_per_year():
    ready = given_events_of(
        open_year("entreprise"), school_teacher(), partner_collaborator(),
        c.SignConvention(Side.school, "Principal", at(2025, 9, 20), ALL_SCHOOL),
        c.SignConvention(Side.partner, "Directeur", at(2025, 9, 21), (CharterEngagement.company,)),
    )
    year_two = ready + decide(open_year("entreprise", year_index=2, start_year=2026, now=at(2026, 7, 8)), fold(ready))
    action = schedule(class_ids=("3e-b",), kind="company_visit", starts_at=at(2026, 11, 18), now=at(2026, 10, 1))
    given(year_two).when(action).raises("jes_needs_both_referents_and_the_signed_charter")


ENDED_COMMANDS = [
    schedule(),
    c.RescheduleAction("act-1", at(2025, 12, 2), at(2025, 12, 1)),
    c.CancelAction("act-1", "plus de partenariat", at(2025, 12, 1)),
    c.CompleteAction("act-1", at(2025, 12, 1)),
    c.CancelClass("cm1-a", "classe fermee", at(2025, 12, 1)),
    school_teacher(),
    c.SignConvention(Side.school, "Mme Diallo", at(2025, 12, 1)),
    c.ScheduleMeeting("m-late", "follow_up", at(2025, 12, 10), "Ecole", at(2025, 12, 1)),
    c.HoldMeeting("m-work", "compte rendu", at(2025, 12, 1)),
    c.CancelMeeting("m-work", "plus de partenariat", at(2025, 12, 1)),
    c.RescheduleMeeting("m-work", at(2025, 12, 15), at(2025, 12, 1)),
    c.RecordBilan(SideEvaluation(satisfaction=3, wish_to_continue=False),
                  SideEvaluation(satisfaction=3, wish_to_continue=False), at(2025, 12, 1)),
    c.CompleteStep(StepTrack.mercredi, "objectifs", "x", at(2025, 12, 1)),
    c.RequestFunding("f1", 1000, at(2025, 12, 1)),
    c.GrantFunding("f1", 1000, "Rectorat", at(2025, 12, 1)),
    c.SpendFunding("f1", 100, "materiel", date(2025, 12, 1), at(2025, 12, 1), "exp-1"),
    open_year(year_index=2, start_year=2026),
]


@pytest.mark.parametrize("command", ENDED_COMMANDS, ids=lambda cmd: type(cmd).__name__)
def test_an_ended_partnership_refuses_every_command(command):
    ended = given_events_of(
        open_year(), schedule(),
        c.ScheduleMeeting("m-work", "work", at(2025, 9, 30, 17), "Ecole", at(2025, 9, 10)),
        c.EndPartnership("withdrawn", at(2025, 11, 30)),
    )
    given(ended).when(command).raises("an_ended_partnership_accepts_nothing")
