"""Offer decider: what a partner structure puts at disposal in a campaign, and its capacity.

States: ``NoOffer`` → ``Published`` → ``Withdrawn``. Attributions reserve classes on the offer's
own stream (``OfferCapacityReserved``); because that append carries the offer's expected version,
two concurrent attributions cannot both take the last places: the store rejects the second.
A partnership that stops in its first year gives its places back (``OfferPlacesReleased``,
decided in ``release.py``); ``held`` and ``released`` record, per partnership, what it took and
what it gave back.
"""

from __future__ import annotations

from dataclasses import dataclass, field, replace
from datetime import datetime

from jumelage_contracts.candidatures import (
    OfferCapacityReserved,
    OfferPlacesReleased,
    OfferPublished,
    OfferUpdated,
    OfferWithdrawn,
    Partner,
    Resource,
)
from jumelage_contracts.reference import (
    Audience,
    Dispositif,
    EacDomain,
    Level,
    PartnerKind,
    ResourceKind,
    TimeSlot,
)

from .campaign import Closed, NoCampaign, CampaignState
from .errors import DomainError, NotFound, StateConflict

# -- state ----------------------------------------------------------------------------------


@dataclass(frozen=True)
class NoOffer:
    pass


@dataclass(frozen=True)
class Published:
    offer: OfferPublished | OfferUpdated
    reserved: int = 0
    candidatures: frozenset[str] = frozenset()
    # partnership id → classes it reserved; partnership id → class ids it gave back
    held: dict[str, int] = field(default_factory=dict, compare=False)
    released: dict[str, frozenset[str]] = field(default_factory=dict, compare=False)

    @property
    def remaining(self) -> int:
        return self.offer.capacity_classes - self.reserved


@dataclass(frozen=True)
class Withdrawn:
    offer: OfferPublished | OfferUpdated
    reserved: int = 0
    candidatures: frozenset[str] = frozenset()
    held: dict[str, int] = field(default_factory=dict, compare=False)
    released: dict[str, frozenset[str]] = field(default_factory=dict, compare=False)

    @property
    def remaining(self) -> int:
        return self.offer.capacity_classes - self.reserved


OfferState = NoOffer | Published | Withdrawn

# -- commands -------------------------------------------------------------------------------


@dataclass(frozen=True)
class OfferContent:
    partner: Partner
    title: str
    resources: tuple[Resource, ...]
    eac_domains: tuple[EacDomain, ...]
    levels: tuple[Level, ...]
    audiences: tuple[Audience, ...]
    time_slots: tuple[TimeSlot, ...]
    capacity_classes: int


@dataclass(frozen=True)
class PublishOffer:
    offer_id: str
    campaign: CampaignState
    content: OfferContent
    now: datetime


@dataclass(frozen=True)
class UpdateOffer:
    offer_id: str
    content: OfferContent
    now: datetime


@dataclass(frozen=True)
class WithdrawOffer:
    offer_id: str
    reason: str | None
    now: datetime


OfferCommand = PublishOffer | UpdateOffer | WithdrawOffer

# -- rules ----------------------------------------------------------------------------------

# Which partner kinds a dispositif's offers come from; absent: any kind.
PARTNER_KINDS_BY_DISPOSITIF: dict[Dispositif, frozenset[PartnerKind]] = {
    Dispositif.entreprise: frozenset({PartnerKind.company}),
    Dispositif.centre_social: frozenset({PartnerKind.social_centre}),
}


def offer_partner_kind_must_fit_dispositif(dispositif: Dispositif, partner: Partner) -> None:
    """A JES offer comes from a company, a centre social offer from a social centre."""
    allowed = PARTNER_KINDS_BY_DISPOSITIF.get(dispositif)
    if allowed is not None and partner.kind not in allowed:
        raise DomainError("offer_partner_kind_must_fit_dispositif",
                          f"a {dispositif.value} offer comes from a {', '.join(sorted(allowed))}", "partner.kind")


COMPANY_RESOURCES = frozenset({ResourceKind.observation_internship, ResourceKind.company_visit,
                               ResourceKind.professional_in_class, ResourceKind.careers_forum})


def company_resources_only_from_companies(content: OfferContent) -> None:
    """An observation internship, a company visit, a professional in class or a careers forum is
    what a company puts at disposal; an observation internship (« stage de 3e ») is for 3e pupils,
    so its offer takes 3e classes."""
    for index, resource in enumerate(content.resources):
        if resource.kind in COMPANY_RESOURCES and content.partner.kind is not PartnerKind.company:
            raise DomainError("company_resources_only_from_companies",
                              f"a {resource.kind.value} is offered by a company", f"resources.{index}.kind")
        if resource.kind is ResourceKind.observation_internship and Level("3e") not in content.levels:
            raise DomainError("observation_internship_is_for_3e",
                              "an observation internship is the 3e pupils' week: the offer must take 3e classes",
                              "levels")


def offers_only_in_an_open_campaign(campaign: CampaignState):
    if isinstance(campaign, NoCampaign):
        raise NotFound("campaign_must_exist", "no such campaign", "campaign_id")
    if isinstance(campaign, Closed):
        raise DomainError("campaign_must_be_open", "the campaign is closed", "campaign_id")
    return campaign.opened


def capacity_cannot_drop_below_reservations(state: Published, capacity: int) -> None:
    if capacity < state.reserved:
        raise DomainError("capacity_cannot_drop_below_reservations",
                          f"{state.reserved} classes are already attributed on this offer", "capacity_classes")


# -- decider --------------------------------------------------------------------------------


def decide(command: OfferCommand, state: OfferState) -> list:
    if isinstance(command, PublishOffer):
        return _publish(command, state)
    if isinstance(command, UpdateOffer):
        return _update(command, state)
    if isinstance(command, WithdrawOffer):
        return _withdraw(command, state)
    raise TypeError(f"unknown offer command {command!r}")


def _payload(offer_id: str, campaign_id: str, academie, dispositif, content: OfferContent) -> dict:
    return dict(
        offer_id=offer_id, campaign_id=campaign_id, academie=academie, dispositif=dispositif,
        partner=content.partner, title=content.title, resources=list(content.resources),
        eac_domains=list(content.eac_domains), levels=list(content.levels), audiences=list(content.audiences),
        time_slots=list(content.time_slots), capacity_classes=content.capacity_classes,
    )


def _publish(cmd: PublishOffer, state: OfferState) -> list:
    opened = offers_only_in_an_open_campaign(cmd.campaign)
    event = OfferPublished(**_payload(cmd.offer_id, opened.campaign_id, opened.academie, opened.dispositif,
                                      cmd.content))
    if not isinstance(state, NoOffer):
        if isinstance(state.offer, OfferPublished) and state.offer == event:
            return []
        raise StateConflict("offer_id_is_unique", "an offer already has this id", "offer_id")
    offer_partner_kind_must_fit_dispositif(opened.dispositif, cmd.content.partner)
    company_resources_only_from_companies(cmd.content)
    return [event]


def _update(cmd: UpdateOffer, state: OfferState) -> list:
    if isinstance(state, NoOffer):
        raise NotFound("offer_must_exist", "no such offer", "offer_id")
    if isinstance(state, Withdrawn):
        raise DomainError("withdrawn_offer_cannot_change", "the offer was withdrawn", "offer_id")
    current = state.offer
    if cmd.content.partner.partner_id != current.partner.partner_id:
        raise DomainError("offer_partner_cannot_change", "an offer stays with its partner", "partner.partner_id")
    event = OfferUpdated(**_payload(current.offer_id, current.campaign_id, current.academie, current.dispositif,
                                    cmd.content))
    if event.model_dump(exclude={"type"}) == current.model_dump(exclude={"type"}):
        return []
    offer_partner_kind_must_fit_dispositif(current.dispositif, cmd.content.partner)
    company_resources_only_from_companies(cmd.content)
    capacity_cannot_drop_below_reservations(state, cmd.content.capacity_classes)
    return [event]


def _withdraw(cmd: WithdrawOffer, state: OfferState) -> list:
    if isinstance(state, NoOffer):
        raise NotFound("offer_must_exist", "no such offer", "offer_id")
    if isinstance(state, Withdrawn):
        return []
    o = state.offer
    return [OfferWithdrawn(offer_id=o.offer_id, campaign_id=o.campaign_id, academie=o.academie, reason=cmd.reason)]


def evolve(state: OfferState, event) -> OfferState:
    if isinstance(event, OfferPublished):
        return Published(event)
    if isinstance(event, OfferUpdated) and isinstance(state, Published):
        return replace(state, offer=event)
    if isinstance(event, OfferWithdrawn) and isinstance(state, Published):
        return Withdrawn(state.offer, state.reserved, state.candidatures, state.held, state.released)
    if isinstance(event, OfferCapacityReserved) and isinstance(state, (Published, Withdrawn)):
        held = {**state.held, event.partnership_id: state.held.get(event.partnership_id, 0) + event.classes}
        return replace(state, reserved=state.reserved + event.classes,
                       candidatures=state.candidatures | {event.candidature_id}, held=held)
    if isinstance(event, OfferPlacesReleased) and isinstance(state, (Published, Withdrawn)):
        gone = state.released.get(event.partnership_id, frozenset()) | set(event.class_ids)
        return replace(state, reserved=state.reserved - event.classes,
                       released={**state.released, event.partnership_id: gone})
    return state


def fold(events) -> OfferState:
    state: OfferState = NoOffer()
    for event in events:
        state = evolve(state, event)
    return state
