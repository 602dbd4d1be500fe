"""When a partnership gives its offer places back: programmes' events read against the attribution.

An offer's capacity is counted in classes for the campaign's school year (DESIGN §1: « a capacity
(classes) »; seed 000: « un programme d'actions par classe »). A place the partner can no longer
use for a class of that year comes back to the offer, so the académie may attribute it late to a
candidature left waiting:

- ``PartnershipEnded`` in year 1 for an early reason (``withdrawn``, ``other``: the school or the
  partner gave up, or the académie stopped it) → every class of the attribution not given back yet;
- ``ClassCancelled`` in year 1 → that class (« a class left the programme for the year »).

Nothing comes back when the partnership ended after its year ran its course: a declined or absent
renewal (``renewal_declined``, ``not_renewed``) or ``completed`` closes a year the classes used,
at the renewal deadline — the offer's year is over, there is nothing to give again. Nor in year 2
or 3: a renewed year is not taken on the campaign's offer (``RenewalGranted`` reserves nothing).
``RenewalDeclined`` itself is candidatures' own event at the end of the year, for the same reason.

``places_freed`` reads the programmes event against the attribution (which classes); ``decide``
releases them on the offer, each class once.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Literal

from jumelage_contracts.bounds import clip
from jumelage_contracts.candidatures import OfferPlacesReleased, PartnershipAttributed
from jumelage_contracts.programmes import ClassCancelled, PartnershipEnded

from .offer import NoOffer, OfferState, Published, Withdrawn


@dataclass(frozen=True)
class ReleasePlaces:
    """Give back to the offer the places of these classes of a partnership."""

    offer_id: str
    partnership_id: str
    candidature_id: str
    class_ids: tuple[str, ...]
    reason: Literal["partnership_ended", "class_cancelled"]
    detail: str | None
    now: datetime


EARLY_END_REASONS = frozenset({"withdrawn", "other"})
"""``PartnershipEnded`` reasons that stop a year before it ran its course."""


def places_come_back_only_in_the_attribution_year(attributed: PartnershipAttributed,
                                                  event: PartnershipEnded | ClassCancelled) -> bool:
    """The offer's places are for the campaign's school year, the partnership's year 1."""
    return event.year_index == 1 and event.school_year == attributed.school_year


def places_come_back_only_when_the_year_stops_early(event: PartnershipEnded) -> bool:
    """An end at the close of a year the classes used (no renewal, completed) frees nothing."""
    return event.reason in EARLY_END_REASONS


def places_freed(attributed: PartnershipAttributed, event: PartnershipEnded | ClassCancelled,
                 now: datetime) -> ReleasePlaces | None:
    """The release a programmes event causes on the attribution's offer, or None."""
    if attributed.offer_id is None:
        return None  # no offer, no capacity to give back
    if not places_come_back_only_in_the_attribution_year(attributed, event):
        return None
    attributed_ids = [c.class_id for c in attributed.classes]
    if isinstance(event, PartnershipEnded):
        if not places_come_back_only_when_the_year_stops_early(event):
            return None
        detail = clip(f"{event.reason}: {event.detail}" if event.detail else event.reason, 4000)
        return ReleasePlaces(attributed.offer_id, attributed.partnership_id, attributed.candidature_id,
                             tuple(attributed_ids), "partnership_ended", detail, now)
    if event.class_id not in attributed_ids:
        return None  # a class added after attribution took no place on the offer
    return ReleasePlaces(attributed.offer_id, attributed.partnership_id, attributed.candidature_id,
                         (event.class_id,), "class_cancelled", event.reason, now)


def places_come_back_at_most_once(state: Published | Withdrawn, cmd: ReleasePlaces) -> list[str]:
    """A class's place comes back once (a redelivered or repeated end releases nothing more), and
    a partnership gives back at most the places it reserved: the offer never has more places
    than its capacity."""
    already = state.released.get(cmd.partnership_id, frozenset())
    still_held = state.held.get(cmd.partnership_id, 0) - len(already)
    fresh = [c for c in dict.fromkeys(cmd.class_ids) if c not in already]
    return fresh[:max(still_held, 0)]


def decide(cmd: ReleasePlaces, state: OfferState) -> list:
    """The offer's side: ``OfferPlacesReleased`` for the classes still held, or nothing."""
    if isinstance(state, NoOffer):
        return []  # nothing was reserved on an offer that does not exist
    class_ids = places_come_back_at_most_once(state, cmd)
    if not class_ids:
        return []
    o = state.offer
    return [OfferPlacesReleased(
        offer_id=o.offer_id, campaign_id=o.campaign_id, candidature_id=cmd.candidature_id,
        partnership_id=cmd.partnership_id, class_ids=class_ids, classes=len(class_ids),
        remaining_classes=state.remaining + len(class_ids), reason=cmd.reason, detail=cmd.detail,
    )]
