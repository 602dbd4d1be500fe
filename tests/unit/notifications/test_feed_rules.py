"""Who is handed which calendar feed (``domain/feeds.py``), without a server: the caller and
what the service knows come in, the view (whole, or one académie's part) or the refusal goes out."""

from __future__ import annotations

import pytest

from jumelage_contracts import Role
from notifications.domain.feeds import (
    WHOLE, Caller, FeedRefused, FeedUnknown, PartnershipSides,
    a_partnership_feed_goes_to_its_school_its_partner_and_its_academie as partnership_feed,
    a_person_s_feed_goes_to_that_person_or_the_academie_of_their_partnerships as person_feed,
    a_school_feed_goes_to_the_school_and_its_academie as school_feed,
)

CLAIRE = "claire.martin@ac-paris.fr"
PARIS_PARTNERSHIP = PartnershipSides(uai="0750655E", partner_id="musee-carnavalet", academie="paris")


def caller(role: str, scope: str = "*", email: str | None = None) -> Caller:
    return Caller(role=Role(role), scope=scope, email=email)


def test_naming_a_person_referent_grants_the_school_that_named_her_nothing() -> None:
    # the breach: a versailles school named a paris teacher on its own partnership
    with pytest.raises(FeedRefused):
        person_feed(caller("school", "0786154R"), CLAIRE, {"paris", "versailles"})


@pytest.mark.parametrize("who", [caller("school", "0750655E"), caller("partner", "musee-carnavalet"),
                                 caller("school", "0786154R", "someone.else@ac-versailles.fr")])
def test_sharing_a_partnership_with_a_person_does_not_give_her_feed(who) -> None:
    with pytest.raises(FeedRefused):
        person_feed(who, CLAIRE, {"paris"})


def test_the_person_herself_gets_her_whole_feed_whatever_her_role_and_the_case_of_her_address() -> None:
    assert person_feed(caller("school", "0750655E", "Claire.Martin@AC-Paris.fr"), CLAIRE, {"paris", "versailles"}) == WHOLE
    assert person_feed(caller("partner", "musee-carnavalet", CLAIRE), CLAIRE.upper(), {"paris"}) == WHOLE


def test_an_academie_gets_only_its_own_part_of_a_person_s_feed() -> None:
    assert person_feed(caller("academie", "versailles"), CLAIRE, {"paris", "versailles"}) == "versailles"
    with pytest.raises(FeedRefused):
        person_feed(caller("academie", "lille"), CLAIRE, {"paris", "versailles"})


@pytest.mark.parametrize("role", ["national", "admin"])
def test_national_and_admin_get_a_person_s_whole_feed(role) -> None:
    assert person_feed(caller(role), CLAIRE, {"paris"}) == WHOLE


@pytest.mark.parametrize("who", [caller("national"), caller("academie", "paris"), caller("school", "0750655E", CLAIRE)])
def test_nobody_gets_the_feed_of_an_address_that_is_nobody_s(who) -> None:
    with pytest.raises(FeedUnknown):
        person_feed(who, CLAIRE, set())


@pytest.mark.parametrize("who, allowed", [
    (caller("school", "0750655E"), True), (caller("school", "0786154R"), False),
    (caller("partner", "musee-carnavalet"), True), (caller("partner", "mjc-mantes"), False),
    (caller("academie", "paris"), True), (caller("academie", "versailles"), False),
    (caller("national"), True), (caller("admin"), True),
    (caller("school", "0786154R", CLAIRE), False),  # being a referent of it is not being its school
])
def test_a_partnership_feed_goes_to_its_own_sides_and_academie(who, allowed) -> None:
    if allowed:
        assert partnership_feed(who, PARIS_PARTNERSHIP) == WHOLE
    else:
        with pytest.raises(FeedRefused):
            partnership_feed(who, PARIS_PARTNERSHIP)


def test_a_partnership_without_a_partner_yet_is_nobody_s_partnership() -> None:
    with pytest.raises(FeedRefused):
        partnership_feed(caller("partner", "musee-carnavalet"), PartnershipSides("0750655E", None, "paris"))


def test_an_unknown_partnership_has_no_feed_even_for_national() -> None:
    with pytest.raises(FeedUnknown):
        partnership_feed(caller("national"), None)


@pytest.mark.parametrize("who, allowed", [
    (caller("school", "0750655E"), True), (caller("school", "0786154R"), False),
    (caller("partner", "musee-carnavalet"), False),
    (caller("academie", "paris"), True), (caller("academie", "versailles"), False),
    (caller("national"), True), (caller("admin"), True),
])
def test_a_school_feed_goes_to_the_school_and_its_academie(who, allowed) -> None:
    if allowed:
        assert school_feed(who, "0750655E", "paris", known=True) == WHOLE
    else:
        with pytest.raises(FeedRefused):
            school_feed(who, "0750655E", "paris", known=True)


def test_an_unknown_school_is_refused_before_it_is_looked_up_and_unknown_to_those_who_may_ask() -> None:
    with pytest.raises(FeedRefused):  # says nothing about whether the school is known
        school_feed(caller("academie", "versailles"), "0750655E", "paris", known=False)
    with pytest.raises(FeedUnknown):
        school_feed(caller("academie", "paris"), "0750655E", "paris", known=False)
