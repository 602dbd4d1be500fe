"""Meetings of the year: work meeting, follow-ups, bilan meeting, the centres sociaux rencontres."""

from __future__ import annotations

from datetime import datetime

from jumelage_contracts.programmes import (
    MeetingCancelled,
    MeetingHeld,
    MeetingKind,
    MeetingRescheduled,
    MeetingScheduled,
    MeetingTiming,
)
from jumelage_contracts.reference import Academie, Dispositif

from .commands import CancelMeeting, HoldMeeting, RescheduleMeeting, ScheduleMeeting
from .errors import Conflict, NotFound, RuleViolated
from .state import CancelledMeeting, HeldMeeting, Identity, Meeting, PlannedMeeting, with_, Year

# -- rules -------------------------------------------------------------------------------------


def meeting_within_the_school_year(identity: Identity, year: Year, starts_at: datetime) -> None:
    if not (year.starts_on <= Academie(identity.academie).day_of(starts_at) <= year.ends_on):
        raise RuleViolated(f"a meeting of {year.school_year} must fall between {year.starts_on} and {year.ends_on}",
                           rule="meeting_within_the_school_year", field="starts_at")


def meeting_timing_against_its_window(year: Year, kind: MeetingKind, starts_at: datetime) -> MeetingTiming | None:
    """Where a work or bilan meeting falls against its window in the campaign calendar.

    The windows (work: Sept-Oct, bilan: May-June) are the calendar the académie announces (seed
    000), not a condition of the programme: a work meeting held in November still builds the
    programme, and refusing a bilan meeting in early July would forbid the bilan, hence the renewal.
    So such a meeting is recorded, early or late, and reporting can count them."""
    window = year.meeting_windows.get(kind)
    if window is None:
        return None
    day = starts_at.date()
    if day < window[0]:
        return MeetingTiming.early
    if day > window[1]:
        return MeetingTiming.late
    return MeetingTiming.in_window


def rencontres_are_for_centres_sociaux(identity: Identity, year: Year, cmd: ScheduleMeeting) -> None:
    if cmd.kind != MeetingKind.rencontre:
        if cmd.rencontre_number is not None:
            raise RuleViolated("only a rencontre has a number", rule="rencontres_are_for_centres_sociaux",
                               field="rencontre_number")
        return
    if identity.dispositif is not Dispositif.centre_social:
        raise RuleViolated("rencontres belong to école / centre social partnerships",
                           rule="rencontres_are_for_centres_sociaux", field="kind")
    if cmd.rencontre_number is None:
        raise RuleViolated("a rencontre needs its number (1 to 3)", rule="rencontres_are_for_centres_sociaux",
                           field="rencontre_number")


def rencontres_of_the_cycle(year: Year, past_years: tuple[Year, ...]) -> dict[int, PlannedMeeting | HeldMeeting]:
    """The rencontres planned or held so far, by number, over the partnership's years: seed 002's
    cycle runs from a spring (1st) to the autumn (2nd) and the start of the next calendar year (3rd),
    so it straddles two school years. A cancelled rencontre frees its number."""
    found: dict[int, PlannedMeeting | HeldMeeting] = {}
    for y in (*past_years, year):
        for m in y.meetings.values():
            if m.kind == MeetingKind.rencontre and m.rencontre_number and not isinstance(m, CancelledMeeting):
                found[m.rencontre_number] = m
    return found


def each_rencontre_is_planned_once(cycle: dict, number: int) -> None:
    if number in cycle:
        raise RuleViolated(f"rencontre {number} is already planned ({cycle[number].starts_at.date().isoformat()})",
                           rule="each_rencontre_is_planned_once", field="rencontre_number")


def rencontres_keep_their_order(cycle: dict, number: int, starts_at: datetime) -> None:
    """The 2nd rencontre comes after the 1st and before the 3rd (seed 002: « en intersession »
    the centres sociaux prepare the next one from the previous one's material)."""
    for other, meeting in cycle.items():
        if other == number:
            continue
        if (other < number and meeting.starts_at >= starts_at) or (other > number and meeting.starts_at <= starts_at):
            when = "after" if other < number else "before"
            raise RuleViolated(f"rencontre {number} comes {when} rencontre {other} "
                               f"({meeting.starts_at.date().isoformat()})",
                               rule="rencontres_keep_their_order", field="starts_at")


def meeting_must_exist(year: Year, meeting_id: str) -> Meeting:
    try:
        return year.meetings[meeting_id]
    except KeyError:
        raise NotFound(f"no meeting {meeting_id!r} in {year.school_year}",
                       rule="meeting_must_exist", field="meeting_id") from None


def meeting_must_still_be_planned(meeting: Meeting, doing: str) -> PlannedMeeting:
    if not isinstance(meeting, PlannedMeeting):
        state = "held" if isinstance(meeting, HeldMeeting) else "cancelled"
        raise RuleViolated(f"cannot {doing} a {state} meeting", rule="meeting_must_still_be_planned",
                           field="meeting_id")
    return meeting


def a_meeting_is_held_once_it_has_started(meeting: PlannedMeeting, now: datetime) -> None:
    if now < meeting.starts_at:
        raise RuleViolated(f"the meeting starts at {meeting.starts_at.isoformat()}",
                           rule="a_meeting_is_held_once_it_has_started", field="meeting_id")


def productions_come_from_rencontres(meeting: PlannedMeeting, cmd: HoldMeeting) -> None:
    if cmd.productions and meeting.kind != MeetingKind.rencontre:
        raise RuleViolated("only a rencontre records productions", rule="productions_come_from_rencontres",
                           field="productions")


# -- decisions ---------------------------------------------------------------------------------


def schedule_meeting(cmd: ScheduleMeeting, identity: Identity, year: Year, past_years: tuple[Year, ...] = ()) -> list:
    known = year.meetings.get(cmd.meeting_id)
    if known is not None:
        if known.kind == cmd.kind and known.starts_at == cmd.starts_at:
            return []
        raise Conflict(f"meeting {cmd.meeting_id!r} was scheduled otherwise", rule="a_meeting_id_names_one_meeting",
                       field="meeting_id")
    meeting_within_the_school_year(identity, year, cmd.starts_at)
    rencontres_are_for_centres_sociaux(identity, year, cmd)
    if cmd.kind == MeetingKind.rencontre:
        cycle = rencontres_of_the_cycle(year, past_years)
        each_rencontre_is_planned_once(cycle, cmd.rencontre_number)
        rencontres_keep_their_order(cycle, cmd.rencontre_number, cmd.starts_at)
    return [MeetingScheduled(
        **year.stamp(identity.partnership_id), meeting_id=cmd.meeting_id, kind=cmd.kind,
        rencontre_number=cmd.rencontre_number, starts_at=cmd.starts_at, duration_minutes=cmd.duration_minutes,
        place=cmd.place, attendees_planned=list(cmd.attendees_planned), title=cmd.title,
        timing=meeting_timing_against_its_window(year, cmd.kind, cmd.starts_at))]


def reschedule_meeting(cmd: RescheduleMeeting, identity: Identity, year: Year,
                       past_years: tuple[Year, ...] = ()) -> list:
    meeting = meeting_must_still_be_planned(meeting_must_exist(year, cmd.meeting_id), "reschedule")
    place = cmd.place or meeting.place
    if cmd.starts_at == meeting.starts_at and place == meeting.place:
        return []
    meeting_within_the_school_year(identity, year, cmd.starts_at)
    if meeting.kind == MeetingKind.rencontre and meeting.rencontre_number:
        rencontres_keep_their_order(rencontres_of_the_cycle(year, past_years), meeting.rencontre_number, cmd.starts_at)
    return [MeetingRescheduled(
        **year.stamp(identity.partnership_id), meeting_id=meeting.meeting_id, kind=meeting.kind,
        starts_at=cmd.starts_at, previous_starts_at=meeting.starts_at, place=place, reason=cmd.reason,
        timing=meeting_timing_against_its_window(year, meeting.kind, cmd.starts_at))]


def cancel_meeting(cmd: CancelMeeting, identity: Identity, year: Year) -> list:
    meeting = meeting_must_exist(year, cmd.meeting_id)
    if isinstance(meeting, CancelledMeeting):
        return []
    meeting_must_still_be_planned(meeting, "cancel")
    return [MeetingCancelled(**year.stamp(identity.partnership_id), meeting_id=meeting.meeting_id,
                             kind=meeting.kind, reason=cmd.reason)]


def hold_meeting(cmd: HoldMeeting, identity: Identity, year: Year) -> list:
    meeting = meeting_must_exist(year, cmd.meeting_id)
    if isinstance(meeting, HeldMeeting):
        return []
    planned = meeting_must_still_be_planned(meeting, "hold")
    a_meeting_is_held_once_it_has_started(planned, cmd.now)
    productions_come_from_rencontres(planned, cmd)
    return [MeetingHeld(
        **year.stamp(identity.partnership_id), meeting_id=planned.meeting_id, kind=planned.kind,
        held_at=planned.starts_at, attendees=list(cmd.attendees), minutes=cmd.minutes,
        productions=list(cmd.productions),
        timing=meeting_timing_against_its_window(year, planned.kind, planned.starts_at))]


# -- evolution ---------------------------------------------------------------------------------


def evolve_meeting(year: Year, event) -> Year:
    meeting = _next_meeting(year.meetings.get(event.meeting_id), event)
    if meeting is None:
        return year
    return with_(year, meetings={**year.meetings, event.meeting_id: meeting})


def _next_meeting(current: Meeting | None, event) -> Meeting | None:
    if isinstance(event, MeetingScheduled):
        return PlannedMeeting(meeting_id=event.meeting_id, kind=event.kind, starts_at=event.starts_at,
                              place=event.place, rencontre_number=event.rencontre_number, timing=event.timing)
    if current is None:
        return None
    if isinstance(event, MeetingRescheduled):
        return PlannedMeeting(meeting_id=current.meeting_id, kind=current.kind, starts_at=event.starts_at,
                              place=event.place, rencontre_number=current.rencontre_number, timing=event.timing)
    if isinstance(event, MeetingCancelled):
        return CancelledMeeting(meeting_id=current.meeting_id, kind=current.kind, starts_at=current.starts_at,
                                rencontre_number=current.rencontre_number, timing=current.timing)
    if isinstance(event, MeetingHeld):
        return HeldMeeting(meeting_id=current.meeting_id, kind=current.kind, starts_at=current.starts_at,
                           held_at=event.held_at, rencontre_number=current.rencontre_number, timing=event.timing)
    return current
