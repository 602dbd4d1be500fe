"""Given/when/then: updating, withdrawing and publishing an offer (rules the mutation run found
untested: the exact updated event, the capacity boundary, an update repeated, an offer or campaign that does not exist)."""

from __future__ import annotations

from dataclasses import replace

from candidatures_builders import BEFORE_DEADLINE, campaign_opened, given, offer_content, offer_published, partner
from jumelage_contracts.candidatures import CampaignClosed, OfferCapacityReserved, OfferUpdated, OfferWithdrawn

from candidatures.domain import campaign as C
from candidatures.domain import offer as O


def reserved(classes: int) -> OfferCapacityReserved:
    return OfferCapacityReserved(offer_id="offer-1", campaign_id="camp-1", candidature_id="c1",
                                 partnership_id="p1", classes=classes, remaining_classes=4 - classes)


def test_an_update_keeps_the_offer_its_id_campaign_academie_and_dispositif_and_takes_the_new_content():
    # audiences and time slots other than their defaults, so that dropping one shows
    c = new = replace(offer_content(6), title="Le musee hors les murs", audiences=("staff", "families"),
                      time_slots=("periscolaire",))
    given(O, offer_published(4)).when(O.UpdateOffer("offer-1", new, BEFORE_DEADLINE)).then(OfferUpdated(
        offer_id="offer-1", campaign_id="camp-1", academie="paris", dispositif="culture", partner=c.partner,
        title="Le musee hors les murs", resources=list(c.resources), eac_domains=list(c.eac_domains),
        levels=list(c.levels), audiences=list(c.audiences), time_slots=list(c.time_slots), capacity_classes=6))


def test_an_update_that_changes_nothing_gives_no_event():
    given(O, offer_published(4)).when(O.UpdateOffer("offer-1", offer_content(4), BEFORE_DEADLINE)).then()


def test_the_capacity_may_come_down_to_exactly_the_classes_already_attributed():
    events = given(O, offer_published(4), reserved(3)).when(
        O.UpdateOffer("offer-1", offer_content(3), BEFORE_DEADLINE)).produce()
    assert [e.capacity_classes for e in events] == [3]


def test_the_capacity_cannot_come_down_one_below_the_classes_already_attributed():
    err = given(O, offer_published(4), reserved(3)).when(
        O.UpdateOffer("offer-1", offer_content(2), BEFORE_DEADLINE)).raises("capacity_cannot_drop_below_reservations")
    assert err.field == "capacity_classes"


def test_an_offer_that_does_not_exist_cannot_be_updated():
    err = given(O).when(O.UpdateOffer("offer-1", offer_content(), BEFORE_DEADLINE)).raises("offer_must_exist")
    assert isinstance(err, O.NotFound) and err.field == "offer_id"


def test_a_withdrawn_offer_refuses_an_update_on_its_id():
    err = given(O, offer_published(), OfferWithdrawn(offer_id="offer-1", campaign_id="camp-1", academie="paris")).when(
        O.UpdateOffer("offer-1", offer_content(9), BEFORE_DEADLINE)).raises("withdrawn_offer_cannot_change")
    assert err.field == "offer_id"


def test_an_offer_stays_with_its_partner():
    other = replace(offer_content(), partner=partner(partner_id="theatre-de-la-ville"))
    err = given(O, offer_published()).when(O.UpdateOffer("offer-1", other, BEFORE_DEADLINE)).raises(
        "offer_partner_cannot_change")
    assert err.field == "partner.partner_id"


def test_a_centre_social_offer_updated_to_a_partner_of_another_kind_is_refused():
    published = offer_published(dispositif="centre_social", kind="social_centre")
    museum = replace(offer_content(), partner=partner(kind="cultural_structure"))
    err = given(O, published).when(O.UpdateOffer("offer-1", museum, BEFORE_DEADLINE)).raises(
        "offer_partner_kind_must_fit_dispositif")
    assert err.field == "partner.kind"


def test_an_offer_that_does_not_exist_cannot_be_withdrawn():
    err = given(O).when(O.WithdrawOffer("offer-1", None, BEFORE_DEADLINE)).raises("offer_must_exist")
    assert isinstance(err, O.NotFound) and err.field == "offer_id"


def test_an_offer_is_published_only_in_a_campaign_that_exists():
    err = given(O).when(O.PublishOffer("offer-1", C.NoCampaign(), offer_content(), BEFORE_DEADLINE)).raises(
        "campaign_must_exist")
    assert isinstance(err, O.NotFound) and err.field == "campaign_id"


def test_an_offer_in_a_closed_campaign_is_refused_on_the_campaign_id():
    closed = C.fold([campaign_opened(), CampaignClosed(campaign_id="camp-1", academie="paris")])
    err = given(O).when(O.PublishOffer("offer-1", closed, offer_content(), BEFORE_DEADLINE)).raises(
        "campaign_must_be_open")
    assert err.field == "campaign_id"


def test_an_offer_id_already_published_with_other_content_is_a_conflict_and_the_same_publish_is_a_no_op():
    OPEN = C.Open(campaign_opened())
    given(O, offer_published(4)).when(O.PublishOffer("offer-1", OPEN, offer_content(4), BEFORE_DEADLINE)).then()
    err = given(O, offer_published(4)).when(O.PublishOffer("offer-1", OPEN, offer_content(5), BEFORE_DEADLINE)).raises(
        "offer_id_is_unique")
    assert (err.field, err.status) == ("offer_id", 409)


def test_after_an_update_the_offer_counts_with_its_new_capacity():
    updated = given(O, offer_published(4)).when(O.UpdateOffer("offer-1", offer_content(6), BEFORE_DEADLINE)).produce()
    state = O.fold([offer_published(4), reserved(3), *updated])
    assert (state.offer.capacity_classes, state.remaining, state.reserved) == (6, 3, 3)


def test_a_withdrawn_offer_remembers_what_came_back_so_a_redelivered_release_gives_nothing():
    from candidatures.domain import release

    back = release.decide(release.ReleasePlaces("offer-1", "p1", "c1", ("k0",), "class_cancelled", "fermee",
                                                BEFORE_DEADLINE), O.fold([offer_published(4), reserved(2)]))
    gone = OfferWithdrawn(offer_id="offer-1", campaign_id="camp-1", academie="paris")
    state = O.fold([offer_published(4), reserved(2), *back, gone])
    assert isinstance(state, O.Withdrawn) and state.candidatures == frozenset({"c1"})
    again = release.ReleasePlaces("offer-1", "p1", "c1", ("k0",), "class_cancelled", "fermee", BEFORE_DEADLINE)
    assert release.decide(again, state) == []
