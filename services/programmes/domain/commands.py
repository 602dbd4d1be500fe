"""Commands on a partnership. Every command carries ``now``: the domain never reads a clock."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import date, datetime
from typing import Literal, Union

from jumelage_contracts.candidatures import CampaignCalendar, Concertation, Organiser, PartnerRef, SchoolRef
from jumelage_contracts.programmes import (
    BudgetItem,
    CharterEngagement,
    ClassParticipation,
    MeetingKind,
    Production,
    ProgrammeClass,
    QuestionnaireAnswer,
    ReferentRole,
    ResourceLink,
    Side,
    SideEvaluation,
    StepTrack,
)
from jumelage_contracts.reference import ActionKind, Audience, CultureTier, Dispositif, TimeSlot


# -- years (driven by candidatures' events, or by the académie) --------------------------------


@dataclass(frozen=True)
class OpenYear:
    """Open a school year: year 1 from an attribution, year N+1 from a granted renewal."""

    partnership_id: str
    candidature_id: str
    dispositif: Dispositif
    school_year: str
    year_index: int
    school: SchoolRef | None  # None: an ACM organiser's partnership without a school (seed 001)
    classes: tuple[ProgrammeClass, ...]
    calendar: CampaignCalendar
    opened_by: Literal["attribution", "renewal"]
    now: datetime
    tier: CultureTier | None = None
    partner: PartnerRef | None = None
    campaign_id: str | None = None
    offer_id: str | None = None
    caused_by: str | None = None
    steps_reached: Concertation | None = None  # CNR: what the project carried when it was accepted
    associated_schools: tuple[SchoolRef, ...] = ()  # CNR: the other schools of the project
    organiser: Organiser | None = None  # plan mercredi: the ACM organiser, who holds the school side

    @property
    def academie(self) -> str:
        school = self.school if self.school is not None else self.organiser
        assert school is not None, "a partnership has a school or an ACM organiser"
        return school.academie.value


@dataclass(frozen=True)
class DeclineRenewal:
    """The académie declined to renew: the current year closes and the partnership ends."""

    year_index: int
    reason: str
    now: datetime


@dataclass(frozen=True)
class EndPartnership:
    reason: Literal["not_renewed", "completed", "withdrawn", "other"]
    now: datetime
    detail: str | None = None


@dataclass(frozen=True)
class CancelClass:
    class_id: str
    reason: str
    now: datetime


# -- referents and convention --------------------------------------------------------------


@dataclass(frozen=True)
class DesignateReferent:
    referent_id: str
    side: Side
    role: ReferentRole
    name: str
    email: str
    now: datetime
    phone: str | None = None
    replaces: str | None = None


@dataclass(frozen=True)
class SignConvention:
    side: Side
    signed_by: str
    now: datetime
    engagements_accepted: tuple[CharterEngagement, ...] = ()


# -- meetings ------------------------------------------------------------------------------


@dataclass(frozen=True)
class ScheduleMeeting:
    meeting_id: str
    kind: MeetingKind
    starts_at: datetime
    place: str
    now: datetime
    duration_minutes: int = 120
    rencontre_number: int | None = None
    attendees_planned: tuple[str, ...] = ()
    title: str | None = None


@dataclass(frozen=True)
class RescheduleMeeting:
    meeting_id: str
    starts_at: datetime
    now: datetime
    place: str | None = None
    reason: str | None = None


@dataclass(frozen=True)
class CancelMeeting:
    meeting_id: str
    reason: str
    now: datetime


@dataclass(frozen=True)
class HoldMeeting:
    meeting_id: str
    minutes: str
    now: datetime
    attendees: tuple[str, ...] = ()
    productions: tuple[Production, ...] = ()


# -- actions -------------------------------------------------------------------------------


@dataclass(frozen=True)
class ScheduleAction:
    action_id: str
    kind: ActionKind
    title: str
    class_ids: tuple[str, ...]
    starts_at: datetime
    duration_minutes: int
    place: str
    now: datetime
    audiences: tuple[Audience, ...] = (Audience.pupils,)
    time_slot: TimeSlot = TimeSlot.scolaire
    resource: ResourceLink | None = None
    description: str | None = None


@dataclass(frozen=True)
class RescheduleAction:
    action_id: str
    starts_at: datetime
    now: datetime
    duration_minutes: int | None = None
    place: str | None = None
    reason: str | None = None


@dataclass(frozen=True)
class CancelAction:
    action_id: str
    reason: str
    now: datetime


@dataclass(frozen=True)
class CompleteAction:
    action_id: str
    now: datetime
    participants: tuple[ClassParticipation, ...] = ()
    staff_present: int = 0
    families_present: int = 0
    notes: str | None = None


# -- bilan, steps, funding -----------------------------------------------------------------


@dataclass(frozen=True)
class RecordBilan:
    school: SideEvaluation
    partner: SideEvaluation
    now: datetime
    questionnaire: tuple[QuestionnaireAnswer, ...] = ()


@dataclass(frozen=True)
class RecordBilanSide:
    """One side records its own part of the bilan (evaluation and questionnaire answers)."""

    side: Side
    evaluation: SideEvaluation
    now: datetime
    questionnaire: tuple[QuestionnaireAnswer, ...] = ()


@dataclass(frozen=True)
class CloseBilan:
    """The académie completes the bilan with the parts recorded so far."""

    now: datetime


@dataclass(frozen=True)
class CompleteStep:
    track: StepTrack
    step: str
    summary: str
    now: datetime
    reconduction: bool | None = None


@dataclass(frozen=True)
class RequestFunding:
    funding_id: str
    amount_eur: int
    now: datetime
    budget: tuple[BudgetItem, ...] = field(default_factory=tuple)


@dataclass(frozen=True)
class GrantFunding:
    funding_id: str
    amount_eur: int
    granted_by: str
    now: datetime


@dataclass(frozen=True)
class SpendFunding:
    funding_id: str
    amount_eur: int
    label: str
    spent_on: date
    now: datetime
    expense_id: str


Command = Union[
    OpenYear, DeclineRenewal, EndPartnership, CancelClass, DesignateReferent, SignConvention,
    ScheduleMeeting, RescheduleMeeting, CancelMeeting, HoldMeeting, ScheduleAction, RescheduleAction,
    CancelAction, CompleteAction, RecordBilan, RecordBilanSide, CloseBilan, CompleteStep, RequestFunding, GrantFunding, SpendFunding,
]
