"""The reporting figures follow commands live: the four services as real processes (the commands
docker-compose.yml names) on real NATS and PostgreSQL; commands sent over HTTP to candidatures and
programmes show in reporting's indicators — and on the académie's dashboard. How
long that takes is measured in benchmarks/, not asserted here."""

from __future__ import annotations

from datetime import datetime, timezone

import httpx
import pytest

from tests.e2e.harness import running_system
from tests.integration.candidatures import candidatures_service as cand
from tests.waiting import eventually

pytestmark = pytest.mark.e2e
YEAR = cand.YEAR


def at(year: int, month: int, day: int, hour: int = 9) -> str:
    return datetime(year, month, day, hour, tzinfo=timezone.utc).isoformat()


async def ok(response: httpx.Response) -> dict:
    assert response.status_code in (200, 201), response.text
    return response.json()


async def test_commands_through_candidatures_and_programmes_reach_reporting_and_its_dashboard(
        postgres_server_url, nats_url, subject_root, tmp_path) -> None:
    manual = {"CLOCK": "manual"}
    async with running_system(postgres_server_url, nats_url, subject_root, tmp_path,
                              extra_env={"candidatures": manual, "programmes": manual}) as system:
        academie, school, admin = (system.token("academie", "paris"), system.token("school", "0750655E"),
                                   system.token("admin", "*"))
        async with httpx.AsyncClient(timeout=10) as http:
            candidatures, programmes, reporting = (system.url(n) for n in ("candidatures", "programmes", "reporting"))

            async def figure(name: str) -> int:
                # the services run on a manual clock set in YEAR: read the figures of the school year
                # YEAR-YEAR+1 as of after it (without it, only partnerships active that day count)
                body = await ok(await http.get(f"{reporting}/indicators?academie=paris&as_of={YEAR + 2}-01-01"
                                               f"&school_year={YEAR}-{YEAR + 1}", headers=academie))
                return body["indicators"][name]

            async def seen(name: str, value: int) -> None:
                async def shows() -> bool:
                    return await figure(name) == value

                await eventually(shows, timeout=30, what=f"reporting to show {name} = {value}")

            await ok(await http.post(f"{candidatures}/admin/clock", json={"now": at(YEAR, 3, 1)}, headers=admin))
            await ok(await http.post(f"{candidatures}/campaigns", json=cand.campaign_body("culture", "camp"),
                                     headers=academie))
            await seen("campaigns_opened", 1)

            body = cand.candidature_body("culture", "a", None) | {
                "partner_wished": {"partner_id": "musee", "kind": "cultural_structure", "name": "Musee"}}
            await ok(await http.post(f"{candidatures}/campaigns/camp/candidatures", json=body, headers=school))
            await seen("candidatures_submitted", 1)

            # attribution comes after the submission deadline and after an avis
            await ok(await http.post(f"{candidatures}/admin/clock", json={"now": at(YEAR, 6, 20)}, headers=admin))
            await ok(await http.post(f"{candidatures}/candidatures/a/reviews", json={"avis": "favourable"},
                                     headers=academie))
            pid = (await ok(await http.post(f"{candidatures}/candidatures/a/attribute", json={},
                                            headers=academie)))["partnership_id"]
            await seen("partnerships_active", 1)
            assert await figure("pupils_reached") == sum(c["pupils"] for c in body["classes"])

            await ok(await http.post(f"{programmes}/admin/clock", json={"now": at(YEAR, 9, 20)}, headers=admin))
            async def year_opened() -> bool:  # programmes opens the year when it consumes the attribution
                return (await http.get(f"{programmes}/partnerships/{pid}", headers=school)).status_code == 200

            await eventually(year_opened, timeout=30, what="programmes to open the year")
            await ok(await http.post(f"{programmes}/partnerships/{pid}/actions", headers=school, json={
                "action_id": "visite-1", "kind": "visit", "title": "Visite du musée", "class_ids": ["a-0"],
                "starts_at": at(YEAR, 11, 11), "duration_minutes": 120, "place": "Musée"}))
            await seen("actions_planned", 1)

            timeline = await ok(await http.get(f"{reporting}/partnerships/{pid}/timeline?as_of={YEAR + 2}-01-01",
                                              headers=academie))
            assert {"PartnershipAttributed", "ProgrammeYearOpened", "ActionScheduled"} <= {
                e["type"] for e in timeline["timeline"]}
            dashboard = await http.get(f"{reporting}/dashboard/paris?as_of={YEAR + 2}-01-01", headers=academie)
            assert dashboard.status_code == 200 and 'data-indicator="actions_planned"' in dashboard.text

            # issue 12: the school answers the end-of-year questionnaire in its own part of the
            # bilan, after the bilan meeting; reporting counts it per question and side
            await ok(await http.post(f"{programmes}/partnerships/{pid}/meetings", headers=school, json={
                "meeting_id": "bilan", "kind": "bilan", "starts_at": at(YEAR + 1, 5, 20), "place": "École"}))
            await ok(await http.post(f"{programmes}/admin/clock", json={"now": at(YEAR + 1, 5, 21)}, headers=admin))
            await ok(await http.post(f"{programmes}/partnerships/{pid}/meetings/bilan/held", headers=school,
                                     json={"minutes": "Bilan de l'année"}))
            await ok(await http.post(f"{programmes}/partnerships/{pid}/bilan/school", headers=school, json={
                "satisfaction": 5, "wish_to_continue": True, "questionnaire": [
                    {"side": "school", "question": "Le jumelage a-t-il répondu à vos attentes ?", "answer": "Oui"}]}))

            async def answered() -> bool:
                body = await ok(await http.get(f"{reporting}/questionnaire?as_of={YEAR + 2}-01-01", headers=academie))
                return [(i["side"], i["respondents"], i["answers"]) for i in body["items"]] == [
                    ("school", 1, [{"answer": "oui", "count": 1}])]

            await eventually(answered, timeout=30, what="reporting to count the school's answer")
            exported = await http.get(f"{reporting}/questionnaire.csv?as_of={YEAR + 2}-01-01", headers=academie)
            assert exported.status_code == 200 and "Le jumelage a-t-il répondu à vos attentes ?;école;1;oui;1" in \
                exported.content.decode("utf-8-sig")
            lag = await ok(await http.get(f"{reporting}/lag", headers=admin))
            assert {s["source"] for s in lag["sources"]} >= {"candidatures", "programmes"}
