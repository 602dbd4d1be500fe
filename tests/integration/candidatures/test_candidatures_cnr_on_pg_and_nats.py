"""A CNR project (seed 003) over HTTP, the service a real process on PostgreSQL, its events read
back from JetStream: two schools join mid-year with a concertation only, add their projet and
funding request later, and the académie accepts the project as it comes."""

from __future__ import annotations

import json
from datetime import datetime, timezone

import pytest

from jumelage_contracts.subjects import stream_name

from tests.integration.candidatures.candidatures_service import (
    ACADEMIE,
    SCHOOL,
    SCHOOL_JSON,
    YEAR,
    auth,
    campaign_body,
    candidature_body,
    running_service,
    set_clock,
    stream_events,
)

pytestmark = pytest.mark.integration
UTC = timezone.utc

# The campaign's calendar says 31 May YEAR for submissions; the school year runs to 7 July YEAR+1.
MID_YEAR = datetime(YEAR + 1, 1, 15, 9, tzinfo=UTC)
SPRING = datetime(YEAR + 1, 3, 20, 9, tzinfo=UTC)
YEAR_OVER = datetime(YEAR + 1, 7, 8, 9, tzinfo=UTC)
MATERNELLE_JSON = {"uai": "0750712S", "name": "Ecole maternelle Ramponeau", "academie": "paris",
                   "departement": "75", "education_prioritaire": "REP+"}
MATERNELLE = auth("school", "0750712S")
CRETEIL_JSON = {"uai": "0930001W", "name": "Ecole Jules Ferry", "academie": "creteil", "departement": "93"}
CRETEIL = auth("academie", "creteil")
CONCERTATION_ONLY = {"concertation_summary": "Deux temps d'echange avec les familles, la mairie et le centre social"}
WITH_PROJET_AND_FUNDING = {**CONCERTATION_ONLY, "pedagogical_project": "Une cour partagee entre les deux ecoles",
                           "funding": {"amount_eur": 6000, "budget_lines": [
                               {"label": "Amenagement", "amount_eur": 4500}, {"label": "Outils", "amount_eur": 1500}]}}


def project(steps: dict, schools=(MATERNELLE_JSON,)) -> dict:
    body = candidature_body("concertation", "cnr", None)
    return body | {"concertation": steps, "associated_schools": list(schools)}


async def ok(response, status: int = 200) -> dict:
    assert response.status_code == status, response.text
    return response.json()


async def refused(response, status: int, rule: str, field: str | None = None) -> dict:
    assert response.status_code == status, response.text
    assert response.headers["content-type"].startswith("application/problem+json")
    problem = response.json()
    assert problem["rule"] == rule, problem
    if field is not None:
        assert problem["field"] == field, problem
    return problem


async def test_two_schools_join_mid_year_with_a_concertation_only_then_add_projet_and_funding(
        postgres_url, nats_url, subject_root):
    async with running_service(postgres_url, nats_url, subject_root) as http:
        await set_clock(http, datetime(YEAR, 3, 1, 9, tzinfo=UTC))
        await ok(await http.post("/campaigns", json=campaign_body("concertation", "cnr-paris"), headers=ACADEMIE), 201)

        # Mid-year, long after the calendar's submission deadline: the campaign is still open.
        await set_clock(http, MID_YEAR)
        # A school of another académie cannot be part of a Paris project, whoever asks.
        await refused(await http.post("/campaigns/cnr-paris/candidatures", headers=SCHOOL,
                                      json=project(CONCERTATION_ONLY, (MATERNELLE_JSON, CRETEIL_JSON))),
                      422, "school_must_belong_to_the_campaign_academie", "associated_schools.1.academie")
        # No step at all is not joining yet.
        await refused(await http.post("/campaigns/cnr-paris/candidatures", headers=SCHOOL, json=project({})),
                      422, "cnr_joins_with_at_least_one_step", "concertation")
        joined = await ok(await http.post("/campaigns/cnr-paris/candidatures", headers=SCHOOL,
                                          json=project(CONCERTATION_ONLY)), 201)
        assert joined["version"] == 1

        # The associated school follows the project; only the school carrying it writes.
        seen = await ok(await http.get("/candidatures/cnr", headers=MATERNELLE))
        assert [s["uai"] for s in seen["data"]["associated_schools"]] == ["0750712S"]
        await refused(await http.put("/candidatures/cnr", headers=MATERNELLE, json=project(WITH_PROJET_AND_FUNDING)),
                      403, "school_acts_for_its_own_uai")
        # Another académie neither reads nor instructs it.
        assert (await http.get("/candidatures/cnr", headers=CRETEIL)).status_code == 403
        await refused(await http.post("/candidatures/cnr/reviews", json={"avis": "favourable"}, headers=CRETEIL),
                      403, "academie_acts_for_its_own_campaigns")

        # Funding is asked for a projet: not without one.
        await refused(await http.put("/candidatures/cnr", headers=SCHOOL,
                                     json=project(CONCERTATION_ONLY | {"funding": WITH_PROJET_AND_FUNDING["funding"]})),
                      422, "cnr_funding_is_for_a_pedagogical_project", "concertation.pedagogical_project")
        # In spring the team adds its projet and funding request to the waiting candidature.
        await set_clock(http, SPRING)
        await ok(await http.put("/candidatures/cnr", headers=SCHOOL, json=project(WITH_PROJET_AND_FUNDING)))

        # Past its calendar's submission deadline, the CNR campaign is still open (the sweep is
        # tested in tests/unit/candidatures/test_candidatures_api.py).
        campaign = await ok(await http.get("/campaigns/cnr-paris", headers=ACADEMIE))
        assert campaign["status"] == "open"

        # The académie accepts the project as it comes: not late, no reason asked.
        await ok(await http.post("/candidatures/cnr/reviews", json={"avis": "favourable"}, headers=ACADEMIE))
        accepted = await ok(await http.post("/candidatures/cnr/attribute", json={}, headers=ACADEMIE))
        assert accepted["partnership_id"]

        # Once the school year is over, no team joins it any more.
        await set_clock(http, YEAR_OVER)
        late = project(CONCERTATION_ONLY, ()) | {"candidature_id": "cnr-late"}
        await refused(await http.post("/campaigns/cnr-paris/candidatures", headers=SCHOOL, json=late),
                      422, "cnr_joins_at_any_time_of_its_school_year", "campaign_id")

    expected = ["CampaignOpened", "CandidatureSubmitted", "CandidatureAmended", "CandidatureReviewed",
                "PartnershipAttributed"]
    messages = await stream_events(nats_url, stream_name("candidatures", subject_root), expected=len(expected))
    assert [m.headers["Jumelage-Type"] for m in messages][:5] == expected
    submitted = json.loads(messages[1].data)
    assert submitted["concertation"]["pedagogical_project"] is None and submitted["concertation"]["funding"] is None
    attributed = json.loads(messages[4].data)
    assert attributed["late"] is False and attributed["partner"] is None
    assert attributed["school"]["uai"] == SCHOOL_JSON["uai"]
    assert [s["uai"] for s in attributed["associated_schools"]] == ["0750712S"]
    assert attributed["concertation"]["funding"]["amount_eur"] == 6000
