"""Events published by the candidatures service.

Streams: ``campaign-<id>`` (campaign lifecycle), ``offer-<id>`` (a partner's offer and the
capacity reserved on it by attributions), ``candidature-<id>`` (a school's candidature; once
attributed the same stream carries the partnership's renewal history, so ``partnership_id`` and
``candidature_id`` always point at one stream).

Dates: deadlines are timezone-aware instants; windows and the attribution day are calendar days.
"""

from __future__ import annotations

from datetime import date
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field, model_validator

from . import bounds as b
from .reference import (
    UAI,
    Academie,
    Audience,
    Avis,
    CultureTier,
    Dispositif,
    EacDomain,
    EducationPrioritaire,
    Level,
    PartnerKind,
    ResourceKind,
    Ruralite,
    SchoolYear,
    TimeSlot,
)
from .personal import personal
from .registry import EventData, event

SOURCE = "candidatures"


class _Part(BaseModel):
    """Nested value of an event payload: immutable, tolerant of fields added later."""

    model_config = ConfigDict(frozen=True, extra="ignore")


# --------------------------------------------------------------------------------------------
# Value parts
# --------------------------------------------------------------------------------------------


class DateWindow(_Part):
    """An inclusive range of calendar days."""

    start: date
    end: date

    @model_validator(mode="after")
    def _ordered(self) -> "DateWindow":
        if self.end < self.start:
            raise ValueError("window end is before its start")
        return self


class CampaignCalendar(_Part):
    """The calendar of a campaign's school year, copied into attribution and renewal events so
    that downstream services (programmes, notifications) know the dates without asking."""

    submission_deadline: b.Timestamp = Field(description="Last instant a candidature may be submitted or amended")
    attribution_date: date = Field(description="Day the académie attributes the partnerships (July)")
    work_meeting_window: DateWindow = Field(description="Window of the school + partner work meeting (Sept-Oct)")
    bilan_window: DateWindow = Field(description="Window of the bilan meeting (May-June)")
    renewal_deadline: b.Timestamp = Field(description="Last instant a renewal may be requested (June)")


class SchoolRef(_Part):
    """The applying school as declared on the candidature (UAI checked against académie/département)."""

    uai: UAI
    name: str = Field(min_length=1, max_length=300)
    academie: Academie
    departement: str = Field(min_length=2, max_length=3, description="Département code, e.g. 75, 2A, 974")
    commune: str | None = Field(default=None, max_length=200)
    education_prioritaire: EducationPrioritaire = EducationPrioritaire.none
    ruralite: Ruralite | None = None


class ClassEntry(_Part):
    """One class taking part, with its level, number of pupils and its own objective."""

    class_id: str = Field(min_length=1, max_length=100)
    label: str = Field(min_length=1, max_length=200, description="e.g. 'CM1 B'")
    level: Level
    pupils: int = Field(ge=1, le=60)
    objective: str = Field(min_length=1, max_length=4000)


class PartnerRef(_Part):
    """A partner structure, as named on a candidature or an attribution."""

    partner_id: str = Field(min_length=1, max_length=200)
    kind: PartnerKind
    name: str = Field(min_length=1, max_length=300)


class Partner(_Part):
    """A partner structure as it publishes an offer."""

    partner_id: str = Field(min_length=1, max_length=200)
    kind: PartnerKind
    name: str = Field(min_length=1, max_length=300)
    siret: str | None = Field(default=None, max_length=14, pattern=r"^[0-9]{14}$", description="SIRET where the structure has one")
    address: str = Field(min_length=1, max_length=500)
    commune: str = Field(min_length=1, max_length=200)
    postcode: str | None = Field(default=None, max_length=5, pattern=r"^[0-9]{5}$")


class Resource(_Part):
    """What the partner puts at the disposal of pupils, staff or families."""

    kind: ResourceKind
    description: str = Field(min_length=1, max_length=2000)


class Wishes(_Part):
    """Whether the school wishes the partnership to reach beyond class time and pupils."""

    periscolaire: bool = False
    staff: bool = False
    families: bool = False


class PartnerCompany(_Part):
    """The company (or company site) a JES candidature is twinned with."""

    name: str = Field(min_length=1, max_length=300)
    siret: str | None = Field(default=None, max_length=14, pattern=r"^[0-9]{14}$")
    commune: str | None = Field(default=None, max_length=200)
    partner_id: str | None = Field(default=None, max_length=200)


class BudgetLine(_Part):
    label: b.Title
    amount_eur: b.Euros


class FundingRequest(_Part):
    """Funding a CNR project asks for (whole euros)."""

    amount_eur: b.Euros
    budget_lines: b.many(BudgetLine, b.ITEMS) = Field(default_factory=list)


class Concertation(_Part):
    """What a « Notre école, faisons-la ensemble » (CNR) candidature carries: the steps the team
    has reached when it joins. Seed 003: « trois étapes facultatives, distinctes l'une de l'autre »
    — a team may join with its initial concertation only and write its projet and ask for
    funding later (on the candidature while it waits, in programmes once accepted), or never."""

    concertation_summary: str | None = Field(
        default=None, min_length=1, max_length=8000,
        description="The initial concertation, when one was held: the three CNR steps are optional and "
                    "distinct (a school may write its projet without one)")
    pedagogical_project: str | None = Field(
        default=None, min_length=1, max_length=8000,
        description="The projet pedagogique, once written (optional since v1 stayed readable: older "
                    "candidatures always carry it)")
    funding: FundingRequest | None = Field(
        default=None, description="The funding asked of the fonds d'innovation pedagogique, when asked "
                                  "(needs the projet pedagogique)")


class AcmPlace(_Part):
    """Where an accueil collectif de mineurs is held. Seed 001: « au sein des écoles ou dans des
    lieux spécifiquement dédiés » — a school, given by its UAI, or a dedicated place, by its address."""

    kind: Literal["school", "dedicated"]
    name: b.Name
    uai: UAI | None = Field(default=None, description="kind school: the school's UAI")
    address: b.Place | None = Field(default=None, description="kind dedicated: the place's address")
    commune: str | None = Field(default=None, min_length=1, max_length=200)
    postcode: str | None = Field(default=None, max_length=5, pattern=r"^[0-9]{5}$")

    @model_validator(mode="after")
    def _located(self) -> "AcmPlace":
        if self.kind == "school" and self.uai is None:
            raise ValueError("a school place is given by its uai")
        if self.kind == "dedicated" and self.address is None:
            raise ValueError("a dedicated place is given by its address")
        return self


class ChildGroup(_Part):
    """A group of the ACM's children by age band (what a class is to a school)."""

    group_id: str = Field(min_length=1, max_length=100)
    age_min: int = Field(ge=3, le=17, description="Youngest age of the band, e.g. 6 for '6-8'")
    age_max: int = Field(ge=3, le=17, description="Oldest age of the band, e.g. 8 for '6-8'")
    children: int = Field(ge=1, le=60, description="How many children the group takes in")

    @model_validator(mode="after")
    def _ordered(self) -> "ChildGroup":
        if self.age_max < self.age_min:
            raise ValueError("age_max is below age_min")
        return self

    @property
    def label(self) -> str:
        return f"ACM {self.age_min}-{self.age_max} ans"


class Organiser(_Part):
    """The organiser of an accueil collectif de mineurs applying to a plan mercredi campaign
    (seed 001): a commune, an association or a centre de loisirs — a partner structure of kind
    ``acm``, acting with its partner id — with the place(s) it runs the ACM in and its groups of
    children by age band, in place of a school's classes."""

    partner_id: b.Id
    kind: Literal["commune", "association", "centre_loisirs"]
    name: b.Name
    siret: str | None = Field(default=None, max_length=14, pattern=r"^[0-9]{14}$")
    academie: Academie
    departement: str = Field(min_length=2, max_length=3, description="Département code, e.g. 75, 2A, 974")
    commune: str = Field(min_length=1, max_length=200)
    postcode: str | None = Field(default=None, max_length=5, pattern=r"^[0-9]{5}$")
    places: b.many(AcmPlace, b.ITEMS, min_length=1)
    groups: b.many(ChildGroup, b.CLASSES, min_length=1)
    email: str | None = personal(
        default=None, min_length=3, max_length=320, pattern=b.EMAIL_PATTERN,
        description="The organiser's contact e-mail: where its decisions and reminders go (a school's go to its "
                    "functional mailbox; an organiser has none). May be a person's address")


class _SchoolOrOrganiser(EventData):
    """An event about a partnership whose school side is a school, or an ACM organiser (plan
    mercredi, seed 001: an ACM held in dedicated places may have no school at all)."""

    school: SchoolRef | None = Field(
        default=None, description="The school; for an ACM organiser's partnership the school partnering or hosting "
                                  "it, if any")
    organiser: Organiser | None = Field(
        default=None, description="plan mercredi, an ACM organiser's partnership: the organiser, who holds the "
                                  "school side (``classes`` then lists its groups, one class of label 'ACM a-b ans' "
                                  "each)")

    @model_validator(mode="after")
    def _a_school_side(self) -> "_SchoolOrOrganiser":
        if self.school is None and self.organiser is None:
            raise ValueError("a partnership has a school, or an ACM organiser")
        return self

    @property
    def academie(self) -> Academie:
        """The académie of the school side: the school's, or the ACM organiser's."""
        return self.school.academie if self.school is not None else self.organiser.academie  # type: ignore[union-attr]

    @property
    def uai(self) -> str | None:
        return self.school.uai if self.school is not None else None

    @property
    def school_side_name(self) -> str:
        """The school's name, or the organiser's for a partnership without a school."""
        return self.school.name if self.school is not None else self.organiser.name  # type: ignore[union-attr]


# --------------------------------------------------------------------------------------------
# Campaigns
# --------------------------------------------------------------------------------------------


@event(SOURCE)
class CampaignOpened(EventData):
    """An académie (or a national operator) opened a call for candidatures for one dispositif
    and one school year, with its calendar."""

    type: Literal["CampaignOpened"] = "CampaignOpened"
    campaign_id: str
    academie: Academie
    dispositif: Dispositif
    school_year: SchoolYear
    title: str
    calendar: CampaignCalendar
    opened_by: str = personal(description="Who opened it (user or service id; a user's id may be their name "
                                          "or e-mail)")


@event(SOURCE)
class CampaignClosed(EventData):
    """The campaign stopped accepting candidatures (explicitly or at its deadline)."""

    type: Literal["CampaignClosed"] = "CampaignClosed"
    campaign_id: str
    academie: Academie
    reason: Literal["explicit", "deadline"] = "explicit"


# --------------------------------------------------------------------------------------------
# Offers
# --------------------------------------------------------------------------------------------


class _OfferContent(EventData):
    offer_id: str
    campaign_id: str
    academie: Academie
    dispositif: Dispositif
    partner: Partner
    title: str = Field(min_length=1, max_length=300)
    resources: b.many(Resource, b.RESOURCES, min_length=1)
    eac_domains: list[EacDomain] = Field(default_factory=list)
    levels: list[Level] = Field(min_length=1)
    audiences: list[Audience] = Field(default_factory=lambda: [Audience.pupils])
    time_slots: list[TimeSlot] = Field(default_factory=lambda: [TimeSlot.scolaire])
    capacity_classes: int = Field(ge=1, le=500, description="How many classes the partner can take")


@event(SOURCE)
class OfferPublished(_OfferContent):
    """A partner structure published an offer in a campaign."""

    type: Literal["OfferPublished"] = "OfferPublished"


@event(SOURCE)
class OfferUpdated(_OfferContent):
    """The partner changed its offer; the payload is the whole new content."""

    type: Literal["OfferUpdated"] = "OfferUpdated"


@event(SOURCE)
class OfferWithdrawn(EventData):
    """The partner withdrew its offer: no new attribution on it."""

    type: Literal["OfferWithdrawn"] = "OfferWithdrawn"
    offer_id: str
    campaign_id: str
    academie: Academie
    reason: b.Reason | None = None


@event(SOURCE)
class OfferCapacityReserved(EventData):
    """An attribution took classes of the offer's capacity. Recorded on the OFFER stream, with the
    offer's expected version, in the same transaction as the attribution: two concurrent
    attributions cannot both take the last places."""

    type: Literal["OfferCapacityReserved"] = "OfferCapacityReserved"
    offer_id: str
    campaign_id: str
    candidature_id: str
    partnership_id: str
    classes: int = Field(ge=1)
    remaining_classes: int = Field(ge=0)


@event(SOURCE)
class OfferPlacesReleased(EventData):
    """Classes a partnership held on the offer came back to it during the campaign's school year:
    the partnership ended in its first year (programmes' ``PartnershipEnded``) or one of its
    classes left the programme (``ClassCancelled``). Recorded on the OFFER stream; a late
    attribution may take the places again. Each class is released at most once."""

    type: Literal["OfferPlacesReleased"] = "OfferPlacesReleased"
    offer_id: str
    campaign_id: str
    candidature_id: str
    partnership_id: str
    class_ids: b.many(b.Id, b.CLASSES, min_length=1) = Field(description="The classes whose places come back")
    classes: int = Field(ge=1, description="How many class places come back (the number of class_ids)")
    remaining_classes: int = Field(ge=0, description="Places left on the offer after the release")
    reason: Literal["partnership_ended", "class_cancelled"]
    detail: str | None = Field(default=None, max_length=4000,
                               description="Why, as programmes reported it (e.g. 'withdrawn: ...')")


# --------------------------------------------------------------------------------------------
# Candidatures
# --------------------------------------------------------------------------------------------


class _CandidatureContent(EventData):
    candidature_id: str
    campaign_id: str
    dispositif: Dispositif
    school: SchoolRef | None = Field(
        default=None, description="The applying school; for an ACM organiser's candidature (``organiser`` set) "
                                  "the school partnering it, if any")
    classes: list[ClassEntry] = Field(default_factory=list, description="At least one, except for an ACM "
                                                                         "organiser (its groups instead)")
    school_objective: str = Field(min_length=1, max_length=4000)
    offer_id: str | None = Field(default=None, description="The offer wished, if any")
    partner_wished: PartnerRef | None = Field(default=None, description="The partner wished, without an offer")
    wishes: Wishes = Field(default_factory=Wishes)
    tier: CultureTier | None = Field(default=None, description="culture only: approfondir or jumelage")
    partner_company: PartnerCompany | None = Field(default=None, description="entreprise (JES) only")
    concertation: Concertation | None = Field(default=None, description="concertation (CNR) only")
    associated_schools: b.many(SchoolRef, b.SCHOOLS) = Field(
        default_factory=list, description="CNR only: the other schools of a network or bassin that join the "
                                          "project together with ``school`` (which carries the candidature)")
    organiser: Organiser | None = Field(
        default=None, description="plan mercredi only: the ACM organiser applying, its places and groups")

    @model_validator(mode="after")
    def _an_applicant(self) -> "_CandidatureContent":
        if self.organiser is None and (self.school is None or not self.classes):
            raise ValueError("a school applies with at least one class (or an ACM organiser with its groups)")
        return self

    @property
    def academie(self) -> Academie:
        """The académie of the applicant: the school's, or the ACM organiser's."""
        return self.school.academie if self.school is not None else self.organiser.academie  # type: ignore[union-attr]


@event(SOURCE)
class CandidatureDrafted(_CandidatureContent):
    """A school saved a candidature without submitting it (not yet visible to the académie)."""

    type: Literal["CandidatureDrafted"] = "CandidatureDrafted"


@event(SOURCE)
class CandidatureSubmitted(_CandidatureContent):
    """A school submitted its candidature to a campaign."""

    type: Literal["CandidatureSubmitted"] = "CandidatureSubmitted"


@event(SOURCE)
class CandidatureAmended(_CandidatureContent):
    """The school changed its candidature before the deadline; the payload is the full new content."""

    type: Literal["CandidatureAmended"] = "CandidatureAmended"


@event(SOURCE)
class CandidatureWithdrawn(EventData):
    """The school withdrew its candidature before any decision."""

    type: Literal["CandidatureWithdrawn"] = "CandidatureWithdrawn"
    candidature_id: str
    campaign_id: str
    reason: b.Reason | None = None


@event(SOURCE)
class CandidatureReturnedForCorrection(EventData):
    """The académie sent the candidature back to the school to be corrected."""

    type: Literal["CandidatureReturnedForCorrection"] = "CandidatureReturnedForCorrection"
    candidature_id: str
    campaign_id: str
    reason: str = Field(min_length=1, max_length=4000)


@event(SOURCE)
class CandidatureResubmitted(_CandidatureContent):
    """The school resubmitted a candidature returned for correction (full corrected content)."""

    type: Literal["CandidatureResubmitted"] = "CandidatureResubmitted"


@event(SOURCE)
class CandidatureReviewed(EventData):
    """A reviewer recorded an avis; the first avis puts the candidature under review."""

    type: Literal["CandidatureReviewed"] = "CandidatureReviewed"
    candidature_id: str
    campaign_id: str
    reviewer: str = personal(min_length=1, max_length=200, description="The reviewer's name or account id")
    avis: Avis
    comment: str | None = personal(default=None, max_length=4000, description="Free text: may name people")


@event(SOURCE)
class PartnershipAttributed(_SchoolOrOrganiser):
    """The académie attributed a partnership: year 1 of a jumelage between the school and the
    partner, for the classes listed, with the calendar of the campaign's school year."""

    type: Literal["PartnershipAttributed"] = "PartnershipAttributed"
    partnership_id: str
    candidature_id: str
    campaign_id: str
    dispositif: Dispositif
    tier: CultureTier | None = None
    school_year: SchoolYear
    year_index: int = Field(default=1, ge=1)
    partner: PartnerRef | None = Field(default=None, description="None only for a CNR project without a named partner")
    offer_id: str | None = None
    classes: list[ClassEntry] = Field(min_length=1)
    calendar: CampaignCalendar
    late: bool = Field(default=False, description="Attributed after the campaign's attribution date (a place "
                                                   "freed up: a withdrawal, a declined partnership...)")
    late_reason: str | None = Field(default=None, min_length=1, max_length=2000,
                                    description="Why the académie attributed late; set exactly when ``late``")
    associated_schools: b.many(SchoolRef, b.SCHOOLS) = Field(
        default_factory=list, description="CNR only: the other schools of the project (see the candidature)")
    concertation: Concertation | None = Field(
        default=None, description="CNR only: the steps the project had reached when the académie accepted it")


@event(SOURCE)
class CandidatureRejected(EventData):
    """The académie rejected the candidature."""

    type: Literal["CandidatureRejected"] = "CandidatureRejected"
    candidature_id: str
    campaign_id: str
    reason: str = Field(min_length=1, max_length=4000)


# --------------------------------------------------------------------------------------------
# Renewal
# --------------------------------------------------------------------------------------------


@event(SOURCE)
class PartnershipBilanNoted(EventData):
    """The candidatures service learnt (from programmes' BilanRecorded) the bilan of a year of the
    partnership and whether the school wishes to continue: what makes a renewal possible."""

    type: Literal["PartnershipBilanNoted"] = "PartnershipBilanNoted"
    partnership_id: str
    school_year: SchoolYear
    year_index: int = Field(ge=1)
    wish_to_continue: bool
    bilan_event_id: str | None = None


@event(SOURCE)
class RenewalRequested(EventData):
    """The school asked to continue the partnership into the next school year."""

    type: Literal["RenewalRequested"] = "RenewalRequested"
    partnership_id: str
    candidature_id: str
    school_year: SchoolYear = Field(description="The school year the renewal is for (next year)")
    year_index: int = Field(ge=2, description="The year of the partnership the renewal would open")
    classes: list[ClassEntry] = Field(min_length=1, description="Classes for the new year")
    motivation: str = Field(min_length=1, max_length=4000)
    tier: CultureTier | None = None


@event(SOURCE)
class RenewalGranted(_SchoolOrOrganiser):
    """The académie granted the renewal: the same partnership opens year N+1."""

    type: Literal["RenewalGranted"] = "RenewalGranted"
    partnership_id: str
    candidature_id: str
    dispositif: Dispositif
    tier: CultureTier | None = None
    school_year: SchoolYear
    year_index: int = Field(ge=2)
    partner: PartnerRef | None = None
    classes: list[ClassEntry] = Field(min_length=1)
    calendar: CampaignCalendar


@event(SOURCE)
class RenewalDeclined(EventData):
    """The académie declined the renewal: the partnership ends with its current year."""

    type: Literal["RenewalDeclined"] = "RenewalDeclined"
    partnership_id: str
    candidature_id: str
    school_year: SchoolYear
    year_index: int = Field(ge=2)
    reason: str = Field(min_length=1, max_length=4000)


CANDIDATURES_EVENTS = (
    CampaignOpened, CampaignClosed, OfferPublished, OfferUpdated, OfferWithdrawn, OfferCapacityReserved,
    OfferPlacesReleased, CandidatureDrafted, CandidatureSubmitted, CandidatureAmended, CandidatureWithdrawn,
    CandidatureReturnedForCorrection, CandidatureResubmitted, CandidatureReviewed,
    PartnershipAttributed, CandidatureRejected, PartnershipBilanNoted, RenewalRequested,
    RenewalGranted, RenewalDeclined,
)
