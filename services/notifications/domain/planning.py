"""From a trigger (a fact learnt from another service's event) to the reminders to plan and the
reminders to cancel. Pure: the rules, the recipients known so far and ``now`` come in.

Planning is a reconciliation: a trigger yields the reminders its rules want, and a cancellation
of the pending reminders of the same subject whose rules it cancels — except those it plans
again identically (an action "rescheduled" to the same date keeps its reminders).
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass, field
from datetime import date, datetime, time, timedelta, timezone
from typing import Any, Callable, Mapping

from jumelage_contracts.notifications import Recipient
from jumelage_contracts.reference import timezone_of

from .rules import Rule

REMINDER_NAMESPACE = uuid.UUID("6c7b1d0e-3f6a-4c52-9a1e-2b8f4d9e0a17")


@dataclass(frozen=True)
class Trigger:
    """A fact the rules react to. ``kinds`` may hold several names (a work meeting scheduled is
    both ``meeting_scheduled`` and ``work_meeting_scheduled``); ``dates`` are the anchors."""

    kinds: frozenset[str]
    academie: str
    dispositif: str | None = None
    school_year: str | None = None
    campaign_id: str | None = None
    candidature_id: str | None = None
    partnership_id: str | None = None
    action_id: str | None = None
    meeting_id: str | None = None
    uai: str | None = None
    dates: Mapping[str, datetime | date] = field(default_factory=dict)
    facts: Mapping[str, str] = field(default_factory=dict)
    flags: Mapping[str, bool] = field(default_factory=dict)
    event_id: str | None = None
    # Facts already true about the subject, whatever order the events came in (a work meeting
    # on the calendar, the bilan recorded, the partnership ended): a rule they would cancel is
    # not planned. An event arriving after the one that satisfies it plans nothing stale.
    satisfied: frozenset[str] = frozenset()


@dataclass(frozen=True)
class PlannedReminder:
    reminder_id: str
    rule: str
    dedup_key: str
    due_at: datetime
    scope: str
    scope_id: str
    school_year: str | None
    audience: tuple[str, ...]
    recipients: tuple[Recipient, ...]
    title: str
    template: str
    kind: str
    event_at: datetime | None
    place: str | None
    subject: Mapping[str, Any]
    late_until: datetime | None = None  # end of the grace: sent late until then, missed after
    missed: str | None = None           # why it is recorded as missed instead of planned
    detail: str | None = None           # a decision's own words (its reason, the classes), for the mail


@dataclass(frozen=True)
class CancelRequest:
    """Cancel the pending reminders of ``rules`` about ``scope``/``scope_id`` (and ``school_year``
    when given), except the dedup keys in ``keep``."""

    scope: str
    scope_id: str
    rules: frozenset[str]
    reason: str
    school_year: str | None = None
    keep: frozenset[str] = frozenset()


@dataclass(frozen=True)
class Plan:
    schedule: tuple[PlannedReminder, ...] = ()
    cancel: tuple[CancelRequest, ...] = ()
    skipped: tuple[tuple[str, str], ...] = ()  # (rule, why) for the logs


# -- named rules ---------------------------------------------------------------------------------

CONDITIONS: dict[str, Callable[[Trigger], bool]] = {
    # The school wishes to continue and the partnership may run another year (a renewal asked
    # for in its last allowed year would be refused: no reminder invites it).
    "may_ask_for_renewal": lambda t: bool(t.flags.get("wishes_to_continue")) and not t.flags.get("last_allowed_year"),
    # The partner is told once, when the partnership is attributed on its offer (year 1): a CNR
    # project without a partner has nobody to tell, a renewed year is told as a renewal.
    "offer_chosen_for_a_partner": lambda t: bool(t.flags.get("has_partner")) and bool(t.flags.get("first_year")),
}


def rule_applies_to_trigger(rule: Rule, trigger: Trigger) -> bool:
    return rule.enabled and bool(rule.on & trigger.kinds) and (
        rule.condition is None or CONDITIONS[rule.condition](trigger))


def a_reminder_already_due_is_not_planned(due: datetime, known_at: datetime) -> bool:
    """A reminder already due when its fact became true (an action scheduled for the day after
    tomorrow has no J-7) would only be noise. ``known_at`` is when the event happened, not when
    it reached us: a reminder due while its event was in flight is late, not pointless."""
    return due <= known_at


def a_decision_is_told_as_soon_as_someone_can_receive_it(due: datetime, known_at: datetime) -> datetime:
    """A decision is news, not a reminder of a date: it is never "already due". It goes out at
    its own time, or, when it becomes known later (its event was in flight, the partner's
    referent was named after the attribution), at once — within its grace (``late_until``)."""
    return max(due, known_at)


def a_reminder_already_satisfied_is_not_planned(rule: Rule, trigger: Trigger) -> bool:
    """What would cancel it is already known (the work meeting is on the calendar, the bilan
    recorded, the partnership ended): planning it now would leave a reminder nothing cancels."""
    return bool(rule.cancelled_by & trigger.satisfied)


def grace_end(rule: Rule, trigger: Trigger, anchor: datetime | date, due: datetime) -> datetime:
    """The last moment a late reminder still goes out: the fact date ``rule.late_until`` (the end
    of its local day for a calendar date; the rule's own anchor when the trigger lacks it) plus
    ``rule.late_days``; never before the reminder's own time."""
    until = trigger.dates.get(rule.late_until, anchor)
    if isinstance(until, datetime):
        end = until
    else:
        tz = timezone_of(trigger.academie)
        end = datetime.combine(until + timedelta(days=1), time(0, 0), tzinfo=tz).astimezone(timezone.utc)
    return max(end + timedelta(days=rule.late_days), due)


def a_late_reminder_goes_out_within_its_grace(due: datetime, late_until: datetime, now: datetime) -> str:
    """``on_time``, ``late`` (its time passed: it goes out at once) or ``missed`` (its grace
    passed too: recorded as missed, visibly, never sent)."""
    if due > now:
        return "on_time"
    return "late" if now < late_until else "missed"


def a_late_start_catches_up_while_the_window_is_open(rule: Rule, trigger: Trigger, now: datetime) -> datetime | None:
    """A partnership attributed late (after the work-meeting window opened) was never told to
    hold its work meeting: the window's reminder goes out at the next ``at`` local time, as long
    as that falls within the window. None: too late, or a trigger that does not catch up (the
    only work meeting cancelled: its referents were told, and scheduled one)."""
    until = trigger.dates.get(rule.catch_up_until) if rule.catch_up_until else None
    if until is None or not rule.catch_up_on & trigger.kinds:
        return None
    tz = timezone_of(trigger.academie)
    local_now = now.astimezone(tz)
    day = local_now.date() if local_now.time() < rule.at else local_now.date() + timedelta(days=1)
    last_day = until.astimezone(tz).date() if isinstance(until, datetime) else until
    if day > last_day:
        return None
    return datetime.combine(day, rule.at, tzinfo=tz).astimezone(timezone.utc)


def a_reminder_needs_a_recipient(recipients: tuple[Recipient, ...]) -> bool:
    return len(recipients) > 0


def cancellation_reason(kinds: frozenset[str]) -> str:
    if "partnership_ended" in kinds:
        return "partnership_ended"
    if any(k.endswith("_rescheduled") for k in kinds):
        return "rescheduled"
    if any(k.endswith(("_cancelled", "_withdrawn", "_closed")) for k in kinds):
        return "cancelled"
    return "satisfied"


# -- computation ---------------------------------------------------------------------------------


def due_at(rule: Rule, anchor: datetime | date, academie: str) -> datetime:
    """``anchor`` day (local) + ``offset_days``, at ``rule.at`` local time, as UTC; a rule with
    no ``at`` goes out at the anchor's own instant (+ ``offset_days``)."""
    tz = timezone_of(academie)
    if rule.at is None and rule.fixed_date is None:
        instant = anchor if isinstance(anchor, datetime) else datetime.combine(anchor, time(0, 0), tzinfo=tz)
        return (instant + timedelta(days=rule.offset_days)).astimezone(timezone.utc)
    if rule.fixed_date is not None:
        day = rule.fixed_date
    else:
        local_day = anchor.astimezone(tz).date() if isinstance(anchor, datetime) else anchor
        day = local_day + timedelta(days=rule.offset_days)
    return datetime.combine(day, rule.at or time(8, 0), tzinfo=tz).astimezone(timezone.utc)


def scope_id(rule: Rule, trigger: Trigger) -> str | None:
    return subject_of(rule.scope, trigger)


def subject_of(scope: str, trigger: Trigger) -> str | None:
    """The id a reminder of ``scope`` is about. Action and meeting ids are the clients' choice and
    unique within their partnership only: they are qualified by it, so two partnerships' "visite-1"
    neither share nor cancel each other's reminders."""
    if scope == "partnership":
        return trigger.partnership_id
    ref = getattr(trigger, f"{scope}_id")
    if scope in ("action", "meeting") and ref is not None and trigger.partnership_id is not None:
        return f"{trigger.partnership_id}/{ref}"
    return ref


def dedup_key(rule: Rule, trigger: Trigger, anchor: datetime | date) -> str:
    year = f":{trigger.school_year}" if rule.scope == "partnership" and trigger.school_year else ""
    return f"{rule.name}:{scope_id(rule, trigger)}{year}:{anchor.isoformat()}"


def reminder_id(key: str) -> str:
    """Same plan, same id: redelivered or replayed triggers cannot plan a second reminder."""
    return "rem-" + uuid.uuid5(REMINDER_NAMESPACE, key).hex


class _Blank(dict):
    def __missing__(self, key: str) -> str:
        return "?"


def title_of(rule: Rule, trigger: Trigger) -> str:
    return rule.title.format_map(_Blank(trigger.facts))[:300]


def recipients_for(audience: tuple[str, ...], directory: Mapping[str, tuple[Recipient, ...]]) -> tuple[Recipient, ...]:
    """Everyone of the audience's roles known in ``directory``, each address once."""
    seen: set[str] = set()
    result = []
    for role in audience:
        for person in directory.get(role, ()):
            if person.email.lower() not in seen:
                seen.add(person.email.lower())
                result.append(person)
    return tuple(result)


def plan(trigger: Trigger, rules: tuple[Rule, ...], now: datetime,
         directory: Mapping[str, tuple[Recipient, ...]], known_at: datetime | None = None) -> Plan:
    """What ``trigger`` plans and cancels under ``rules`` at ``now``, given the known recipients.
    ``known_at``: when the trigger's event happened (``now`` when not given); a reminder due
    between the two is late, sent within its grace or recorded as missed."""
    schedule: list[PlannedReminder] = []
    skipped: list[tuple[str, str]] = []
    known_at = now if known_at is None else min(known_at, now)
    for rule in rules:
        if not rule_applies_to_trigger(rule, trigger):
            continue
        if a_reminder_already_satisfied_is_not_planned(rule, trigger):
            skipped.append((rule.name, "already satisfied"))
            continue
        planned = _plan_one(rule, trigger, now, known_at, directory)
        if isinstance(planned, str):
            skipped.append((rule.name, planned))
        else:
            schedule.append(planned)
    keep = frozenset(p.dedup_key for p in schedule)
    cancel = tuple(_cancellations(trigger, rules, keep))
    return Plan(schedule=tuple(schedule), cancel=cancel, skipped=tuple(skipped))


def _plan_one(rule: Rule, trigger: Trigger, now: datetime, known_at: datetime,
              directory: Mapping[str, tuple[Recipient, ...]]) -> PlannedReminder | str:
    anchor = trigger.dates.get(rule.anchor)
    subject_id = scope_id(rule, trigger)
    if anchor is None or subject_id is None:
        return f"no {rule.anchor if anchor is None else rule.scope + ' id'}"
    due = due_at(rule, anchor, trigger.academie)
    if rule.kind == "decision":
        due = a_decision_is_told_as_soon_as_someone_can_receive_it(due, known_at)
    elif a_reminder_already_due_is_not_planned(due, known_at):
        caught_up = a_late_start_catches_up_while_the_window_is_open(rule, trigger, known_at)
        if caught_up is None:
            return f"already due ({due.isoformat()})"
        due = caught_up
    late_until = grace_end(rule, trigger, anchor, due)
    timing = a_late_reminder_goes_out_within_its_grace(due, late_until, now)
    recipients = recipients_for(rule.audience, directory)
    if not a_reminder_needs_a_recipient(recipients):
        return "no recipient known"
    key = dedup_key(rule, trigger, anchor)
    event_at = anchor if isinstance(anchor, datetime) else datetime.combine(
        anchor, time(0, 0), tzinfo=timezone_of(trigger.academie))
    return PlannedReminder(
        reminder_id=reminder_id(key), rule=rule.name, dedup_key=key, due_at=due, scope=rule.scope,
        scope_id=subject_id, school_year=trigger.school_year if rule.scope == "partnership" else None,
        audience=rule.audience, recipients=recipients, title=title_of(rule, trigger),
        template=rule.template, kind=rule.kind, event_at=event_at, place=trigger.facts.get("place"),
        subject={
            "academie": trigger.academie, "dispositif": trigger.dispositif, "school_year": trigger.school_year,
            "campaign_id": trigger.campaign_id, "partnership_id": trigger.partnership_id,
            "action_id": trigger.action_id, "meeting_id": trigger.meeting_id, "uai": trigger.uai,
        },
        late_until=late_until, missed="arrived_after_its_grace" if timing == "missed" else None,
        detail=trigger.facts.get("detail") if rule.kind == "decision" else None,
    )


def _cancellations(trigger: Trigger, rules: tuple[Rule, ...], keep: frozenset[str]):
    by_scope: dict[str, set[str]] = {}
    for rule in rules:
        if rule.cancelled_by & trigger.kinds:
            by_scope.setdefault(rule.scope, set()).add(rule.name)
    reason = cancellation_reason(trigger.kinds)
    for scope, names in sorted(by_scope.items()):
        subject_id = subject_of(scope, trigger)
        if subject_id is None:
            continue
        year = trigger.school_year if scope == "partnership" else None
        yield CancelRequest(scope=scope, scope_id=subject_id, rules=frozenset(names), reason=reason,
                            school_year=year, keep=keep)
