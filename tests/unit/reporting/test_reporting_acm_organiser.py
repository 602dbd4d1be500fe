"""Reporting counts an ACM organiser's plan mercredi candidature (seed 001): submitted with no
school and no classes, classified by the organiser's académie and département; once attributed,
its groups are the partnership's classes and their children its pupils."""

from __future__ import annotations

from datetime import datetime, timedelta, timezone

import pytest

from reporting_app import example_envelope, reporting_app

NOW = datetime(2027, 1, 15, 12, tzinfo=timezone.utc)
START = datetime(2025, 5, 4, 10, tzinfo=timezone.utc)
ORGANISER = {
    "partner_id": "acm-belleville", "kind": "association", "name": "Association Loisirs Belleville",
    "academie": "paris", "departement": "75", "commune": "Paris", "postcode": "75020",
    "places": [{"kind": "dedicated", "name": "Centre de loisirs", "address": "12 rue des Envierges"},
               {"kind": "school", "uai": "0750712S", "name": "Ecole maternelle Ramponeau"}],
    "groups": [{"group_id": "petits", "age_min": 6, "age_max": 8, "children": 24},
               {"group_id": "grands", "age_min": 9, "age_max": 11, "children": 20}],
}
HOST_SCHOOL = {"uai": "0750712S", "name": "Ecole maternelle Ramponeau", "academie": "paris", "departement": "75"}
GROUPS_AS_CLASSES = [
    {"class_id": "petits", "label": "ACM 6-8 ans", "level": "CP", "pupils": 24, "objective": "Projet educatif"},
    {"class_id": "grands", "label": "ACM 9-11 ans", "level": "CM1", "pupils": 20, "objective": "Projet educatif"}]


def organiser_story() -> list:
    steps = [("CampaignOpened", {"dispositif": "mercredi"}), ("OfferPublished", {"dispositif": "mercredi"}),
             ("CandidatureSubmitted", {"dispositif": "mercredi", "school": None, "classes": [], "tier": None,
                                       "organiser": ORGANISER}),
             ("CandidatureReviewed", {}),
             ("PartnershipAttributed", {"dispositif": "mercredi", "tier": None, "school": HOST_SCHOOL,
                                        "classes": GROUPS_AS_CLASSES, "organiser": ORGANISER})]
    return [example_envelope(kind, START + timedelta(days=i * 30), i + 1, **data) for i, (kind, data) in enumerate(steps)]


@pytest.fixture
async def api(sqlite_url):
    app = await reporting_app(sqlite_url, NOW)
    await app.apply(organiser_story())
    yield app
    await app.client.aclose()
    await app.store.close()


async def test_an_organiser_candidature_is_counted_and_its_groups_are_classes_reached(api) -> None:
    response = await api.client.get("/indicators?school_year=2025-2026", headers=api.auth("academie", "paris"))
    assert response.status_code == 200, response.text
    figures = response.json()["indicators"]
    assert figures["candidatures_submitted"] == 1 and figures["candidatures_attributed"] == 1
    assert figures["classes_reached"] == 2 and figures["pupils_reached"] == 44


async def test_a_partnership_without_a_school_is_counted_by_its_organiser_and_reaches_no_school(sqlite_url) -> None:
    """Seed 001: an ACM held in dedicated places with no school is attributed to its organiser;
    reporting counts the partnership, its groups and children, classified by the organiser, and
    no school reached. Programmes' year (same facts) and the school views do not stumble on it."""
    app = await reporting_app(sqlite_url, NOW)
    try:
        story = organiser_story()
        attributed = story[-1].data
        story[-1] = example_envelope("PartnershipAttributed", START + timedelta(days=120), 5,
                                     **{**attributed, "school": None})
        story.append(example_envelope("ProgrammeYearOpened", START + timedelta(days=121), 6, dispositif="mercredi",
                                      partnership_id=attributed["partnership_id"], school=None, organiser=ORGANISER,
                                      classes=[{k: c[k] for k in ("class_id", "label", "level", "pupils")}
                                               for c in GROUPS_AS_CLASSES]))
        await app.apply(story)
        academie = app.auth("academie", "paris")
        figures = (await app.client.get("/indicators?school_year=2025-2026", headers=academie)).json()["indicators"]
        assert (figures["partnerships_active"], figures["classes_reached"], figures["pupils_reached"],
                figures["schools_reached"]) == (1, 2, 44, 0)
        listed = (await app.client.get("/partnerships", headers=academie)).json()["items"]
        assert [(p["uai"], p["school_name"], p["departement"]) for p in listed] == [
            (None, "Association Loisirs Belleville", "75")]
        timeline = await app.client.get(f"/partnerships/{attributed['partnership_id']}/timeline", headers=academie)
        assert timeline.status_code == 200 and timeline.json()["partnership"]["uai"] is None
        school = await app.client.get("/schools/0750712S", headers=app.auth("school", "0750712S"))
        assert school.status_code == 200 and school.json()["partnerships"] == []
    finally:
        await app.client.aclose()
        await app.store.close()


async def test_schools_reached_counts_a_cnr_project_s_associated_schools(sqlite_url) -> None:
    """Seed 003: several schools carry one CNR project; each is a school reached."""
    app = await reporting_app(sqlite_url, NOW)
    try:
        network = [{"uai": "0750712S", "name": "Ecole maternelle Ramponeau", "academie": "paris", "departement": "75"}]
        steps = [("CampaignOpened", {"dispositif": "concertation"}),
                 ("CandidatureSubmitted", {"dispositif": "concertation", "tier": None, "offer_id": None,
                                           "associated_schools": network}),
                 ("CandidatureReviewed", {}),
                 ("PartnershipAttributed", {"dispositif": "concertation", "tier": None, "partner": None,
                                            "offer_id": None, "associated_schools": network})]
        await app.apply([example_envelope(kind, START + timedelta(days=i * 30), i + 1, **data)
                         for i, (kind, data) in enumerate(steps)])
        figures = (await app.client.get("/indicators?school_year=2025-2026",
                                        headers=app.auth("academie", "paris"))).json()["indicators"]
        assert (figures["partnerships_active"], figures["schools_reached"]) == (1, 2)
    finally:
        await app.client.aclose()
        await app.store.close()
