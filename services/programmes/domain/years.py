"""The years of a partnership: opened by attribution or renewal, closed, ended; classes leaving."""

from __future__ import annotations

from dataclasses import replace

from jumelage_contracts.bounds import clip
from jumelage_contracts.programmes import (
    CONCERTATION_STEPS,
    ActionCancelled,
    BudgetItem,
    ClassCancelled,
    FundingRequested,
    StepCompleted,
    StepTrack,
    MeetingKind,
    PartnershipEnded,
    ProgrammeClass,
    ProgrammeYearClosed,
    ProgrammeYearOpened,
)
from jumelage_contracts.reference import school_year_end, school_year_start


from .commands import CancelClass, DeclineRenewal, EndPartnership, OpenYear
from .errors import NotFound, RuleViolated
from .state import ClassInfo, Ended, Identity, PlannedAction, Running, State, Unopened, with_, Year

# -- rules -------------------------------------------------------------------------------------


def years_follow_one_another(current: Year, cmd: OpenYear) -> None:
    if cmd.year_index != current.year_index + 1:
        raise RuleViolated(
            f"year {cmd.year_index} cannot follow year {current.year_index}",
            rule="years_follow_one_another", field="year_index")


def a_declined_renewal_is_for_the_next_year(current: Year, cmd: DeclineRenewal) -> None:
    if cmd.year_index != current.year_index + 1:
        raise RuleViolated(
            f"renewal for year {cmd.year_index} declined while year {current.year_index} is the current one",
            rule="a_declined_renewal_is_for_the_next_year", field="year_index")


def class_must_belong_to_the_year(year: Year, class_id: str) -> ClassInfo:
    try:
        return year.classes[class_id]
    except KeyError:
        raise NotFound(f"class {class_id!r} is not in year {year.school_year}",
                       rule="class_must_belong_to_the_year", field="class_id") from None


# -- decisions ---------------------------------------------------------------------------------


def already_opened(state: State, year_index: int) -> bool:
    if isinstance(state, Unopened):
        return False
    return year_index <= state.year.year_index


def open_year(cmd: OpenYear, state: Running | Unopened) -> list:
    if already_opened(state, cmd.year_index):
        return []
    if isinstance(state, Running) and not cmd.associated_schools:
        # A renewal does not restate the project's schools: they stay.
        cmd = replace(cmd, associated_schools=state.identity.associated_schools)
    if isinstance(state, Running) and cmd.organiser is None:
        # nor (when granted before renewals carried it) the ACM organiser holding the school side
        cmd = replace(cmd, organiser=state.identity.organiser)
    opened = _year_opened(cmd)
    if isinstance(state, Unopened):
        return [opened, *the_cnr_steps_reached_on_entry(cmd)]
    years_follow_one_another(state.year, cmd)
    closed = ProgrammeYearClosed(**state.year.stamp(state.identity.partnership_id), outcome="renewed",
                                 closed_at=cmd.now, bilan_recorded=state.year.bilan_recorded)
    return [closed, opened]


def _year_opened(cmd: OpenYear) -> ProgrammeYearOpened:
    return ProgrammeYearOpened(
        partnership_id=cmd.partnership_id, school_year=cmd.school_year, year_index=cmd.year_index,
        candidature_id=cmd.candidature_id, campaign_id=cmd.campaign_id, dispositif=cmd.dispositif,
        tier=cmd.tier, school=cmd.school, partner=cmd.partner, offer_id=cmd.offer_id,
        classes=list(cmd.classes), calendar=cmd.calendar,
        year_starts_on=school_year_start(cmd.school_year), year_ends_on=school_year_end(cmd.school_year),
        opened_by=cmd.opened_by, caused_by=cmd.caused_by, associated_schools=list(cmd.associated_schools),
        organiser=cmd.organiser,
    )


FUNDING_ON_ENTRY = "funding-on-entry"
"""The id of the funding request a CNR project carried when the académie accepted it."""


def the_cnr_steps_reached_on_entry(cmd: OpenYear) -> list:
    """A CNR team joins with the steps it has reached (seed 003: « trois étapes facultatives,
    distinctes »): its concertation only, or its projet, or the projet and a funding request. The
    programme starts from there, so the steps and the request are recorded as the year opens
    (at the acceptance: when the académie learnt of them); the others come later, or never."""
    steps = cmd.steps_reached
    if steps is None or cmd.year_index != 1:
        return []
    stamp = {"partnership_id": cmd.partnership_id, "school_year": cmd.school_year, "year_index": cmd.year_index}

    def step(name: str, summary: str) -> StepCompleted:
        return StepCompleted(**stamp, track=StepTrack.concertation, step=name,
                             step_number=CONCERTATION_STEPS.index(name) + 1, completed_at=cmd.now,
                             summary=clip(summary, 8000))

    events: list = []
    if steps.concertation_summary:
        events.append(step("concertation", steps.concertation_summary))
    if steps.pedagogical_project:
        events.append(step("projet_pedagogique", steps.pedagogical_project))
    if steps.funding is not None and steps.funding.amount_eur > 0 and steps.pedagogical_project:
        events.append(FundingRequested(
            **stamp, funding_id=FUNDING_ON_ENTRY, amount_eur=steps.funding.amount_eur,
            budget=[BudgetItem(label=line.label, amount_eur=line.amount_eur) for line in steps.funding.budget_lines],
            requested_at=cmd.now))
    return events


def decline_renewal(cmd: DeclineRenewal, state: Running) -> list:
    a_declined_renewal_is_for_the_next_year(state.year, cmd)
    return _close_and_end(state, cmd.now, outcome="not_renewed", reason="renewal_declined", detail=cmd.reason)


def end_partnership(cmd: EndPartnership, state: Running) -> list:
    return _close_and_end(state, cmd.now, outcome="ended", reason=cmd.reason, detail=cmd.detail)


def _close_and_end(state: Running, now, *, outcome: str, reason: str, detail: str | None) -> list:
    stamp = state.year.stamp(state.identity.partnership_id)
    return [
        ProgrammeYearClosed(**stamp, outcome=outcome, closed_at=now, bilan_recorded=state.year.bilan_recorded),
        PartnershipEnded(**stamp, reason=reason, detail=detail, ended_at=now, years=len(state.past_years) + 1),
    ]


def cancel_class(cmd: CancelClass, identity: Identity, year: Year) -> list:
    info = class_must_belong_to_the_year(year, cmd.class_id)
    if info.cancelled:
        return []
    stamp = year.stamp(identity.partnership_id)
    still_planned = [a for a in year.actions.values()
                     if isinstance(a, PlannedAction) and cmd.class_id in a.class_ids]
    events: list = [ClassCancelled(**stamp, class_id=cmd.class_id, reason=cmd.reason,
                                   cancelled_action_ids=[a.action_id for a in still_planned])]
    # An action left with no class at all is cancelled outright, so consumers (reminders,
    # reporting) see an ActionCancelled; an action shared with other classes goes on without it.
    for action in still_planned:
        others = [c for c in action.class_ids if c != cmd.class_id and not year.classes[c].cancelled]
        if not others:
            events.append(ActionCancelled(**stamp, action_id=action.action_id, kind=action.kind,
                                          class_ids=list(action.class_ids),
                                          reason=clip(f"class {info.label} cancelled: {cmd.reason}", 4000)))
    return events


# -- evolution ---------------------------------------------------------------------------------


def evolve_year_opened(state: State, event: ProgrammeYearOpened) -> State:
    year = Year(
        school_year=event.school_year, year_index=event.year_index, starts_on=event.year_starts_on,
        ends_on=event.year_ends_on, tier=event.tier, classes={c.class_id: _class_info(c) for c in event.classes},
        meeting_windows=_meeting_windows(event),
    )
    identity = Identity(
        partnership_id=event.partnership_id, dispositif=event.dispositif, academie=event.academie.value,
        uai=event.uai, partner_id=event.partner.partner_id if event.partner else None,
        candidature_id=event.candidature_id, associated_schools=tuple(event.associated_schools),
        organiser=event.organiser,
    )
    if isinstance(state, Running):
        return Running(identity=identity, year=year, past_years=state.past_years + (state.year,))
    return Running(identity=identity, year=year)


def _meeting_windows(event: ProgrammeYearOpened) -> dict[MeetingKind, tuple]:
    calendar = event.calendar
    return {MeetingKind.work: (calendar.work_meeting_window.start, calendar.work_meeting_window.end),
            MeetingKind.bilan: (calendar.bilan_window.start, calendar.bilan_window.end)}


def _class_info(c: ProgrammeClass) -> ClassInfo:
    return ClassInfo(class_id=c.class_id, label=c.label, level=c.level, pupils=c.pupils)


def evolve_partnership_ended(state: State, event: PartnershipEnded) -> State:
    if isinstance(state, Running):
        return Ended(identity=state.identity, year=state.year, past_years=state.past_years, reason=event.reason)
    return state


def evolve_class_cancelled(year: Year, event: ClassCancelled) -> Year:
    info = year.classes.get(event.class_id)
    if info is None:
        return year
    return with_(
        year,
        classes={**year.classes, event.class_id: with_(info, cancelled=True)},
        dropped_by_class={**year.dropped_by_class, event.class_id: tuple(event.cancelled_action_ids)},
    )
