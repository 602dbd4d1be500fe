"""Given/when/then: a candidature from draft to decision, and the dispositif rules."""

from __future__ import annotations

from dataclasses import replace

from candidatures_builders import (
    AFTER_DEADLINE,
    BEFORE_DEADLINE,
    CRETEIL_SCHOOL,
    PARIS_SCHOOL,
    cls,
    cnr_content,
    culture_content,
    given,
    jes_content,
    mercredi_content,
    open_campaign,
    published_offer,
)
from jumelage_contracts.candidatures import (
    CandidatureAmended,
    CandidatureDrafted,
    CandidatureRejected,
    CandidatureResubmitted,
    CandidatureReturnedForCorrection,
    CandidatureReviewed,
    CandidatureSubmitted,
    CandidatureWithdrawn,
    PartnershipAttributed,
)
from jumelage_contracts.reference import Dispositif

from candidatures.domain import candidature as K
from candidatures.domain import offer as O

OFFER = published_offer()


def submit(content=None, dispositif=Dispositif.culture, now=BEFORE_DEADLINE, offer=OFFER, kind=K.SubmitCandidature):
    return kind("cand-1", open_campaign(dispositif), offer, content or culture_content(), now)


def submitted(content=None, dispositif=Dispositif.culture) -> CandidatureSubmitted:
    return given(K).when(submit(content, dispositif)).produce()[0]


def ev(kind, **kw):
    return kind(candidature_id="cand-1", campaign_id="camp-1", **kw)


def attributed() -> PartnershipAttributed:
    s = submitted()
    from candidatures_builders import calendar
    return PartnershipAttributed(partnership_id="p-1", candidature_id="cand-1", campaign_id="camp-1",
                                 dispositif="culture", tier=s.tier, school_year="2025-2026", school=s.school,
                                 classes=s.classes, calendar=calendar())


def test_a_school_submits_a_candidature_with_several_classes():
    [event] = given(K).when(submit()).produce()
    assert isinstance(event, CandidatureSubmitted) and len(event.classes) == 2 and event.dispositif == "culture"


def test_a_school_saves_a_draft_then_submits_it():
    [draft] = given(K).when(submit(kind=K.DraftCandidature)).produce()
    assert isinstance(draft, CandidatureDrafted)
    [event] = given(K, draft).when(submit()).produce()
    assert isinstance(event, CandidatureSubmitted)


def test_submitting_the_same_candidature_twice_changes_nothing():
    given(K, submitted()).when(submit()).then()


def test_a_submitted_candidature_is_changed_by_amending_not_resubmitting():
    other = culture_content(classes=[cls("cm1-a", "CM1")])
    given(K, submitted()).when(submit(other)).raises("submit_only_once")


def test_a_school_amends_its_candidature_before_the_deadline():
    other = culture_content(classes=[cls("cm1-a", "CM1")])
    [event] = given(K, submitted()).when(submit(other, kind=K.AmendCandidature)).produce()
    assert isinstance(event, CandidatureAmended) and len(event.classes) == 1


def test_a_school_cannot_amend_after_the_deadline():
    other = culture_content(classes=[cls("cm1-a", "CM1")])
    given(K, submitted()).when(submit(other, now=AFTER_DEADLINE, kind=K.AmendCandidature)).raises(
        "submission_only_before_the_deadline")


def test_a_school_cannot_submit_after_the_deadline():
    given(K).when(submit(now=AFTER_DEADLINE)).raises("submission_only_before_the_deadline")


def test_the_uai_must_match_the_declared_departement():
    school = PARIS_SCHOOL.model_copy(update={"departement": "93"})
    err = given(K).when(submit(culture_content(school=school))).raises("school_must_match_its_uai")
    assert err.field == "school.departement"


def test_the_uai_must_match_the_declared_academie():
    school = CRETEIL_SCHOOL.model_copy(update={"academie": "paris"})
    assert given(K).when(submit(culture_content(school=school))).raises("school_must_match_its_uai").field == \
        "school.academie"


def test_a_school_applies_only_to_a_campaign_of_its_academie():
    given(K).when(submit(culture_content(school=CRETEIL_SCHOOL))).raises(
        "school_must_belong_to_the_campaign_academie")


def test_class_ids_are_unique_within_a_candidature():
    content = culture_content(classes=[cls("a", "CM1"), cls("a", "CM2")])
    assert given(K).when(submit(content)).raises("class_ids_must_be_unique").field == "classes.1.class_id"


def test_a_culture_candidature_chooses_a_tier():
    given(K).when(submit(culture_content(tier=None))).raises("culture_needs_a_tier")


def test_only_culture_candidatures_have_a_tier():
    content = jes_content()
    content = type(content)(**{**content.__dict__, "tier": "jumelage"})
    given(K).when(submit(content, Dispositif.entreprise, offer=None)).raises("tier_only_for_culture")


def test_jes_is_only_for_classes_from_5e_to_bts():
    content = jes_content(classes=[cls("6e-a", "6e")])
    err = given(K).when(submit(content, Dispositif.entreprise, offer=None)).raises("jes_only_from_5e_to_bts")
    assert err.field == "classes.0.level"


def test_a_jes_candidature_from_bts_classes_is_accepted():
    content = jes_content(classes=[cls("bts-1", "BTS"), cls("5e-b", "5e")])
    [event] = given(K).when(submit(content, Dispositif.entreprise, offer=None)).produce()
    assert event.partner_company is not None


def test_a_jes_candidature_needs_a_partner_company():
    given(K).when(submit(jes_content(company=False), Dispositif.entreprise, offer=None)).raises(
        "jes_needs_a_partner_company")


def test_a_cnr_candidature_carries_its_steps():
    given(K).when(submit(cnr_content(concertation=False), Dispositif.concertation, offer=None)).raises(
        "cnr_joins_with_at_least_one_step")
    [event] = given(K).when(submit(cnr_content(), Dispositif.concertation, offer=None)).produce()
    assert event.concertation.funding.amount_eur == 4500


def test_a_cnr_candidature_without_an_initial_concertation_is_submitted_with_its_projet_and_funding():
    content = cnr_content()
    without = replace(content, concertation=content.concertation.model_copy(update={"concertation_summary": None}))
    [event] = given(K).when(submit(without, Dispositif.concertation, offer=None)).produce()
    assert event.concertation.concertation_summary is None and event.concertation.pedagogical_project


def test_cnr_budget_lines_add_up_to_the_amount_requested():
    given(K).when(submit(cnr_content(amount=5000), Dispositif.concertation, offer=None)).raises(
        "cnr_budget_lines_add_up_to_the_amount")


def test_a_mercredi_candidature_names_the_partner_wished():
    [event] = given(K).when(submit(mercredi_content(), Dispositif.mercredi, offer=None)).produce()
    assert event.partner_wished.partner_id == "mediatheque-20"
    content = type(mercredi_content())(**{**mercredi_content().__dict__, "partner_wished": None})
    given(K).when(submit(content, Dispositif.mercredi, offer=None)).raises("candidature_names_an_offer_or_partner")


def test_the_wished_offer_must_be_open_in_the_campaign():
    given(K).when(submit(offer=O.NoOffer())).raises("wished_offer_must_be_open_in_the_campaign")


def test_the_classes_must_fit_the_offer_levels():
    content = culture_content(classes=[cls("cp-a", "CP")])
    given(K).when(submit(content)).raises("classes_must_fit_the_offer_levels")


def test_the_academie_returns_a_candidature_for_correction_and_the_school_resubmits():
    returned = ev(CandidatureReturnedForCorrection, reason="Preciser l'objectif")
    given(K, submitted()).when(K.ReturnForCorrection("cand-1", "Preciser l'objectif", AFTER_DEADLINE)).then(returned)
    corrected = culture_content(classes=[cls("cm1-a", "CM1")])
    [event] = given(K, submitted(), returned).when(submit(corrected, now=AFTER_DEADLINE,
                                                          kind=K.ResubmitCandidature)).produce()
    assert isinstance(event, CandidatureResubmitted)
    state = K.fold([submitted(), returned, event])
    assert isinstance(state, K.Submitted) and state.resubmitted


def test_only_a_returned_candidature_is_resubmitted():
    given(K, submitted()).when(submit(kind=K.ResubmitCandidature)).raises("resubmit_only_after_a_return")


def test_the_first_avis_puts_the_candidature_under_review():
    review = ev(CandidatureReviewed, reviewer="ia-ipr", avis="favourable", comment="Bon projet")
    given(K, submitted()).when(K.ReviewCandidature("cand-1", "ia-ipr", "favourable", "Bon projet",
                                                   AFTER_DEADLINE)).then(review)
    assert isinstance(K.fold([submitted(), review]), K.UnderReview)
    given(K, submitted(), review).when(K.ReviewCandidature("cand-1", "ia-ipr", "favourable", "Bon projet",
                                                           AFTER_DEADLINE)).then()


def test_an_amendment_is_refused_once_under_review():
    review = ev(CandidatureReviewed, reviewer="ia-ipr", avis="reserve")
    given(K, submitted(), review).when(submit(kind=K.AmendCandidature)).raises("amend_only_a_submitted_candidature")


def test_a_school_withdraws_before_the_decision():
    given(K, submitted()).when(K.WithdrawCandidature("cand-1", "equipe modifiee", AFTER_DEADLINE)).then(
        ev(CandidatureWithdrawn, reason="equipe modifiee"))
    given(K, submitted(), ev(CandidatureWithdrawn)).when(K.WithdrawCandidature("cand-1", None, AFTER_DEADLINE)).then()


def test_a_school_cannot_withdraw_after_the_decision():
    given(K, submitted(), attributed()).when(K.WithdrawCandidature("cand-1", None, AFTER_DEADLINE)).raises(
        "decided_candidature_is_final")


def test_the_academie_rejects_with_a_reason_once():
    given(K, submitted()).when(K.RejectCandidature("cand-1", "Capacite atteinte", AFTER_DEADLINE)).then(
        ev(CandidatureRejected, reason="Capacite atteinte"))
    given(K, submitted(), ev(CandidatureRejected, reason="x")).when(
        K.RejectCandidature("cand-1", "x", AFTER_DEADLINE)).then()


def test_an_attributed_candidature_cannot_be_rejected():
    given(K, submitted(), attributed()).when(K.RejectCandidature("cand-1", "x", AFTER_DEADLINE)).raises(
        "attributed_candidature_cannot_be_rejected")


def test_a_withdrawn_candidature_cannot_be_reviewed():
    given(K, submitted(), ev(CandidatureWithdrawn)).when(
        K.ReviewCandidature("cand-1", "r", "favourable", None, AFTER_DEADLINE)).raises("withdrawn_candidature_is_final")


def test_an_unknown_candidature_is_not_found():
    assert given(K).when(K.WithdrawCandidature("nope", None, AFTER_DEADLINE)).raises(
        "candidature_must_exist").status == 404
