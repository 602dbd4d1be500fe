"""Given/when/then: campaigns and offers."""

from __future__ import annotations

from dataclasses import replace
from datetime import date, datetime, timedelta

from candidatures_builders import (
    AFTER_DEADLINE,
    BEFORE_DEADLINE,
    UTC,
    calendar,
    campaign_opened,
    given,
    offer_content,
    offer_published,
)
from jumelage_contracts.candidatures import (
    CampaignClosed,
    DateWindow,
    OfferCapacityReserved,
    OfferUpdated,
    OfferWithdrawn,
    Resource,
)
from jumelage_contracts.reference import Dispositif, Level

from candidatures.domain import campaign as C
from candidatures.domain import offer as O


def open_cmd(cal=None, dispositif=Dispositif.culture, already_open=None, campaign_id="camp-1") -> C.OpenCampaign:
    return C.OpenCampaign(campaign_id=campaign_id, academie="paris", dispositif=dispositif, school_year="2025-2026",
                          title=f"Jumelages {dispositif.value} 2025-2026", calendar=cal or calendar(),
                          opened_by="daac-paris", now=BEFORE_DEADLINE, already_open=already_open)


def test_an_academie_opens_a_campaign_with_a_coherent_calendar():
    given(C).when(open_cmd()).then(campaign_opened())


def test_opening_the_same_campaign_twice_changes_nothing():
    given(C, campaign_opened()).when(open_cmd()).then()


def test_a_different_campaign_cannot_reuse_an_id():
    given(C, campaign_opened()).when(open_cmd(dispositif=Dispositif.mercredi)).raises("campaign_id_is_unique")


def test_a_second_open_campaign_for_the_same_dispositif_and_year_is_a_conflict():
    err = given(C).when(open_cmd(campaign_id="camp-2", already_open="camp-1")).raises(
        "one_open_campaign_per_dispositif_and_year")
    assert err.status == 409 and err.field == "dispositif" and "camp-1" in str(err)


def test_repeating_the_opening_of_the_open_campaign_is_not_a_conflict_with_itself():
    given(C, campaign_opened()).when(open_cmd(already_open="camp-1")).then()


def test_the_submission_deadline_must_come_before_the_attribution_date():
    cal = calendar().model_copy(update={"attribution_date": date(2025, 5, 1)})
    err = given(C).when(open_cmd(cal)).raises("calendar_must_be_coherent")
    assert err.field == "calendar.attribution_date"


def test_the_bilan_window_must_lie_inside_the_school_year():
    cal = calendar().model_copy(update={"bilan_window": DateWindow(start=date(2026, 6, 1), end=date(2026, 8, 1))})
    assert given(C).when(open_cmd(cal)).raises("calendar_must_be_coherent").field == "calendar.bilan_window"


def test_the_work_meeting_must_lie_inside_the_school_year():
    cal = calendar().model_copy(update={"work_meeting_window": DateWindow(start=date(2025, 7, 10),
                                                                            end=date(2025, 9, 20))})
    given(C).when(open_cmd(cal)).raises("calendar_must_be_coherent")


def test_the_renewal_deadline_must_follow_the_opening_of_the_bilan_window():
    cal = calendar().model_copy(update={"renewal_deadline": datetime(2026, 3, 1, tzinfo=UTC)})
    given(C).when(open_cmd(cal)).raises("calendar_must_be_coherent")


def test_a_campaign_closed_before_its_deadline_is_closed_explicitly():
    given(C, campaign_opened()).when(C.CloseCampaign("camp-1", BEFORE_DEADLINE)).then(
        CampaignClosed(campaign_id="camp-1", academie="paris", reason="explicit"))


def test_a_campaign_closed_after_its_deadline_is_closed_at_the_deadline():
    given(C, campaign_opened()).when(C.CloseCampaign("camp-1", AFTER_DEADLINE)).then(
        CampaignClosed(campaign_id="camp-1", academie="paris", reason="deadline"))


def test_closing_a_closed_campaign_changes_nothing():
    given(C, campaign_opened(), CampaignClosed(campaign_id="camp-1", academie="paris")).when(
        C.CloseCampaign("camp-1", AFTER_DEADLINE)).then()


def test_closing_an_unknown_campaign_is_not_found():
    assert given(C).when(C.CloseCampaign("camp-x", AFTER_DEADLINE)).raises("campaign_must_exist").status == 404


def test_submissions_are_refused_after_the_deadline_even_before_the_campaign_is_closed():
    import pytest
    from candidatures.domain.errors import DomainError

    with pytest.raises(DomainError) as info:
        C.campaign_accepts_submissions(C.fold([campaign_opened()]), AFTER_DEADLINE)
    assert info.value.rule == "submission_only_before_the_deadline"


# -- offers -----------------------------------------------------------------------------------

OPEN = C.fold([campaign_opened()])


def test_a_partner_publishes_an_offer_in_an_open_campaign():
    given(O).when(O.PublishOffer("offer-1", OPEN, offer_content(4), BEFORE_DEADLINE)).then(offer_published(4))


def test_an_offer_cannot_be_published_in_a_closed_campaign():
    closed = C.fold([campaign_opened(), CampaignClosed(campaign_id="camp-1", academie="paris")])
    given(O).when(O.PublishOffer("offer-1", closed, offer_content(), BEFORE_DEADLINE)).raises("campaign_must_be_open")


def test_a_jes_offer_comes_from_a_company():
    jes = C.fold([campaign_opened(Dispositif.entreprise)])
    err = given(O).when(O.PublishOffer("offer-1", jes, offer_content(), BEFORE_DEADLINE)).raises(
        "offer_partner_kind_must_fit_dispositif")
    assert err.field == "partner.kind"


def test_a_partner_updates_its_offer_with_the_full_new_content():
    events = given(O, offer_published(4)).when(O.UpdateOffer("offer-1", offer_content(6), BEFORE_DEADLINE)).produce()
    assert [type(e) for e in events] == [OfferUpdated] and events[0].capacity_classes == 6


def test_an_offer_capacity_cannot_drop_below_the_classes_already_attributed():
    reserved = OfferCapacityReserved(offer_id="offer-1", campaign_id="camp-1", candidature_id="c1",
                                     partnership_id="p1", classes=3, remaining_classes=1)
    given(O, offer_published(4), reserved).when(O.UpdateOffer("offer-1", offer_content(2), BEFORE_DEADLINE)).raises(
        "capacity_cannot_drop_below_reservations")


def test_a_partner_withdraws_its_offer_once():
    given(O, offer_published()).when(O.WithdrawOffer("offer-1", "travaux", BEFORE_DEADLINE)).then(
        OfferWithdrawn(offer_id="offer-1", campaign_id="camp-1", academie="paris", reason="travaux"))
    given(O, offer_published(), OfferWithdrawn(offer_id="offer-1", campaign_id="camp-1", academie="paris")).when(
        O.WithdrawOffer("offer-1", None, BEFORE_DEADLINE + timedelta(days=1))).then()


def test_a_withdrawn_offer_cannot_change():
    given(O, offer_published(), OfferWithdrawn(offer_id="offer-1", campaign_id="camp-1", academie="paris")).when(
        O.UpdateOffer("offer-1", offer_content(9), BEFORE_DEADLINE)).raises("withdrawn_offer_cannot_change")


def test_company_resources_come_only_from_a_company():
    museum_forum = replace(offer_content(), resources=(Resource(kind="visit", description="Visite"),
                                                       Resource(kind="careers_forum", description="Forum")))
    err = given(O).when(O.PublishOffer("offer-1", OPEN, museum_forum, BEFORE_DEADLINE)).raises(
        "company_resources_only_from_companies")
    assert err.field == "resources.1.kind"
    given(O, offer_published()).when(O.UpdateOffer("offer-1", museum_forum, BEFORE_DEADLINE)).raises(
        "company_resources_only_from_companies")


def test_an_observation_internship_offer_takes_3e_classes():
    jes = C.fold([campaign_opened(Dispositif.entreprise)])
    internship = (Resource(kind="observation_internship", description="Stage d'observation"),)
    without_3e = replace(offer_content(kind="company", levels=("5e", "4e")), resources=internship)
    err = given(O).when(O.PublishOffer("offer-1", jes, without_3e, BEFORE_DEADLINE)).raises(
        "observation_internship_is_for_3e")
    assert err.field == "levels"
    with_3e = replace(without_3e, levels=tuple(Level(lv) for lv in ("4e", "3e")))
    [published] = given(O).when(O.PublishOffer("offer-1", jes, with_3e, BEFORE_DEADLINE)).produce()
    assert published.resources[0].kind == "observation_internship" and published.partner.kind == "company"
