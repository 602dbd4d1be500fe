"""Given/when/then: attribution within the offer's capacity, and renewal of a partnership."""

from __future__ import annotations

from dataclasses import replace
from datetime import datetime, timedelta

import pytest
from candidatures_builders import (
    AFTER_DEADLINE,
    BEFORE_DEADLINE,
    IN_RENEWAL_WINDOW,
    UTC,
    calendar,
    campaign_opened,
    cls,
    cnr_content,
    culture_content,
    jes_content,
    mercredi_content,
    offer_published,
    open_campaign,
    published_offer,
)
from jumelage_contracts.candidatures import (
    CampaignClosed,
    CandidatureRejected,
    CandidatureReturnedForCorrection,
    CandidatureReviewed,
    CandidatureWithdrawn,
    OfferCapacityReserved,
    OfferWithdrawn,
    PartnershipAttributed,
    PartnerCompany,
    PartnerRef,
    PartnershipBilanNoted,
    RenewalDeclined,
    RenewalGranted,
    RenewalRequested,
    SchoolRef,
)
from jumelage_contracts.reference import CultureTier, Dispositif, uai_check_letter

from candidatures.domain import attribution as A
from candidatures.domain import campaign as C
from candidatures.domain import candidature as K
from candidatures.domain import offer as O
from candidatures.domain import renewal as R
from candidatures.domain.errors import DomainError


def submitted(content=None, dispositif=Dispositif.culture, cid="cand-1", offer=None):
    cmd = K.SubmitCandidature(cid, open_campaign(dispositif), offer or published_offer(), content or culture_content(),
                              BEFORE_DEADLINE)
    return K.decide(cmd, K.NoCandidature())[0]


def reviewed(avis="favourable", cid="cand-1"):
    return CandidatureReviewed(candidature_id=cid, campaign_id="camp-1", reviewer="ien-paris-11", avis=avis,
                               comment="Projet solide")


def instructed(content=None, dispositif=Dispositif.culture, avis="favourable"):
    """Submitted, then one avis recorded."""
    return [submitted(content, dispositif), reviewed(avis)]


def attribute(events, offer=None, dispositif=Dispositif.culture, cid="cand-1", now=AFTER_DEADLINE,
              campaign=None, late_reason=None) -> A.Attribution:
    offer_state = offer if offer is not None else published_offer()
    cmd = A.Attribute(cid, f"p-{cid}", campaign or open_campaign(dispositif), offer_state, now,
                      late_reason=late_reason)
    return A.decide(cmd, K.fold(events))


def A_raises(fn) -> DomainError:
    with pytest.raises(DomainError) as info:
        fn()
    return info.value


def rule_of(fn) -> str:
    return A_raises(fn).rule


def test_the_academie_attributes_a_partnership_in_year_one_and_reserves_the_offer_places():
    result = attribute(instructed())
    [partnership] = result.candidature_events
    assert partnership.year_index == 1 and partnership.school_year == "2025-2026"
    assert partnership.partner.partner_id == "musee-carnavalet" and partnership.tier == "approfondir"
    assert partnership.calendar == calendar() and len(partnership.classes) == 2
    assert result.offer_events == [OfferCapacityReserved(
        offer_id="offer-1", campaign_id="camp-1", candidature_id="cand-1", partnership_id="p-cand-1",
        classes=2, remaining_classes=2)]


def test_attributing_twice_changes_nothing():
    first = attribute(instructed()).candidature_events
    assert attribute([*instructed(), *first]) == A.Attribution()


def test_attribution_never_exceeds_the_offer_capacity():
    full = O.fold([offer_published(4), OfferCapacityReserved(offer_id="offer-1", campaign_id="camp-1",
                   candidature_id="other", partnership_id="p-other", classes=3, remaining_classes=1)])
    assert rule_of(lambda: attribute(instructed(), offer=full)) == "attribution_must_fit_offer_capacity"


def test_a_withdrawn_offer_takes_no_attribution():
    gone = O.fold([offer_published(), OfferWithdrawn(offer_id="offer-1", campaign_id="camp-1", academie="paris")])
    assert rule_of(lambda: attribute(instructed(), offer=gone)) == "withdrawn_offer_takes_no_attribution"


def test_a_rejected_candidature_is_never_attributed():
    rejected = CandidatureRejected(candidature_id="cand-1", campaign_id="camp-1", reason="non")
    assert rule_of(lambda: attribute([*instructed(), rejected])) == "rejected_candidature_cannot_be_attributed"


def test_a_withdrawn_candidature_is_never_attributed():
    gone = CandidatureWithdrawn(candidature_id="cand-1", campaign_id="camp-1")
    assert rule_of(lambda: attribute([submitted(), gone])) == "withdrawn_candidature_cannot_be_attributed"


def test_a_jes_partnership_is_with_the_partner_company():
    result = attribute(instructed(jes_content(), Dispositif.entreprise), offer=O.NoOffer(),
                       dispositif=Dispositif.entreprise)
    [p] = result.candidature_events
    assert p.partner.kind == "company" and p.partner.partner_id == "siret-12345678900011"
    assert result.offer_events == []


@pytest.mark.parametrize(("company", "partner_id"), [
    (PartnerCompany(name="Boulangerie du 20e", siret="12345678900011", partner_id="boul-20"), "boul-20"),
    (PartnerCompany(name="Boulangerie du 20e"), "boulangerie-du-20e"),
    (PartnerCompany(name="  L'Atelier & Co. (Paris)  "), "l-atelier-co-paris"),
    (PartnerCompany(name="!!!"), "partner"),
])
def test_a_jes_partner_company_without_siret_is_named_by_its_id_else_a_slug_of_its_name(company, partner_id):
    content = replace(jes_content(), partner_company=company)
    [p] = attribute(instructed(content, Dispositif.entreprise), offer=O.NoOffer(),
                    dispositif=Dispositif.entreprise).candidature_events
    assert (p.partner.partner_id, p.partner.name) == (partner_id, company.name)


def test_a_cnr_partnership_may_have_no_named_partner():
    [p] = attribute(instructed(cnr_content(), Dispositif.concertation), offer=O.NoOffer(),
                    dispositif=Dispositif.concertation).candidature_events
    assert p.partner is None and p.dispositif == "concertation"


def test_attribution_requires_a_recorded_avis():
    err = A_raises(lambda: attribute([submitted()]))
    assert err.rule == "attribution_requires_an_avis" and err.status == 422 and err.field == "candidature_id"


def test_any_avis_informs_the_decision_even_a_defavorable_one():
    [p] = attribute(instructed(avis="defavorable")).candidature_events
    assert isinstance(p, PartnershipAttributed)


def test_a_candidature_resubmitted_after_a_return_is_instructed_again_before_attribution():
    returned = CandidatureReturnedForCorrection(candidature_id="cand-1", campaign_id="camp-1", reason="Preciser")
    resubmitted = K.decide(K.ResubmitCandidature("cand-1", open_campaign(), published_offer(), culture_content(),
                                                 AFTER_DEADLINE), K.fold([*instructed(), returned]))
    history = [*instructed(), returned, *resubmitted]
    assert rule_of(lambda: attribute(history)) == "attribution_requires_an_avis"
    [p] = attribute([*history, reviewed("reserve")]).candidature_events
    assert isinstance(p, PartnershipAttributed)


def test_no_attribution_while_submissions_are_open():
    assert rule_of(lambda: attribute(instructed(), now=BEFORE_DEADLINE)) == "attribution_after_the_submission_deadline"
    at_the_deadline = calendar().submission_deadline
    assert rule_of(lambda: attribute(instructed(), now=at_the_deadline)) == "attribution_after_the_submission_deadline"
    assert attribute(instructed(), now=at_the_deadline + timedelta(seconds=1)).candidature_events


def test_a_campaign_closed_before_its_deadline_may_be_attributed_at_once():
    closed = C.fold([campaign_opened(), CampaignClosed(campaign_id="camp-1", academie="paris", reason="explicit")])
    assert attribute(instructed(), now=BEFORE_DEADLINE, campaign=closed).candidature_events


def test_attribution_is_due_by_the_attribution_date_in_the_academie_time_zone():
    # attribution date 2025-07-04: the whole day in Paris (UTC+2 in summer) is still in time
    last_minute = datetime(2025, 7, 4, 21, 59, tzinfo=UTC)
    [p] = attribute(instructed(), now=last_minute).candidature_events
    assert (p.late, p.late_reason) == (False, None)
    too_late = datetime(2025, 7, 4, 22, 0, tzinfo=UTC)
    assert rule_of(lambda: attribute(instructed(), now=too_late)) == "a_late_attribution_gives_its_reason"
    # La Réunion is UTC+4: its 4 July ends at 20:00 UTC
    reunion = C.fold([campaign_opened(academie="la-reunion")])
    assert rule_of(lambda: attribute(instructed(), now=datetime(2025, 7, 4, 20, 0, tzinfo=UTC), campaign=reunion)) \
        == "a_late_attribution_gives_its_reason"


FREED = "Place liberee : desistement de l'ecole Jean Jaures"


def test_after_the_attribution_date_a_candidature_left_waiting_is_attributed_late_with_its_reason():
    september = datetime(2025, 9, 20, 8, 0, tzinfo=UTC)
    err = A_raises(lambda: attribute(instructed(), now=september, late_reason="  "))
    assert (err.rule, err.field, err.status) == ("a_late_attribution_gives_its_reason", "late_reason", 422)
    result = attribute(instructed(), now=september, late_reason=FREED)
    [p] = result.candidature_events
    assert (p.late, p.late_reason, p.year_index, p.school_year) == (True, FREED, 1, "2025-2026")
    assert result.offer_events[0].remaining_classes == 2


def test_a_late_attribution_stays_within_the_offer_capacity():
    full = O.fold([offer_published(4), OfferCapacityReserved(offer_id="offer-1", campaign_id="camp-1",
                   candidature_id="other", partnership_id="p-other", classes=3, remaining_classes=1)])
    september = datetime(2025, 9, 20, 8, 0, tzinfo=UTC)
    assert rule_of(lambda: attribute(instructed(), offer=full, now=september, late_reason=FREED)) \
        == "attribution_must_fit_offer_capacity"


def test_a_late_jumelage_is_attributed_until_the_end_of_the_work_meeting_window():
    # work-meeting window ends 17 October 2025: that whole day in Paris (UTC+2)
    assert attribute(instructed(), now=datetime(2025, 10, 17, 21, 59, tzinfo=UTC), late_reason=FREED).candidature_events
    err = A_raises(lambda: attribute(instructed(), now=datetime(2025, 10, 17, 22, 0, tzinfo=UTC), late_reason=FREED))
    assert (err.rule, err.field) == ("a_late_attribution_leaves_time_for_the_programme", "campaign_id")


def test_a_reason_given_in_time_is_not_recorded_as_late():
    [p] = attribute(instructed(), late_reason=FREED).candidature_events
    assert (p.late, p.late_reason) == (False, None)


def test_an_attribution_of_an_unknown_campaign_is_not_found():
    assert rule_of(lambda: attribute(instructed(), campaign=C.NoCampaign())) == "campaign_must_exist"


# -- renewal ----------------------------------------------------------------------------------


def partnership_events():
    history = instructed()
    return [*history, *attribute(history).candidature_events]


def bilan(wish=True, year_index=1, school_year="2025-2026"):
    return PartnershipBilanNoted(partnership_id="p-cand-1", school_year=school_year, year_index=year_index,
                                 wish_to_continue=wish)


NEXT_CLASSES = (cls("cm2-a", "CM2"),)


def request(now=IN_RENEWAL_WINDOW):
    return R.RequestRenewal(NEXT_CLASSES, "Poursuivre le travail", None, now)


def test_a_bilan_learnt_from_programmes_is_noted_once():
    assert R.decide(R.NoteBilan("2025-2026", 1, True, None, IN_RENEWAL_WINDOW), R.fold(partnership_events())) == \
        [bilan()]
    assert R.decide(R.NoteBilan("2025-2026", 1, True, None, IN_RENEWAL_WINDOW),
                    R.fold([*partnership_events(), bilan()])) == []


def test_the_school_requests_renewal_after_a_bilan_wishing_to_continue():
    [event] = R.decide(request(), R.fold([*partnership_events(), bilan()]))
    assert event == RenewalRequested(partnership_id="p-cand-1", candidature_id="cand-1", school_year="2026-2027",
                                     year_index=2, classes=list(NEXT_CLASSES), motivation="Poursuivre le travail",
                                     tier="approfondir")


def test_no_renewal_without_a_recorded_bilan():
    err = A_raises(lambda: R.decide(request(), R.fold(partnership_events())))
    assert err.rule == "renewal_requires_a_recorded_bilan" and err.status == 422 and err.field == "partnership_id"


def test_the_renewal_window_opens_with_the_bilan_window_in_the_academie_time_zone():
    history = R.fold([*partnership_events(), bilan()])  # bilan window opens 2026-05-11 (Paris, UTC+2)
    assert rule_of(lambda: R.decide(request(datetime(2026, 5, 10, 21, 59, tzinfo=UTC)), history)) == \
        "renewal_inside_the_renewal_window"
    [event] = R.decide(request(datetime(2026, 5, 10, 22, 0, tzinfo=UTC)), history)
    assert isinstance(event, RenewalRequested)


def test_no_renewal_when_the_bilan_wishes_to_stop():
    assert rule_of(lambda: R.decide(request(), R.fold([*partnership_events(), bilan(wish=False)]))) == \
        "renewal_requires_the_wish_to_continue"


def test_no_renewal_outside_the_renewal_window():
    late = datetime(2026, 7, 1, tzinfo=UTC)
    assert rule_of(lambda: R.decide(request(late), R.fold([*partnership_events(), bilan()]))) == \
        "renewal_inside_the_renewal_window"
    early = datetime(2026, 2, 1, tzinfo=UTC)
    assert rule_of(lambda: R.decide(request(early), R.fold([*partnership_events(), bilan()]))) == \
        "renewal_inside_the_renewal_window"


def granted(events):
    return R.decide(R.GrantRenewal(None, IN_RENEWAL_WINDOW), R.fold(events))


def test_the_academie_grants_a_renewal_opening_year_two_of_the_same_partnership():
    history = [*partnership_events(), bilan()]
    history.append(R.decide(request(), R.fold(history))[0])
    [event] = granted(history)
    assert isinstance(event, RenewalGranted)
    assert (event.partnership_id, event.year_index, event.school_year) == ("p-cand-1", 2, "2026-2027")
    assert event.calendar.bilan_window.start.year == 2027 and event.classes == list(NEXT_CLASSES)
    assert granted([*history, event]) == []  # a repeated grant changes nothing


def test_a_culture_partnership_lasts_at_most_three_years():
    history = [*partnership_events(), bilan()]
    for year_index, school_year, when in ((1, "2025-2026", IN_RENEWAL_WINDOW),
                                          (2, "2026-2027", IN_RENEWAL_WINDOW + timedelta(days=365))):
        history.append(R.decide(R.RequestRenewal(NEXT_CLASSES, "encore", None, when), R.fold(history))[0])
        history.append(granted(history)[0])
        history.append(bilan(year_index=year_index + 1, school_year=history[-1].school_year))
    assert R.fold(history).year.year_index == 3
    assert rule_of(lambda: R.decide(R.RequestRenewal(NEXT_CLASSES, "encore", None,
                                                     IN_RENEWAL_WINDOW + timedelta(days=730)), R.fold(history))) == \
        "culture_partnership_lasts_at_most_three_years"


def test_the_academie_declines_a_renewal_and_the_partnership_ends():
    history = [*partnership_events(), bilan()]
    history.append(R.decide(request(), R.fold(history))[0])
    [event] = R.decide(R.DeclineRenewal("Actions non realisees", IN_RENEWAL_WINDOW), R.fold(history))
    assert isinstance(event, RenewalDeclined) and event.year_index == 2
    assert isinstance(R.fold([*history, event]), R.Ended)
    assert rule_of(lambda: R.decide(request(), R.fold([*history, event]))) == "ended_partnership_cannot_renew"


def test_a_grant_needs_a_pending_request():
    assert rule_of(lambda: granted([*partnership_events(), bilan()])) == "grant_needs_a_renewal_request"


def test_renewal_of_a_candidature_never_attributed_is_not_found():
    assert rule_of(lambda: R.decide(request(), R.fold([submitted()]))) == "partnership_must_exist"


def year_two_with_its_bilan():
    history = [*partnership_events(), bilan()]
    history.append(R.decide(request(), R.fold(history))[0])
    history.append(granted(history)[0])
    history.append(bilan(year_index=2, school_year="2026-2027"))
    return history


def test_a_culture_renewal_into_year_three_takes_the_jumelage_tier():
    # Seed 000: schools confirm « en candidatant au jumelage pour l'année 3 ».
    history = year_two_with_its_bilan()
    assert R.fold(history).year.tier == "approfondir"
    [event] = R.decide(R.RequestRenewal(NEXT_CLASSES, "encore", None, IN_RENEWAL_WINDOW + timedelta(days=365)),
                       R.fold(history))
    assert (event.year_index, event.tier) == (3, "jumelage")
    asked = R.RequestRenewal(NEXT_CLASSES, "encore", CultureTier.approfondir, IN_RENEWAL_WINDOW + timedelta(days=365))
    assert rule_of(lambda: R.decide(asked, R.fold(history))) == "culture_year_three_is_a_jumelage"


def test_a_late_jumelage_at_la_reunion_ends_with_the_last_day_of_the_work_meeting_window_at_la_reunion():
    # 17 October 2025 ends at 20:00 UTC at La Réunion (UTC+4), two hours before it ends in Paris
    school = SchoolRef(uai="9740001" + uai_check_letter("9740001"), name="Ecole du Butor", academie="la-reunion",
                       departement="974")
    campaign = open_campaign(Dispositif.culture, "la-reunion")
    offer = O.Published(offer_published().model_copy(update={"academie": "la-reunion"}))
    cmd = K.SubmitCandidature("cand-1", campaign, offer, culture_content(school=school), BEFORE_DEADLINE)
    history = [*K.decide(cmd, K.NoCandidature()), reviewed()]
    in_time = datetime(2025, 10, 17, 19, 59, tzinfo=UTC)
    assert attribute(history, offer=offer, campaign=campaign, now=in_time, late_reason=FREED).candidature_events
    too_late = datetime(2025, 10, 17, 20, 0, tzinfo=UTC)
    err = A_raises(lambda: attribute(history, offer=offer, campaign=campaign, now=too_late, late_reason=FREED))
    assert (err.rule, err.field) == ("a_late_attribution_leaves_time_for_the_programme", "campaign_id")


def test_an_attribution_on_an_offer_that_does_not_exist_is_not_found_on_the_offer_id():
    err = A_raises(lambda: attribute(instructed(), offer=O.NoOffer()))
    assert (err.rule, err.field, err.status) == ("offer_must_exist", "offer_id", 404)


def test_a_full_or_withdrawn_offer_refuses_the_attribution_on_the_offer_id():
    full = O.fold([offer_published(1)])
    gone = O.fold([offer_published(4), OfferWithdrawn(offer_id="offer-1", campaign_id="camp-1", academie="paris")])
    for offer, rule in ((full, "attribution_must_fit_offer_capacity"), (gone, "withdrawn_offer_takes_no_attribution")):
        err = A_raises(lambda: attribute(instructed(), offer=offer))
        assert (err.rule, err.field) == (rule, "offer_id")



def test_the_partner_the_academie_names_wins_over_the_one_the_school_wished():
    named = PartnerRef(partner_id="cinema-le-louxor", kind="cultural_structure", name="Cinema Le Louxor")
    history = instructed(mercredi_content(), Dispositif.mercredi)
    cmd = A.Attribute("cand-1", "p-cand-1", open_campaign(Dispositif.mercredi), O.NoOffer(), AFTER_DEADLINE,
                      partner=named)
    [p] = A.decide(cmd, K.fold(history)).candidature_events
    assert (p.partner, p.year_index) == (named, 1)


def test_a_candidature_returned_for_correction_is_not_attributed_until_resubmitted():
    returned = CandidatureReturnedForCorrection(candidature_id="cand-1", campaign_id="camp-1", reason="Preciser")
    err = A_raises(lambda: attribute([*instructed(), returned]))
    assert (err.rule, err.status) == ("attribute_only_a_pending_candidature", 409)


def test_an_attribution_in_a_campaign_that_does_not_exist_is_not_found_on_the_campaign_id():
    err = A_raises(lambda: attribute(instructed(), campaign=C.NoCampaign()))
    assert (err.rule, err.field, err.status) == ("campaign_must_exist", "campaign_id", 404)
