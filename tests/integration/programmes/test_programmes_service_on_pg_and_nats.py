"""``python -m programmes`` on real PostgreSQL and NATS JetStream: candidatures' events arrive on
the bus and open, renew and end a partnership; one partnership is played over three school years
through the HTTP API and its timeline checked; every event reaches programmes' own stream."""

from __future__ import annotations

import httpx

from jumelage_contracts.subjects import stream_name
from programmes_service import (
    ACADEMIE,
    PARTNER,
    SCHOOL,
    at,
    attribution,
    campaign_opened,
    eventually,
    nats_for,
    publish,
    renewal_declined,
    renewal_granted,
    running_service,
    set_clock,
    stream_types,
)


async def exists(client: httpx.AsyncClient, pid: str) -> bool:
    return (await client.get(f"/partnerships/{pid}", headers=ACADEMIE)).status_code == 200


async def test_an_attribution_published_on_nats_opens_the_partnership_once(postgres_url, nats_url, subject_root):
    async with nats_for(nats_url, subject_root) as nats, running_service(postgres_url, nats_url, subject_root) as api:
        first = attribution("p-nats-1")
        await publish(nats, subject_root, first)
        await publish(nats, subject_root, first)  # the relay re-publishing: JetStream drops it by Nats-Msg-Id
        await publish(nats, subject_root, attribution("p-nats-1"))  # same news, new event id: the decider drops it
        await publish(nats, subject_root, campaign_opened())  # the thin slice: only logged here
        await publish(nats, subject_root, attribution("p-nats-2"))  # marker: the consumer keeps the source's order
        await eventually(lambda: exists(api, "p-nats-2"), what="the marker partnership")
        body = (await api.get("/partnerships/p-nats-1", headers=SCHOOL)).json()
        assert (body["version"], body["current_year"]["school_year"], body["status"]) == (1, "2025-2026", "running")
        listing = (await api.get("/partnerships", headers=ACADEMIE)).json()
        assert [i["partnership_id"] for i in listing["items"]] == ["p-nats-1", "p-nats-2"]

        async def published() -> bool:
            return await stream_types(nats, stream_name("programmes", subject_root)) == ["ProgrammeYearOpened"] * 2

        await eventually(published, what="ProgrammeYearOpened on the programmes stream")
        metrics = (await api.get("/metrics")).text
        assert consumer_count(metrics, "applied") == 4  # two attributions of p-nats-1, the campaign, the marker
        assert consumer_count(metrics, "dead_lettered") == 0


def consumer_count(metrics: str, outcome: str) -> float:
    for line in metrics.splitlines():
        if (line.startswith("jumelage_consumer_messages_total{") and 'consumer="programmes-from-candidatures"' in line
                and f'outcome="{outcome}"' in line):
            return float(line.rsplit(" ", 1)[1])
    return 0.0


async def play_year(api: httpx.AsyncClient, pid: str, start: int, work_meeting_late: bool = False) -> None:
    """Referents, convention, work meeting (in its Sept-Oct window, or in November), actions per
    class (one cancelled), bilan."""
    url = f"/partnerships/{pid}"

    async def ok(method_path: str, body: dict, headers: dict) -> dict:
        r = await api.post(f"{url}{method_path}", json=body, headers=headers)
        assert r.status_code in (200, 201), f"{method_path}: {r.status_code} {r.text}"
        return r.json()

    await set_clock(api, at(start, 9, 5))
    await ok("/referents", {"referent_id": f"ref-school-{start}", "side": "school", "role": "teacher",
                            "name": "Claire Martin", "email": "claire.martin@ac-paris.fr"}, SCHOOL)
    await ok("/referents", {"referent_id": f"ref-partner-{start}", "side": "partner", "role": "coordinator",
                            "name": "Yannick Lebrun", "email": "y.lebrun@carnavalet.example.fr"}, PARTNER)
    await ok("/convention/signatures", {"side": "school", "signed_by": "Mme Diallo, directrice"}, SCHOOL)
    await ok("/convention/signatures", {"side": "partner", "signed_by": "V. Guillaume"}, PARTNER)
    work_at = at(start, 11, 6, 15) if work_meeting_late else at(start, 9, 30, 15)
    await ok("/meetings", {"meeting_id": f"work-{start}", "kind": "work", "starts_at": work_at.isoformat(),
                           "place": "Ecole"}, SCHOOL)
    await set_clock(api, at(start, 11, 7) if work_meeting_late else at(start, 10, 1))
    await ok(f"/meetings/work-{start}/held", {"minutes": "Programme par classe arrete", "attendees": ["CM", "YL"]},
             PARTNER)
    for action_id, classes, month in ((f"visit-{start}", ["cm1-a"], 11), (f"workshop-{start}", ["cm1-a", "cm2-b"], 12),
                                      (f"perf-{start}", ["cm2-b"], 1)):
        year = start if month >= 9 else start + 1
        await ok("/actions", {"action_id": action_id, "kind": "visit", "title": "Action", "class_ids": classes,
                              "starts_at": at(year, month, 15).isoformat(), "duration_minutes": 120,
                              "place": "Musee Carnavalet"}, SCHOOL)
    await ok(f"/actions/perf-{start}/cancel", {"reason": "Salle indisponible"}, PARTNER)
    await set_clock(api, at(start + 1, 2, 1))
    await ok(f"/actions/visit-{start}/complete", {"participants": [{"class_id": "cm1-a", "pupils_present": 23}]}, SCHOOL)
    await ok(f"/actions/workshop-{start}/complete", {"participants": [{"class_id": "cm1-a", "pupils_present": 24},
                                                                        {"class_id": "cm2-b", "pupils_present": 21}]},
             PARTNER)
    await ok("/meetings", {"meeting_id": f"bilan-{start}", "kind": "bilan",
                           "starts_at": at(start + 1, 6, 2, 17).isoformat(), "place": "Musee"}, SCHOOL)
    await set_clock(api, at(start + 1, 6, 3))
    await ok(f"/meetings/bilan-{start}/held", {"minutes": "Bilan positif"}, SCHOOL)
    evaluation = {"satisfaction": 5, "comments": "Tres bien", "wish_to_continue": True}
    await ok("/bilan/school", {**evaluation,
                               "questionnaire": [{"side": "school", "question": "Objectifs atteints ?",
                                                  "answer": "Oui"}]}, SCHOOL)
    await ok("/bilan/partner", evaluation, PARTNER)


async def test_one_partnership_over_three_years_through_the_api(postgres_url, nats_url, subject_root):
    pid = "p-three-years"
    async with nats_for(nats_url, subject_root) as nats, running_service(postgres_url, nats_url, subject_root) as api:
        await publish(nats, subject_root, attribution(pid))
        await eventually(lambda: exists(api, pid), what="year 1 opened")
        for year_index, start in ((1, 2025), (2, 2026), (3, 2027)):
            await play_year(api, pid, start, work_meeting_late=year_index == 3)
            if year_index < 3:
                await publish(nats, subject_root, renewal_granted(pid, year_index + 1))

                async def opened(index: int = year_index + 1) -> bool:
                    body = (await api.get(f"/partnerships/{pid}", headers=SCHOOL)).json()
                    return body["current_year"]["year_index"] == index

                await eventually(opened, what=f"year {year_index + 1} opened")
        await publish(nats, subject_root, renewal_declined(pid, 4))

        async def ended() -> bool:
            return (await api.get(f"/partnerships/{pid}", headers=SCHOOL)).json()["status"] == "ended"

        await eventually(ended, what="the partnership ended")

        timeline = (await api.get(f"/partnerships/{pid}/timeline", headers=ACADEMIE)).json()
        types = [e["type"] for e in timeline["events"]]
        assert [y["school_year"] for y in timeline["years"]] == ["2025-2026", "2026-2027", "2027-2028"]
        assert types[0] == "ProgrammeYearOpened" and types[-2:] == ["ProgrammeYearClosed", "PartnershipEnded"]
        assert types.count("ProgrammeYearOpened") == 3 and types.count("BilanRecorded") == 3
        assert [e["version"] for e in timeline["events"]] == list(range(1, len(types) + 1))
        bilans = [e["data"] for e in timeline["events"] if e["type"] == "BilanRecorded"]
        for bilan in bilans:
            counts = {c["class_id"]: (c["planned"], c["realised"], c["cancelled"]) for c in bilan["per_class"]}
            assert counts == {"cm1-a": (2, 2, 0), "cm2-b": (2, 1, 1)}
        assert [b["year_index"] for b in bilans] == [1, 2, 3]

        (row,) = (await api.get("/partnerships", headers=SCHOOL)).json()["items"]
        assert (row["school_year"], row["year_index"], row["status"], row["ended_reason"]) == (
            "2027-2028", 3, "ended", "renewal_declined")
        for year_index, start in ((1, 2025), (2, 2026), (3, 2027)):
            programme = (await api.get(f"/partnerships/{pid}/programme?year_index={year_index}", headers=PARTNER)).json()
            assert (programme["school_year"], programme["year_index"]) == (f"{start}-{start + 1}", year_index)
            per_class = {k["class_id"]: [(a["action_id"], a["status"]) for a in k["actions"]]
                         for k in programme["classes"]}
            assert per_class == {
                "cm1-a": [(f"visit-{start}", "completed"), (f"workshop-{start}", "completed")],
                "cm2-b": [(f"workshop-{start}", "completed"), (f"perf-{start}", "cancelled")],
            }
            present = {k["class_id"]: [a.get("pupils_present") for a in k["actions"]] for k in programme["classes"]}
            assert present == {"cm1-a": [23, 24], "cm2-b": [21, None]}
        current = (await api.get(f"/partnerships/{pid}/programme", headers=SCHOOL)).json()
        assert current["year_index"] == 3

        indexes = [e["year_index"] for e in timeline["events"]]
        assert indexes == sorted(indexes) and set(indexes) == {1, 2, 3}
        assert all(e["school_year"] == f"{2024 + e['year_index']}-{2025 + e['year_index']}" for e in timeline["events"])
        work_timing = [e["data"]["timing"] for e in timeline["events"]
                       if e["type"] in ("MeetingScheduled", "MeetingHeld") and e["data"]["kind"] == "work"]
        assert work_timing == ["in_window", "in_window", "in_window", "in_window", "late", "late"]
        bilan_timing = {e["data"]["timing"] for e in timeline["events"]
                        if e["type"] == "MeetingHeld" and e["data"]["kind"] == "bilan"}
        assert bilan_timing == {"in_window"}
        late = await api.post(f"/partnerships/{pid}/actions", headers=SCHOOL, json={
            "kind": "visit", "title": "x", "class_ids": ["cm1-a"], "starts_at": at(2028, 3, 1).isoformat(),
            "duration_minutes": 60, "place": "Musee"})
        assert late.status_code == 422 and late.json()["rule"] == "an_ended_partnership_accepts_nothing"

        async def all_published() -> bool:
            return await stream_types(nats, stream_name("programmes", subject_root)) == types

        await eventually(all_published, what="every programmes event on JetStream, in order")


async def held_bilan_meeting(api: httpx.AsyncClient, pid: str) -> None:
    await set_clock(api, at(2026, 5, 20))
    r = await api.post(f"/partnerships/{pid}/meetings", headers=SCHOOL, json={
        "meeting_id": "bilan", "kind": "bilan", "starts_at": at(2026, 6, 2, 17).isoformat(), "place": "Ecole"})
    assert r.status_code == 201, r.text
    await set_clock(api, at(2026, 6, 3))
    r = await api.post(f"/partnerships/{pid}/meetings/bilan/held", json={"minutes": "Bilan"}, headers=SCHOOL)
    assert r.status_code in (200, 201), r.text


async def test_each_side_records_its_own_part_of_the_bilan_over_http(postgres_url, nats_url, subject_root):
    async with nats_for(nats_url, subject_root) as nats, running_service(postgres_url, nats_url, subject_root) as api:
        await publish(nats, subject_root, attribution("p-sides"))
        await eventually(lambda: exists(api, "p-sides"), what="the partnership opened")
        await held_bilan_meeting(api, "p-sides")
        part = {"satisfaction": 4, "wish_to_continue": True}
        denied = await api.post("/partnerships/p-sides/bilan/school", json=part, headers=PARTNER)
        assert denied.status_code == 403 and denied.headers["content-type"].startswith("application/problem+json")
        joint = await api.post("/partnerships/p-sides/bilan", json={"school": part, "partner": part}, headers=SCHOOL)
        assert joint.status_code == 403, joint.text
        school = await api.post("/partnerships/p-sides/bilan/school", headers=SCHOOL, json={
            **part, "questionnaire": [{"side": "school", "question": "Objectifs ?", "answer": "Oui"}]})
        assert [e["type"] for e in school.json()["events"]] == ["BilanSideRecorded"], school.text
        partner = await api.post("/partnerships/p-sides/bilan/partner", headers=PARTNER, json={
            **part, "questionnaire": [{"side": "partner", "question": "Accueil ?", "answer": "Bon"}]})
        assert [e["type"] for e in partner.json()["events"]] == ["BilanSideRecorded", "BilanRecorded"], partner.text
        wrong = await api.post("/partnerships/p-sides/bilan/partner", headers=PARTNER, json={"satisfaction": 9})
        assert wrong.status_code == 422 and "satisfaction" in wrong.text


async def test_a_cnr_bilan_is_complete_with_the_school_part_alone_over_http(postgres_url, nats_url, subject_root):
    async with nats_for(nats_url, subject_root) as nats, running_service(postgres_url, nats_url, subject_root) as api:
        await publish(nats, subject_root, attribution("p-cnr", dispositif="concertation"))
        await eventually(lambda: exists(api, "p-cnr"), what="the CNR project opened")
        await held_bilan_meeting(api, "p-cnr")
        school = await api.post("/partnerships/p-cnr/bilan/school", headers=SCHOOL,
                                json={"satisfaction": 5, "wish_to_continue": True})
        assert [e["type"] for e in school.json()["events"]] == ["BilanSideRecorded", "BilanRecorded"], school.text
