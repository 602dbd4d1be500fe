"""Given/when/then: an ACM organiser applies to a plan mercredi campaign (seed 001).

« Les accueils collectifs de mineurs organisés dans le cadre d'un plan mercredi, qu'ils se
déroulent au sein des écoles ou dans des lieux spécifiquement dédiés »: the organiser (a commune,
an association, a centre de loisirs) applies with its place(s) and its groups of children by age
band instead of classes; a school is an optional partner.
"""

from __future__ import annotations

from dataclasses import replace

from candidatures_builders import (
    BEFORE_DEADLINE,
    AFTER_DEADLINE,
    ACM_GROUPS,
    CRETEIL_SCHOOL,
    DEDICATED_PLACE,
    SCHOOL_PLACE,
    acm_content,
    cls,
    given,
    open_campaign,
    published_offer,
)
from jumelage_contracts.candidatures import (
    AcmPlace,
    CandidatureReviewed,
    CandidatureSubmitted,
    ChildGroup,
)
from jumelage_contracts.reference import Dispositif
import pytest
from pydantic import ValidationError

from candidatures.domain import attribution as A
from candidatures.domain import campaign as C
from candidatures.domain import candidature as K
from candidatures.domain.errors import DomainError

MERCREDI = Dispositif.mercredi


def submit(content, dispositif=MERCREDI, offer=None, now=BEFORE_DEADLINE):
    return K.SubmitCandidature("acm-1", open_campaign(dispositif), offer, content, now)


def submitted(content=None, offer=None):
    return given(K).when(submit(content or acm_content(), offer=offer)).produce()[0]


def avis():
    return CandidatureReviewed(candidature_id="acm-1", campaign_id="camp-1", reviewer="sdjes-75", avis="favourable")


def attribute(events, offer=None) -> A.Attribution:
    closed = C.Closed(open_campaign(MERCREDI).opened, "explicit")
    return A.decide(A.Attribute("acm-1", "p-acm-1", closed, offer, AFTER_DEADLINE), K.fold(events))


# -- applying ---------------------------------------------------------------------------------


def test_an_organiser_applies_to_a_mercredi_campaign_with_groups_and_no_classes():
    [event] = given(K).when(submit(acm_content())).produce()
    assert isinstance(event, CandidatureSubmitted) and event.classes == []
    assert [g.label for g in event.organiser.groups] == ["ACM 3-5 ans", "ACM 6-8 ans", "ACM 9-11 ans"]
    assert event.organiser.places[0].kind == "dedicated" and event.school.uai == "0750655E"


def test_an_organiser_applies_without_any_school():
    [event] = given(K).when(submit(acm_content(school=None))).produce()
    assert event.school is None and event.organiser.partner_id == "acm-belleville"


def test_the_acm_may_be_held_in_a_school_given_by_its_uai():
    [event] = given(K).when(submit(acm_content(places=(SCHOOL_PLACE, DEDICATED_PLACE), school=None))).produce()
    assert event.organiser.places[0].uai == "0750712S"


def test_an_organiser_cannot_apply_to_another_dispositif():
    for dispositif in (Dispositif.culture, Dispositif.entreprise, Dispositif.centre_social, Dispositif.concertation):
        error = given(K).when(submit(acm_content(), dispositif)).raises("only_a_plan_mercredi_takes_an_acm_organiser")
        assert error.field == "organiser"


def test_an_organiser_lists_groups_not_classes():
    given(K).when(submit(acm_content(classes=(cls("cm1-a", "CM1"),)))).raises(
        "an_acm_organiser_applies_with_groups_not_classes")


def test_a_school_still_applies_with_at_least_one_class():
    content = acm_content()
    given(K).when(submit(replace(content, organiser=None))).raises("a_school_applies_with_its_classes")
    given(K).when(submit(replace(content, organiser=None, school=None))).raises("a_candidature_names_its_school")


def test_at_least_one_group_and_one_place_by_the_contract():
    with pytest.raises(ValidationError):
        acm_content(groups=())
    with pytest.raises(ValidationError):
        acm_content(places=())
    with pytest.raises(ValidationError, match="uai"):
        AcmPlace(kind="school", name="Ecole")
    with pytest.raises(ValidationError, match="address"):
        AcmPlace(kind="dedicated", name="Salle")
    with pytest.raises(ValidationError, match="age_max"):
        ChildGroup(group_id="g", age_min=9, age_max=6, children=10)


def test_the_organiser_belongs_to_the_campaign_academie():
    error = given(K).when(submit(acm_content(academie="creteil", school=None))).raises(
        "organiser_must_belong_to_the_campaign_academie")
    assert error.field == "organiser.academie"


def test_a_partner_school_of_another_academie_is_refused():
    given(K).when(submit(acm_content(school=CRETEIL_SCHOOL))).raises("school_must_belong_to_the_campaign_academie")


def test_each_group_is_named_once():
    twice = (*ACM_GROUPS, ChildGroup(group_id="petits", age_min=6, age_max=8, children=10))
    error = given(K).when(submit(acm_content(groups=twice))).raises("acm_group_ids_must_be_unique")
    assert error.field == "organiser.groups.3.group_id"


def test_a_school_place_lies_in_the_organiser_academie():
    place = AcmPlace(kind="school", uai="0930001W", name="Ecole Jules Ferry")
    given(K).when(submit(acm_content(places=(place,)))).raises("acm_school_places_are_in_the_organiser_academie")


def test_the_wished_offer_takes_the_groups_at_the_level_of_their_youngest_children():
    offer = published_offer(dispositif=MERCREDI)  # levels CE2 .. 3e: not the 3-5 nor the 6-8 band
    error = given(K).when(submit(acm_content(offer_id="offer-1"), offer=offer)).raises(
        "classes_must_fit_the_offer_levels")
    assert error.field == "organiser.groups.0.level"
    older = (ChildGroup(group_id="grands", age_min=9, age_max=11, children=20),)
    assert given(K).when(submit(acm_content(offer_id="offer-1", groups=older), offer=offer)).produce()


def test_submitting_the_same_content_again_changes_nothing():
    given(K, submitted()).when(submit(acm_content())).then()


# -- attribution ------------------------------------------------------------------------------


def test_an_attributed_organiser_candidature_carries_its_groups_as_classes_and_its_organiser():
    decided = attribute([submitted(), avis()])
    [attributed] = decided.candidature_events
    assert [(c.class_id, c.label, c.level.value, c.pupils) for c in attributed.classes] == [
        ("maternelle", "ACM 3-5 ans", "PS", 16), ("petits", "ACM 6-8 ans", "CP", 24), ("grands", "ACM 9-11 ans", "CM1", 20)]
    assert attributed.organiser.name == "Association Loisirs Belleville"
    assert attributed.school.uai == "0750655E"  # the partner school is the partnership's school side


def test_without_a_partner_school_the_school_place_is_the_school_side():
    [attributed] = attribute([submitted(acm_content(places=(DEDICATED_PLACE, SCHOOL_PLACE), school=None)),
                              avis()]).candidature_events
    assert (attributed.school.uai, attributed.school.academie, attributed.school.departement) == (
        "0750712S", "paris", "75")


def test_an_acm_in_dedicated_places_only_and_without_a_school_is_attributed_to_its_organiser():
    """Seed 001: an ACM may be held « dans des lieux spécifiquement dédiés », the school being an
    optional partner: the organiser holds the school side alone, with its groups as classes."""
    [attributed] = attribute([submitted(acm_content(school=None)), avis()]).candidature_events
    assert attributed.school is None and attributed.uai is None
    assert (attributed.organiser.partner_id, attributed.academie, attributed.school_side_name) == (
        "acm-belleville", "paris", "Association Loisirs Belleville")
    assert [c.label for c in attributed.classes] == ["ACM 3-5 ans", "ACM 6-8 ans", "ACM 9-11 ans"]
    assert [p.kind for p in attributed.organiser.places] == ["dedicated"]


def test_an_organiser_partnership_without_a_school_is_renewed_with_its_organiser():
    from candidatures.domain import renewal as R
    from candidatures_builders import IN_RENEWAL_WINDOW
    from jumelage_contracts.candidatures import PartnershipBilanNoted

    [attributed] = attribute([submitted(acm_content(school=None)), avis()]).candidature_events
    noted = PartnershipBilanNoted(partnership_id="p-acm-1", school_year=attributed.school_year, year_index=1,
                                  wish_to_continue=True)
    groups = [cls("petits", "CP")]
    request = R.RequestRenewal(tuple(groups), "Continuer", None, IN_RENEWAL_WINDOW)
    [asked] = R.decide(request, R.fold([attributed, noted]))
    [granted] = R.decide(R.GrantRenewal(None, IN_RENEWAL_WINDOW), R.fold([attributed, noted, asked]))
    assert granted.school is None and granted.organiser == attributed.organiser and granted.academie == "paris"


def test_an_organiser_takes_one_offer_place_per_group():
    offer = published_offer(capacity=2, dispositif=MERCREDI)
    older = (ChildGroup(group_id="a", age_min=9, age_max=10, children=12),
             ChildGroup(group_id="b", age_min=10, age_max=11, children=12))
    decided = attribute([submitted(acm_content(offer_id="offer-1", groups=older), offer), avis()], offer)
    assert decided.offer_events[0].classes == 2 and decided.offer_events[0].remaining_classes == 0
    three = (*older, ChildGroup(group_id="c", age_min=9, age_max=11, children=12))
    with pytest.raises(DomainError) as info:
        attribute([submitted(acm_content(offer_id="offer-1", groups=three), offer), avis()], offer)
    assert info.value.rule == "attribution_must_fit_offer_capacity"


def test_a_stored_candidature_without_organiser_still_loads():
    payload = submitted(acm_content()).model_dump(mode="json")
    payload.pop("organiser")
    payload["classes"] = [cls("cm1-a", "CM1").model_dump(mode="json")]
    old = CandidatureSubmitted.model_validate(payload)
    assert old.organiser is None and old.academie == "paris"
    del payload["classes"]
    with pytest.raises(ValidationError, match="at least one class"):
        CandidatureSubmitted.model_validate(payload)

