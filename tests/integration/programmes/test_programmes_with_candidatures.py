"""The loop between two real processes over real NATS, each on its own PostgreSQL database:
candidatures attributes → programmes opens the partnership → programmes records the bilan →
candidatures lets the school renew and the académie grants → programmes opens year 2."""

from __future__ import annotations


import pytest

from tests.infra.postgres import fresh_database
from tests.integration.candidatures import candidatures_service as cand
from programmes_service import ACADEMIE, SCHOOL, at, eventually, nats_for, running_service, set_clock

pytestmark = pytest.mark.integration
YEAR = cand.YEAR  # candidatures' campaign is for YEAR-(YEAR+1)


async def ok(response, status=(200, 201)) -> dict:
    assert response.status_code in status, response.text
    return response.json()


async def attributed(candidatures, dispositif: str, extra: dict) -> tuple[dict, str]:
    """A candidature submitted, reviewed and attributed in candidatures: its body and partnership id."""
    await cand.set_clock(candidatures, cand.BEFORE_DEADLINE)
    await ok(await candidatures.post("/campaigns", json=cand.campaign_body(dispositif, "camp"),
                                     headers=cand.ACADEMIE))
    body = cand.candidature_body(dispositif, "a", None) | extra
    await ok(await candidatures.post("/campaigns/camp/candidatures", json=body, headers=cand.SCHOOL))
    await cand.set_clock(candidatures, cand.AFTER_DEADLINE)  # attribution: after the deadline, after an avis
    await ok(await candidatures.post("/candidatures/a/reviews", json={"avis": "favourable"}, headers=cand.ACADEMIE))
    pid = (await ok(await candidatures.post("/candidatures/a/attribute", json={},
                                            headers=cand.ACADEMIE)))["partnership_id"]
    return body, pid


async def held_bilan_meeting(programmes, pid: str) -> None:
    await set_clock(programmes, at(YEAR + 1, 5, 20))
    await ok(await programmes.post(f"/partnerships/{pid}/meetings", headers=SCHOOL, json={
        "meeting_id": "bilan-1", "kind": "bilan", "starts_at": at(YEAR + 1, 6, 2, 17).isoformat(),
        "place": "Ecole"}))
    await set_clock(programmes, at(YEAR + 1, 6, 3))
    await ok(await programmes.post(f"/partnerships/{pid}/meetings/bilan-1/held", json={"minutes": "Bilan"},
                                   headers=SCHOOL))


async def renewal_answer(candidatures, pid: str, request: dict):
    """The answer to a renewal request once candidatures has noted programmes' BilanRecorded
    (it does so asynchronously: until then the request is refused for want of a bilan)."""
    await cand.set_clock(candidatures, cand.IN_RENEWAL_WINDOW)

    async def answer_once_the_bilan_is_noted():
        r = await candidatures.post(f"/partnerships/{pid}/renewal", json=request, headers=cand.SCHOOL)
        if r.status_code == 200 or r.json().get("rule") != "renewal_requires_a_recorded_bilan":
            return r
        return None

    return await eventually(answer_once_the_bilan_is_noted, timeout=15,
                            what="an answer other than 'no recorded bilan' to the renewal request")


async def test_an_attribution_in_candidatures_opens_the_partnership_and_a_granted_renewal_its_year_two(
        postgres_url, postgres_server_url, nats_url, subject_root):
    async with fresh_database(postgres_server_url) as candidatures_db, nats_for(nats_url, subject_root), \
            cand.running_service(candidatures_db, nats_url, subject_root) as candidatures, \
            running_service(postgres_url, nats_url, subject_root) as programmes:
        body, pid = await attributed(candidatures, "culture", {
            "partner_wished": {"partner_id": "musee", "kind": "cultural_structure", "name": "Musee"}})

        async def opened(year_index: int) -> bool:
            r = await programmes.get(f"/partnerships/{pid}", headers=SCHOOL)
            return r.status_code == 200 and r.json()["current_year"]["year_index"] == year_index

        await eventually(lambda: opened(1), what="programmes opened the attributed partnership")
        year = (await programmes.get(f"/partnerships/{pid}", headers=SCHOOL)).json()["current_year"]
        assert year["school_year"] == f"{YEAR}-{YEAR + 1}"
        assert [c["class_id"] for c in year["classes"]] == [c["class_id"] for c in body["classes"]]

        await held_bilan_meeting(programmes, pid)
        evaluation = {"satisfaction": 5, "wish_to_continue": True}
        await ok(await programmes.post(f"/partnerships/{pid}/bilan", json={"school": evaluation, "partner": evaluation},
                                       headers=ACADEMIE))

        r = await renewal_answer(candidatures, pid, {"classes": body["classes"], "motivation": "Continuer"})
        assert r.status_code == 200, r.text
        await ok(await candidatures.post(f"/partnerships/{pid}/renewal/grant", json={}, headers=cand.ACADEMIE))

        await eventually(lambda: opened(2), what="programmes opened year 2 on RenewalGranted")
        timeline = (await programmes.get(f"/partnerships/{pid}/timeline", headers=ACADEMIE)).json()
        assert [e["type"] for e in timeline["events"]] == [
            "ProgrammeYearOpened", "MeetingScheduled", "MeetingHeld", "BilanRecorded", "ProgrammeYearClosed",
            "ProgrammeYearOpened"]
        assert [y["school_year"] for y in timeline["years"]] == [f"{YEAR}-{YEAR + 1}", f"{YEAR + 1}-{YEAR + 2}"]


async def test_a_plan_mercredi_bilan_step_refusing_reconduction_refuses_the_renewal(
        postgres_url, postgres_server_url, nats_url, subject_root):
    """Seed 001: the bilan step decides « de la reconduction ou non du partenariat »."""
    async with fresh_database(postgres_server_url) as candidatures_db, nats_for(nats_url, subject_root), \
            cand.running_service(candidatures_db, nats_url, subject_root) as candidatures, \
            running_service(postgres_url, nats_url, subject_root) as programmes:
        body, pid = await attributed(candidatures, "mercredi", {
            "partner_wished": {"partner_id": "mediatheque", "kind": "cultural_structure", "name": "Mediatheque"}})

        async def opened() -> bool:
            return (await programmes.get(f"/partnerships/{pid}", headers=SCHOOL)).status_code == 200

        await eventually(opened, what="programmes opened the attributed plan mercredi partnership")
        await set_clock(programmes, at(YEAR, 9, 20))
        for step in ("objectifs", "recherche_partenaires", "formalisation", "animation"):
            await ok(await programmes.post(f"/partnerships/{pid}/steps", headers=SCHOOL, json={
                "track": "mercredi", "step": step, "summary": f"Etape {step}"}))
        await held_bilan_meeting(programmes, pid)
        await ok(await programmes.post(f"/partnerships/{pid}/steps", headers=SCHOOL, json={
            "track": "mercredi", "step": "bilan", "summary": "Objectifs atteints, on s'arrete", "reconduction": False}))
        evaluation = {"satisfaction": 4, "wish_to_continue": True}
        recorded = await ok(await programmes.post(f"/partnerships/{pid}/bilan", headers=ACADEMIE,
                                                  json={"school": evaluation, "partner": evaluation}))

        r = await renewal_answer(candidatures, pid, {"classes": body["classes"], "motivation": "Continuer"})
        assert r.status_code == 422, r.text
        assert r.headers["content-type"].startswith("application/problem+json")
        assert r.json()["rule"] == "renewal_requires_the_wish_to_continue", (recorded, r.text)


ORGANISER = cand.auth("partner", "acm-belleville")


def organiser_body() -> dict:
    """An ACM organiser's plan mercredi candidature (seed 001): a dedicated place, two groups by
    age band and no classes, the école Belleville as partner school."""
    return {
        "candidature_id": "acm", "school": cand.SCHOOL_JSON, "school_objective": "Projet educatif du mercredi",
        "partner_wished": {"partner_id": "mediatheque", "kind": "cultural_structure", "name": "Mediatheque"},
        "organiser": {"partner_id": "acm-belleville", "kind": "centre_loisirs", "name": "Centre de loisirs Belleville",
                      "academie": "paris", "departement": "75", "commune": "Paris", "postcode": "75020",
                      "places": [{"kind": "dedicated", "name": "Centre de loisirs des Envierges",
                                  "address": "12 rue des Envierges", "commune": "Paris", "postcode": "75020"}],
                      "groups": [{"group_id": "petits", "age_min": 6, "age_max": 8, "children": 24},
                                 {"group_id": "grands", "age_min": 9, "age_max": 11, "children": 18}]},
    }


async def test_an_acm_organiser_candidature_attributed_opens_a_year_with_its_groups_as_classes(
        postgres_url, postgres_server_url, nats_url, subject_root):
    async with fresh_database(postgres_server_url) as candidatures_db, nats_for(nats_url, subject_root), \
            cand.running_service(candidatures_db, nats_url, subject_root) as candidatures, \
            running_service(postgres_url, nats_url, subject_root) as programmes:
        await cand.set_clock(candidatures, cand.BEFORE_DEADLINE)
        await ok(await candidatures.post("/campaigns", json=cand.campaign_body("mercredi", "camp"),
                                         headers=cand.ACADEMIE))
        await ok(await candidatures.post("/campaigns/camp/candidatures", json=organiser_body(), headers=ORGANISER))
        mine = await ok(await candidatures.get("/campaigns/camp/candidatures", headers=ORGANISER))
        assert [row["candidature_id"] for row in mine["items"]] == ["acm"]
        await cand.set_clock(candidatures, cand.AFTER_DEADLINE)
        await ok(await candidatures.post("/candidatures/acm/reviews", json={"avis": "favourable"},
                                         headers=cand.ACADEMIE))
        pid = (await ok(await candidatures.post("/candidatures/acm/attribute", json={},
                                                headers=cand.ACADEMIE)))["partnership_id"]

        async def opened() -> bool:
            return (await programmes.get(f"/partnerships/{pid}", headers=SCHOOL)).status_code == 200

        await eventually(opened, what="programmes opened the ACM organiser's partnership")
        year = (await programmes.get(f"/partnerships/{pid}", headers=SCHOOL)).json()["current_year"]
        assert [(c["class_id"], c["label"], c["level"], c["pupils"]) for c in year["classes"]] == [
            ("petits", "ACM 6-8 ans", "CP", 24), ("grands", "ACM 9-11 ans", "CM1", 18)]
