"""Request bodies of the HTTP API (pydantic: a bad field gives 422 problem+json naming it)."""

from __future__ import annotations

from pydantic import BaseModel, ConfigDict, Field, ValidationInfo, field_validator

from jumelage_contracts import bounds as b
from jumelage_contracts.candidatures import (
    CampaignCalendar,
    ClassEntry,
    Concertation,
    Organiser,
    Partner,
    PartnerCompany,
    PartnerRef,
    Resource,
    SchoolRef,
    Wishes,
)
from jumelage_contracts.reference import (
    Academie,
    Audience,
    Avis,
    CultureTier,
    Dispositif,
    EacDomain,
    Level,
    SchoolYear,
    TimeSlot,
)

from candidatures.domain.offer import OfferContent
from candidatures.domain.rules import CandidatureContent

ID_PATTERN = r"^[A-Za-z0-9][A-Za-z0-9_.:-]{0,99}$"


class Body(BaseModel):
    model_config = ConfigDict(extra="forbid")


class CampaignBody(Body):
    campaign_id: str | None = Field(default=None, max_length=100, pattern=ID_PATTERN, description="Chosen by the caller, or generated")
    academie: Academie
    dispositif: Dispositif
    school_year: SchoolYear
    title: b.Title
    calendar: CampaignCalendar


class OfferBody(Body):
    offer_id: str | None = Field(default=None, max_length=100, pattern=ID_PATTERN)
    partner: Partner
    title: b.Title
    resources: list[Resource] = Field(min_length=1, max_length=b.RESOURCES)
    eac_domains: list[EacDomain] = Field(default_factory=list, max_length=len(EacDomain))
    levels: list[Level] = Field(min_length=1, max_length=len(Level))
    audiences: list[Audience] = Field(default_factory=lambda: [Audience.pupils], max_length=len(Audience))
    time_slots: list[TimeSlot] = Field(default_factory=lambda: [TimeSlot.scolaire], max_length=len(TimeSlot))
    capacity_classes: int = Field(ge=1, le=500)

    def content(self) -> OfferContent:
        return OfferContent(partner=self.partner, title=self.title, resources=tuple(self.resources),
                            eac_domains=tuple(self.eac_domains), levels=tuple(self.levels),
                            audiences=tuple(self.audiences), time_slots=tuple(self.time_slots),
                            capacity_classes=self.capacity_classes)


class CandidatureBody(Body):
    """The full content of a candidature (drafts, submissions, amendments, resubmissions)."""

    candidature_id: str | None = Field(default=None, max_length=100, pattern=ID_PATTERN)
    school: SchoolRef | None = Field(default=None, description="The applying school (required unless ``organiser`` "
                                                               "is given: then the school partnering the ACM, if any)")
    classes: list[ClassEntry] = Field(default_factory=list, max_length=b.CLASSES,
                                      description="At least one for a school; none for an ACM organiser")
    school_objective: b.Text = Field(description="The school's objective; for an ACM organiser, its projet "
                                                 "éducatif's objective")
    offer_id: b.Id | None = None
    partner_wished: PartnerRef | None = None
    wishes: Wishes = Field(default_factory=Wishes)
    tier: CultureTier | None = None
    partner_company: PartnerCompany | None = None
    concertation: Concertation | None = None
    associated_schools: list[SchoolRef] = Field(
        default_factory=list, max_length=b.SCHOOLS,
        description="CNR only: the other schools of the network or bassin joining with ``school``, all of the "
                    "campaign's académie")
    organiser: Organiser | None = Field(
        default=None, validate_default=True, description="plan mercredi only: the ACM organiser applying (partner token of its partner_id), "
                                  "its place(s) and its groups of children by age band")

    @field_validator("organiser", mode="after")
    @classmethod
    def a_school_or_an_organiser_applies(cls, organiser: Organiser | None, info: ValidationInfo) -> Organiser | None:
        """Someone must apply: a school, or (plan mercredi) an ACM organiser. Validated on
        ``organiser``, the field after ``school``, so both are known; ``validate_default`` makes it
        run when neither is sent. (A school sent but invalid has its own error beside this one.)"""
        if organiser is None and info.data.get("school") is None:
            raise ValueError("school is required (or organiser, for an ACM organiser applying to plan mercredi)")
        return organiser

    def content(self) -> CandidatureContent:
        return CandidatureContent(
            school=self.school, classes=tuple(self.classes), school_objective=self.school_objective,
            offer_id=self.offer_id, partner_wished=self.partner_wished, wishes=self.wishes, tier=self.tier,
            partner_company=self.partner_company, concertation=self.concertation,
            associated_schools=tuple(self.associated_schools), organiser=self.organiser,
        )


class ReasonBody(Body):
    reason: b.Reason


class OptionalReasonBody(Body):
    reason: b.Reason | None = None


class ReviewBody(Body):
    avis: Avis
    comment: b.Text | None = None


LATE_REASON = ("Needed after the campaign's attribution date: why the académie attributes late "
               "(e.g. a place freed by a withdrawal or a declined partnership)")


class AttributeBody(Body):
    partner: PartnerRef | None = Field(default=None, description="Needed only when the candidature names no offer")
    late_reason: str | None = Field(default=None, max_length=2000, description=LATE_REASON)


class BatchItem(Body):
    candidature_id: str = Field(max_length=100, pattern=ID_PATTERN)
    partner: PartnerRef | None = None
    late_reason: str | None = Field(default=None, max_length=2000, description=LATE_REASON)


class BatchAttributionBody(Body):
    items: list[BatchItem] = Field(min_length=1, max_length=500)


class RenewalRequestBody(Body):
    classes: list[ClassEntry] = Field(min_length=1, max_length=b.CLASSES)
    motivation: b.Text
    tier: CultureTier | None = None


class GrantBody(Body):
    calendar: CampaignCalendar | None = Field(default=None, description="Default: this year's calendar, a year later")
