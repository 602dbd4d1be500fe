"""Renewal decider: a partnership continues into year N+1, or ends.

The partnership lives on its candidature's stream after ``PartnershipAttributed``. Its year runs
until the académie decides on a renewal request; a request needs the bilan of the running year
(learnt from programmes' ``BilanRecorded``, noted as ``PartnershipBilanNoted``) with the wish to
continue, inside the renewal window; culture partnerships last at most three years.
"""

from __future__ import annotations

from dataclasses import dataclass, replace
from datetime import date, datetime, timedelta

from jumelage_contracts.candidatures import (
    CampaignCalendar,
    ClassEntry,
    DateWindow,
    PartnershipAttributed,
    PartnershipBilanNoted,
    RenewalDeclined,
    RenewalGranted,
    RenewalRequested,
)
from jumelage_contracts.reference import (
    MAX_PARTNERSHIP_YEARS,
    CultureTier,
    Dispositif,
    is_last_allowed_year,
    next_school_year,
)

from .campaign import calendar_must_be_coherent, end_of_local_day
from .errors import DomainError, NotFound, StateConflict
from .rules import class_ids_must_be_unique, jes_only_from_5e_to_bts

# -- state ----------------------------------------------------------------------------------


@dataclass(frozen=True)
class Year:
    origin: PartnershipAttributed
    year_index: int
    school_year: str
    calendar: CampaignCalendar
    classes: tuple[ClassEntry, ...]
    tier: CultureTier | None
    bilan: PartnershipBilanNoted | None = None


@dataclass(frozen=True)
class NotAPartnership:
    pass


@dataclass(frozen=True)
class Running:
    year: Year


@dataclass(frozen=True)
class RenewalPending:
    year: Year
    request: RenewalRequested


@dataclass(frozen=True)
class Ended:
    year: Year
    reason: str


PartnershipState = NotAPartnership | Running | RenewalPending | Ended

# -- commands -------------------------------------------------------------------------------


@dataclass(frozen=True)
class NoteBilan:
    school_year: str
    year_index: int
    wish_to_continue: bool
    bilan_event_id: str | None
    now: datetime


@dataclass(frozen=True)
class RequestRenewal:
    classes: tuple[ClassEntry, ...]
    motivation: str
    tier: CultureTier | None
    now: datetime


@dataclass(frozen=True)
class GrantRenewal:
    calendar: CampaignCalendar | None  # None: the running year's calendar, a year later
    now: datetime


@dataclass(frozen=True)
class DeclineRenewal:
    reason: str
    now: datetime


# -- rules ----------------------------------------------------------------------------------


def partnership_must_exist(state: PartnershipState):
    if isinstance(state, NotAPartnership):
        raise NotFound("partnership_must_exist", "no such partnership", "partnership_id")
    return state


def renewal_requires_a_recorded_bilan(year: Year) -> None:
    """No renewal without the bilan of the running year stating the wish to continue."""
    if year.bilan is None:
        raise DomainError("renewal_requires_a_recorded_bilan",
                          f"no bilan is recorded for year {year.year_index} ({year.school_year})", "partnership_id")
    if not year.bilan.wish_to_continue:
        raise DomainError("renewal_requires_the_wish_to_continue", "the bilan states no wish to continue",
                          "partnership_id")


def renewal_inside_the_renewal_window(year: Year, now: datetime) -> None:
    """From the opening of the bilan window to the renewal deadline."""
    opens = end_of_local_day(year.origin.academie, year.calendar.bilan_window.start - timedelta(days=1))
    if now < opens or now > year.calendar.renewal_deadline:
        raise DomainError("renewal_inside_the_renewal_window",
                          f"renewals are requested between {year.calendar.bilan_window.start} and "
                          f"{year.calendar.renewal_deadline.isoformat()}", "partnership_id")


def partnership_within_its_maximum_years(year: Year) -> None:
    """Culture partnerships last at most three school years."""
    if is_last_allowed_year(year.origin.dispositif, year.year_index):
        raise DomainError("culture_partnership_lasts_at_most_three_years",
                          f"a {year.origin.dispositif.value} partnership lasts at most "
                          f"{MAX_PARTNERSHIP_YEARS[year.origin.dispositif]} years", "partnership_id")


# Seed 000: the third year of a culture partnership is the jumelage itself (« en candidatant au
# jumelage pour l'année 3 »).
JUMELAGE_FROM_YEAR = 3


def culture_renewal_tier(year: Year, asked: CultureTier | None) -> CultureTier | None:
    """The tier of the year a culture renewal opens: the one asked (or kept), except that year 3
    is a jumelage, so asking for another tier then is refused."""
    if year.origin.dispositif is not Dispositif.culture:
        return None
    if year.year_index + 1 < JUMELAGE_FROM_YEAR:
        return asked or year.tier
    if asked not in (None, CultureTier.jumelage):
        raise DomainError("culture_year_three_is_a_jumelage",
                          f"year {year.year_index + 1} of a culture partnership is a jumelage, not {asked.value}",
                          "tier")
    return CultureTier.jumelage


def _shift(day: date) -> date:
    try:
        return day.replace(year=day.year + 1)
    except ValueError:  # 29 February
        return day.replace(year=day.year + 1, day=28)


def calendar_a_year_later(calendar: CampaignCalendar) -> CampaignCalendar:
    def window(w: DateWindow) -> DateWindow:
        return DateWindow(start=_shift(w.start), end=_shift(w.end))

    return CampaignCalendar(
        submission_deadline=calendar.submission_deadline.replace(year=calendar.submission_deadline.year + 1),
        attribution_date=_shift(calendar.attribution_date),
        work_meeting_window=window(calendar.work_meeting_window),
        bilan_window=window(calendar.bilan_window),
        renewal_deadline=calendar.renewal_deadline.replace(year=calendar.renewal_deadline.year + 1),
    )


# -- decider --------------------------------------------------------------------------------


def decide(command, state: PartnershipState) -> list:
    state = partnership_must_exist(state)
    if isinstance(command, NoteBilan):
        return _note_bilan(command, state)
    if isinstance(command, RequestRenewal):
        return _request(command, state)
    if isinstance(command, GrantRenewal):
        return _grant(command, state)
    if isinstance(command, DeclineRenewal):
        return _decline(command, state)
    raise TypeError(f"unknown renewal command {command!r}")


def _note_bilan(cmd: NoteBilan, state) -> list:
    year = state.year
    if not isinstance(state, Running) or cmd.year_index != year.year_index:
        return []  # a bilan for another year, or once the renewal is under way: nothing to learn
    event = PartnershipBilanNoted(partnership_id=year.origin.partnership_id, school_year=cmd.school_year,
                                  year_index=cmd.year_index, wish_to_continue=cmd.wish_to_continue,
                                  bilan_event_id=cmd.bilan_event_id)
    if year.bilan is not None and year.bilan.wish_to_continue == cmd.wish_to_continue:
        return []
    return [event]


def _request(cmd: RequestRenewal, state) -> list:
    year = state.year
    if isinstance(state, RenewalPending):
        same = tuple(state.request.classes) == cmd.classes and state.request.motivation == cmd.motivation
        if same:
            return []
        raise StateConflict("renewal_already_requested", "a renewal request is already awaiting a decision")
    if isinstance(state, Ended):
        raise StateConflict("ended_partnership_cannot_renew", "the partnership has ended")
    renewal_requires_a_recorded_bilan(year)
    renewal_inside_the_renewal_window(year, cmd.now)
    partnership_within_its_maximum_years(year)
    class_ids_must_be_unique(cmd.classes)
    jes_only_from_5e_to_bts(year.origin.dispositif, cmd.classes)
    tier = culture_renewal_tier(year, cmd.tier)
    return [RenewalRequested(
        partnership_id=year.origin.partnership_id, candidature_id=year.origin.candidature_id,
        school_year=next_school_year(year.school_year), year_index=year.year_index + 1,
        classes=list(cmd.classes), motivation=cmd.motivation, tier=tier,
    )]


def _grant(cmd: GrantRenewal, state) -> list:
    if isinstance(state, Running) and state.year.year_index > 1 and state.year.bilan is None:
        return []  # the renewal was just granted: a repeat changes nothing
    if not isinstance(state, RenewalPending):
        raise StateConflict("grant_needs_a_renewal_request", "no renewal request awaits a decision")
    request, origin = state.request, state.year.origin
    calendar = cmd.calendar or calendar_a_year_later(state.year.calendar)
    calendar_must_be_coherent(request.school_year, calendar)
    return [RenewalGranted(
        partnership_id=origin.partnership_id, candidature_id=origin.candidature_id, dispositif=origin.dispositif,
        tier=request.tier, school_year=request.school_year, year_index=request.year_index, school=origin.school,
        organiser=origin.organiser, partner=origin.partner, classes=list(request.classes), calendar=calendar,
    )]


def _decline(cmd: DeclineRenewal, state) -> list:
    if isinstance(state, Ended):
        return []
    if not isinstance(state, RenewalPending):
        raise StateConflict("decline_needs_a_renewal_request", "no renewal request awaits a decision")
    request = state.request
    return [RenewalDeclined(partnership_id=request.partnership_id, candidature_id=request.candidature_id,
                            school_year=request.school_year, year_index=request.year_index, reason=cmd.reason)]


def evolve(state: PartnershipState, event) -> PartnershipState:
    if isinstance(event, PartnershipAttributed):
        return Running(Year(origin=event, year_index=1, school_year=event.school_year, calendar=event.calendar,
                            classes=tuple(event.classes), tier=event.tier))
    if isinstance(state, NotAPartnership):
        return state
    if isinstance(event, PartnershipBilanNoted) and isinstance(state, Running):
        return Running(replace(state.year, bilan=event))
    if isinstance(event, RenewalRequested) and isinstance(state, Running):
        return RenewalPending(state.year, event)
    if isinstance(event, RenewalGranted):
        return Running(Year(origin=state.year.origin, year_index=event.year_index, school_year=event.school_year,
                            calendar=event.calendar, classes=tuple(event.classes), tier=event.tier))
    if isinstance(event, RenewalDeclined):
        return Ended(state.year, event.reason)
    return state


def fold(events) -> PartnershipState:
    state: PartnershipState = NotAPartnership()
    for event in events:
        state = evolve(state, event)
    return state
