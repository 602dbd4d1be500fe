"""Retention of people (RGPD, issue 16): whom programmes erases when a partnership's retention
runs out.

Notifications keeps a durable timer per partnership (the end of its last school year plus the
dispositif's retention) and says ``RetentionExpired`` when it fires; programmes owns the people
and decides here. One referent may serve several partnerships, so a person goes only when every
partnership they were designated on is past its retention — none still running or within it.

``evolve`` folds what the decision needs from programmes' events (years opened, referents
designated, people erased) and notifications' expiries; ``decide`` answers an expiry with the
``PersonErased`` of the people it frees. Pure: the app builds the same state from its read tables
for the people concerned, and carries the erasures out (``eventkit.shredding``).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime
from typing import Iterable, Mapping

from jumelage_contracts.notifications import RetentionExpired
from jumelage_contracts.programmes import PersonErased, ProgrammeYearOpened, ReferentDesignated


@dataclass(frozen=True)
class ExpireRetention:
    """Notifications says the retention counted from ``year_index`` ran out."""

    partnership_id: str
    year_index: int
    now: datetime


@dataclass(frozen=True)
class PartnershipYears:
    year_index: int  # the last year opened
    expired_year_index: int | None = None  # the last year whose retention ran out


@dataclass(frozen=True)
class RetentionState:
    partnerships: Mapping[str, PartnershipYears] = field(default_factory=dict)
    designations: Mapping[str, frozenset[str]] = field(default_factory=dict)  # person -> partnerships
    erased: frozenset[str] = frozenset()


# -- rules -------------------------------------------------------------------------------------


def past_retention(state: RetentionState, partnership_id: str) -> bool:
    """Its last year's retention ran out (a partnership unknown here is never past it)."""
    years = state.partnerships.get(partnership_id)
    return years is not None and years.expired_year_index is not None and years.expired_year_index >= years.year_index


def an_expiry_overtaken_by_a_renewal_changes_nothing(state: RetentionState, cmd: ExpireRetention) -> bool:
    years = state.partnerships.get(cmd.partnership_id)
    return years is None or cmd.year_index < years.year_index


def a_person_goes_when_every_partnership_of_theirs_is_past_retention(state: RetentionState, person: str) -> bool:
    return person not in state.erased and all(past_retention(state, p) for p in state.designations.get(person, ()))


# -- decide / evolve ---------------------------------------------------------------------------


def decide(cmd: ExpireRetention, state: RetentionState) -> list[PersonErased]:
    if an_expiry_overtaken_by_a_renewal_changes_nothing(state, cmd):
        return []
    after = _expired(state, cmd.partnership_id, cmd.year_index)
    people = sorted(p for p, partnerships in after.designations.items() if cmd.partnership_id in partnerships)
    return [PersonErased(person_id=person, reason="retention", erased_at=cmd.now) for person in people
            if a_person_goes_when_every_partnership_of_theirs_is_past_retention(after, person)]


def evolve(state: RetentionState, event: object) -> RetentionState:
    if isinstance(event, ProgrammeYearOpened):
        known = state.partnerships.get(event.partnership_id)
        if known is not None and known.year_index >= event.year_index:
            return state
        expired = known.expired_year_index if known is not None else None
        return _with(state, partnerships={**state.partnerships,
                                          event.partnership_id: PartnershipYears(event.year_index, expired)})
    if isinstance(event, ReferentDesignated):
        mine = state.designations.get(event.referent_id, frozenset())
        return _with(state, designations={**state.designations, event.referent_id: mine | {event.partnership_id}})
    if isinstance(event, RetentionExpired):
        return _expired(state, event.partnership_id, event.year_index)
    if isinstance(event, PersonErased):
        return _with(state, erased=state.erased | {event.person_id})
    return state


def fold(events: Iterable[object], state: RetentionState | None = None) -> RetentionState:
    current = state or RetentionState()
    for event in events:
        current = evolve(current, event)
    return current


def _expired(state: RetentionState, partnership_id: str, year_index: int) -> RetentionState:
    known = state.partnerships.get(partnership_id)
    if known is None or (known.expired_year_index or 0) >= year_index:
        return state
    return _with(state, partnerships={**state.partnerships,
                                      partnership_id: PartnershipYears(known.year_index, year_index)})


def _with(state: RetentionState, **changes) -> RetentionState:
    return RetentionState(**{"partnerships": state.partnerships, "designations": state.designations,
                             "erased": state.erased, **changes})
