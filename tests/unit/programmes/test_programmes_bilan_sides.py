"""Given/when/then: each side records its own part of the bilan; the bilan is complete when both
have (the school alone for a CNR project, which has no partner structure), or when the académie
closes it."""

from __future__ import annotations

from jumelage_contracts.programmes import MeetingKind, QuestionnaireAnswer, Side, SideEvaluation
from programmes.domain import commands as c
from programmes_builders import at, given, given_events_of, open_year

GOOD = SideEvaluation(satisfaction=5, comments="Tres bien", wish_to_continue=True)
STOP = SideEvaluation(satisfaction=2, comments=None, wish_to_continue=False)
SCHOOL_ANSWER = QuestionnaireAnswer(side=Side.school, question="Objectifs atteints ?", answer="Oui")
COMPANY_ANSWER = QuestionnaireAnswer(side=Side.partner, question="Accueil des eleves ?", answer="Tres bon")


def ready(dispositif="culture", *then):
    meeting = c.ScheduleMeeting("mtg-bilan", MeetingKind.bilan, at(2026, 6, 2, 17), "Ecole", at(2026, 5, 1))
    held = c.HoldMeeting("mtg-bilan", "Bilan de l'annee", at(2026, 6, 2, 19))
    return given_events_of(open_year(dispositif), meeting, held, *then)


def part(side, evaluation=GOOD, answers=(), day=3):
    return c.RecordBilanSide(side, evaluation, at(2026, 6, day), tuple(answers))


def test_one_side_records_its_part_and_the_bilan_waits_for_the_other():
    events = given(ready()).when(part(Side.school, answers=[SCHOOL_ANSWER])).then_types("BilanSideRecorded")
    assert events[0].side == Side.school and events[0].questionnaire == [SCHOOL_ANSWER]


def test_the_bilan_is_complete_when_the_second_side_records_its_part():
    history = ready("culture", part(Side.school, STOP))
    events = given(history).when(part(Side.partner, GOOD, day=4)).then_types("BilanSideRecorded", "BilanRecorded")
    bilan = events[1]
    assert (bilan.school, bilan.partner, bilan.wish_to_continue) == (STOP, GOOD, False)


def test_jes_company_answers_its_questionnaire_after_the_school_recorded_its_part():
    # Seed 004: each referent answers the end-of-year questionnaire on its own.
    history = ready("entreprise", part(Side.school, answers=[SCHOOL_ANSWER]))
    events = given(history).when(part(Side.partner, answers=[COMPANY_ANSWER], day=4)).then_types(
        "BilanSideRecorded", "BilanRecorded")
    assert events[1].questionnaire == [SCHOOL_ANSWER, COMPANY_ANSWER]


def test_a_side_answers_only_its_own_questions():
    given(ready("entreprise")).when(part(Side.partner, answers=[SCHOOL_ANSWER])).raises(
        "a_side_answers_its_own_questionnaire")


def test_a_side_records_its_part_once_and_a_repeat_changes_nothing():
    history = ready("culture", part(Side.school))
    given(history).when(part(Side.school)).then([])
    given(history).when(part(Side.school, STOP)).raises("each_side_records_its_part_once")


def test_a_part_needs_the_bilan_meeting_held():
    given(given_events_of(open_year())).when(part(Side.school)).raises("bilan_requires_the_bilan_meeting_held")


def test_a_cnr_bilan_is_complete_with_the_school_part_alone():
    # Seed 003: a CNR project has no partner structure, so no partner evaluation.
    events = given(ready("concertation")).when(part(Side.school)).then_types("BilanSideRecorded", "BilanRecorded")
    assert events[1].partner is None and events[1].wish_to_continue is True
    given(ready("concertation")).when(part(Side.partner)).raises("a_cnr_project_has_no_partner_side")


def test_the_academie_closes_a_bilan_the_partner_never_completed():
    history = ready("culture", part(Side.school))
    events = given(history).when(c.CloseBilan(at(2026, 6, 25))).then_types("BilanRecorded")
    assert events[0].partner is None and events[0].school == GOOD
    given(ready()).when(c.CloseBilan(at(2026, 6, 25))).raises("closing_the_bilan_needs_the_school_part")
    closed = history + events
    given(closed).when(c.CloseBilan(at(2026, 6, 26))).then([])
    given(closed).when(part(Side.partner, day=27)).raises("the_bilan_is_complete")


def joint(school=GOOD, partner=GOOD, answers=()):
    return c.RecordBilan(school, partner, at(2026, 6, 5), tuple(answers))


def test_the_academie_writes_the_joint_bilan_after_a_side_recorded_its_part_and_keeps_that_part():
    """The académie completes the bilan from the meeting's minutes; the side that already recorded
    its own part keeps its evaluation and its answers."""
    history = ready("entreprise", part(Side.school, STOP, answers=[SCHOOL_ANSWER]))
    [bilan] = given(history).when(joint(STOP, GOOD, [COMPANY_ANSWER])).then_types("BilanRecorded")
    assert (bilan.school, bilan.partner, bilan.wish_to_continue) == (STOP, GOOD, False)
    assert bilan.questionnaire == [SCHOOL_ANSWER, COMPANY_ANSWER]


def test_the_joint_bilan_may_not_overwrite_a_part_a_side_recorded():
    history = ready("culture", part(Side.school, STOP))
    error = given(history).when(joint(GOOD, GOOD)).raises("the_joint_bilan_keeps_the_parts_recorded")
    assert error.field == "school"


def test_the_joint_bilan_may_not_answer_for_a_side_that_answered_its_own_questionnaire():
    history = ready("entreprise", part(Side.school, GOOD, answers=[SCHOOL_ANSWER]))
    other = QuestionnaireAnswer(side=Side.school, question="Objectifs atteints ?", answer="Non")
    error = given(history).when(joint(GOOD, GOOD, [other])).raises("the_joint_bilan_keeps_the_parts_recorded")
    assert error.field == "questionnaire"
