"""Events published by the programmes service.

One stream per partnership for its whole life: ``partnership-<partnership_id>``. Year 1 is opened
by candidatures' ``PartnershipAttributed``, each later year by ``RenewalGranted``; the stream ends
with ``PartnershipEnded``. Every event carries ``partnership_id``, ``school_year`` and
``year_index`` so a consumer can place it without folding the stream.

Counts in ``BilanRecorded`` are computed by the service from the year's action events, never typed
in: ``planned`` = actions ever scheduled for the class that year, ``cancelled`` = those cancelled
(directly or because the class was cancelled), ``realised`` = those completed.
"""

from __future__ import annotations

from datetime import date
from enum import StrEnum
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field, model_validator

from . import bounds as b
from .candidatures import CampaignCalendar, PartnerRef, SchoolRef, _SchoolOrOrganiser
from .personal import personal
from .reference import ActionKind, Audience, CultureTier, Dispositif, Level, ResourceKind, SchoolYear, TimeSlot
from .registry import EventData, event, upcaster

SOURCE = "programmes"


def partnership_stream(partnership_id: str) -> str:
    """The stream id of a partnership in the programmes store."""
    return f"partnership-{partnership_id}"


class _Part(BaseModel):
    """Nested value of an event payload: immutable, tolerant of fields added later."""

    model_config = ConfigDict(frozen=True, extra="ignore")


Id = str
EMAIL_PATTERN = b.EMAIL_PATTERN


# --------------------------------------------------------------------------------------------
# Vocabularies of the programme
# --------------------------------------------------------------------------------------------


class Side(StrEnum):
    school = "school"
    partner = "partner"


class ReferentRole(StrEnum):
    """school: teacher / coordinator carrying the project, head (directeur, chef d'établissement);
    partner: collaborator (JES) or coordinator of the structure."""

    teacher = "teacher"
    coordinator = "coordinator"
    head = "head"
    collaborator = "collaborator"


class ConventionKind(StrEnum):
    convention = "convention"
    charter = "charter"  # JES: the charte des jumelages d'échanges solidaires
    protocole = "protocole"  # plan mercredi: protocole de collaboration


class CharterEngagement(StrEnum):
    """The three articles of the JES charter: who commits to what."""

    establishment = "establishment"
    company = "company"
    education_nationale = "education_nationale"


class MeetingKind(StrEnum):
    work = "work"  # Sept-Oct: builds the programme of actions per class
    follow_up = "follow_up"
    bilan = "bilan"  # May-June: evaluation, wish to continue
    rencontre = "rencontre"  # centres sociaux: the 3 rencontres


class MeetingTiming(StrEnum):
    """Where a work or bilan meeting falls against its window in the campaign calendar (work:
    Sept-Oct, bilan: May-June). The calendar is what the académie expects, not a condition: a
    meeting outside its window is recorded, and says so."""

    in_window = "in_window"
    early = "early"
    late = "late"


class ProductionKind(StrEnum):
    video = "video"
    paper = "paper"
    other = "other"


class StepTrack(StrEnum):
    mercredi = "mercredi"
    concertation = "concertation"


MERCREDI_STEPS = ("objectifs", "recherche_partenaires", "formalisation", "animation", "bilan")
"""The five steps of a plan mercredi partnership, in order."""

CONCERTATION_STEPS = ("concertation", "projet_pedagogique", "financement")
"""The three steps of a CNR « Notre école, faisons-la ensemble » project, numbered in this order but
optional and distinct (seed 003): none waits for another (funding itself is followed by
FundingRequested / FundingGranted / FundingSpent)."""


# --------------------------------------------------------------------------------------------
# Value parts
# --------------------------------------------------------------------------------------------


class ProgrammeClass(_Part):
    """A class taking part in a year of the programme."""

    class_id: Id = Field(min_length=1, max_length=100)
    label: str = Field(min_length=1, max_length=200)
    level: Level
    pupils: int = Field(ge=1, le=60)
    objective: str | None = Field(default=None, max_length=4000)


class ResourceLink(_Part):
    """The offer resource an action uses (the partner's catalogue entry)."""

    offer_id: Id | None = Field(default=None, max_length=200)
    resource_kind: ResourceKind | None = None
    resource_index: int | None = Field(default=None, ge=0, le=b.RESOURCES, description="Index in the offer's resources")


class ClassParticipation(_Part):
    """How many pupils of one class were actually present at a completed action."""

    class_id: Id = Field(min_length=1, max_length=100)
    pupils_present: int = Field(ge=0, le=60)


class Production(_Part):
    """What a rencontre (centres sociaux) produced: a video, a paper document..."""

    kind: ProductionKind
    title: str = Field(min_length=1, max_length=300)
    url: str | None = Field(default=None, max_length=1000)


class ClassBilan(_Part):
    """Planned versus realised actions of one class over the year (computed from the events)."""

    class_id: Id
    label: str
    level: Level
    pupils: int = Field(ge=0)
    planned: int = Field(ge=0)
    realised: int = Field(ge=0)
    cancelled: int = Field(ge=0)
    pupils_reached: int = Field(ge=0, description="Sum of pupils present over the class's completed actions")
    class_cancelled: bool = False


class KindBilan(_Part):
    """Planned versus realised actions of one kind over the year (computed from the events)."""

    kind: ActionKind
    planned: int = Field(ge=0)
    realised: int = Field(ge=0)
    cancelled: int = Field(ge=0)


class QuestionnaireAnswer(_Part):
    """One answer of the end-of-year evaluation questionnaire."""

    side: Side
    question: str = Field(min_length=1, max_length=500)
    answer: str = Field(min_length=0, max_length=4000)


class SideEvaluation(_Part):
    """What one side says of the year."""

    satisfaction: int = Field(ge=1, le=5, description="1 (not satisfied) to 5 (very satisfied)")
    comments: str | None = personal(default=None, max_length=8000, description="Free text: may name people")
    wish_to_continue: bool


class _YearEvent(EventData):
    partnership_id: Id = Field(min_length=1, max_length=200)
    school_year: SchoolYear
    year_index: int = Field(ge=1, le=10)


# --------------------------------------------------------------------------------------------
# Years of the partnership
# --------------------------------------------------------------------------------------------


@event(SOURCE)
class ProgrammeYearOpened(_YearEvent, _SchoolOrOrganiser):
    """A school year of the partnership opened: year 1 on attribution, year N+1 on a granted
    renewal. Carries who is twinned, the classes and the calendar of the year."""

    type: Literal["ProgrammeYearOpened"] = "ProgrammeYearOpened"
    candidature_id: Id
    campaign_id: Id | None = None
    dispositif: Dispositif
    tier: CultureTier | None = None
    partner: PartnerRef | None = Field(default=None, description="None only for a CNR project without a named partner")
    offer_id: Id | None = None
    classes: list[ProgrammeClass] = Field(min_length=1)
    calendar: CampaignCalendar
    year_starts_on: date = Field(description="First day actions may take place (rentrée)")
    year_ends_on: date = Field(description="Last day actions may take place (summer holidays)")
    opened_by: Literal["attribution", "renewal"]
    caused_by: str | None = Field(default=None, description="Id of the candidatures event that opened it")
    associated_schools: b.many(SchoolRef, b.SCHOOLS) = Field(
        default_factory=list, description="CNR: the other schools of the project, beside ``school`` (seed 003: "
                                          "« écoles ou groupes d'écoles »); they act on the school's side")


@event(SOURCE)
class ClassCancelled(_YearEvent):
    """A class left the programme for the year: its future actions are cancelled with it and no
    new action may be scheduled for it."""

    type: Literal["ClassCancelled"] = "ClassCancelled"
    class_id: b.Id
    reason: b.Reason
    cancelled_action_ids: b.many(b.Id, 1000) = Field(default_factory=list)


@event(SOURCE)
class ProgrammeYearClosed(_YearEvent):
    """The school year of the partnership is over (renewed into the next one, or not)."""

    type: Literal["ProgrammeYearClosed"] = "ProgrammeYearClosed"
    outcome: Literal["renewed", "not_renewed", "ended"]
    closed_at: b.Timestamp
    bilan_recorded: bool


@event(SOURCE)
class PartnershipEnded(_YearEvent):
    """The partnership is over: it accepts nothing more."""

    type: Literal["PartnershipEnded"] = "PartnershipEnded"
    reason: Literal["renewal_declined", "not_renewed", "completed", "withdrawn", "other"]
    detail: str | None = Field(default=None, max_length=4000)
    ended_at: b.Timestamp
    years: int = Field(ge=1, description="How many school years the partnership lasted")


# --------------------------------------------------------------------------------------------
# Referents and convention
# --------------------------------------------------------------------------------------------


@event(SOURCE)
class ReferentDesignated(_YearEvent):
    """A side named a referent for the year, possibly replacing an earlier one."""

    type: Literal["ReferentDesignated"] = "ReferentDesignated"
    referent_id: Id = Field(min_length=1, max_length=200)
    side: Side
    role: ReferentRole
    name: str = personal(min_length=1, max_length=300, subject="referent_id")
    email: str = personal(min_length=3, max_length=320, pattern=EMAIL_PATTERN, subject="referent_id")
    phone: str | None = personal(default=None, max_length=40, subject="referent_id")
    replaces: Id | None = Field(default=None, description="referent_id of the referent replaced")


@event(SOURCE)
class ConventionSigned(_YearEvent):
    """One side signed the year's convention (or JES charter); ``fully_signed`` once both have."""

    type: Literal["ConventionSigned"] = "ConventionSigned"
    kind: ConventionKind
    side: Side
    signed_by: str = personal(min_length=1, max_length=300)
    signed_at: b.Timestamp
    fully_signed: bool
    engagements_accepted: list[CharterEngagement] = Field(
        default_factory=list, description="JES: the charter's articles this signature accepts")


# --------------------------------------------------------------------------------------------
# Meetings
# --------------------------------------------------------------------------------------------


@event(SOURCE)
class MeetingScheduled(_YearEvent):
    """A meeting between the school and the partner was planned."""

    type: Literal["MeetingScheduled"] = "MeetingScheduled"
    meeting_id: Id = Field(min_length=1, max_length=200)
    kind: MeetingKind
    rencontre_number: int | None = Field(default=None, ge=1, le=3, description="centres sociaux: 1st, 2nd or 3rd rencontre")
    starts_at: b.Timestamp
    duration_minutes: int = Field(default=120, ge=5, le=24 * 60)
    place: b.Place
    attendees_planned: b.many(b.Name, b.PEOPLE) = personal(default_factory=list)
    title: b.Title | None = None
    timing: MeetingTiming | None = Field(
        default=None, description="work and bilan meetings: against the calendar's window; none for other kinds")


@event(SOURCE)
class MeetingRescheduled(_YearEvent):
    """A planned meeting moved."""

    type: Literal["MeetingRescheduled"] = "MeetingRescheduled"
    meeting_id: Id
    kind: MeetingKind
    starts_at: b.Timestamp
    previous_starts_at: b.Timestamp
    place: str = Field(min_length=1, max_length=500)
    reason: str | None = Field(default=None, max_length=4000)
    timing: MeetingTiming | None = Field(
        default=None, description="work and bilan meetings: against the calendar's window; none for other kinds")


@event(SOURCE)
class MeetingCancelled(_YearEvent):
    """A planned meeting will not take place."""

    type: Literal["MeetingCancelled"] = "MeetingCancelled"
    meeting_id: Id
    kind: MeetingKind
    reason: b.Reason


@event(SOURCE)
class MeetingHeld(_YearEvent):
    """A meeting took place: who came, the minutes, and (centres sociaux) what it produced."""

    type: Literal["MeetingHeld"] = "MeetingHeld"
    meeting_id: Id
    kind: MeetingKind
    held_at: b.Timestamp
    attendees: b.many(b.Name, b.PEOPLE) = personal(default_factory=list)
    minutes: b.LongText = personal(description="Free text: who said and did what")
    productions: b.many(Production, b.ITEMS) = Field(default_factory=list)
    timing: MeetingTiming | None = Field(
        default=None, description="work and bilan meetings: against the calendar's window; none for other kinds")


# --------------------------------------------------------------------------------------------
# Actions per class
# --------------------------------------------------------------------------------------------


@event(SOURCE)
class ActionScheduled(_YearEvent):
    """An action of the programme was planned for one or more classes."""

    type: Literal["ActionScheduled"] = "ActionScheduled"
    action_id: Id = Field(min_length=1, max_length=200)
    kind: ActionKind
    title: b.Title
    class_ids: b.many(b.Id, b.CLASSES, min_length=1)
    starts_at: b.Timestamp
    duration_minutes: int = Field(ge=5, le=7 * 24 * 60, description="An observation internship lasts a week")
    place: str = Field(min_length=1, max_length=500)
    audiences: list[Audience] = Field(default_factory=lambda: [Audience.pupils])
    time_slot: TimeSlot = TimeSlot.scolaire
    resource: ResourceLink | None = None
    description: b.Text | None = None


@event(SOURCE)
class ActionRescheduled(_YearEvent):
    """A planned action moved (date, duration or place)."""

    type: Literal["ActionRescheduled"] = "ActionRescheduled"
    action_id: Id
    kind: ActionKind
    class_ids: b.many(b.Id, b.CLASSES, min_length=1)
    starts_at: b.Timestamp
    previous_starts_at: b.Timestamp
    duration_minutes: int = Field(ge=5, le=7 * 24 * 60)
    place: b.Place
    reason: b.Reason | None = None


@event(SOURCE)
class ActionCancelled(_YearEvent):
    """A planned action will not take place."""

    type: Literal["ActionCancelled"] = "ActionCancelled"
    action_id: Id
    kind: ActionKind
    class_ids: b.many(b.Id, b.CLASSES, min_length=1)
    reason: b.Reason


@event(SOURCE)
class ActionCompleted(_YearEvent):
    """The action took place; who was actually there, per class."""

    type: Literal["ActionCompleted"] = "ActionCompleted"
    action_id: Id
    kind: ActionKind
    class_ids: b.many(b.Id, b.CLASSES, min_length=1)
    completed_at: b.Timestamp
    participants: b.many(ClassParticipation, b.CLASSES) = Field(default_factory=list)
    staff_present: b.Count = 0
    families_present: b.Count = 0
    notes: b.Text | None = personal(default=None, description="Free text: may name people")


# --------------------------------------------------------------------------------------------
# Bilan
# --------------------------------------------------------------------------------------------


@event(SOURCE)
class BilanRecorded(_YearEvent):
    """The bilan of the year, after the bilan meeting: planned versus realised per class and per
    kind (computed from the year's events), both sides' evaluation and the wish to continue."""

    type: Literal["BilanRecorded"] = "BilanRecorded"
    bilan_meeting_id: Id
    recorded_at: b.Timestamp
    per_class: list[ClassBilan]
    per_kind: list[KindBilan] = Field(default_factory=list)
    planned: int = Field(ge=0)
    realised: int = Field(ge=0)
    cancelled: int = Field(ge=0)
    pupils_reached: int = Field(ge=0)
    school: SideEvaluation
    partner: SideEvaluation | None = Field(
        default=None, description="None: no partner side (a CNR project) or the académie closed the bilan without it")
    questionnaire: list[QuestionnaireAnswer] = Field(default_factory=list)
    wish_to_continue: bool = Field(description="Both sides (the sides present) wish to continue")


@event(SOURCE)
class BilanSideRecorded(_YearEvent):
    """One side's own part of the bilan: its evaluation and its answers to the end-of-year
    questionnaire, recorded by that side. ``BilanRecorded`` follows once the bilan is complete."""

    type: Literal["BilanSideRecorded"] = "BilanSideRecorded"
    side: Side
    recorded_at: b.Timestamp
    evaluation: SideEvaluation
    questionnaire: b.many(QuestionnaireAnswer, b.ITEMS) = Field(default_factory=list)


# --------------------------------------------------------------------------------------------
# Steps of plan mercredi and CNR; CNR funding
# --------------------------------------------------------------------------------------------


@event(SOURCE)
class StepCompleted(_YearEvent):
    """A step of a plan mercredi partnership (objectifs, recherche_partenaires, formalisation,
    animation, bilan) or of a CNR project (concertation, projet_pedagogique, financement)."""

    type: Literal["StepCompleted"] = "StepCompleted"
    track: StepTrack
    step: str = Field(min_length=1, max_length=50)
    step_number: int = Field(ge=1, le=5)
    completed_at: b.Timestamp
    summary: str = Field(min_length=1, max_length=8000)
    reconduction: bool | None = Field(default=None, description="mercredi bilan step: renew the partnership or not")

    @model_validator(mode="after")
    def _known_step(self) -> "StepCompleted":
        steps = MERCREDI_STEPS if self.track is StepTrack.mercredi else CONCERTATION_STEPS
        if self.step not in steps:
            raise ValueError(f"unknown {self.track.value} step {self.step!r}")
        if steps.index(self.step) + 1 != self.step_number:
            raise ValueError("step_number does not match the step")
        return self


class BudgetItem(_Part):
    label: b.Title
    amount_eur: b.Euros


@event(SOURCE)
class FundingRequested(_YearEvent):
    """CNR: the project asked the fonds d'innovation pédagogique for funding."""

    type: Literal["FundingRequested"] = "FundingRequested"
    funding_id: Id
    amount_eur: b.Euros = Field(ge=1)
    budget: b.many(BudgetItem, b.ITEMS) = Field(default_factory=list)
    requested_at: b.Timestamp


@event(SOURCE)
class FundingGranted(_YearEvent):
    """CNR: funding was granted (possibly less than requested)."""

    type: Literal["FundingGranted"] = "FundingGranted"
    funding_id: Id
    amount_eur: int = Field(ge=0)
    granted_by: str = personal(min_length=1, max_length=300,
                               description="Who granted it: a body or a person's name (then personal)")
    granted_at: b.Timestamp


@event(SOURCE, version=2)
class FundingSpent(_YearEvent):
    """CNR: part of the granted funding was spent. v2: ``expense_id`` names the expense, so the
    same expense reported twice (a retried request, a redelivery) is counted once."""

    type: Literal["FundingSpent"] = "FundingSpent"
    funding_id: Id
    expense_id: Id = Field(min_length=1, max_length=200, description="The expense (invoice, payment) recorded")
    amount_eur: int = Field(ge=1)
    label: str = Field(min_length=1, max_length=300)
    spent_on: date
    total_spent_eur: int = Field(ge=0, description="Spent so far on this funding, this expense included")


@upcaster("FundingSpent", 1)
def _funding_spent_v1_to_v2(data: dict) -> dict:
    # v1 spends carried no id. The running total after each spend is unique within a funding
    # (every spend adds at least 1 EUR), so it names the expense for good.
    return {**data, "expense_id": f"{data['funding_id']}-total-{data['total_spent_eur']}"}


@event(SOURCE)
class PersonErased(EventData):
    """A person's data key was deleted (``jumelage erase --person``, the admin route, or the
    retention of an ended partnership): every service holding a copy of that person's data or key
    deletes it, and from then on reads show « personne effacée ». The person's id stays: counts,
    timelines and indicators are unchanged."""

    type: Literal["PersonErased"] = "PersonErased"
    person_id: Id = Field(min_length=1, max_length=200, description="The subject erased (a referent_id)")
    reason: Literal["request", "retention"] = "request"
    erased_at: b.Timestamp


PROGRAMMES_EVENTS = (
    ProgrammeYearOpened, ClassCancelled, ProgrammeYearClosed, PartnershipEnded, ReferentDesignated,
    ConventionSigned, MeetingScheduled, MeetingRescheduled, MeetingCancelled, MeetingHeld,
    ActionScheduled, ActionRescheduled, ActionCancelled, ActionCompleted, BilanRecorded,
    StepCompleted, FundingRequested, FundingGranted, FundingSpent, PersonErased,
)
