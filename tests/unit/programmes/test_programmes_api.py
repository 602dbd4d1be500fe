"""The HTTP API on the in-memory store: commands, queries, scopes, conflicts and problem+json."""

from __future__ import annotations

import httpx
import pytest

from jumelage_contracts.candidatures import CampaignOpened
from jumelage_contracts.programmes import partnership_stream
from programmes_api_support import PID, attributed, declined, envelope_of, make_harness, renewed
from programmes_builders import at, calendar


@pytest.fixture
async def h():
    harness = make_harness()
    await harness.deliver(attributed())
    yield harness
    await harness.client.aclose()


def action(action_id="act-1", class_ids=("cm1-a",), starts_at="2025-11-18T09:00:00+01:00", **extra):
    return {"action_id": action_id, "kind": "visit", "title": "Visite des salles XVIIIe", "class_ids": list(class_ids),
            "starts_at": starts_at, "duration_minutes": 120, "place": "Musee Carnavalet", **extra}


async def test_an_attribution_opens_the_partnership_and_its_first_year(h):
    r = await h.client.get(f"/partnerships/{PID}", headers=h.school)
    assert r.status_code == 200, r.text
    body = r.json()
    assert (body["status"], body["version"], body["current_year"]["school_year"]) == ("running", 1, "2025-2026")
    assert [c["class_id"] for c in body["current_year"]["classes"]] == ["cm1-a", "cm2-b"]
    assert r.headers["etag"] == '"1"'


async def test_the_same_attribution_delivered_twice_opens_nothing_twice(h):
    await h.deliver(attributed())  # a new envelope id: only the decider's idempotence protects here
    assert await h.store.stream_version(f"partnership-{PID}") == 1


async def test_a_campaign_opened_is_only_logged(h):
    campaign = CampaignOpened(campaign_id="camp-1", academie="paris", dispositif="culture", school_year="2025-2026",
                              title="Jumelages culture", calendar=calendar(2025), opened_by="daac-paris")
    before = await h.store.last_position()
    await h.deliver(campaign, envelope_of(campaign, stream_id="campaign-camp-1"))
    assert await h.store.last_position() == before


async def test_a_school_schedules_an_action_and_gets_the_new_version(h):
    r = await h.client.post(f"/partnerships/{PID}/actions", json=action(), headers=h.school)
    assert r.status_code == 201, r.text
    assert r.json()["version"] == 2 and r.headers["etag"] == '"2"'
    assert [e["type"] for e in r.json()["events"]] == ["ActionScheduled"]
    stored = (await h.store.read_stream(partnership_stream(PID)))[-1]
    # The write shape every service answers (eventkit.http.written), with the partnership id kept.
    assert r.json() == {"id": PID, "stream_id": partnership_stream(PID), "version": 2, "partnership_id": PID,
                        "events": [{"id": str(stored.id), "type": "ActionScheduled",
                                    "stream_id": partnership_stream(PID), "stream_version": 2}]}
    again = await h.client.post(f"/partnerships/{PID}/actions", json=action(), headers=h.school)
    assert (again.status_code, again.json()["version"], again.json()["events"]) == (200, 2, [])


async def test_a_stale_if_match_is_a_409_conflict(h):
    await h.client.post(f"/partnerships/{PID}/actions", json=action(), headers=h.partner)
    r = await h.client.post(f"/partnerships/{PID}/actions", json=action("act-2"), headers={**h.school, "If-Match": '"1"'})
    assert r.status_code == 409
    assert r.headers["content-type"].startswith("application/problem+json")
    assert r.json()["current_version"] == 2


async def test_invalid_input_is_a_422_problem_naming_the_field(h):
    r = await h.client.post(f"/partnerships/{PID}/actions", json=action(class_ids=()), headers=h.school)
    assert r.status_code == 422
    assert r.headers["content-type"].startswith("application/problem+json")
    assert "class_ids" in r.json()["detail"]


async def test_a_broken_rule_is_a_422_problem_naming_the_rule(h):
    r = await h.client.post(f"/partnerships/{PID}/actions", json=action(starts_at="2026-08-01T09:00:00Z"),
                            headers=h.school)
    assert r.status_code == 422
    assert (r.json()["rule"], r.json()["field"]) == ("no_action_outside_the_school_year", "starts_at")


async def test_without_a_token_the_answer_is_401(h):
    assert (await h.client.get(f"/partnerships/{PID}")).status_code == 401


@pytest.mark.parametrize("role,scope", [("school", "0750656F"), ("partner", "autre-musee"), ("academie", "lyon")])
async def test_someone_outside_the_partnership_gets_403(h, role, scope):
    r = await h.client.get(f"/partnerships/{PID}", headers=h.token(role, scope))
    assert r.status_code == 403
    w = await h.client.post(f"/partnerships/{PID}/actions", json=action(), headers=h.token(role, scope))
    assert w.status_code == 403


async def test_national_and_the_academie_see_the_partnership(h):
    assert (await h.client.get(f"/partnerships/{PID}", headers=h.token("national", "*"))).status_code == 200
    assert (await h.client.get(f"/partnerships/{PID}", headers=h.academie)).status_code == 200


async def test_a_partner_signs_for_its_own_side_only(h):
    body = {"side": "school", "signed_by": "Musee"}
    r = await h.client.post(f"/partnerships/{PID}/convention/signatures", json=body, headers=h.partner)
    assert r.status_code == 403
    ok = await h.client.post(f"/partnerships/{PID}/convention/signatures", json={**body, "side": "partner"},
                             headers=h.partner)
    assert ok.status_code == 201


@pytest.mark.parametrize("role", ["national", "admin", "academie"])
@pytest.mark.parametrize("side", ["school", "partner"])
async def test_nobody_above_the_two_sides_signs_the_convention_for_either_of_them(h, role, side):
    scope = "paris" if role == "academie" else "*"
    r = await h.client.post(f"/partnerships/{PID}/convention/signatures",
                            json={"side": side, "signed_by": "Quelqu'un"}, headers=h.token(role, scope))
    assert r.status_code == 403
    assert r.headers["content-type"].startswith("application/problem+json")
    timeline = await h.client.get(f"/partnerships/{PID}/timeline", headers=h.academie)
    assert timeline.status_code == 200 and "ConventionSigned" not in timeline.text


async def test_an_unknown_partnership_is_404(h):
    r = await h.client.get("/partnerships/nope", headers=h.token("admin", "*"))
    assert r.status_code == 404


async def test_completion_waits_for_the_action_date_on_the_service_clock(h):
    await h.client.post(f"/partnerships/{PID}/actions", json=action(), headers=h.school)
    body = {"participants": [{"class_id": "cm1-a", "pupils_present": 23}]}
    early = await h.client.post(f"/partnerships/{PID}/actions/act-1/complete", json=body, headers=h.school)
    assert early.status_code == 422 and early.json()["rule"] == "no_completion_before_the_action_date"
    h.set_time(at(2025, 11, 18, 12))
    done = await h.client.post(f"/partnerships/{PID}/actions/act-1/complete", json=body, headers=h.school)
    assert done.status_code == 200, done.text
    programme = (await h.client.get(f"/partnerships/{PID}/programme", headers=h.school)).json()
    cm1 = next(c for c in programme["classes"] if c["class_id"] == "cm1-a")
    assert [(a["action_id"], a["status"], a["pupils_present"]) for a in cm1["actions"]] == [("act-1", "completed", 23)]


async def test_the_year_summary_counts_scheduled_actions_as_the_bilan_does_and_those_still_to_come(h):
    await h.client.post(f"/partnerships/{PID}/actions", json=action(), headers=h.school)
    await h.client.post(f"/partnerships/{PID}/actions", json=action(action_id="act-2"), headers=h.school)
    h.set_time(at(2025, 11, 18, 12))
    body = {"participants": [{"class_id": "cm1-a", "pupils_present": 23}]}
    done = await h.client.post(f"/partnerships/{PID}/actions/act-1/complete", json=body, headers=h.school)
    assert done.status_code == 200, done.text
    year = (await h.client.get(f"/partnerships/{PID}", headers=h.school)).json()["current_year"]
    assert year["actions"] == {"scheduled": 2, "to_come": 1, "completed": 1, "cancelled": 0}


async def test_an_action_is_completed_without_a_body(h):
    await h.client.post(f"/partnerships/{PID}/actions", json=action(), headers=h.school)
    h.set_time(at(2025, 11, 18, 12))
    done = await h.client.post(f"/partnerships/{PID}/actions/act-1/complete", headers=h.partner)
    assert done.status_code == 200, done.text
    assert [e["type"] for e in done.json()["events"]] == ["ActionCompleted"]


async def test_a_granted_renewal_opens_year_two_and_the_timeline_spans_both_years(h):
    await h.client.post(f"/partnerships/{PID}/actions", json=action(), headers=h.school)
    await h.deliver(renewed(2))
    body = (await h.client.get(f"/partnerships/{PID}", headers=h.school)).json()
    assert (body["current_year"]["school_year"], body["years"]) == ("2026-2027", 2)
    timeline = (await h.client.get(f"/partnerships/{PID}/timeline", headers=h.academie)).json()
    assert [y["school_year"] for y in timeline["years"]] == ["2025-2026", "2026-2027"]
    assert [e["type"] for e in timeline["events"]] == [
        "ProgrammeYearOpened", "ActionScheduled", "ProgrammeYearClosed", "ProgrammeYearOpened"]
    past = (await h.client.get(f"/partnerships/{PID}/programme?year_index=1", headers=h.school)).json()
    assert past["school_year"] == "2025-2026"


async def test_a_declined_renewal_ends_the_partnership_which_then_accepts_nothing(h):
    await h.deliver(declined(2))
    body = (await h.client.get(f"/partnerships/{PID}", headers=h.school)).json()
    assert (body["status"], body["ended_reason"]) == ("ended", "renewal_declined")
    r = await h.client.post(f"/partnerships/{PID}/actions", json=action(), headers=h.school)
    assert r.status_code == 422 and r.json()["rule"] == "an_ended_partnership_accepts_nothing"


async def test_only_the_academie_ends_a_partnership(h):
    body = {"reason": "withdrawn", "detail": "Fermeture de la structure"}
    assert (await h.client.post(f"/partnerships/{PID}/end", json=body, headers=h.school)).status_code == 403
    r = await h.client.post(f"/partnerships/{PID}/end", json=body, headers=h.academie)
    assert r.status_code == 200 and [e["type"] for e in r.json()["events"]] == ["ProgrammeYearClosed", "PartnershipEnded"]


async def test_events_carry_the_actor_the_correlation_id_and_the_academie(h):
    headers = {**h.school, "X-Correlation-Id": "7d9f0b8e-1c2a-4e3b-9f4d-5a6b7c8d9e0f"}
    await h.client.post(f"/partnerships/{PID}/actions", json=action(), headers=headers)
    stored = (await h.store.read_stream(f"partnership-{PID}"))[-1]
    assert (stored.actor.role.value, stored.academie, str(stored.correlation_id)) == (
        "school", "paris", "7d9f0b8e-1c2a-4e3b-9f4d-5a6b7c8d9e0f")
    assert stored.source == "programmes"


async def test_only_an_admin_moves_the_manual_clock(h):
    body = {"now": "2026-06-01T08:00:00+00:00"}
    assert (await h.client.post("/admin/clock", json=body, headers=h.academie)).status_code == 403
    r = await h.client.post("/admin/clock", json=body, headers=h.token("admin", "*"))
    assert r.status_code == 200 and h.clock.now() == at(2026, 6, 1, 8)


async def test_a_snapshot_cached_load_equals_a_fresh_fold_of_the_stream(h):
    from programmes.app.snapshots import StreamLoader

    for i in range(5):
        await h.client.post(f"/partnerships/{PID}/actions", json=action(f"act-{i}"), headers=h.school)
    await h.client.post(f"/partnerships/{PID}/actions/act-2/cancel", json={"reason": "pluie"}, headers=h.partner)
    await h.deliver(renewed(2))  # written by the consumer path, after the HTTP path cached its snapshot
    await h.client.post(f"/partnerships/{PID}/actions", json=action("act-y2", starts_at="2026-10-01T09:00:00Z"),
                        headers=h.school)
    cached = await h.app.state.programmes.load(PID)
    fresh = await StreamLoader(snapshots=False).load(h.store, f"partnership-{PID}")
    assert (cached.version, cached.state) == (fresh.version, fresh.state)
    assert cached.version == 10 and cached.state.year.year_index == 2


async def test_the_openapi_document_describes_every_partnership_route(h):
    paths = (await h.client.get("/openapi.json")).json()["paths"]
    assert {"/partnerships/{pid}", "/partnerships/{pid}/programme", "/partnerships/{pid}/timeline",
            "/partnerships/{pid}/actions", "/partnerships/{pid}/actions/{action_id}/complete",
            "/partnerships/{pid}/bilan", "/partnerships/{pid}/steps", "/admin/clock"} <= set(paths)


async def test_each_caller_lists_the_partnerships_of_its_scope(h):
    from jumelage_contracts.candidatures import SchoolRef

    lyon = SchoolRef(uai="0690001B", name="Ecole Croix-Rousse", academie="lyon", departement="69")
    await h.deliver(attributed("p-lyon").model_copy(update={"school": lyon}))
    await h.deliver(declined(2, pid="p-lyon"))
    everyone = (await h.client.get("/partnerships", headers=h.token("national", "*"))).json()
    assert [i["partnership_id"] for i in everyone["items"]] == ["p-lyon", PID] and everyone["total"] == 2
    mine = (await h.client.get("/partnerships", headers=h.school)).json()
    assert [(i["partnership_id"], i["school_year"], i["status"]) for i in mine["items"]] == [(PID, "2025-2026", "running")]
    lyon_view = (await h.client.get("/partnerships?status=ended", headers=h.token("academie", "lyon"))).json()
    assert [(i["partnership_id"], i["ended_reason"]) for i in lyon_view["items"]] == [("p-lyon", "renewal_declined")]
    assert (await h.client.get("/partnerships?uai=0690001B", headers=h.school)).status_code == 403


async def test_the_listing_follows_the_partnership_into_its_next_year(h):
    await h.deliver(renewed(2))
    (row,) = (await h.client.get("/partnerships", headers=h.partner)).json()["items"]
    assert (row["school_year"], row["year_index"], row["partner_id"]) == ("2026-2027", 2, "musee-carnavalet")


async def test_a_cnr_spend_sent_twice_is_recorded_once_and_an_expense_id_reused_is_a_409(h):
    pid = "p-cnr-1"
    await h.deliver(attributed(pid, "concertation"), envelope_of(attributed(pid, "concertation"), stream_id="cand-cnr"))
    url = f"/partnerships/{pid}"
    for step in ("concertation", "projet_pedagogique"):
        r = await h.client.post(f"{url}/steps", json={"track": "concertation", "step": step, "summary": step},
                                headers=h.school)
        assert r.status_code == 201, r.text
    r = await h.client.post(f"{url}/funding", json={"funding_id": "f1", "amount_eur": 4000}, headers=h.school)
    assert r.status_code == 201, r.text
    r = await h.client.post(f"{url}/funding/f1/grant", json={"amount_eur": 3000, "granted_by": "DASEN"},
                            headers=h.academie)
    assert r.status_code == 200, r.text
    spend = {"expense_id": "facture-2026-017", "amount_eur": 2000, "label": "Intervenant", "spent_on": "2025-11-20"}
    first = await h.client.post(f"{url}/funding/f1/spend", json=spend, headers=h.school)
    retried = await h.client.post(f"{url}/funding/f1/spend", json=spend, headers=h.school)
    assert (first.status_code, [e["type"] for e in first.json()["events"]]) == (201, ["FundingSpent"])
    assert (retried.status_code, retried.json()["events"]) == (200, [])
    reused = await h.client.post(f"{url}/funding/f1/spend", json={**spend, "amount_eur": 500}, headers=h.school)
    assert reused.status_code == 409 and reused.headers["content-type"].startswith("application/problem+json")
    assert (reused.json()["rule"], reused.json()["field"]) == ("an_expense_id_names_one_expense", "expense_id")
    over = await h.client.post(f"{url}/funding/f1/spend", json={**spend, "expense_id": "facture-2026-018"},
                               headers=h.school)
    assert (over.status_code, over.json()["rule"]) == (422, "spending_stays_within_the_grant")
    funding = (await h.client.get(url, headers=h.academie)).json()["current_year"]["funding"]
    assert funding == [{"funding_id": "f1", "requested_eur": 4000, "granted_eur": 3000, "spent_eur": 2000,
                        "expenses": 1}]


async def test_a_cnr_school_skips_the_concertation_and_funds_its_projet_but_not_without_one(h):
    """Seed 003: the three CNR steps are « facultatives, distinctes l'une de l'autre »."""
    pid = "p-cnr-2"
    await h.deliver(attributed(pid, "concertation"), envelope_of(attributed(pid, "concertation"), stream_id="cand-cnr-2"))
    url = f"/partnerships/{pid}"
    early = await h.client.post(f"{url}/funding", json={"funding_id": "f1", "amount_eur": 4000}, headers=h.school)
    assert early.status_code == 422 and early.headers["content-type"].startswith("application/problem+json")
    assert (early.json()["rule"], early.json()["field"]) == ("funding_requires_the_pedagogical_project", "funding_id")
    r = await h.client.post(f"{url}/steps", json={"track": "concertation", "step": "projet_pedagogique",
                                                  "summary": "Projet theatre"}, headers=h.school)
    assert (r.status_code, [e["type"] for e in r.json()["events"]]) == (201, ["StepCompleted"]), r.text
    r = await h.client.post(f"{url}/funding", json={"funding_id": "f1", "amount_eur": 4000}, headers=h.school)
    assert r.status_code == 201, r.text
    year = (await h.client.get(url, headers=h.academie)).json()["current_year"]
    assert year["steps_done"] == ["projet_pedagogique"] and year["funding"][0]["requested_eur"] == 4000


async def test_the_centres_sociaux_rencontres_are_numbered_across_the_two_school_years_they_straddle(h):
    """Seed 002: 1st rencontre in spring, 2nd in the autumn, 3rd early the next calendar year."""
    pid = "p-cs-1"
    await h.deliver(attributed(pid, "centre_social"), envelope_of(attributed(pid, "centre_social"), stream_id="cand-cs"))
    url = f"/partnerships/{pid}/meetings"

    def body(number: int, starts_at: str) -> dict:
        return {"meeting_id": f"r{number}-{starts_at[:4]}", "kind": "rencontre", "rencontre_number": number,
                "starts_at": starts_at, "place": "Centre social des Amandiers"}

    assert (await h.client.post(url, json=body(1, "2026-03-12T09:00:00+01:00"), headers=h.school)).status_code == 201
    year_two = type(renewed(2, pid)).model_validate({**renewed(2, pid).model_dump(), "dispositif": "centre_social",
                                                     "tier": None})
    await h.deliver(year_two, envelope_of(year_two, stream_id="cand-cs"))
    again = await h.client.post(url, json=body(1, "2026-11-05T09:00:00+01:00"), headers=h.school)
    assert again.status_code == 422 and again.headers["content-type"].startswith("application/problem+json")
    assert (again.json()["rule"], again.json()["field"]) == ("each_rencontre_is_planned_once", "rencontre_number")
    r = await h.client.post(url, json=body(2, "2026-10-01T09:00:00+02:00"), headers=h.school)
    assert r.status_code == 201, r.text
    r = await h.client.post(url, json=body(3, "2026-09-20T09:00:00+02:00"), headers=h.school)
    assert (r.status_code, r.json()["rule"], r.json()["field"]) == (422, "rencontres_keep_their_order", "starts_at")
    assert (await h.client.post(url, json=body(3, "2027-01-14T09:00:00+01:00"), headers=h.school)).status_code == 201
    current = (await h.client.get(f"/partnerships/{pid}", headers=h.academie)).json()["current_year"]
    assert sorted(m["rencontre_number"] for m in current["meetings"]) == [2, 3]


def second_process(h):
    """Another programmes process on the same store: its writes are not in the first one's cache."""
    from programmes.bootstrap import build_app, build_runtime

    app = build_app(runtime=build_runtime(h.settings, store=h.store, clock=h.clock), consumers=False)
    return httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://programmes-2")


async def test_a_command_decided_on_a_cache_behind_the_stream_is_decided_again_on_the_stream(h):
    await h.client.post(f"/partnerships/{PID}/actions", json=action("act-0"), headers=h.school)  # cached at v2
    async with second_process(h) as other:
        r = await other.post(f"/partnerships/{PID}/actions", json=action("act-9"), headers=h.partner)
        assert r.status_code == 201 and r.json()["version"] == 3
        # The same action sent to the first process: its cache does not know it, the stream does.
        same = await h.client.post(f"/partnerships/{PID}/actions", json=action("act-9"), headers=h.school)
        assert (same.status_code, same.json()["version"], same.json()["events"]) == (200, 3, [])
        new = await h.client.post(f"/partnerships/{PID}/actions", json=action("act-10"), headers=h.school)
        assert (new.status_code, new.json()["version"]) == (201, 4)
        ended = await other.post(f"/partnerships/{PID}/end", json={"reason": "withdrawn"}, headers=h.academie)
        assert ended.status_code == 200
    refused = await h.client.post(f"/partnerships/{PID}/actions", json=action("act-11"), headers=h.school)
    assert (refused.status_code, refused.json()["rule"]) == (422, "an_ended_partnership_accepts_nothing")
    assert [e.type for e in await h.store.read_stream(f"partnership-{PID}")].count("ActionScheduled") == 3


async def test_a_refusal_on_a_stale_cache_is_checked_against_the_stream(h):
    jes = "p-jes-1"
    await h.deliver(attributed(jes, "entreprise"), envelope_of(attributed(jes, "entreprise"), stream_id="cand-jes"))
    visit = action("visit-1", kind="company_visit")
    company = h.token("partner", "ratp-lagny")
    first = await h.client.post(f"/partnerships/{jes}/actions", json=visit, headers=h.school)
    assert first.json()["rule"] == "jes_needs_both_referents_and_the_signed_charter"
    async with second_process(h) as other:
        for side, role, who, headers in (("school", "teacher", "Claire Martin", h.school),
                                         ("partner", "collaborator", "Yannick Lebrun", company)):
            r = await other.post(f"/partnerships/{jes}/referents", headers=headers, json={
                "side": side, "role": role, "name": who, "email": "referent@example.fr"})
            assert r.status_code == 201, r.text
        for side, engagements, headers in (("school", ["establishment", "education_nationale"], h.school),
                                           ("partner", ["company"], company)):
            r = await other.post(f"/partnerships/{jes}/convention/signatures", headers=headers, json={
                "side": side, "signed_by": "Signataire", "engagements_accepted": engagements})
            assert r.status_code == 201, r.text
    r = await h.client.post(f"/partnerships/{jes}/actions", json=visit, headers=h.school)
    assert r.status_code == 201, r.text


async def test_commands_after_the_first_decide_on_the_cache_without_reading_the_stream(h, monkeypatch):
    await h.client.post(f"/partnerships/{PID}/actions", json=action("act-0"), headers=h.school)
    reads: list[int] = []
    read_stream = h.store.read_stream

    async def counting(stream_id, from_version=1):
        reads.append(from_version)
        return await read_stream(stream_id, from_version)

    monkeypatch.setattr(h.store, "read_stream", counting)
    for i in range(1, 6):
        r = await h.client.post(f"/partnerships/{PID}/actions", json=action(f"act-{i}"), headers=h.school)
        assert (r.status_code, r.json()["version"]) == (201, 2 + i)
    assert reads == []
    again = await h.client.post(f"/partnerships/{PID}/actions", json=action("act-3"), headers=h.school)
    assert (again.status_code, again.json()["events"]) == (200, [])
    assert reads == [8]  # "nothing to do" is confirmed on the stream, from the cached version on


async def test_the_schools_associated_to_a_cnr_project_follow_it_and_act_on_the_school_side(h):
    """Seed 003: « écoles ou groupes d'écoles » — a project carried by one school for several."""
    from jumelage_contracts.candidatures import Concertation, SchoolRef

    pid = "p-cnr-group"
    ramponeau = SchoolRef(uai="0750712S", name="Ecole maternelle Ramponeau", academie="paris", departement="75")
    event = attributed(pid, "concertation").model_copy(update={
        "partner": None, "tier": None, "offer_id": None, "associated_schools": [ramponeau],
        "concertation": Concertation(concertation_summary="Deux temps d'echange avec les familles")})
    await h.deliver(event, envelope_of(event, stream_id=f"cand-{pid}"))
    url = f"/partnerships/{pid}"
    maternelle, stranger = h.token("school", "0750712S"), h.token("school", "0750100B")
    seen = await h.client.get(url, headers=maternelle)
    assert seen.status_code == 200, seen.text
    assert seen.json()["associated_uais"] == ["0750712S"] and seen.json()["current_year"]["steps_done"] == ["concertation"]
    r = await h.client.post(f"{url}/steps", json={"track": "concertation", "step": "projet_pedagogique",
                                                  "summary": "Une cour partagee"}, headers=maternelle)
    assert r.status_code == 201, r.text
    assert (await h.client.get(url, headers=stranger)).status_code == 403
    assert (await h.client.post(f"{url}/steps", json={"track": "concertation", "step": "financement",
                                                      "summary": "x"}, headers=stranger)).status_code == 403
