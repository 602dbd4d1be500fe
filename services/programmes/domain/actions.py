"""Actions of the programme, per class: scheduled, rescheduled, cancelled, completed."""

from __future__ import annotations

from datetime import datetime, timedelta

from jumelage_contracts.programmes import (
    ActionCancelled,
    ActionCompleted,
    ActionRescheduled,
    ActionScheduled,
    Side,
)
from jumelage_contracts.reference import Academie, Dispositif

from .commands import CancelAction, CompleteAction, RescheduleAction, ScheduleAction
from .errors import Conflict, NotFound, RuleViolated
from .state import Action, CancelledAction, CompletedAction, Identity, PlannedAction, with_, Year

# -- rules -------------------------------------------------------------------------------------


def no_action_outside_the_school_year(identity: Identity, year: Year, starts_at: datetime,
                                      duration_minutes: int) -> None:
    # the school year's first and last days are days of the académie's own calendar: 23:30 UTC on
    # 31 August is already 1 September in Paris (and still 31 August in Martinique)
    academie = Academie(identity.academie)
    first_day = academie.day_of(starts_at)
    last_day = academie.day_of(starts_at + timedelta(minutes=duration_minutes))
    if first_day < year.starts_on or last_day > year.ends_on:
        raise RuleViolated(
            f"an action of {year.school_year} must take place between {year.starts_on} and {year.ends_on}",
            rule="no_action_outside_the_school_year", field="starts_at")


def no_action_on_a_cancelled_class(year: Year, class_ids: tuple[str, ...]) -> None:
    for class_id in class_ids:
        info = year.classes.get(class_id)
        if info is None:
            raise NotFound(f"class {class_id!r} is not in year {year.school_year}",
                           rule="class_must_belong_to_the_year", field="class_ids")
        if info.cancelled:
            raise RuleViolated(f"class {info.label} was cancelled", rule="no_action_on_a_cancelled_class",
                               field="class_ids")


def jes_needs_both_referents_and_the_signed_charter(identity: Identity, year: Year) -> None:
    if identity.dispositif is not Dispositif.entreprise:
        return
    sides = {r.side for r in year.referents.values()}
    if sides != {Side.school, Side.partner}:
        raise RuleViolated("a JES action needs a referent on both sides",
                           rule="jes_needs_both_referents_and_the_signed_charter", field="referents")
    if not year.fully_signed:
        raise RuleViolated("a JES action needs the charter signed by both sides",
                           rule="jes_needs_both_referents_and_the_signed_charter", field="convention")


def action_must_exist(year: Year, action_id: str) -> Action:
    try:
        return year.actions[action_id]
    except KeyError:
        raise NotFound(f"no action {action_id!r} in {year.school_year}", rule="action_must_exist",
                       field="action_id") from None


def action_must_still_be_planned(action: Action, doing: str) -> PlannedAction:
    if not isinstance(action, PlannedAction):
        state = "completed" if isinstance(action, CompletedAction) else "cancelled"
        raise RuleViolated(f"cannot {doing} a {state} action", rule="action_must_still_be_planned",
                           field="action_id")
    return action


def no_completion_before_the_action_date(action: PlannedAction, now: datetime) -> None:
    if now < action.starts_at:
        raise RuleViolated(f"the action takes place on {action.starts_at.isoformat()}",
                           rule="no_completion_before_the_action_date", field="action_id")


def participants_are_classes_of_the_action(year: Year, classes: tuple[str, ...], cmd: CompleteAction) -> None:
    seen: set[str] = set()
    for p in cmd.participants:
        if p.class_id not in classes or p.class_id in seen:
            raise RuleViolated(f"class {p.class_id!r} is not (or twice) among the action's classes",
                               rule="participants_are_classes_of_the_action", field="participants")
        seen.add(p.class_id)
        if p.pupils_present > year.classes[p.class_id].pupils:
            raise RuleViolated(f"more pupils present than class {p.class_id!r} has",
                               rule="presence_cannot_exceed_the_class", field="participants")


# -- decisions ---------------------------------------------------------------------------------


def schedule_action(cmd: ScheduleAction, identity: Identity, year: Year) -> list:
    known = year.actions.get(cmd.action_id)
    if known is not None:
        if known.kind == cmd.kind and known.class_ids == tuple(cmd.class_ids):
            return []
        raise Conflict(f"action {cmd.action_id!r} was scheduled otherwise", rule="an_action_id_names_one_action",
                       field="action_id")
    no_action_outside_the_school_year(identity, year, cmd.starts_at, cmd.duration_minutes)
    no_action_on_a_cancelled_class(year, cmd.class_ids)
    jes_needs_both_referents_and_the_signed_charter(identity, year)
    return [ActionScheduled(
        **year.stamp(identity.partnership_id), action_id=cmd.action_id, kind=cmd.kind, title=cmd.title,
        class_ids=list(cmd.class_ids), starts_at=cmd.starts_at, duration_minutes=cmd.duration_minutes,
        place=cmd.place, audiences=list(cmd.audiences), time_slot=cmd.time_slot, resource=cmd.resource,
        description=cmd.description)]


def reschedule_action(cmd: RescheduleAction, identity: Identity, year: Year) -> list:
    action = action_must_still_be_planned(action_must_exist(year, cmd.action_id), "reschedule")
    duration = cmd.duration_minutes or action.duration_minutes
    place = cmd.place or action.place
    if (cmd.starts_at, duration, place) == (action.starts_at, action.duration_minutes, action.place):
        return []
    no_action_outside_the_school_year(identity, year, cmd.starts_at, duration)
    return [ActionRescheduled(
        **year.stamp(identity.partnership_id), action_id=action.action_id, kind=action.kind,
        class_ids=list(action.class_ids), starts_at=cmd.starts_at, previous_starts_at=action.starts_at,
        duration_minutes=duration, place=place, reason=cmd.reason)]


def cancel_action(cmd: CancelAction, identity: Identity, year: Year) -> list:
    action = action_must_exist(year, cmd.action_id)
    if isinstance(action, CancelledAction):
        return []
    action_must_still_be_planned(action, "cancel")
    return [ActionCancelled(**year.stamp(identity.partnership_id), action_id=action.action_id, kind=action.kind,
                            class_ids=list(action.class_ids), reason=cmd.reason)]


def complete_action(cmd: CompleteAction, identity: Identity, year: Year) -> list:
    action = action_must_exist(year, cmd.action_id)
    if isinstance(action, CompletedAction):
        return []
    planned = action_must_still_be_planned(action, "complete")
    no_completion_before_the_action_date(planned, cmd.now)
    # A class cancelled after scheduling no longer takes part; the action goes on for the others.
    classes = tuple(c for c in planned.class_ids if not year.classes[c].cancelled)
    participants_are_classes_of_the_action(year, classes, cmd)
    return [ActionCompleted(
        **year.stamp(identity.partnership_id), action_id=planned.action_id, kind=planned.kind,
        class_ids=list(classes), completed_at=cmd.now, participants=list(cmd.participants),
        staff_present=cmd.staff_present, families_present=cmd.families_present, notes=cmd.notes)]


# -- evolution ---------------------------------------------------------------------------------


def evolve_action(year: Year, event) -> Year:
    action = _next_action(year.actions.get(event.action_id), event)
    if action is None:
        return year
    return with_(year, actions={**year.actions, event.action_id: action})


def _next_action(current: Action | None, event) -> Action | None:
    if isinstance(event, ActionScheduled):
        return PlannedAction(action_id=event.action_id, kind=event.kind, class_ids=tuple(event.class_ids),
                             starts_at=event.starts_at, duration_minutes=event.duration_minutes,
                             place=event.place, title=event.title)
    if current is None:
        return None
    if isinstance(event, ActionRescheduled) and isinstance(current, PlannedAction):
        return with_(current, starts_at=event.starts_at, duration_minutes=event.duration_minutes,
                       place=event.place)
    if isinstance(event, ActionCancelled):
        return CancelledAction(action_id=current.action_id, kind=current.kind, class_ids=current.class_ids,
                               starts_at=current.starts_at, reason=event.reason,
                               duration_minutes=current.duration_minutes, place=current.place, title=current.title)
    if isinstance(event, ActionCompleted):
        return CompletedAction(action_id=current.action_id, kind=current.kind, class_ids=current.class_ids,
                               starts_at=current.starts_at, completed_at=event.completed_at,
                               realised_class_ids=tuple(event.class_ids), participants=tuple(event.participants),
                               duration_minutes=current.duration_minutes, place=current.place, title=current.title)
    return current
