"""HTTP request bodies. Each turns into one domain command with ``now`` from the service clock.

Ids (action, meeting, referent, funding) may be chosen by the client: a retried POST with the same
id then records nothing twice. Without one the server makes one up.
"""

from __future__ import annotations

import uuid
from datetime import date, datetime
from typing import Literal

from pydantic import AwareDatetime, BaseModel, ConfigDict, Field

from jumelage_contracts import bounds as b
from jumelage_contracts.programmes import (
    EMAIL_PATTERN,
    BudgetItem,
    CharterEngagement,
    ClassParticipation,
    MeetingKind,
    Production,
    QuestionnaireAnswer,
    ReferentRole,
    ResourceLink,
    Side,
    SideEvaluation,
    StepTrack,
)
from jumelage_contracts.reference import ActionKind, Audience, TimeSlot

from programmes.domain import commands as c

IdField = Field(default=None, min_length=1, max_length=200, pattern=r"^[A-Za-z0-9][A-Za-z0-9_.:-]*$")


def new_id(prefix: str) -> str:
    return f"{prefix}-{uuid.uuid4().hex[:16]}"


class Body(BaseModel):
    model_config = ConfigDict(extra="forbid")


class ReferentBody(Body):
    referent_id: str | None = IdField
    side: Side
    role: ReferentRole
    name: b.Name
    email: str = Field(min_length=3, max_length=320, pattern=EMAIL_PATTERN)
    phone: str | None = Field(default=None, max_length=40)
    replaces: b.Id | None = None

    def command(self, now: datetime) -> c.DesignateReferent:
        return c.DesignateReferent(self.referent_id or new_id("ref"), self.side, self.role, self.name, self.email,
                                   now, phone=self.phone, replaces=self.replaces)


class SignatureBody(Body):
    side: Side
    signed_by: b.Name
    engagements_accepted: list[CharterEngagement] = Field(default_factory=list, max_length=3)

    def command(self, now: datetime) -> c.SignConvention:
        return c.SignConvention(self.side, self.signed_by, now, tuple(self.engagements_accepted))


class MeetingBody(Body):
    meeting_id: str | None = IdField
    kind: MeetingKind
    starts_at: AwareDatetime
    place: b.Place
    duration_minutes: int = Field(default=120, ge=5, le=24 * 60)
    rencontre_number: int | None = Field(default=None, ge=1, le=3)
    attendees_planned: list[b.Name] = Field(default_factory=list, max_length=b.PEOPLE)
    title: b.Title | None = None

    def command(self, now: datetime) -> c.ScheduleMeeting:
        return c.ScheduleMeeting(self.meeting_id or new_id("mtg"), self.kind, self.starts_at, self.place, now,
                                 self.duration_minutes, self.rencontre_number, tuple(self.attendees_planned),
                                 self.title)


class MeetingRescheduleBody(Body):
    starts_at: AwareDatetime
    place: b.Place | None = None
    reason: b.Reason | None = None


class ReasonBody(Body):
    reason: b.Reason


class MeetingHeldBody(Body):
    minutes: b.LongText
    attendees: list[b.Name] = Field(default_factory=list, max_length=b.PEOPLE)
    productions: list[Production] = Field(default_factory=list, max_length=b.ITEMS)


class ActionBody(Body):
    action_id: str | None = IdField
    kind: ActionKind
    title: b.Title
    class_ids: list[b.Id] = Field(min_length=1, max_length=b.CLASSES)
    starts_at: AwareDatetime
    duration_minutes: int = Field(ge=5, le=7 * 24 * 60)
    place: b.Place
    audiences: list[Audience] = Field(default_factory=lambda: [Audience.pupils], min_length=1, max_length=3)
    time_slot: TimeSlot = TimeSlot.scolaire
    resource: ResourceLink | None = None
    description: b.Text | None = None

    def command(self, now: datetime) -> c.ScheduleAction:
        return c.ScheduleAction(
            self.action_id or new_id("act"), self.kind, self.title, tuple(self.class_ids), self.starts_at,
            self.duration_minutes, self.place, now, tuple(self.audiences), self.time_slot, self.resource,
            self.description)


class ActionRescheduleBody(Body):
    starts_at: AwareDatetime
    duration_minutes: int | None = Field(default=None, ge=5, le=7 * 24 * 60)
    place: b.Place | None = None
    reason: b.Reason | None = None


class ActionCompleteBody(Body):
    participants: list[ClassParticipation] = Field(default_factory=list, max_length=b.CLASSES)
    staff_present: b.Count = 0
    families_present: b.Count = 0
    notes: b.Text | None = None


class BilanBody(Body):
    school: SideEvaluation
    partner: SideEvaluation
    questionnaire: list[QuestionnaireAnswer] = Field(default_factory=list, max_length=b.ITEMS)

    def command(self, now: datetime) -> c.RecordBilan:
        return c.RecordBilan(self.school, self.partner, now, tuple(self.questionnaire))


class BilanSideBody(Body):
    satisfaction: int = Field(ge=1, le=5)
    comments: str | None = Field(default=None, max_length=8000)
    wish_to_continue: bool
    questionnaire: list[QuestionnaireAnswer] = Field(default_factory=list, max_length=b.ITEMS)

    def command(self, side: Side, now: datetime) -> c.RecordBilanSide:
        evaluation = SideEvaluation(satisfaction=self.satisfaction, comments=self.comments,
                                    wish_to_continue=self.wish_to_continue)
        return c.RecordBilanSide(side, evaluation, now, tuple(self.questionnaire))


class StepBody(Body):
    track: StepTrack
    step: str = Field(min_length=1, max_length=50)
    summary: b.LongText
    reconduction: bool | None = None

    def command(self, now: datetime) -> c.CompleteStep:
        return c.CompleteStep(self.track, self.step, self.summary, now, self.reconduction)


class FundingRequestBody(Body):
    funding_id: str | None = IdField
    amount_eur: b.Euros = Field(ge=1)
    budget: list[BudgetItem] = Field(default_factory=list, max_length=b.ITEMS)

    def command(self, now: datetime) -> c.RequestFunding:
        return c.RequestFunding(self.funding_id or new_id("fund"), self.amount_eur, now, tuple(self.budget))


class FundingGrantBody(Body):
    amount_eur: b.Euros
    granted_by: b.Name


class FundingSpendBody(Body):
    expense_id: str | None = IdField  # the invoice or payment reference: a retried spend counts once
    amount_eur: b.Euros = Field(ge=1)
    label: b.Title
    spent_on: date

    def command(self, funding_id: str, now: datetime) -> c.SpendFunding:
        return c.SpendFunding(funding_id, self.amount_eur, self.label, self.spent_on, now,
                              self.expense_id or new_id("exp"))


class EndBody(Body):
    reason: Literal["not_renewed", "completed", "withdrawn", "other"]
    detail: b.Reason | None = None

    def command(self, now: datetime) -> c.EndPartnership:
        return c.EndPartnership(self.reason, now, self.detail)
