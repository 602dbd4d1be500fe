"""Campaign decider: an académie's call for candidatures for one dispositif and one school year.

States: ``NoCampaign`` → ``Open`` → ``Closed``. A campaign past its submission
deadline counts as closed for submissions even before ``CampaignClosed`` is recorded.

A CNR campaign (« Notre école, faisons-la ensemble ») is the académie's register of the
démarche for a school year rather than a call with a deadline: teams « pourront à tout moment
choisir de s'inscrire dans la démarche » (seed 003). It takes candidatures from its opening to the
end of its school year (or until the académie closes it); the submission deadline and the
attribution date of its calendar bind nobody (see ``cnr_joins_at_any_time_of_its_school_year``).
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, datetime, time, timedelta

from jumelage_contracts.candidatures import CampaignCalendar, CampaignClosed, CampaignOpened
from jumelage_contracts.reference import Academie, Dispositif, school_year_end, school_year_start, timezone_of

from .errors import DomainError, NotFound, StateConflict

# -- state ----------------------------------------------------------------------------------


@dataclass(frozen=True)
class NoCampaign:
    pass


@dataclass(frozen=True)
class Open:
    opened: CampaignOpened

    @property
    def campaign_id(self) -> str:
        return self.opened.campaign_id


@dataclass(frozen=True)
class Closed:
    opened: CampaignOpened
    reason: str

    @property
    def campaign_id(self) -> str:
        return self.opened.campaign_id


CampaignState = NoCampaign | Open | Closed

# -- commands -------------------------------------------------------------------------------


@dataclass(frozen=True)
class OpenCampaign:
    campaign_id: str
    academie: Academie
    dispositif: Dispositif
    school_year: str
    title: str
    calendar: CampaignCalendar
    opened_by: str
    now: datetime
    already_open: str | None = None  # an open campaign of the same académie, dispositif and year


@dataclass(frozen=True)
class CloseCampaign:
    campaign_id: str
    now: datetime
    at_deadline: bool = False  # the sweep: close only a campaign past the time it closes by itself


CampaignCommand = OpenCampaign | CloseCampaign

# -- rules ----------------------------------------------------------------------------------


def calendar_must_be_coherent(school_year: str, calendar: CampaignCalendar) -> None:
    """Deadline before attribution, attribution before the work meeting, the work meeting and the
    bilan inside the school year and in that order, renewal deadline after the bilan opens."""
    start, end = school_year_start(school_year), school_year_end(school_year)
    deadline = calendar.submission_deadline.date()
    checks = [
        (deadline < calendar.attribution_date, "calendar.attribution_date",
         "the submission deadline must come before the attribution date"),
        (calendar.attribution_date <= calendar.work_meeting_window.start, "calendar.work_meeting_window",
         "the work meeting cannot come before the attribution"),
        (deadline.year >= start.year - 1, "calendar.submission_deadline",
         "the submission deadline is more than a year before the school year"),
        (start <= calendar.work_meeting_window.start and calendar.work_meeting_window.end <= end,
         "calendar.work_meeting_window", "the work meeting window must lie inside the school year"),
        (start <= calendar.bilan_window.start and calendar.bilan_window.end <= end,
         "calendar.bilan_window", "the bilan window must lie inside the school year"),
        (calendar.work_meeting_window.end < calendar.bilan_window.start, "calendar.bilan_window",
         "the bilan window must come after the work meeting window"),
        (calendar.bilan_window.start <= calendar.renewal_deadline.date() <= end, "calendar.renewal_deadline",
         "the renewal deadline must fall between the opening of the bilan window and the end of the school year"),
    ]
    for ok, field, message in checks:
        if not ok:
            raise DomainError("calendar_must_be_coherent", message, field)


def one_open_campaign_per_dispositif_and_year(cmd: "OpenCampaign") -> None:
    """While a campaign of an académie for a dispositif and a school year is open, a second one
    would split the candidatures of the same schools: close the first before opening another."""
    if cmd.already_open is not None and cmd.already_open != cmd.campaign_id:
        raise StateConflict("one_open_campaign_per_dispositif_and_year",
                            f"campaign {cmd.already_open} is already open for this académie, dispositif and "
                            f"school year ({cmd.school_year}): close it first", "dispositif")


def campaign_accepts_submissions(state: CampaignState, now: datetime) -> Open:
    """A candidature may be submitted or amended only to an open campaign before its deadline
    (a CNR campaign: at any time of its school year)."""
    if isinstance(state, NoCampaign):
        raise NotFound("campaign_must_exist", "no such campaign", "campaign_id")
    if isinstance(state, Closed):
        raise DomainError("campaign_must_be_open", "the campaign is closed", "campaign_id")
    if state.opened.dispositif is Dispositif.concertation:
        cnr_joins_at_any_time_of_its_school_year(state.opened, now)
    elif now > state.opened.calendar.submission_deadline:
        raise DomainError("submission_only_before_the_deadline",
                          "the campaign's submission deadline has passed", "campaign_id")
    return state


def cnr_joins_at_any_time_of_its_school_year(opened: CampaignOpened, now: datetime) -> None:
    """Seed 003: « la concertation débute au mois de novembre, mais les équipes pourront à tout
    moment choisir de s'inscrire dans la démarche ». No submission deadline: a team joins (or
    amends its candidature, adding its projet or its funding request) until the last day of the
    campaign's school year, in the académie's time zone."""
    if now >= cnr_campaign_ends_at(opened):
        raise DomainError("cnr_joins_at_any_time_of_its_school_year",
                          f"the school year {opened.school_year} is over: join the démarche in the next "
                          "school year's campaign", "campaign_id")


def cnr_campaign_ends_at(opened: CampaignOpened) -> datetime:
    """The first instant after the CNR campaign's school year, where its académie is."""
    return end_of_local_day(opened.academie, school_year_end(opened.school_year))


def past_its_closing(opened: CampaignOpened, now: datetime) -> bool:
    """Whether the campaign stopped taking candidatures by itself: past its submission deadline,
    or for a CNR campaign past the end of its school year."""
    if opened.dispositif is Dispositif.concertation:
        return now >= cnr_campaign_ends_at(opened)
    return now > opened.calendar.submission_deadline


def end_of_local_day(academie: str, day: date) -> datetime:
    """The first instant after ``day`` ends where the académie is (an exclusive bound)."""
    return datetime.combine(day + timedelta(days=1), time(0), tzinfo=timezone_of(academie))


# -- decider --------------------------------------------------------------------------------


def decide(command: CampaignCommand, state: CampaignState) -> list:
    if isinstance(command, OpenCampaign):
        return _open(command, state)
    if isinstance(command, CloseCampaign):
        return _close(command, state)
    raise TypeError(f"unknown campaign command {command!r}")


def _open(cmd: OpenCampaign, state: CampaignState) -> list:
    event = CampaignOpened(
        campaign_id=cmd.campaign_id, academie=cmd.academie, dispositif=cmd.dispositif,
        school_year=cmd.school_year, title=cmd.title, calendar=cmd.calendar, opened_by=cmd.opened_by,
    )
    if not isinstance(state, NoCampaign):
        if state.opened.model_dump(exclude={"opened_by"}) == event.model_dump(exclude={"opened_by"}):
            return []  # the same opening repeated
        raise StateConflict("campaign_id_is_unique", "a different campaign already has this id", "campaign_id")
    one_open_campaign_per_dispositif_and_year(cmd)
    calendar_must_be_coherent(cmd.school_year, cmd.calendar)
    return [event]


def _close(cmd: CloseCampaign, state: CampaignState) -> list:
    if isinstance(state, NoCampaign):
        raise NotFound("campaign_must_exist", "no such campaign", "campaign_id")
    if isinstance(state, Closed):
        return []
    past_deadline = past_its_closing(state.opened, cmd.now)
    if cmd.at_deadline and not past_deadline:
        return []  # a CNR campaign stays open past its calendar's submission deadline
    reason = "deadline" if past_deadline else "explicit"
    return [CampaignClosed(campaign_id=state.campaign_id, academie=state.opened.academie, reason=reason)]


def evolve(state: CampaignState, event) -> CampaignState:
    if isinstance(event, CampaignOpened):
        return Open(event)
    if isinstance(event, CampaignClosed) and isinstance(state, Open):
        return Closed(state.opened, event.reason)
    return state


def fold(events) -> CampaignState:
    state: CampaignState = NoCampaign()
    for event in events:
        state = evolve(state, event)
    return state
