"""The bilan of a year: planned versus realised, computed from the year's actions, never typed in.

Per class: ``planned`` counts every action ever scheduled for the class; ``realised`` the completed
ones the class still took part in; ``cancelled`` the actions cancelled, plus those the class was
dropped from when it was cancelled (the action may have gone on for other classes).
"""

from __future__ import annotations


from jumelage_contracts.programmes import (
    BilanRecorded,
    BilanSideRecorded,
    ClassBilan,
    KindBilan,
    MeetingKind,
    QuestionnaireAnswer,
    Side,
    SideEvaluation,
)
from jumelage_contracts.reference import ActionKind, Dispositif

from .commands import CloseBilan, RecordBilan, RecordBilanSide
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


def the_joint_bilan_keeps_the_parts_recorded(year: Year, cmd: RecordBilan) -> tuple[QuestionnaireAnswer, ...]:
    """Each side records its own part with its own word (its satisfaction, its wish to continue —
    what the renewal reads); the académie writing the joint bilan from the bilan meeting's minutes
    completes it, it does not rewrite a part already recorded: a side's evaluation given again
    must be the one recorded, and that side's answers are the ones it gave. Returns the joint
    questionnaire: the recorded sides' answers, then the académie's for the others."""
    given = {Side.school: cmd.school, Side.partner: cmd.partner}
    for side, part in year.bilan_parts.items():
        if given[side] != part.evaluation:
            raise RuleViolated(f"the {side.value} side recorded its own part of the bilan: the joint bilan keeps it "
                               "(close the bilan to complete it with the parts recorded)",
                               rule="the_joint_bilan_keeps_the_parts_recorded", field=side.value)
        theirs = [a for a in cmd.questionnaire if a.side == side]
        if theirs and theirs != list(part.questionnaire):
            raise RuleViolated(f"the {side.value} side answered its own questionnaire: the joint bilan keeps its "
                               "answers", rule="the_joint_bilan_keeps_the_parts_recorded", field="questionnaire")
    recorded = [a for side in (Side.school, Side.partner) if side in year.bilan_parts
                for a in year.bilan_parts[side].questionnaire]
    return (*recorded, *(a for a in cmd.questionnaire if a.side not in year.bilan_parts))


def each_side_records_its_part_once(year: Year, cmd: RecordBilanSide) -> bool:
    """True when this very part is already recorded (nothing to do); another one is refused."""
    known = year.bilan_parts.get(cmd.side)
    if known is None:
        return False
    if (known.evaluation, tuple(known.questionnaire)) == (cmd.evaluation, cmd.questionnaire):
        return True
    raise RuleViolated(f"the {cmd.side.value} part of the bilan is already recorded",
                       rule="each_side_records_its_part_once", field="side")


def the_bilan_is_not_complete_yet(year: Year) -> None:
    if year.bilan is not None:
        raise RuleViolated(f"the bilan of {year.school_year} is complete", rule="the_bilan_is_complete", field="side")


def a_side_answers_its_own_questionnaire(cmd: RecordBilanSide) -> None:
    """Seed 004: each referent answers the end-of-year questionnaire on its own."""
    for i, answer in enumerate(cmd.questionnaire):
        if answer.side != cmd.side:
            raise RuleViolated(f"the {cmd.side.value} side answers its own questions",
                               rule="a_side_answers_its_own_questionnaire", field=f"questionnaire[{i}].side")


def has_a_partner_side(identity: Identity) -> bool:
    """Seed 003: a CNR project (« concertation ») has no partner structure to evaluate it."""
    return identity.dispositif is not Dispositif.concertation


def a_cnr_project_has_no_partner_side(identity: Identity, cmd: RecordBilanSide) -> None:
    if cmd.side is Side.partner and not has_a_partner_side(identity):
        raise RuleViolated("a CNR project has no partner structure", rule="a_cnr_project_has_no_partner_side",
                           field="side")


def closing_the_bilan_needs_the_school_part(year: Year) -> None:
    if Side.school not in year.bilan_parts:
        raise RuleViolated("the school has not recorded its part of the bilan",
                           rule="closing_the_bilan_needs_the_school_part", field="bilan")


# -- decision ----------------------------------------------------------------------------------


def record_bilan(cmd: RecordBilan, identity: Identity, year: Year) -> list:
    """Both parts at once (the académie, from the bilan meeting's minutes)."""
    if no_bilan_twice_for_a_year(year, cmd):
        return []
    answers = the_joint_bilan_keeps_the_parts_recorded(year, cmd)
    meeting = bilan_requires_the_bilan_meeting_held(year)
    return [joint_bilan(identity, year, meeting, cmd.school, cmd.partner, answers, cmd.now)]


def record_bilan_side(cmd: RecordBilanSide, identity: Identity, year: Year) -> list:
    if each_side_records_its_part_once(year, cmd):
        return []
    the_bilan_is_not_complete_yet(year)
    a_cnr_project_has_no_partner_side(identity, cmd)
    a_side_answers_its_own_questionnaire(cmd)
    meeting = bilan_requires_the_bilan_meeting_held(year)
    recorded = BilanSideRecorded(**year.stamp(identity.partnership_id), side=cmd.side, recorded_at=cmd.now,
                                 evaluation=cmd.evaluation, questionnaire=list(cmd.questionnaire))
    parts = {**year.bilan_parts, cmd.side: recorded}
    if Side.school not in parts or (has_a_partner_side(identity) and Side.partner not in parts):
        return [recorded]
    return [recorded, joint_bilan_of_parts(identity, year, meeting, parts, cmd.now)]


def close_bilan(cmd: CloseBilan, identity: Identity, year: Year) -> list:
    if year.bilan is not None:
        return []
    closing_the_bilan_needs_the_school_part(year)
    meeting = bilan_requires_the_bilan_meeting_held(year)
    return [joint_bilan_of_parts(identity, year, meeting, year.bilan_parts, cmd.now)]


def joint_bilan_of_parts(identity: Identity, year: Year, meeting: HeldMeeting, parts: dict, now) -> BilanRecorded:
    school, partner = parts[Side.school], parts.get(Side.partner)
    answers = [*school.questionnaire, *(partner.questionnaire if partner else [])]
    return joint_bilan(identity, year, meeting, school.evaluation, partner.evaluation if partner else None,
                       tuple(answers), now)


def joint_bilan(identity: Identity, year: Year, meeting: HeldMeeting, school: SideEvaluation,
                partner: SideEvaluation | None, questionnaire: tuple[QuestionnaireAnswer, ...], now) -> BilanRecorded:
    actions = year.actions.values()
    completed = [a for a in actions if isinstance(a, CompletedAction)]
    return BilanRecorded(
        **year.stamp(identity.partnership_id), bilan_meeting_id=meeting.meeting_id, recorded_at=now,
        per_class=class_counts(year), per_kind=kind_counts(year), planned=len(year.actions),
        realised=len(completed), cancelled=sum(isinstance(a, CancelledAction) for a in actions),
        pupils_reached=sum(p.pupils_present for a in completed for p in a.participants),
        school=school, partner=partner, questionnaire=list(questionnaire),
        wish_to_continue=the_wish_to_continue(school, partner, year))


def the_wish_to_continue(school: SideEvaluation, partner: SideEvaluation | None, year: Year) -> bool:
    """The sides present wish to continue, and — plan mercredi — the bilan step did not refuse the
    reconduction: seed 001 has that step decide « de la reconduction ou non du partenariat »."""
    return (school.wish_to_continue and (partner is None or partner.wish_to_continue)
            and year.reconduction is not False)


def evolve_bilan_recorded(year: Year, event: BilanRecorded) -> Year:
    return with_(year, bilan=event)


def evolve_bilan_side_recorded(year: Year, event: BilanSideRecorded) -> Year:
    return with_(year, bilan_parts={**year.bilan_parts, event.side: event})
