"""Given/when/then: actions per class, and the rules that guard them."""

from __future__ import annotations

from jumelage_contracts.programmes import ActionCancelled, ActionScheduled, ClassParticipation
from programmes.domain import commands as c
from programmes_builders import PID, at, given, given_events_of, open_year, opened, schedule


def test_an_action_is_scheduled_for_a_class_of_the_year():
    events = given(opened()).when(schedule()).then_types("ActionScheduled")
    scheduled = events[0]
    assert isinstance(scheduled, ActionScheduled)
    assert (scheduled.partnership_id, scheduled.school_year, scheduled.year_index) == (PID, "2025-2026", 1)
    assert scheduled.class_ids == ["cm1-a"]


def test_scheduling_the_same_action_twice_produces_nothing_the_second_time():
    given(opened(), given_events_of(open_year(), schedule())[1:]).when(schedule()).then([])


def test_reusing_an_action_id_for_another_action_is_a_conflict():
    history = given_events_of(open_year(), schedule())
    given(history).when(schedule(class_ids=("cm2-b",))).raises("an_action_id_names_one_action")


def test_no_action_before_the_rentree():
    given(opened()).when(schedule(starts_at=at(2025, 8, 28))).raises("no_action_outside_the_school_year")


def test_no_action_after_the_summer_holidays_begin():
    given(opened()).when(schedule(starts_at=at(2026, 7, 10))).raises("no_action_outside_the_school_year")


def test_an_action_may_not_run_over_the_end_of_the_school_year():
    late = schedule(starts_at=at(2026, 7, 6), duration=3 * 24 * 60)
    given(opened()).when(late).raises("no_action_outside_the_school_year")


def test_no_action_on_a_cancelled_class():
    history = given_events_of(open_year(), c.CancelClass("cm2-b", "classe fermee", at(2025, 9, 20)))
    given(history).when(schedule(class_ids=("cm1-a", "cm2-b"))).raises("no_action_on_a_cancelled_class")


def test_no_action_for_a_class_outside_the_programme():
    given(opened()).when(schedule(class_ids=("6e-z",))).raises("class_must_belong_to_the_year")


def test_an_action_is_rescheduled_inside_the_year():
    history = given_events_of(open_year(), schedule())
    events = given(history).when(c.RescheduleAction("act-1", at(2025, 11, 25), at(2025, 11, 10),
                                                    reason="greve")).then_types("ActionRescheduled")
    assert events[0].previous_starts_at == at(2025, 11, 18)
    assert events[0].starts_at == at(2025, 11, 25)


def test_rescheduling_outside_the_year_is_refused():
    history = given_events_of(open_year(), schedule())
    given(history).when(c.RescheduleAction("act-1", at(2026, 8, 1), at(2025, 11, 10))).raises(
        "no_action_outside_the_school_year")


def test_rescheduling_to_the_same_date_produces_nothing():
    history = given_events_of(open_year(), schedule())
    given(history).when(c.RescheduleAction("act-1", at(2025, 11, 18), at(2025, 11, 10))).then([])


def test_a_cancelled_action_is_cancelled_once():
    history = given_events_of(open_year(), schedule(), c.CancelAction("act-1", "intervenant absent", at(2025, 11, 1)))
    given(history).when(c.CancelAction("act-1", "intervenant absent", at(2025, 11, 2))).then([])


def test_a_cancelled_action_cannot_be_completed():
    history = given_events_of(open_year(), schedule(), c.CancelAction("act-1", "intervenant absent", at(2025, 11, 1)))
    given(history).when(c.CompleteAction("act-1", at(2025, 11, 19))).raises("action_must_still_be_planned")


def test_no_completion_before_the_action_date():
    history = given_events_of(open_year(), schedule())
    given(history).when(c.CompleteAction("act-1", at(2025, 11, 17))).raises("no_completion_before_the_action_date")


def test_an_action_is_completed_with_the_pupils_actually_present():
    history = given_events_of(open_year(), schedule())
    done = c.CompleteAction("act-1", at(2025, 11, 18, 11), (ClassParticipation(class_id="cm1-a", pupils_present=23),))
    events = given(history).when(done).then_types("ActionCompleted")
    assert events[0].participants[0].pupils_present == 23
    given(history + events).when(done).then([])


def test_presence_is_counted_only_for_classes_of_the_action():
    history = given_events_of(open_year(), schedule())
    done = c.CompleteAction("act-1", at(2025, 11, 19), (ClassParticipation(class_id="cm2-b", pupils_present=20),))
    given(history).when(done).raises("participants_are_classes_of_the_action")


def test_presence_cannot_exceed_the_class():
    history = given_events_of(open_year(), schedule())
    done = c.CompleteAction("act-1", at(2025, 11, 19), (ClassParticipation(class_id="cm1-a", pupils_present=30),))
    given(history).when(done).raises("presence_cannot_exceed_the_class")


def test_cancelling_a_class_cancels_its_own_actions_and_leaves_shared_ones_to_the_others():
    history = given_events_of(open_year(), schedule("own", ("cm2-b",)), schedule("shared", ("cm1-a", "cm2-b")))
    events = given(history).when(c.CancelClass("cm2-b", "classe fermee", at(2025, 10, 2))).then_types(
        "ClassCancelled", "ActionCancelled")
    assert sorted(events[0].cancelled_action_ids) == ["own", "shared"]
    assert isinstance(events[1], ActionCancelled) and events[1].action_id == "own"
    completed = given(history + events).when(c.CompleteAction("shared", at(2025, 11, 19))).then_types(
        "ActionCompleted")
    assert completed[0].class_ids == ["cm1-a"]


# The school year's days are Paris days for a Paris school (UTC+2 in summer): each boundary is
# tested on both sides, at the minute where the UTC date and the Paris date differ.


def test_an_action_at_half_past_midnight_on_the_rentree_in_paris_is_in_the_year():
    given(opened()).when(schedule(starts_at=at(2025, 8, 31, 22, 30), duration=30)).then_types("ActionScheduled")


def test_an_action_at_one_minute_to_midnight_on_31_august_in_paris_is_outside_the_year():
    given(opened()).when(schedule(starts_at=at(2025, 8, 31, 21, 59), duration=1)).raises(
        "no_action_outside_the_school_year")


def test_an_action_ending_at_one_minute_to_midnight_on_the_last_day_in_paris_is_in_the_year():
    given(opened()).when(schedule(starts_at=at(2026, 7, 7, 21, 0), duration=59)).then_types("ActionScheduled")


def test_an_action_at_half_past_midnight_after_the_last_day_in_paris_is_outside_the_year():
    given(opened()).when(schedule(starts_at=at(2026, 7, 7, 22, 30), duration=30)).raises(
        "no_action_outside_the_school_year")


def test_rescheduling_onto_the_paris_day_before_the_rentree_is_refused():
    history = given_events_of(open_year(), schedule())
    move = c.RescheduleAction(action_id="act-1", starts_at=at(2025, 8, 31, 21, 30), reason="avancée",
                              now=at(2025, 10, 2))
    given(history).when(move).raises("no_action_outside_the_school_year")
