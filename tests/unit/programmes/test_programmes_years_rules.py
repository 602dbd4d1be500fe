"""Given/when/then: the year rules the mutation run found untested — which year a declined renewal
names, a class that is not in the year, the field each refusal names, and the exact closing events."""

from __future__ import annotations

from dataclasses import replace

from jumelage_contracts.reference import CultureTier
from programmes.domain import commands as c
from programmes.domain import fold
from programmes.domain.bilan import class_counts
from programmes.domain.errors import NotFound, RuleViolated
from programmes_builders import PID, at, given, given_events_of, open_year, opened, schedule


def test_a_renewal_that_skips_a_year_is_refused_on_its_year_index():
    err = given(opened()).when(open_year(year_index=3, start_year=2027)).raises("years_follow_one_another")
    assert isinstance(err, RuleViolated) and err.field == "year_index"


def test_a_declined_renewal_names_the_next_year_not_a_later_one():
    err = given(opened()).when(c.DeclineRenewal(3, "bilan insuffisant", at(2026, 7, 5))).raises(
        "a_declined_renewal_is_for_the_next_year")
    assert isinstance(err, RuleViolated) and err.field == "year_index"


def test_a_declined_renewal_cannot_name_the_current_year():
    given(opened()).when(c.DeclineRenewal(1, "bilan insuffisant", at(2026, 7, 5))).raises(
        "a_declined_renewal_is_for_the_next_year")


def test_a_class_that_is_not_in_the_year_cannot_be_cancelled():
    err = given(opened()).when(c.CancelClass("cm9-z", "classe fermee", at(2025, 10, 2))).raises(
        "class_must_belong_to_the_year")
    assert isinstance(err, NotFound) and err.field == "class_id"


def test_a_declined_renewal_closes_the_year_as_not_renewed_and_ends_with_the_academies_reason():
    now = at(2026, 7, 5)
    closed, ended = given(opened()).when(c.DeclineRenewal(2, "bilan insuffisant", now)).then_types(
        "ProgrammeYearClosed", "PartnershipEnded")
    assert (closed.partnership_id, closed.year_index, closed.outcome, closed.closed_at, closed.bilan_recorded) == (
        PID, 1, "not_renewed", now, False)
    assert (ended.partnership_id, ended.reason, ended.detail, ended.ended_at, ended.years) == (
        PID, "renewal_declined", "bilan insuffisant", now, 1)


def test_an_ended_partnership_keeps_the_reason_and_detail_given_and_counts_its_years():
    now = at(2025, 12, 1)
    closed, ended = given(opened()).when(c.EndPartnership("withdrawn", now, "L'ecole se retire")).then_types(
        "ProgrammeYearClosed", "PartnershipEnded")
    assert (closed.outcome, closed.closed_at) == ("ended", now)
    assert (ended.reason, ended.detail, ended.ended_at, ended.years) == ("withdrawn", "L'ecole se retire", now, 1)


def test_a_partnership_ended_in_its_second_year_counts_two_years():
    renewal = given(opened()).when(open_year(year_index=2, start_year=2026, now=at(2026, 7, 8))).then_types(
        "ProgrammeYearClosed", "ProgrammeYearOpened")
    _, ended = given(opened(), renewal).when(c.EndPartnership("completed", at(2027, 6, 30))).then_types(
        "ProgrammeYearClosed", "PartnershipEnded")
    assert (ended.year_index, ended.years) == (2, 2)


def test_the_opened_year_carries_the_attributions_campaign_offer_tier_and_cause():
    cmd = replace(open_year(), tier=CultureTier.jumelage, offer_id="offer-7", caused_by="evt-attributed-1")
    [event] = given([]).when(cmd).then_types("ProgrammeYearOpened")
    assert (event.candidature_id, event.campaign_id, event.offer_id, event.tier, event.caused_by) == (
        "cand-42", "camp-paris-2025", "offer-7", "jumelage", "evt-attributed-1")
    assert (event.school, event.partner, event.calendar) == (cmd.school, cmd.partner, cmd.calendar)
    assert [k.class_id for k in event.classes] == [k.class_id for k in cmd.classes]


def test_cancelling_a_class_leaves_the_actions_of_the_other_classes_alone():
    history = given_events_of(open_year(), schedule("mine", ("cm2-b",)), schedule("theirs", ("cm1-a",)))
    cancelled, dropped = given(history).when(c.CancelClass("cm2-b", "classe fermee", at(2025, 10, 2))).then_types(
        "ClassCancelled", "ActionCancelled")
    assert (cancelled.cancelled_action_ids, dropped.action_id) == (["mine"], "mine")


def test_the_folded_year_keeps_the_tier_and_the_candidature_it_came_from():
    state = fold(given_events_of(replace(open_year(), tier=CultureTier.jumelage)))
    assert (state.year.tier, state.identity.candidature_id) == (CultureTier.jumelage, "cand-42")


def test_a_cancelled_class_counts_its_shared_action_as_cancelled_in_its_bilan_row():
    history = given_events_of(open_year(), schedule("own", ("cm2-b",)), schedule("shared", ("cm1-a", "cm2-b")),
                              c.CancelClass("cm2-b", "classe fermee", at(2025, 10, 2)))
    rows = {r.class_id: r for r in class_counts(fold(history).year)}
    assert (rows["cm2-b"].cancelled, rows["cm2-b"].class_cancelled) == (2, True)
    assert rows["cm1-a"].cancelled == 0
