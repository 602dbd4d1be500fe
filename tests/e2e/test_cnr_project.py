"""A CNR project (seed 003) through the services as real processes, on real NATS JetStream and
PostgreSQL: two schools join mid-year with a concertation only; once the académie accepted the
project, programmes has it at that step, and the projet and the funding come later there."""

from __future__ import annotations

from datetime import datetime, timezone

import httpx
import pytest

from tests.e2e.harness import running_system
from tests.waiting import eventually

pytestmark = pytest.mark.e2e
UTC = timezone.utc

YEAR = 2027
CAMPAIGN = {
    "campaign_id": "cnr-paris-2027", "academie": "paris", "dispositif": "concertation",
    "school_year": f"{YEAR}-{YEAR + 1}", "title": "Notre ecole, faisons-la ensemble 2027-2028",
    "calendar": {"submission_deadline": f"{YEAR}-05-31T21:59:00Z", "attribution_date": f"{YEAR}-07-02",
                 "work_meeting_window": {"start": f"{YEAR}-09-13", "end": f"{YEAR}-10-22"},
                 "bilan_window": {"start": f"{YEAR + 1}-05-09", "end": f"{YEAR + 1}-06-16"},
                 "renewal_deadline": f"{YEAR + 1}-06-23T21:59:00Z"},
}
BELLEVILLE = {"uai": "0750655E", "name": "Ecole elementaire Belleville", "academie": "paris", "departement": "75",
              "education_prioritaire": "REP+"}
RAMPONEAU = {"uai": "0750712S", "name": "Ecole maternelle Ramponeau", "academie": "paris", "departement": "75",
             "education_prioritaire": "REP+"}
PROJECT = {
    "candidature_id": "cnr-belleville", "school": BELLEVILLE, "associated_schools": [RAMPONEAU],
    "school_objective": "Une ecole ou les familles du quartier ont leur place",
    "classes": [{"class_id": "ce2-a", "label": "CE2 A", "level": "CE2", "pupils": 24, "objective": "Cour partagee"}],
    "concertation": {"concertation_summary": "Deux temps d'echange avec les familles, la mairie et le centre social"},
}


async def test_two_schools_join_mid_year_with_a_concertation_then_write_their_projet_and_are_funded(
        postgres_server_url, nats_url, subject_root, tmp_path):
    manual = {"CLOCK": "manual"}
    async with running_system(postgres_server_url, nats_url, subject_root, tmp_path,
                              extra_env={"candidatures": manual, "programmes": manual}) as system:
        cand, prog = system.url("candidatures"), system.url("programmes")
        admin, academie = system.token("admin", "*"), system.token("academie", "paris")
        school = system.token("school", BELLEVILLE["uai"])
        async with httpx.AsyncClient(timeout=10) as http:
            async def clock(when: datetime) -> None:
                for url in (cand, prog):
                    r = await http.post(f"{url}/admin/clock", json={"now": when.isoformat()}, headers=admin)
                    assert r.status_code == 200, r.text

            async def ok(response, status: int = 200) -> dict:
                assert response.status_code == status, response.text
                return response.json()

            await clock(datetime(YEAR, 3, 1, 9, tzinfo=UTC))
            await ok(await http.post(f"{cand}/campaigns", json=CAMPAIGN, headers=academie), 201)
            # January, seven months after the calendar's submission deadline: the team joins.
            await clock(datetime(YEAR + 1, 1, 15, 9, tzinfo=UTC))
            await ok(await http.post(f"{cand}/campaigns/{CAMPAIGN['campaign_id']}/candidatures", json=PROJECT,
                                     headers=school), 201)
            await ok(await http.post(f"{cand}/candidatures/cnr-belleville/reviews", json={"avis": "favourable"},
                                     headers=academie))
            accepted = await ok(await http.post(f"{cand}/candidatures/cnr-belleville/attribute", json={},
                                                headers=academie))
            pid = accepted["partnership_id"]

            async def opened():
                r = await http.get(f"{prog}/partnerships/{pid}", headers=academie)
                return r.json() if r.status_code == 200 else None

            project = await eventually(opened, what="programmes to open the CNR project's year")
            year = project["current_year"]
            assert project["dispositif"] == "concertation" and project["partner_id"] is None
            assert year["steps_done"] == ["concertation"] and year["funding"] == []
            # The maternelle, associated to the project, follows it in programmes too.
            maternelle = await ok(await http.get(f"{prog}/partnerships/{pid}",
                                                 headers=system.token("school", RAMPONEAU["uai"])))
            assert maternelle["associated_uais"] == [RAMPONEAU["uai"]]

            # In March the team writes its projet, then asks for funding; the académie grants part.
            await clock(datetime(YEAR + 1, 3, 2, 9, tzinfo=UTC))
            await ok(await http.post(f"{prog}/partnerships/{pid}/steps", headers=school, json={
                "track": "concertation", "step": "projet_pedagogique",
                "summary": "Une cour partagee entre l'elementaire et la maternelle"}), 201)
            await ok(await http.post(f"{prog}/partnerships/{pid}/funding", headers=school, json={
                "funding_id": "fip-2028", "amount_eur": 6000,
                "budget": [{"label": "Amenagement", "amount_eur": 4500}, {"label": "Outils", "amount_eur": 1500}]}),
                201)
            await ok(await http.post(f"{prog}/partnerships/{pid}/funding/fip-2028/grant", headers=academie,
                                     json={"amount_eur": 5000, "granted_by": "Rectorat de Paris"}))
            final = (await ok(await http.get(f"{prog}/partnerships/{pid}", headers=academie)))["current_year"]
            assert final["steps_done"] == ["concertation", "projet_pedagogique"]
            assert final["funding"] == [{"funding_id": "fip-2028", "requested_eur": 6000, "granted_eur": 5000,
                                         "spent_eur": 0, "expenses": 0}]
