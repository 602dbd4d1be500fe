"""The reminder decider: one stream ``reminder-<id>`` per planned reminder.

Lifecycle: NotPlanned → Pending → Sent | Cancelled | GaveUp | Missed; a failed attempt keeps it
Pending with a later ``next_attempt_at`` until the retries run out. NotPlanned → Missed when it is
planned after its grace ended (its event reached us too late); Pending → Missed when the
scheduler reaches it after its grace (the service was down). Cancelled → Sent when the mail was
already on the wire as the cancellation came in: the stream keeps both, the mail went out.
"""

from __future__ import annotations

from dataclasses import dataclass, replace
from datetime import datetime
from typing import Union

from jumelage_contracts.notifications import (
    Recipient,
    ReminderCancelled,
    ReminderFailed,
    ReminderMissed,
    ReminderScheduled,
    ReminderSent,
    SubjectRef,
)

from .planning import PlannedReminder
from .rules import MAX_ATTEMPTS, retry_delay


# -- state ---------------------------------------------------------------------------------------

@dataclass(frozen=True)
class NotPlanned:
    pass


@dataclass(frozen=True)
class Pending:
    reminder_id: str
    rule: str
    dedup_key: str
    due_at: datetime
    next_attempt_at: datetime
    attempts: int = 0


@dataclass(frozen=True)
class Sent:
    reminder_id: str
    rule: str
    dedup_key: str
    message_id: str


@dataclass(frozen=True)
class Cancelled:
    reminder_id: str
    rule: str
    dedup_key: str
    reason: str
    attempts: int = 0


@dataclass(frozen=True)
class GaveUp:
    reminder_id: str
    rule: str
    dedup_key: str
    error: str
    attempts: int


@dataclass(frozen=True)
class Missed:
    reminder_id: str
    rule: str
    dedup_key: str
    reason: str


State = Union[NotPlanned, Pending, Sent, Cancelled, GaveUp, Missed]


# -- commands ------------------------------------------------------------------------------------

@dataclass(frozen=True)
class PlanReminder:
    planned: PlannedReminder
    caused_by: str | None = None
    now: datetime | None = None  # when it is decided (the time a missed reminder is recorded)


@dataclass(frozen=True)
class CancelReminder:
    reason: str
    now: datetime


@dataclass(frozen=True)
class RecordDelivery:
    message_id: str
    recipients: tuple[Recipient, ...]
    now: datetime


@dataclass(frozen=True)
class RecordFailure:
    error: str
    now: datetime


@dataclass(frozen=True)
class RecordMissed:
    """The scheduler reached a pending reminder after its grace: it is not sent."""

    late_until: datetime
    now: datetime
    reason: str = "not_sent_before_its_grace"


Command = Union[PlanReminder, CancelReminder, RecordDelivery, RecordFailure, RecordMissed]
Event = Union[ReminderScheduled, ReminderSent, ReminderCancelled, ReminderFailed, ReminderMissed]


# -- named rules ---------------------------------------------------------------------------------

def a_finished_reminder_is_not_planned_again(state: State) -> bool:
    """Sent, given up or missed: what was done is done (a redelivered trigger plans nothing)."""
    return isinstance(state, (Sent, GaveUp, Missed))


def a_pending_reminder_is_replanned_only_when_its_date_moves(state: Pending, planned: PlannedReminder) -> bool:
    return state.due_at != planned.due_at


def only_a_pending_reminder_can_be_sent_cancelled_or_fail(state: State) -> bool:
    return isinstance(state, Pending)


def a_mail_sent_after_its_cancellation_is_recorded_as_sent(state: State) -> bool:
    """The scheduler only sends what it claimed while pending, so a delivery reported on a
    cancelled reminder went out after the claim, while the cancellation came in: people received
    it, and the record says so (a failed send of a cancelled reminder is not retried)."""
    return isinstance(state, Cancelled)


def next_retry(attempt: int, now: datetime) -> datetime | None:
    """Bounded backoff: None once ``MAX_ATTEMPTS`` attempts have failed."""
    if attempt >= MAX_ATTEMPTS:
        return None
    delay = retry_delay(attempt)
    return None if delay is None else now + delay


# -- decide / evolve -----------------------------------------------------------------------------

def decide(command: Command, state: State) -> list[Event]:
    if isinstance(command, PlanReminder):
        return _plan(command, state)
    if isinstance(command, RecordMissed):
        if not isinstance(state, Pending):
            return []
        return [ReminderMissed(reminder_id=state.reminder_id, rule=state.rule, dedup_key=state.dedup_key,
                               due_at=state.due_at, late_until=command.late_until, reason=command.reason,
                               missed_at=command.now)]
    if isinstance(command, RecordDelivery) and a_mail_sent_after_its_cancellation_is_recorded_as_sent(state):
        assert isinstance(state, Cancelled)
        return [_sent(state.reminder_id, state.rule, state.dedup_key, command, state.attempts + 1)]
    if not only_a_pending_reminder_can_be_sent_cancelled_or_fail(state):
        return []
    assert isinstance(state, Pending)
    if isinstance(command, CancelReminder):
        return [ReminderCancelled(reminder_id=state.reminder_id, rule=state.rule, dedup_key=state.dedup_key,
                                  reason=command.reason, cancelled_at=command.now)]
    if isinstance(command, RecordDelivery):
        return [_sent(state.reminder_id, state.rule, state.dedup_key, command, state.attempts + 1)]
    attempt = state.attempts + 1
    retry_at = next_retry(attempt, command.now)
    return [ReminderFailed(reminder_id=state.reminder_id, rule=state.rule, dedup_key=state.dedup_key,
                           error=command.error[:2000] or "unknown error", attempt=attempt,
                           failed_at=command.now, next_retry_at=retry_at, final=retry_at is None)]


def _sent(reminder_id: str, rule: str, dedup_key: str, command: RecordDelivery, attempt: int) -> ReminderSent:
    return ReminderSent(reminder_id=reminder_id, rule=rule, dedup_key=dedup_key, message_id=command.message_id,
                        sent_at=command.now, recipients=list(command.recipients), attempt=attempt)


def _plan(command: PlanReminder, state: State) -> list[Event]:
    p = command.planned
    if a_finished_reminder_is_not_planned_again(state):
        return []
    if p.missed is not None:
        return [ReminderMissed(
            reminder_id=p.reminder_id, rule=p.rule, dedup_key=p.dedup_key, due_at=p.due_at,
            late_until=p.late_until or p.due_at, reason=p.missed, missed_at=command.now or p.due_at,
            subject=SubjectRef.model_validate(dict(p.subject)), title=p.title, caused_by=command.caused_by)]
    if isinstance(state, Pending) and not a_pending_reminder_is_replanned_only_when_its_date_moves(state, p):
        return []
    return [ReminderScheduled(
        reminder_id=p.reminder_id, rule=p.rule, dedup_key=p.dedup_key, due_at=p.due_at,
        recipients=list(p.recipients), subject=SubjectRef.model_validate(dict(p.subject)), title=p.title,
        event_at=p.event_at, place=p.place, caused_by=command.caused_by,
    )]


def evolve(state: State, event: Event) -> State:
    if isinstance(event, ReminderScheduled):
        attempts = state.attempts if isinstance(state, Pending) else 0
        return Pending(event.reminder_id, event.rule, event.dedup_key, event.due_at, event.due_at, attempts)
    if isinstance(event, ReminderSent):
        return Sent(event.reminder_id, event.rule, event.dedup_key, event.message_id)
    if isinstance(event, ReminderCancelled):
        attempts = state.attempts if isinstance(state, Pending) else 0
        return Cancelled(event.reminder_id, event.rule, event.dedup_key, event.reason, attempts)
    if isinstance(event, ReminderMissed):
        return Missed(event.reminder_id, event.rule, event.dedup_key, event.reason)
    if isinstance(event, ReminderFailed):
        if event.final or event.next_retry_at is None:
            return GaveUp(event.reminder_id, event.rule, event.dedup_key, event.error, event.attempt)
        if isinstance(state, Pending):
            return replace(state, attempts=event.attempt, next_attempt_at=event.next_retry_at)
    return state


def fold(events: list[Event], state: State | None = None) -> State:
    current: State = state or NotPlanned()
    for event in events:
        current = evolve(current, event)
    return current
