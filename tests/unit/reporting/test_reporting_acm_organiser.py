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
