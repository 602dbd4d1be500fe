"""The partnership decider: lifecycle guards, then delegation to the rule module of each area.

``decide(command, state) -> list[event]`` may raise a :class:`DomainError`; a command repeated
after it succeeded returns ``[]``. ``evolve(state, event) -> state`` never raises.
"""

from __future__ import annotations

from typing import Callable, Iterable

from jumelage_contracts import programmes as ev

from . import actions, bilan, convention, meetings, steps, years
from . import commands as c
from .errors import NotFound, RuleViolated
from .state import Ended, Running, State, Unopened, Year

# Commands that act on the current year: (command, identity, year) -> events.
YEAR_DECIDERS: dict[type, Callable] = {
    c.CancelClass: years.cancel_class,
    c.DesignateReferent: convention.designate_referent,
    c.SignConvention: convention.sign_convention,
    c.ScheduleMeeting: meetings.schedule_meeting,
    c.RescheduleMeeting: meetings.reschedule_meeting,
    c.CancelMeeting: meetings.cancel_meeting,
    c.HoldMeeting: meetings.hold_meeting,
    c.ScheduleAction: actions.schedule_action,
    c.RescheduleAction: actions.reschedule_action,
    c.CancelAction: actions.cancel_action,
    c.CompleteAction: actions.complete_action,
    c.RecordBilan: bilan.record_bilan,
    c.RecordBilanSide: bilan.record_bilan_side,
    c.CloseBilan: bilan.close_bilan,
    c.CompleteStep: steps.complete_step,
    c.RequestFunding: steps.request_funding,
    c.GrantFunding: steps.grant_funding,
    c.SpendFunding: steps.spend_funding,
}


# Of those, the ones that also read the past years: the centres sociaux rencontres are numbered
# over a cycle that straddles two school years (seed 002).
ACROSS_YEARS: frozenset[type] = frozenset({c.ScheduleMeeting, c.RescheduleMeeting})


def initial_state() -> State:
    return Unopened()


# -- rules of the lifecycle --------------------------------------------------------------------


def the_partnership_must_be_open(state: State) -> None:
    if isinstance(state, Unopened):
        raise NotFound("no such partnership (not attributed yet)", rule="the_partnership_must_be_open")


def an_ended_partnership_accepts_nothing(state: State) -> None:
    if isinstance(state, Ended):
        raise RuleViolated(f"the partnership ended ({state.reason})", rule="an_ended_partnership_accepts_nothing")


# -- decide ------------------------------------------------------------------------------------


def decide(command: c.Command, state: State) -> list[ev.EventData]:
    if isinstance(command, c.OpenYear):
        return _open_year(command, state)
    if isinstance(command, (c.DeclineRenewal, c.EndPartnership)) and isinstance(state, Ended):
        return []  # already over: the same news twice changes nothing
    the_partnership_must_be_open(state)
    an_ended_partnership_accepts_nothing(state)
    assert isinstance(state, Running)
    if isinstance(command, c.DeclineRenewal):
        return years.decline_renewal(command, state)
    if isinstance(command, c.EndPartnership):
        return years.end_partnership(command, state)
    decider = YEAR_DECIDERS[type(command)]
    if type(command) in ACROSS_YEARS:
        return decider(command, state.identity, state.year, state.past_years)
    return decider(command, state.identity, state.year)


def _open_year(command: c.OpenYear, state: State) -> list[ev.EventData]:
    if isinstance(state, Ended):
        if years.already_opened(state, command.year_index):
            return []
        an_ended_partnership_accepts_nothing(state)
    return years.open_year(command, state)  # type: ignore[arg-type]


# -- evolve ------------------------------------------------------------------------------------

_YEAR_EVOLVERS: dict[type, Callable[[Year, ev.EventData], Year]] = {
    ev.ClassCancelled: years.evolve_class_cancelled,
    ev.ReferentDesignated: convention.evolve_referent_designated,
    ev.ConventionSigned: convention.evolve_convention_signed,
    ev.MeetingScheduled: meetings.evolve_meeting,
    ev.MeetingRescheduled: meetings.evolve_meeting,
    ev.MeetingCancelled: meetings.evolve_meeting,
    ev.MeetingHeld: meetings.evolve_meeting,
    ev.ActionScheduled: actions.evolve_action,
    ev.ActionRescheduled: actions.evolve_action,
    ev.ActionCancelled: actions.evolve_action,
    ev.ActionCompleted: actions.evolve_action,
    ev.BilanRecorded: bilan.evolve_bilan_recorded,
    ev.BilanSideRecorded: bilan.evolve_bilan_side_recorded,
    ev.StepCompleted: steps.evolve_step,
    ev.FundingRequested: steps.evolve_funding,
    ev.FundingGranted: steps.evolve_funding,
    ev.FundingSpent: steps.evolve_funding,
}


def evolve(state: State, event: ev.EventData) -> State:
    if isinstance(event, ev.ProgrammeYearOpened):
        return years.evolve_year_opened(state, event)
    if isinstance(event, ev.PartnershipEnded):
        return years.evolve_partnership_ended(state, event)
    evolver = _YEAR_EVOLVERS.get(type(event))
    if evolver is None or isinstance(state, Unopened):
        return state  # ProgrammeYearClosed and unknown events change nothing here
    if getattr(event, "year_index", state.year.year_index) != state.year.year_index:
        return state  # an event of another year never reshapes the current one
    return _with_year(state, evolver(state.year, event))


def _with_year(state: Running | Ended, year: Year) -> State:
    if isinstance(state, Running):
        return Running(identity=state.identity, year=year, past_years=state.past_years)
    return Ended(identity=state.identity, year=year, past_years=state.past_years, reason=state.reason)


def fold(events: Iterable[ev.EventData], state: State | None = None) -> State:
    current = initial_state() if state is None else state
    for event in events:
        current = evolve(current, event)
    return current
