"""The bilan of a year: planned versus realised, computed from the year's actions, never typed in.

Per class: ``planned`` counts every action ever scheduled for the class; ``realised`` the completed
ones the class still took part in; ``cancelled`` the actions cancelled, plus those the class was
dropped from when it was cancelled (the action may have gone on for other classes).
"""

from __future__ import annotations


from jumelage_contracts.programmes import BilanRecorded, ClassBilan, KindBilan, MeetingKind
from jumelage_contracts.reference import ActionKind

from .commands import RecordBilan
from .errors import RuleViolated
from .state import CancelledAction, CompletedAction, HeldMeeting, Identity, with_, Year

# -- counting ----------------------------------------------------------------------------------


def class_counts(year: Year) -> list[ClassBilan]:
    rows = []
    for info in year.classes.values():
        c = info.class_id
        actions = [a for a in year.actions.values() if c in a.class_ids]
        realised = [a for a in actions if isinstance(a, CompletedAction) and c in a.realised_class_ids]
        cancelled = {a.action_id for a in actions if isinstance(a, CancelledAction)}
        cancelled |= set(year.dropped_by_class.get(c, ()))
        reached = sum(p.pupils_present for a in realised for p in a.participants if p.class_id == c)
        rows.append(ClassBilan(
            class_id=c, label=info.label, level=info.level, pupils=info.pupils, planned=len(actions),
            realised=len(realised), cancelled=len(cancelled), pupils_reached=reached,
            class_cancelled=info.cancelled))
    return rows


def kind_counts(year: Year) -> list[KindBilan]:
    kinds = sorted({a.kind for a in year.actions.values()}, key=lambda k: k.value)
    return [_kind_row(year, kind) for kind in kinds]


def _kind_row(year: Year, kind: ActionKind) -> KindBilan:
    actions = [a for a in year.actions.values() if a.kind == kind]
    return KindBilan(kind=kind, planned=len(actions),
                     realised=sum(isinstance(a, CompletedAction) for a in actions),
                     cancelled=sum(isinstance(a, CancelledAction) for a in actions))


# -- rules -------------------------------------------------------------------------------------


def bilan_requires_the_bilan_meeting_held(year: Year) -> HeldMeeting:
    held = [m for m in year.meetings.values() if isinstance(m, HeldMeeting) and m.kind == MeetingKind.bilan]
    if not held:
        raise RuleViolated("the bilan is recorded once the bilan meeting has been held",
                           rule="bilan_requires_the_bilan_meeting_held", field="bilan_meeting")
    return max(held, key=lambda m: m.held_at)


def no_bilan_twice_for_a_year(year: Year, cmd: RecordBilan) -> bool:
    """True when this very bilan is already recorded (nothing to do); a different one is refused."""
    if year.bilan is None:
        return False
    if (year.bilan.school, year.bilan.partner) == (cmd.school, cmd.partner):
        return True
    raise RuleViolated(f"the bilan of {year.school_year} is already recorded", rule="no_bilan_twice_for_a_year",
                       field="bilan")


# -- decision ----------------------------------------------------------------------------------


def record_bilan(cmd: RecordBilan, identity: Identity, year: Year) -> list:
    if no_bilan_twice_for_a_year(year, cmd):
        return []
    meeting = bilan_requires_the_bilan_meeting_held(year)
    actions = year.actions.values()
    completed = [a for a in actions if isinstance(a, CompletedAction)]
    return [BilanRecorded(
        **year.stamp(identity.partnership_id), bilan_meeting_id=meeting.meeting_id, recorded_at=cmd.now,
        per_class=class_counts(year), per_kind=kind_counts(year), planned=len(year.actions),
        realised=len(completed), cancelled=sum(isinstance(a, CancelledAction) for a in actions),
        pupils_reached=sum(p.pupils_present for a in completed for p in a.participants),
        school=cmd.school, partner=cmd.partner, questionnaire=list(cmd.questionnaire),
        wish_to_continue=the_wish_to_continue(cmd, year))]


def the_wish_to_continue(cmd: RecordBilan, year: Year) -> bool:
    """Both sides wish to continue, and — plan mercredi — the bilan step did not refuse the
    reconduction: seed 001 has that step decide « de la reconduction ou non du partenariat »."""
    return cmd.school.wish_to_continue and cmd.partner.wish_to_continue and year.reconduction is not False


def evolve_bilan_recorded(year: Year, event: BilanRecorded) -> Year:
    return with_(year, bilan=event)
