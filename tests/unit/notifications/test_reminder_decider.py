"""The reminder decider, given / when / then."""

from __future__ import annotations

from datetime import datetime, timedelta, timezone

from jumelage_contracts.notifications import (
    Recipient, ReminderCancelled, ReminderFailed, ReminderMissed, ReminderScheduled, ReminderSent,
)
from notifications.domain.planning import Trigger, plan
from notifications.domain.reminder import (
    CancelReminder, GaveUp, Pending, PlanReminder, RecordDelivery, RecordFailure, RecordMissed, Sent, decide, fold,
)
from notifications.domain.rules import DEFAULT_RULES, MAX_ATTEMPTS

UTC = timezone.utc
NOW = datetime(2025, 10, 1, tzinfo=UTC)
REF = Recipient(role="school_referent", name="Claire Martin", email="claire.martin@ac-paris.fr")


def planned(starts: datetime = datetime(2025, 11, 18, 9, 0, tzinfo=UTC)):
    trigger = Trigger(kinds=frozenset({"action_scheduled"}), academie="paris", dispositif="culture",
                      partnership_id="p-1", action_id="a-1", dates={"starts_at": starts}, facts={"label": "visite"})
    return next(p for p in plan(trigger, DEFAULT_RULES, NOW, {"school_referent": (REF,)}).schedule
                if p.rule == "action_j_minus_1")


class given:
    def __init__(self, *events) -> None:
        self.state = fold(list(events))

    def when(self, command):
        self.events = decide(command, self.state)
        return self

    def then(self, *types) -> list:
        assert [type(e) for e in self.events] == list(types)
        return self.events


def scheduled(p=None) -> ReminderScheduled:
    return decide(PlanReminder(p or planned()), fold([]))[0]


def test_planning_a_new_reminder_schedules_it() -> None:
    (event,) = given().when(PlanReminder(planned(), caused_by="evt-1")).then(ReminderScheduled)
    assert event.due_at == datetime(2025, 11, 17, 7, 0, tzinfo=UTC) and event.caused_by == "evt-1"


def test_planning_the_same_reminder_again_changes_nothing() -> None:
    given(scheduled()).when(PlanReminder(planned())).then()


def test_a_sent_reminder_is_not_planned_again() -> None:
    sent = ReminderSent(reminder_id=planned().reminder_id, rule="action_j_minus_1", dedup_key="k",
                        message_id="<m@x>", sent_at=NOW, recipients=[REF])
    given(scheduled(), sent).when(PlanReminder(planned())).then()


def test_a_cancelled_reminder_can_be_planned_again_when_its_date_comes_back() -> None:
    cancelled = decide(CancelReminder("rescheduled", NOW), fold([scheduled()]))[0]
    given(scheduled(), cancelled).when(PlanReminder(planned())).then(ReminderScheduled)


def test_a_pending_reminder_can_be_cancelled_once() -> None:
    (event,) = given(scheduled()).when(CancelReminder("cancelled", NOW)).then(ReminderCancelled)
    given(scheduled(), event).when(CancelReminder("cancelled", NOW)).then()


def test_a_delivery_is_recorded_with_its_message_id_and_attempt() -> None:
    (event,) = given(scheduled()).when(RecordDelivery("<id@x>", (REF,), NOW)).then(ReminderSent)
    assert (event.message_id, event.attempt) == ("<id@x>", 1)
    assert isinstance(fold([scheduled(), event]), Sent)


def test_a_reminder_cancelled_while_its_mail_was_on_the_wire_is_recorded_as_sent() -> None:
    cancelled = decide(CancelReminder("satisfied", NOW), fold([scheduled()]))[0]
    (event,) = given(scheduled(), cancelled).when(RecordDelivery("<id@x>", (REF,), NOW)).then(ReminderSent)
    assert (event.message_id, event.attempt, event.recipients) == ("<id@x>", 1, [REF])
    assert isinstance(fold([scheduled(), cancelled, event]), Sent)


def test_a_reminder_sent_after_its_cancellation_counts_the_failed_attempts_before_it() -> None:
    failed = decide(RecordFailure("421 try later", NOW), fold([scheduled()]))[0]
    cancelled = decide(CancelReminder("cancelled", NOW), fold([scheduled(), failed]))[0]
    (event,) = given(scheduled(), failed, cancelled).when(RecordDelivery("<id@x>", (REF,), NOW)).then(ReminderSent)
    assert event.attempt == 2


def test_a_reminder_sent_after_its_cancellation_is_recorded_once_and_not_planned_again() -> None:
    cancelled = decide(CancelReminder("cancelled", NOW), fold([scheduled()]))[0]
    sent = decide(RecordDelivery("<id@x>", (REF,), NOW), fold([scheduled(), cancelled]))[0]
    given(scheduled(), cancelled, sent).when(RecordDelivery("<id@x>", (REF,), NOW)).then()
    given(scheduled(), cancelled, sent).when(PlanReminder(planned())).then()


def test_a_failed_send_of_a_cancelled_reminder_leaves_it_cancelled_and_is_not_retried() -> None:
    cancelled = decide(CancelReminder("cancelled", NOW), fold([scheduled()]))[0]
    given(scheduled(), cancelled).when(RecordFailure("421 try later", NOW)).then()


def test_a_failure_plans_a_retry_with_growing_delays_then_gives_up() -> None:
    history = [scheduled()]
    delays = []
    for _ in range(MAX_ATTEMPTS):
        (failed,) = decide(RecordFailure("421 try later", NOW), fold(history))
        history.append(failed)
        if failed.next_retry_at:
            delays.append(failed.next_retry_at - NOW)
    assert isinstance(failed, ReminderFailed) and failed.final and failed.attempt == MAX_ATTEMPTS
    assert delays == sorted(delays) and delays[0] == timedelta(minutes=1)
    assert isinstance(fold(history), GaveUp)


def test_after_a_failure_the_reminder_stays_pending_until_its_retry_time() -> None:
    (failed,) = decide(RecordFailure("timeout", NOW), fold([scheduled()]))
    state = fold([scheduled(), failed])
    assert isinstance(state, Pending) and state.next_attempt_at == NOW + timedelta(minutes=1) and state.attempts == 1


# -- lateness: sent late within the rule's grace, missed after -------------------------------------

def planned_at(now: datetime, known_at: datetime, rule: str = "action_j_minus_1"):
    trigger = Trigger(kinds=frozenset({"action_scheduled"}), academie="paris", dispositif="culture",
                      partnership_id="p-1", action_id="a-1", facts={"label": "visite"},
                      dates={"starts_at": datetime(2025, 11, 18, 9, 0, tzinfo=UTC)})
    result = plan(trigger, DEFAULT_RULES, now, {"school_referent": (REF,)}, known_at=known_at)
    return next((p for p in result.schedule if p.rule == rule), None)


def test_a_reminder_due_while_its_event_was_in_flight_is_planned_to_go_out_late() -> None:
    p = planned_at(now=datetime(2025, 11, 17, 12, 0, tzinfo=UTC), known_at=NOW)
    assert p is not None and p.missed is None and p.due_at < datetime(2025, 11, 17, 12, 0, tzinfo=UTC)
    assert p.late_until == datetime(2025, 11, 18, 9, 0, tzinfo=UTC)  # up to the visit itself
    given().when(PlanReminder(p)).then(ReminderScheduled)


def test_a_reminder_whose_grace_passed_while_its_event_was_in_flight_is_recorded_missed() -> None:
    p = planned_at(now=datetime(2025, 11, 18, 9, 0, tzinfo=UTC), known_at=NOW)
    assert p is not None and p.missed == "arrived_after_its_grace"
    (event,) = given().when(PlanReminder(p, caused_by="evt-1", now=p.late_until)).then(ReminderMissed)
    assert event.reason == "arrived_after_its_grace" and event.caused_by == "evt-1"
    given(event).when(PlanReminder(p)).then()  # missed is final: a redelivery plans nothing


def test_a_reminder_already_due_when_its_event_happened_is_still_not_planned() -> None:
    late_fact = datetime(2025, 11, 17, 12, 0, tzinfo=UTC)
    assert planned_at(now=late_fact, known_at=late_fact) is None


def test_the_scheduler_records_a_pending_reminder_reached_after_its_grace_as_missed() -> None:
    (event,) = given(scheduled()).when(RecordMissed(datetime(2025, 11, 18, 9, 0, tzinfo=UTC), NOW)).then(ReminderMissed)
    assert event.reason == "not_sent_before_its_grace"
    given(scheduled(), event).when(RecordDelivery("<m@x>", (REF,), NOW)).then()


def test_a_reminder_whose_cancelling_fact_is_already_known_is_not_planned() -> None:
    trigger = Trigger(kinds=frozenset({"partnership_attributed"}), academie="paris", dispositif="culture",
                      school_year="2025-2026", partnership_id="p-1", uai="0750655E",
                      dates={"work_meeting_window_start": datetime(2025, 9, 15).date(),
                             "work_meeting_window_end": datetime(2025, 10, 17).date()},
                      satisfied=frozenset({"work_meeting_scheduled"}))
    result = plan(trigger, DEFAULT_RULES, NOW - timedelta(days=90), {"school_referent": (REF,)})
    assert {p.rule for p in result.schedule} & {"work_meeting_to_hold", "work_meeting_escalation"} == set()
    assert ("work_meeting_to_hold", "already satisfied") in result.skipped
