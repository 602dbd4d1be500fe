"""Given/when/then: a CNR project (« Notre école, faisons-la ensemble », seed 003).

Teams « pourront à tout moment choisir de s'inscrire dans la démarche » (no submission deadline),
« écoles ou groupes d'écoles » may join together, and the three steps are « facultatives,
distinctes »: a team joins with a concertation only, adds its projet and funding later, or never.
"""

from __future__ import annotations

from dataclasses import replace
from datetime import datetime

import pytest
from candidatures_builders import (
    CRETEIL_SCHOOL,
    PARIS_COLLEGE,
    PARIS_SCHOOL,
    PARIS_SCHOOL_2,
    PROJET,
    UTC,
    campaign_opened,
    cnr_concertation_only,
    cnr_content,
    culture_content,
    given,
    open_campaign,
    published_offer,
)
from jumelage_contracts.candidatures import CampaignClosed, CandidatureReviewed, Concertation, SchoolRef
from jumelage_contracts.reference import Dispositif

from candidatures.domain import attribution as A
from candidatures.domain import campaign as C
from candidatures.domain import candidature as K
from candidatures.domain.errors import DomainError

CNR = Dispositif.concertation
# The campaign's school year is 2025-2026; its calendar's submission deadline is 31 May 2025.
MID_YEAR = datetime(2026, 2, 2, 9, 0, tzinfo=UTC)
LAST_MINUTE_OF_THE_YEAR = datetime(2026, 7, 7, 21, 59, tzinfo=UTC)  # 7 July 23:59 in Paris
YEAR_OVER = datetime(2026, 7, 7, 22, 0, tzinfo=UTC)


def submit(content, now=MID_YEAR, kind=K.SubmitCandidature, dispositif=CNR):
    return kind("cnr-1", open_campaign(dispositif), None, content, now)


def submitted(content=None, now=MID_YEAR):
    return given(K).when(submit(content or cnr_concertation_only(), now)).produce()[0]


def avis():
    return CandidatureReviewed(candidature_id="cnr-1", campaign_id="camp-1", reviewer="groupe-appui-paris",
                               avis="favourable")


def accept(events, now=MID_YEAR) -> A.Attribution:
    return A.decide(A.Attribute("cnr-1", "p-cnr-1", open_campaign(CNR), None, now), K.fold(events))


# -- joining at any time ----------------------------------------------------------------------


def test_a_team_joins_mid_year_long_after_the_calendar_submission_deadline():
    [event] = given(K).when(submit(cnr_concertation_only(), MID_YEAR)).produce()
    assert event.type == "CandidatureSubmitted" and event.dispositif == "concertation"


def test_a_team_joins_until_the_last_day_of_the_school_year_in_its_academie():
    assert given(K).when(submit(cnr_concertation_only(), LAST_MINUTE_OF_THE_YEAR)).produce()
    given(K).when(submit(cnr_concertation_only(), YEAR_OVER)).raises("cnr_joins_at_any_time_of_its_school_year")


def test_other_dispositifs_keep_their_submission_deadline():
    given(K).when(submit(culture_content(), MID_YEAR, dispositif=Dispositif.culture)).raises(
        "submission_only_before_the_deadline")


def test_a_closed_cnr_campaign_takes_no_team():
    closed = C.Closed(campaign_opened(CNR), "explicit")
    cmd = K.SubmitCandidature("cnr-1", closed, None, cnr_concertation_only(), MID_YEAR)
    given(K).when(cmd).raises("campaign_must_be_open")


def test_the_deadline_sweep_leaves_a_cnr_campaign_open_until_its_school_year_ends():
    opened = campaign_opened(CNR)
    given(C, opened).when(C.CloseCampaign("camp-1", MID_YEAR, at_deadline=True)).then()
    given(C, opened).when(C.CloseCampaign("camp-1", YEAR_OVER, at_deadline=True)).then(
        CampaignClosed(campaign_id="camp-1", academie="paris", reason="deadline"))


def test_the_deadline_sweep_still_closes_other_campaigns_at_their_deadline():
    given(C, campaign_opened()).when(C.CloseCampaign("camp-1", MID_YEAR, at_deadline=True)).then(
        CampaignClosed(campaign_id="camp-1", academie="paris", reason="deadline"))


def test_the_academie_may_still_close_its_cnr_campaign_by_hand():
    given(C, campaign_opened(CNR)).when(C.CloseCampaign("camp-1", MID_YEAR)).then(
        CampaignClosed(campaign_id="camp-1", academie="paris", reason="explicit"))


# -- three optional, distinct steps ------------------------------------------------------------


def test_a_team_joins_with_its_concertation_only():
    event = submitted(cnr_concertation_only())
    assert event.concertation.concertation_summary and event.concertation.pedagogical_project is None
    assert event.concertation.funding is None


def test_a_team_joins_with_its_projet_without_a_concertation_nor_funding():
    event = submitted(cnr_content(summary=None, funding=False))
    assert event.concertation.pedagogical_project == PROJET and event.concertation.funding is None


def test_a_team_states_at_least_one_step():
    given(K).when(submit(cnr_content(summary=None, projet=None, funding=False))).raises(
        "cnr_joins_with_at_least_one_step")
    given(K).when(submit(cnr_content(concertation=False))).raises("cnr_joins_with_at_least_one_step")


def test_funding_is_asked_for_a_pedagogical_project():
    error = given(K).when(submit(cnr_content(projet=None))).raises("cnr_funding_is_for_a_pedagogical_project")
    assert error.field == "concertation.pedagogical_project"


def test_the_projet_and_the_funding_request_come_later_by_amending_the_waiting_candidature():
    later = datetime(2026, 4, 2, 9, 0, tzinfo=UTC)
    [amended] = given(K, submitted()).when(submit(cnr_content(), later, kind=K.AmendCandidature)).produce()
    assert amended.type == "CandidatureAmended"
    assert amended.concertation.pedagogical_project == PROJET and amended.concertation.funding.amount_eur == 4500


def test_only_a_cnr_candidature_carries_concertation_steps():
    with_steps = replace(culture_content(), concertation=Concertation(concertation_summary="Reunion"))
    given(K).when(submit(with_steps, datetime(2025, 5, 1, tzinfo=UTC), dispositif=Dispositif.culture)).raises(
        "concertation_only_for_cnr")


# -- several schools, one project --------------------------------------------------------------


def test_several_schools_of_the_academie_join_as_one_project():
    event = submitted(cnr_concertation_only(schools=[PARIS_SCHOOL_2, PARIS_COLLEGE]))
    assert [s.uai for s in event.associated_schools] == ["0750712S", "0750100B"]
    assert event.school.uai == PARIS_SCHOOL.uai


def test_a_school_of_another_academie_cannot_join_the_project():
    error = given(K).when(submit(cnr_concertation_only(schools=[PARIS_SCHOOL_2, CRETEIL_SCHOOL]))).raises(
        "school_must_belong_to_the_campaign_academie")
    assert error.field == "associated_schools.1.academie"


def test_an_associated_school_declared_in_the_wrong_academie_is_caught_by_its_uai():
    disguised = SchoolRef(uai=CRETEIL_SCHOOL.uai, name="Ecole Jules Ferry", academie="paris", departement="75")
    error = given(K).when(submit(cnr_concertation_only(schools=[disguised]))).raises("school_must_match_its_uai")
    assert error.field == "associated_schools.0.departement"


def test_each_school_of_the_project_is_named_once():
    given(K).when(submit(cnr_concertation_only(schools=[PARIS_SCHOOL]))).raises(
        "each_school_of_the_project_is_named_once")
    given(K).when(submit(cnr_concertation_only(schools=[PARIS_SCHOOL_2, PARIS_SCHOOL_2]))).raises(
        "each_school_of_the_project_is_named_once")


def test_only_a_cnr_project_is_carried_by_several_schools():
    several = replace(culture_content(), associated_schools=(PARIS_SCHOOL_2,))
    cmd = K.SubmitCandidature("cnr-1", open_campaign(), published_offer(), several, datetime(2025, 5, 1, tzinfo=UTC))
    given(K).when(cmd).raises("several_schools_only_for_a_cnr_project")


# -- the académie accepts each project as it comes ---------------------------------------------


def test_the_academie_accepts_a_project_mid_year_not_late_and_without_a_reason():
    history = [submitted(cnr_concertation_only(schools=[PARIS_SCHOOL_2])), avis()]
    [p] = accept(history).candidature_events
    assert p.dispositif == "concertation" and not p.late and p.late_reason is None and p.partner is None
    assert [s.uai for s in p.associated_schools] == ["0750712S"]
    assert p.concertation.concertation_summary and p.concertation.pedagogical_project is None


def test_a_project_is_accepted_until_the_end_of_its_school_year():
    history = [submitted(cnr_concertation_only(), LAST_MINUTE_OF_THE_YEAR), avis()]
    assert accept(history, LAST_MINUTE_OF_THE_YEAR).candidature_events
    with pytest.raises(DomainError) as refused:
        accept(history, YEAR_OVER)
    assert refused.value.rule == "a_cnr_project_is_accepted_as_it_comes"


def test_a_project_is_accepted_before_the_calendar_submission_deadline_too():
    early = datetime(2025, 3, 2, 9, 0, tzinfo=UTC)
    history = [submitted(cnr_concertation_only(), early), avis()]
    [p] = accept(history, early).candidature_events
    assert not p.late


def test_a_project_still_needs_an_avis_before_it_is_accepted():
    with pytest.raises(DomainError) as refused:
        accept([submitted()])
    assert refused.value.rule == "attribution_requires_an_avis"


def test_a_cnr_project_takes_no_offer_place():
    assert accept([submitted(), avis()]).offer_events == []
