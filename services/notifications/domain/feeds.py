"""Who is handed which calendar feed (issue 11). Pure: the caller and what the service knows of
the feed's subject come in, the view to issue (or the refusal) goes out.

A feed URL is a bearer secret: whoever holds it reads the feed without a token, so it is issued
only to who may read what it shows. A *view* is the feed narrowed to one académie's
partnerships (an académie's copy of a person's feed) or ``WHOLE``; each view has its own URL."""

from __future__ import annotations

from dataclasses import dataclass
from typing import AbstractSet, Literal

from jumelage_contracts import Role

FeedKind = Literal["partnership", "school", "referent"]
WHOLE = "*"  # the view not narrowed to an académie
GLOBAL_ROLES = (Role.national, Role.admin)


@dataclass(frozen=True)
class Caller:
    role: Role
    scope: str
    email: str | None = None  # verified by the identity provider, or None


@dataclass(frozen=True)
class PartnershipSides:
    uai: str | None
    partner_id: str | None
    academie: str
    organiser_id: str | None = None  # an ACM organiser holding the school side, with its partner token


class FeedUnknown(Exception):
    """The partnership, school or person is unknown here: nothing to issue (404)."""


class FeedRefused(Exception):
    """The caller may not have this feed (403)."""


def is_global(caller: Caller) -> bool:
    return caller.role in GLOBAL_ROLES


def a_partnership_feed_goes_to_its_school_its_partner_and_its_academie(
        caller: Caller, known: PartnershipSides | None) -> str:
    if known is None:
        raise FeedUnknown("unknown partnership")
    mine = {Role.school: known.uai, Role.partner: known.partner_id, Role.academie: known.academie}.get(caller.role)
    organiser = caller.role == Role.partner and known.organiser_id is not None and known.organiser_id == caller.scope
    if is_global(caller) or (mine is not None and mine == caller.scope) or organiser:
        return WHOLE
    raise FeedRefused("this partnership is not yours")


def a_school_feed_goes_to_the_school_and_its_academie(caller: Caller, uai: str, school_academie: str,
                                                      known: bool) -> str:
    """Partners get no school feed: it shows the school's partnerships with everyone else. The
    refusal comes before the lookup (the académie is read from the UAI), so it tells nothing."""
    allowed = is_global(caller) or (caller.role == Role.school and caller.scope == uai) or \
        (caller.role == Role.academie and caller.scope == school_academie)
    if not allowed:
        raise FeedRefused("this school is not yours")
    if not known:
        raise FeedUnknown("no partnership or candidature of this school is known")
    return WHOLE


def a_person_s_feed_goes_to_that_person_or_the_academie_of_their_partnerships(
        caller: Caller, email: str, academies: AbstractSet[str]) -> str:
    """``academies``: those of the partnerships ``email`` is a referent of (empty: unknown).

    Being named a referent, or naming one, grants nobody that person's feed: a school, a partner
    or an académie may name any address. The person proves the address through the identity
    provider's verified e-mail; an académie gets only its own partnerships of that person (its
    own view, with its own URL), so no académie reads another's through a shared referent."""
    herself = caller.email is not None and caller.email.lower() == email.lower()
    if herself or is_global(caller):
        if not academies:
            raise FeedUnknown("nobody is a referent with this address")
        return WHOLE
    if caller.role == Role.academie:
        if caller.scope in academies:
            return caller.scope
        if not academies:
            raise FeedUnknown("nobody is a referent with this address")
    raise FeedRefused("a person's feed goes to that person (verified e-mail) or to the académie of their partnerships")
