"""The HTTP API for an ACM organiser applying to a plan mercredi campaign (seed 001): it acts with
a partner token scoped to its own partner id; the académie of the campaign instructs."""

from __future__ import annotations

import pytest
from candidatures_api_kit import (
    ACADEMIE,
    OTHER_ACADEMIE,
    PARTNER,
    SCHOOL,
    SCHOOL_PLACE_JSON,
    DEDICATED_PLACE_JSON,
    ORGANISER,
    campaign_body,
    candidatures_client,
    organiser_body,
    token,
)
from candidatures_builders import AFTER_DEADLINE


@pytest.fixture
async def client(sqlite_url):
    async with candidatures_client(sqlite_url) as c:
        yield c


async def open_mercredi(client) -> None:
    r = await client.post("/campaigns", json=campaign_body("mercredi"), headers=ACADEMIE)
    assert r.status_code == 201, r.text


async def test_an_organiser_submits_reads_and_lists_its_own_candidature(client):
    await open_mercredi(client)
    r = await client.post("/campaigns/camp-1/candidatures", json=organiser_body("acm-1", school=None),
                          headers=ORGANISER)
    assert r.status_code == 201, r.text
    detail = (await client.get("/candidatures/acm-1", headers=ORGANISER)).json()
    assert detail["uai"] is None and detail["school_name"] == "Association Loisirs Belleville"
    assert (detail["classes"], detail["pupils"]) == (3, 60)
    assert [g["group_id"] for g in detail["data"]["organiser"]["groups"]] == ["maternelle", "petits", "grands"]
    listed = (await client.get("/campaigns/camp-1/candidatures", headers=ORGANISER)).json()
    assert [row["candidature_id"] for row in listed["items"]] == ["acm-1"]
    assert (await client.get("/campaigns/camp-1/candidatures", headers=PARTNER)).json()["total"] == 0
    assert (await client.get("/campaigns/camp-1/candidatures", headers=ACADEMIE)).json()["total"] == 1


async def test_only_the_organiser_itself_writes_its_candidature(client):
    await open_mercredi(client)
    for who in (PARTNER, SCHOOL, token("partner", "acm-autre")):
        r = await client.post("/campaigns/camp-1/candidatures", json=organiser_body("acm-1"), headers=who)
        assert r.status_code == 403 and r.json()["rule"] == "acm_organiser_acts_for_its_own_candidature"
    assert (await client.post("/campaigns/camp-1/candidatures", json=organiser_body("acm-1"),
                              headers=ORGANISER)).status_code == 201
    r = await client.post("/candidatures/acm-1/withdraw", json={}, headers=SCHOOL)
    assert r.status_code == 403
    assert (await client.get("/candidatures/acm-1", headers=SCHOOL)).status_code == 200  # the partner school reads
    assert (await client.get("/candidatures/acm-1", headers=token("partner", "acm-autre"))).status_code == 403
    r = await client.put("/candidatures/acm-1", json=organiser_body(places=(SCHOOL_PLACE_JSON,)), headers=ORGANISER)
    assert r.status_code == 200 and r.json()["version"] == 2


async def test_an_organiser_cannot_apply_to_another_dispositif(client):
    r = await client.post("/campaigns", json=campaign_body("culture"), headers=ACADEMIE)
    assert r.status_code == 201
    r = await client.post("/campaigns/camp-1/candidatures", json=organiser_body("acm-1"), headers=ORGANISER)
    assert r.status_code == 422 and r.headers["content-type"].startswith("application/problem+json")
    assert (r.json()["rule"], r.json()["field"]) == ("only_a_plan_mercredi_takes_an_acm_organiser", "organiser")


async def test_bad_organiser_input_is_a_problem_naming_the_field(client):
    await open_mercredi(client)
    body = organiser_body("acm-1")
    body["organiser"]["groups"][0]["children"] = 0
    r = await client.post("/campaigns/camp-1/candidatures", json=body, headers=ORGANISER)
    assert r.status_code == 422 and "organiser" in r.text and "children" in r.text
    body = organiser_body("acm-1", places=({"kind": "dedicated", "name": "Salle"},))
    r = await client.post("/campaigns/camp-1/candidatures", json=body, headers=ORGANISER)
    assert r.status_code == 422 and "places" in r.text
    body = organiser_body("acm-1")
    body["organiser"]["kind"] = "ecole"
    r = await client.post("/campaigns/camp-1/candidatures", json=body, headers=ORGANISER)
    assert r.status_code == 422 and "kind" in r.text
    body = organiser_body("acm-1")
    del body["organiser"]
    r = await client.post("/campaigns/camp-1/candidatures", json=body, headers=SCHOOL)
    assert r.status_code == 422 and (r.json()["rule"], r.json()["field"]) == (
        "a_school_applies_with_its_classes", "classes")


async def test_the_campaign_academie_instructs_and_attributes_the_organiser_candidature(client):
    await open_mercredi(client)
    body = organiser_body("acm-1", places=(DEDICATED_PLACE_JSON,))
    assert (await client.post("/campaigns/camp-1/candidatures", json=body, headers=ORGANISER)).status_code == 201
    r = await client.post("/candidatures/acm-1/reviews", json={"avis": "favourable"}, headers=OTHER_ACADEMIE)
    assert r.status_code == 403
    r = await client.post("/candidatures/acm-1/reviews", json={"avis": "favourable"}, headers=ORGANISER)
    assert r.status_code == 403
    r = await client.post("/candidatures/acm-1/reviews", json={"avis": "favourable"}, headers=ACADEMIE)
    assert r.status_code == 200, r.text
    client.clock.set(AFTER_DEADLINE)
    r = await client.post("/candidatures/acm-1/attribute", json={}, headers=ACADEMIE)
    assert r.status_code == 200, r.text
    [attributed] = r.json()["events"]
    assert attributed["type"] == "PartnershipAttributed"
    detail = (await client.get("/candidatures/acm-1", headers=ORGANISER)).json()
    assert detail["status"] == "attributed" and detail["partnership"]["year_index"] == 1


async def test_an_acm_without_any_school_is_attributed_to_its_organiser(client):
    await open_mercredi(client)
    body = organiser_body("acm-1", school=None)
    body["organiser"]["email"] = "contact@loisirs-belleville.test"
    assert (await client.post("/campaigns/camp-1/candidatures", json=body, headers=ORGANISER)).status_code == 201
    await client.post("/candidatures/acm-1/reviews", json={"avis": "favourable"}, headers=ACADEMIE)
    client.clock.set(AFTER_DEADLINE)
    r = await client.post("/candidatures/acm-1/attribute", json={}, headers=ACADEMIE)
    assert r.status_code == 200, r.text
    detail = (await client.get("/candidatures/acm-1", headers=ORGANISER)).json()
    assert detail["status"] == "attributed"
    data = [e for e in detail["history"] if e["type"] == "PartnershipAttributed"][0]["data"]
    assert data["school"] is None and data["organiser"]["email"] == "contact@loisirs-belleville.test"
    pid = r.json()["partnership_id"]
    assert (await client.get(f"/partnerships/{pid}", headers=ORGANISER)).status_code == 200
    # no school of this partnership may act for it: there is none
    assert (await client.get(f"/partnerships/{pid}", headers=SCHOOL)).status_code == 403
    groups = [{"class_id": "petits", "label": "ACM 6-8 ans", "level": "CP", "pupils": 22, "objective": "Lire"}]
    r = await client.post(f"/partnerships/{pid}/renewal", json={"classes": groups, "motivation": "Continuer"},
                          headers=SCHOOL)
    assert r.status_code == 403 and r.json()["rule"] == "acm_organiser_acts_for_its_own_candidature"


async def test_the_organiser_asks_the_renewal_of_its_partnership_with_its_groups(client):
    from candidatures.api.consumers import on_bilan_recorded
    from test_candidatures_api import bilan_envelope
    from candidatures_builders import IN_RENEWAL_WINDOW

    await open_mercredi(client)
    assert (await client.post("/campaigns/camp-1/candidatures", json=organiser_body("acm-1"),
                              headers=ORGANISER)).status_code == 201
    await client.post("/candidatures/acm-1/reviews", json={"avis": "favourable"}, headers=ACADEMIE)
    client.clock.set(AFTER_DEADLINE)
    pid = (await client.post("/candidatures/acm-1/attribute", json={}, headers=ACADEMIE)).json()["partnership_id"]
    client.clock.set(IN_RENEWAL_WINDOW)
    env, event = bilan_envelope(pid)
    async with client.runtime.transaction() as tx:
        await on_bilan_recorded(tx, env, event)
    groups = [{"class_id": "petits", "label": "ACM 6-8 ans", "level": "CP", "pupils": 22,
               "objective": "Continuer l'atelier lecture"}]
    request = {"classes": groups, "motivation": "Continuer le projet educatif"}
    r = await client.post(f"/partnerships/{pid}/renewal", json=request, headers=token("partner", "acm-autre"))
    assert r.status_code == 403
    r = await client.post(f"/partnerships/{pid}/renewal", json=request, headers=ORGANISER)
    assert r.status_code == 200 and [e["type"] for e in r.json()["events"]] == ["RenewalRequested"], r.text
    assert (await client.get(f"/partnerships/{pid}", headers=ORGANISER)).status_code == 200


async def test_the_campaign_page_lists_the_organiser_by_its_name_without_a_uai(client):
    await open_mercredi(client)
    assert (await client.post("/campaigns/camp-1/candidatures", json=organiser_body("acm-1", school=None),
                              headers=ORGANISER)).status_code == 201
    page = await client.get("/campaigns/camp-1/page", headers=ORGANISER)
    assert page.status_code == 200 and "Association Loisirs Belleville" in page.text
    assert "(None)" not in page.text


@pytest.mark.parametrize("method, path", [
    ("POST", "/campaigns/camp-1/candidatures"), ("POST", "/campaigns/camp-1/drafts"),
    ("PUT", "/candidatures/cand-x"), ("PUT", "/candidatures/cand-x/draft"), ("POST", "/candidatures/cand-x/resubmit")])
async def test_a_body_with_neither_a_school_nor_an_organiser_is_a_422_naming_them_and_stores_nothing(
        client, method, path):
    """Found by the OpenAPI fuzz test: once ``school`` became optional (for organisers), a body with
    neither answered 500."""
    await open_mercredi(client)
    before = await client.runtime.store.last_position()
    r = await client.request(method, path, json={"school_objective": "0"}, headers=SCHOOL)
    assert r.status_code == 422, r.text
    assert r.headers["content-type"].startswith("application/problem+json")
    assert "school is required" in r.text and "organiser" in r.json()["errors"][0]["field"]
    assert await client.runtime.store.last_position() == before
