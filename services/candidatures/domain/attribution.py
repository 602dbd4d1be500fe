"""Attribution decider: the académie turns a pending candidature into a partnership (year 1).

It decides over two aggregates at once: the candidature (gets ``PartnershipAttributed``) and the
offer it takes places on (gets ``OfferCapacityReserved``). The handler appends both in ONE store
transaction, each with its expected version, so the capacity check made here holds even when two
reviewers attribute on the same offer at the same moment: the second append conflicts, is
re-decided on the fresh offer, and is refused once the offer is full.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from datetime import datetime

from jumelage_contracts.candidatures import OfferCapacityReserved, PartnerRef, PartnershipAttributed, SchoolRef
from jumelage_contracts.reference import Dispositif, PartnerKind, academie_of_uai, departement_of_uai

from . import offer as offer_decider
from .campaign import CampaignState, Closed, NoCampaign, cnr_campaign_ends_at, end_of_local_day
from .candidature import (
    PENDING,
    Attributed,
    CandidatureState,
    Rejected,
    UnderReview,
    Withdrawn,
    candidature_must_exist,
)
from .errors import DomainError, NotFound, StateConflict
from .rules import CandidatureContent


@dataclass(frozen=True)
class Attribute:
    candidature_id: str
    partnership_id: str
    campaign: CampaignState
    offer: offer_decider.OfferState | None
    now: datetime
    partner: PartnerRef | None = None  # the académie names it when the candidature named no offer
    late_reason: str | None = None  # needed after the attribution date (a place freed up)


@dataclass(frozen=True)
class Attribution:
    """The events for each of the two streams (both empty when the command is a repeat)."""

    candidature_events: list = field(default_factory=list)
    offer_events: list = field(default_factory=list)


# -- rules ----------------------------------------------------------------------------------


def rejected_candidature_cannot_be_attributed(state: CandidatureState) -> None:
    if isinstance(state, Rejected):
        raise StateConflict("rejected_candidature_cannot_be_attributed", "the candidature was rejected")
    if isinstance(state, Withdrawn):
        raise StateConflict("withdrawn_candidature_cannot_be_attributed", "the candidature was withdrawn")
    if not isinstance(state, PENDING):
        raise StateConflict("attribute_only_a_pending_candidature",
                            "only a submitted candidature (or one under review) can be attributed")


def attribution_requires_an_avis(state: CandidatureState) -> UnderReview:
    """Instruction before decision: at least one reviewer recorded an avis on the candidature as it
    stands (a candidature returned for correction and resubmitted is instructed again). Any avis
    counts — favourable, réservé or défavorable: the avis informs the académie, which decides."""
    if not isinstance(state, UnderReview) or not state.reviews:
        raise DomainError("attribution_requires_an_avis",
                          "record at least one avis on this candidature before attributing it", "candidature_id")
    return state


def attribution_inside_the_attribution_period(campaign: CampaignState, now: datetime) -> bool:
    """Attribution compares the candidatures of a campaign, so it starts once submissions are over
    (the submission deadline has passed, or the académie closed the campaign earlier). It is due by
    the attribution date of the calendar (that whole day, in the académie's time zone); after it,
    an attribution is late. Returns whether it is late."""
    if isinstance(campaign, NoCampaign):
        raise NotFound("campaign_must_exist", "the campaign of this candidature does not exist", "campaign_id")
    calendar = campaign.opened.calendar
    if not isinstance(campaign, Closed) and now <= calendar.submission_deadline:
        raise DomainError("attribution_after_the_submission_deadline",
                          f"submissions are open until {calendar.submission_deadline.isoformat()}: attribute "
                          "after the deadline, or close the campaign first", "campaign_id")
    return now >= end_of_local_day(campaign.opened.academie, calendar.attribution_date)


def a_late_attribution_gives_its_reason(campaign: CampaignState, late_reason: str | None) -> str:
    """After the attribution date the académie may still attribute a candidature left waiting,
    when a place frees up (a withdrawal, a declined partnership): it says why, so the schools
    turned down in July can be told and reporting can count late attributions apart."""
    reason = (late_reason or "").strip()
    if not reason:
        assert not isinstance(campaign, NoCampaign)
        raise DomainError("a_late_attribution_gives_its_reason",
                          f"the campaign's attribution date ({campaign.opened.calendar.attribution_date.isoformat()}) "
                          "has passed: a late attribution gives its reason", "late_reason")
    return reason


def a_late_attribution_leaves_time_for_the_programme(campaign: CampaignState, now: datetime) -> None:
    """A late partnership must still be able to build its year: a jumelage builds its programme
    of actions per class at the work meeting (seed 000: « septembre-octobre ... pour établir un
    programme d'actions par classe »), so late attributions end with the work-meeting window."""
    assert not isinstance(campaign, NoCampaign)
    calendar, academie = campaign.opened.calendar, campaign.opened.academie
    last_day = calendar.work_meeting_window.end
    if now >= end_of_local_day(academie, last_day):
        raise DomainError("a_late_attribution_leaves_time_for_the_programme",
                          f"the work-meeting window ended ({last_day.isoformat()} was the last day): too late "
                          f"to attribute for {campaign.opened.school_year}", "campaign_id")


def a_cnr_project_is_accepted_as_it_comes(campaign: CampaignState, now: datetime) -> None:
    """A CNR project is not chosen against others in a July round: teams join « à tout moment »
    (seed 003), each with the steps it has reached, and the académie accepts each as it comes —
    never late, needing no reason, from its submission to the end of the campaign's school year."""
    if isinstance(campaign, NoCampaign):
        raise NotFound("campaign_must_exist", "the campaign of this candidature does not exist", "campaign_id")
    if now >= cnr_campaign_ends_at(campaign.opened):
        raise DomainError("a_cnr_project_is_accepted_as_it_comes",
                          f"the school year {campaign.opened.school_year} is over: too late to accept the "
                          "project for it", "campaign_id")


def attribution_must_fit_offer_capacity(offer: offer_decider.OfferState, classes: int) -> offer_decider.Published:
    """An offer never takes more classes than its capacity."""
    if isinstance(offer, offer_decider.NoOffer):
        raise NotFound("offer_must_exist", "the offer of this candidature does not exist", "offer_id")
    if isinstance(offer, offer_decider.Withdrawn):
        raise DomainError("withdrawn_offer_takes_no_attribution", "the offer was withdrawn", "offer_id")
    if classes > offer.remaining:
        raise DomainError("attribution_must_fit_offer_capacity",
                          f"the offer has {offer.remaining} class place(s) left, the candidature needs {classes}",
                          "offer_id")
    return offer


def _slug(text: str) -> str:
    return re.sub(r"[^a-z0-9]+", "-", text.lower()).strip("-") or "partner"


def partner_of_the_partnership(dispositif: Dispositif, content: CandidatureContent,
                               offer: offer_decider.Published | None, named: PartnerRef | None) -> PartnerRef | None:
    """The offer's partner, else the one the académie names, else the one the school wished
    (for JES: its partner company). Only a CNR project may have none."""
    if offer is not None:
        p = offer.offer.partner
        return PartnerRef(partner_id=p.partner_id, kind=p.kind, name=p.name)
    if named is not None:
        return named
    if content.partner_wished is not None:
        return content.partner_wished
    if content.partner_company is not None:
        company = content.partner_company
        partner_id = company.partner_id or (f"siret-{company.siret}" if company.siret else _slug(company.name))
        return PartnerRef(partner_id=partner_id, kind=PartnerKind.company, name=company.name)
    if dispositif is Dispositif.concertation:
        return None
    raise DomainError("attribution_names_a_partner", "name the partner of this partnership", "partner")


def the_school_of_an_acm_partnership(content: CandidatureContent) -> SchoolRef | None:
    """The school of the partnership: the one applying or, for an ACM organiser's candidature,
    the school partnering it, else the organiser's first place that is a school. An ACM held in
    dedicated places only with no partner school has none (seed 001: « au sein des écoles ou dans
    des lieux spécifiquement dédiés »): the organiser holds the school side alone."""
    if content.school is not None or content.organiser is None:
        return content.school
    for place in content.organiser.places:
        if place.uai is not None:
            return SchoolRef(uai=place.uai, name=place.name, academie=academie_of_uai(place.uai),
                             departement=departement_of_uai(place.uai), commune=place.commune)
    return None


# -- decider --------------------------------------------------------------------------------


def _when(cmd: Attribute, dispositif: Dispositif) -> tuple[bool, str | None]:
    """Whether the attribution is late, and its reason when it is."""
    if dispositif is Dispositif.concertation:
        a_cnr_project_is_accepted_as_it_comes(cmd.campaign, cmd.now)
        return False, None
    if not attribution_inside_the_attribution_period(cmd.campaign, cmd.now):
        return False, None
    reason = a_late_attribution_gives_its_reason(cmd.campaign, cmd.late_reason)
    a_late_attribution_leaves_time_for_the_programme(cmd.campaign, cmd.now)
    return True, reason


def decide(cmd: Attribute, candidature: CandidatureState) -> Attribution:
    state = candidature_must_exist(candidature)
    if isinstance(state, Attributed):
        return Attribution()  # attributing twice changes nothing
    rejected_candidature_cannot_be_attributed(state)
    late, late_reason = _when(cmd, state.header.dispositif)
    state = attribution_requires_an_avis(state)
    opened = cmd.campaign.opened
    content = state.content
    offer = None
    entries = content.entries
    if content.offer_id is not None:
        offer = attribution_must_fit_offer_capacity(cmd.offer or offer_decider.NoOffer(), len(entries))
    attributed = PartnershipAttributed(
        partnership_id=cmd.partnership_id, candidature_id=state.header.candidature_id,
        campaign_id=opened.campaign_id, dispositif=state.header.dispositif, tier=content.tier,
        school_year=opened.school_year, year_index=1, school=the_school_of_an_acm_partnership(content),
        partner=partner_of_the_partnership(state.header.dispositif, content, offer, cmd.partner),
        offer_id=content.offer_id, classes=list(entries), calendar=opened.calendar,
        late=late, late_reason=late_reason, associated_schools=list(content.associated_schools),
        concertation=content.concertation, organiser=content.organiser,
    )
    offer_events = []
    if offer is not None:
        taken = len(entries)
        offer_events.append(OfferCapacityReserved(
            offer_id=offer.offer.offer_id, campaign_id=offer.offer.campaign_id,
            candidature_id=state.header.candidature_id, partnership_id=cmd.partnership_id,
            classes=taken, remaining_classes=offer.remaining - taken,
        ))
    return Attribution([attributed], offer_events)
