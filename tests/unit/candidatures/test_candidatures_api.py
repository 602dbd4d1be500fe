"""The HTTP API in process, on a SQLite store: status codes, versions, scopes, problem+json."""

from __future__ import annotations

import asyncio
import json
import uuid
from datetime import datetime, timezone
from importlib import resources

import pytest
from candidatures_api_kit import (
    ACADEMIE,
    COLLEGE,
    NATIONAL,
    OTHER_ACADEMIE,
    PARTNER,
    SCHOOL,
    campaign_body,
    candidature_body,
    candidatures_client,
    classes_json,
    offer_body,
    token,
)
from candidatures_builders import AFTER_DEADLINE, IN_RENEWAL_WINDOW

from eventkit.auth import mint_token
from jumelage_contracts import Envelope, parse_event


@pytest.fixture
async def client(sqlite_url):
    async with candidatures_client(sqlite_url) as c:
        yield c


async def open_campaign_with_offer(client, capacity: int = 4, dispositif: str = "culture") -> None:
    assert (await client.post("/campaigns", json=campaign_body(dispositif), headers=ACADEMIE)).status_code == 201
    kind = {"entreprise": "company", "centre_social": "social_centre"}.get(dispositif, "cultural_structure")
    r = await client.post("/campaigns/camp-1/offers", json=offer_body(capacity, kind=kind), headers=PARTNER)
    assert r.status_code == 201, r.text


async def submit(client, cid: str, **kw) -> dict:
    r = await client.post("/campaigns/camp-1/candidatures", json=candidature_body(candidature_id=cid, **kw),
                          headers=SCHOOL)
    assert r.status_code == 201, r.text
    return r.json()


async def review(client, *cids: str, avis: str = "favourable") -> None:
    for cid in cids:
        r = await client.post(f"/candidatures/{cid}/reviews", json={"avis": avis}, headers=ACADEMIE)
        assert r.status_code == 200, r.text


async def test_an_academie_opens_a_campaign_and_gets_version_one_with_an_etag(client):
    r = await client.post("/campaigns", json=campaign_body(), headers=ACADEMIE)
    assert r.status_code == 201 and r.json()["version"] == 1 and r.headers["etag"] == '"1"'
    assert [e["type"] for e in r.json()["events"]] == ["CampaignOpened"]
    [stored] = await client.runtime.store.read_stream("campaign-camp-1")
    # The write shape every service answers (eventkit.http.written).
    assert r.json() == {"id": "camp-1", "stream_id": "campaign-camp-1", "version": 1, "events": [
        {"id": str(stored.id), "type": "CampaignOpened", "stream_id": "campaign-camp-1", "stream_version": 1}]}
    assert stored.actor.role == "academie" and stored.academie == "paris" and stored.type == "CampaignOpened"
    listed = (await client.get("/campaigns?academie=paris", headers=SCHOOL)).json()
    assert [c["campaign_id"] for c in listed] == ["camp-1"]


async def test_a_request_without_a_token_is_unauthorized(client):
    r = await client.post("/campaigns", json=campaign_body())
    assert r.status_code == 401 and r.headers["content-type"].startswith("application/problem+json")


async def test_an_academie_cannot_open_a_campaign_for_another_academie(client):
    r = await client.post("/campaigns", json=campaign_body(), headers=OTHER_ACADEMIE)
    assert r.status_code == 403 and r.json()["rule"] == "academie_acts_for_its_own_campaigns"


async def test_an_incoherent_calendar_is_refused_naming_the_field(client):
    body = campaign_body()
    body["calendar"]["attribution_date"] = "2025-05-01"
    r = await client.post("/campaigns", json=body, headers=ACADEMIE)
    assert r.status_code == 422 and r.json()["field"] == "calendar.attribution_date"


async def test_a_bad_uai_is_a_problem_naming_the_field(client):
    await open_campaign_with_offer(client)
    body = candidature_body()
    body["school"] = {**body["school"], "uai": "0750655F"}
    r = await client.post("/campaigns/camp-1/candidatures", json=body, headers=SCHOOL)
    assert r.status_code == 422
    assert r.json()["errors"][0]["field"] == "body.school.uai"


async def test_a_school_submits_only_for_its_own_uai(client):
    await open_campaign_with_offer(client)
    r = await client.post("/campaigns/camp-1/candidatures", json=candidature_body(), headers=COLLEGE)
    assert r.status_code == 403


async def test_a_partner_publishes_only_its_own_offers(client):
    await client.post("/campaigns", json=campaign_body(), headers=ACADEMIE)
    r = await client.post("/campaigns/camp-1/offers", json=offer_body(partner_id="autre-musee"), headers=PARTNER)
    assert r.status_code == 403


async def test_a_candidature_goes_from_submission_to_attribution_with_its_history(client):
    await open_campaign_with_offer(client)
    await submit(client, "cand-1")
    r = await client.post("/candidatures/cand-1/reviews", json={"avis": "favourable", "comment": "REP+"},
                          headers=ACADEMIE)
    assert r.json()["version"] == 2
    client.clock.set(AFTER_DEADLINE)
    r = await client.post("/candidatures/cand-1/attribute", json={}, headers=ACADEMIE)
    assert r.status_code == 200 and [e["type"] for e in r.json()["events"]] == ["PartnershipAttributed", "OfferCapacityReserved"]
    detail = (await client.get("/candidatures/cand-1", headers=SCHOOL)).json()
    assert detail["status"] == "attributed" and [h["type"] for h in detail["history"]] == [
        "CandidatureSubmitted", "CandidatureReviewed", "PartnershipAttributed"]
    assert detail["partnership"]["year_index"] == 1
    offer = (await client.get("/offers/offer-1", headers=SCHOOL)).json()
    assert offer["reserved_classes"] == 2
    listed = (await client.get("/campaigns/camp-1/candidatures?status=attributed", headers=ACADEMIE)).json()
    assert listed["total"] == 1


async def test_attribution_waits_for_the_deadline_and_an_avis_and_ends_with_the_attribution_date(client):
    await open_campaign_with_offer(client)
    await submit(client, "cand-1")
    await review(client, "cand-1")
    r = await client.post("/candidatures/cand-1/attribute", json={}, headers=ACADEMIE)
    assert r.status_code == 422 and r.headers["content-type"].startswith("application/problem+json")
    assert r.json()["rule"] == "attribution_after_the_submission_deadline" and r.json()["field"] == "campaign_id"
    await submit(client, "cand-2")
    client.clock.set(AFTER_DEADLINE)
    r = await client.post("/candidatures/cand-2/attribute", json={}, headers=ACADEMIE)
    assert r.status_code == 422 and r.json()["rule"] == "attribution_requires_an_avis"
    assert r.json()["field"] == "candidature_id"
    r = await client.post("/attributions", json={"items": [{"candidature_id": "cand-2"}]}, headers=ACADEMIE)
    assert r.json()["results"] == [{"candidature_id": "cand-2", "status": 422, "rule": "attribution_requires_an_avis",
                                    "detail": "record at least one avis on this candidature before attributing it"}]
    client.clock.set(datetime(2025, 7, 5, 9, tzinfo=timezone.utc))  # the attribution date was 4 July
    r = await client.post("/candidatures/cand-1/attribute", json={}, headers=ACADEMIE)
    assert r.status_code == 422 and (r.json()["rule"], r.json()["field"]) == ("a_late_attribution_gives_its_reason",
                                                                             "late_reason")
    client.clock.set(AFTER_DEADLINE)
    r = await client.post("/candidatures/cand-1/attribute", json={}, headers=ACADEMIE)
    assert r.status_code == 200 and r.json()["version"] == 3


async def test_a_place_left_free_is_attributed_late_with_a_reason_and_within_the_offer_capacity(client):
    await open_campaign_with_offer(client, capacity=4)
    for cid in ("cand-1", "cand-2", "cand-3"):
        await submit(client, cid)
    await review(client, "cand-1", "cand-2", "cand-3")
    client.clock.set(AFTER_DEADLINE)
    assert (await client.post("/candidatures/cand-1/attribute", json={}, headers=ACADEMIE)).status_code == 200
    client.clock.set(datetime(2025, 9, 22, 8, tzinfo=timezone.utc))  # after the attribution date (4 July)
    r = await client.post("/candidatures/cand-2/attribute", json={}, headers=ACADEMIE)
    assert r.status_code == 422 and r.headers["content-type"].startswith("application/problem+json")
    assert (r.json()["rule"], r.json()["field"]) == ("a_late_attribution_gives_its_reason", "late_reason")
    reason = "Desistement d'une ecole : place liberee"
    r = await client.post("/candidatures/cand-2/attribute", json={"late_reason": reason}, headers=ACADEMIE)
    assert r.status_code == 200, r.text
    attributed = parse_event((await client.runtime.store.read_stream("candidature-cand-2"))[-1])
    assert (attributed.type, attributed.late, attributed.late_reason) == ("PartnershipAttributed", True, reason)
    r = await client.post("/attributions", json={"items": [{"candidature_id": "cand-3", "late_reason": reason}]},
                          headers=ACADEMIE)
    assert r.json()["attributed"] == 0
    assert (r.json()["results"][0]["status"], r.json()["results"][0]["rule"]) == (
        422, "attribution_must_fit_offer_capacity")


async def test_a_stale_if_match_gets_409(client):
    await open_campaign_with_offer(client)
    await submit(client, "cand-1")
    body = candidature_body(classes=("CM1",))
    r = await client.put("/candidatures/cand-1", json=body, headers={**SCHOOL, "If-Match": '"7"'})
    assert r.status_code == 409 and r.json()["current_version"] == 1
    r = await client.put("/candidatures/cand-1", json=body, headers={**SCHOOL, "If-Match": '"1"'})
    assert r.status_code == 200 and r.json()["version"] == 2


async def test_a_school_cannot_amend_after_the_deadline(client):
    await open_campaign_with_offer(client)
    await submit(client, "cand-1")
    client.clock.set(AFTER_DEADLINE)
    r = await client.put("/candidatures/cand-1", json=candidature_body(classes=("CM1",)), headers=SCHOOL)
    assert r.status_code == 422 and r.json()["rule"] == "submission_only_before_the_deadline"


async def test_listings_are_narrowed_to_the_callers_scope(client):
    await open_campaign_with_offer(client)
    await submit(client, "cand-1")
    assert (await client.get("/campaigns/camp-1/candidatures", headers=COLLEGE)).json()["total"] == 0
    assert (await client.get("/campaigns/camp-1/candidatures", headers=SCHOOL)).json()["total"] == 1
    assert (await client.get("/campaigns/camp-1/candidatures", headers=OTHER_ACADEMIE)).status_code == 403
    assert (await client.get("/candidatures/cand-1", headers=COLLEGE)).status_code == 403


async def test_batch_attribution_gives_one_result_per_candidature_within_capacity(client):
    await open_campaign_with_offer(client, capacity=4)
    for cid in ("a", "b", "c"):
        await submit(client, cid)
    await submit(client, "d")
    client.clock.set(AFTER_DEADLINE)
    await review(client, "a", "b", "d")
    await client.post("/candidatures/c/reject", json={"reason": "hors cadre"}, headers=ACADEMIE)
    r = await client.post("/attributions", json={"items": [{"candidature_id": c} for c in ("a", "b", "c")]},
                          headers=ACADEMIE)
    results = {x["candidature_id"]: x for x in r.json()["results"]}
    assert results["a"]["status"] == 200 and results["b"]["status"] == 200
    assert results["c"]["status"] == 409 and results["c"]["rule"] == "rejected_candidature_cannot_be_attributed"
    r = await client.post("/attributions", json={"items": [{"candidature_id": "d"}]}, headers=ACADEMIE)
    assert r.json()["results"][0]["rule"] == "attribution_must_fit_offer_capacity"


async def test_concurrent_attributions_never_exceed_the_offer_capacity(client):
    await open_campaign_with_offer(client, capacity=4)
    ids = [f"k{i}" for i in range(6)]
    for cid in ids:
        await submit(client, cid)
    client.clock.set(AFTER_DEADLINE)
    await review(client, *ids)
    responses = await asyncio.gather(*(client.post(f"/candidatures/{cid}/attribute", json={}, headers=ACADEMIE)
                                       for cid in ids))
    assert sorted(r.status_code for r in responses) == [200, 200, 422, 422, 422, 422]
    assert (await client.get("/offers/offer-1", headers=ACADEMIE)).json()["reserved_classes"] == 4


async def test_a_returned_candidature_is_resubmitted_after_the_deadline(client):
    await open_campaign_with_offer(client)
    await submit(client, "cand-1")
    client.clock.set(AFTER_DEADLINE)
    r = await client.post("/candidatures/cand-1/return", json={"reason": "Preciser"}, headers=ACADEMIE)
    assert r.status_code == 200
    r = await client.post("/candidatures/cand-1/resubmit", json=candidature_body(classes=("CM1",)), headers=SCHOOL)
    assert r.status_code == 200 and [e["type"] for e in r.json()["events"]] == ["CandidatureResubmitted"]


async def test_a_draft_is_saved_then_submitted(client):
    await open_campaign_with_offer(client)
    r = await client.post("/campaigns/camp-1/drafts", json=candidature_body(candidature_id="d1"), headers=SCHOOL)
    assert [e["type"] for e in r.json()["events"]] == ["CandidatureDrafted"]
    r = await client.post("/candidatures/d1/submit", json=candidature_body(), headers=SCHOOL)
    assert [e["type"] for e in r.json()["events"]] == ["CandidatureSubmitted"] and r.json()["version"] == 2


async def test_commands_whose_fields_are_all_optional_take_no_body(client):
    await open_campaign_with_offer(client)
    await submit(client, "cand-1")
    await submit(client, "cand-2")
    withdrawn = await client.post("/candidatures/cand-2/withdraw", headers=SCHOOL)
    assert withdrawn.status_code == 200 and [e["type"] for e in withdrawn.json()["events"]] == ["CandidatureWithdrawn"]
    client.clock.set(AFTER_DEADLINE)
    await review(client, "cand-1")
    attributed = await client.post("/candidatures/cand-1/attribute", headers=ACADEMIE)
    assert attributed.status_code == 200 and "PartnershipAttributed" in [e["type"] for e in attributed.json()["events"]]


async def test_a_draft_is_submitted_as_it_was_saved_when_no_content_is_sent(client):
    await open_campaign_with_offer(client)
    saved = candidature_body(candidature_id="d2", classes=("CM1",))
    await client.post("/campaigns/camp-1/drafts", json=saved, headers=SCHOOL)
    assert (await client.post("/candidatures/d2/submit", headers=COLLEGE)).status_code == 403
    assert (await client.post("/candidatures/nope/submit", headers=SCHOOL)).status_code == 404
    r = await client.post("/candidatures/d2/submit", headers=SCHOOL)
    assert r.status_code == 200 and [e["type"] for e in r.json()["events"]] == ["CandidatureSubmitted"]
    row = (await client.get("/candidatures/d2", headers=SCHOOL)).json()
    submitted = row["history"][-1]
    assert row["status"] == "submitted" and submitted["type"] == "CandidatureSubmitted"
    assert [c["level"] for c in submitted["data"]["classes"]] == ["CM1"]


def bilan_envelope(partnership_id: str, wish: bool = True) -> tuple[Envelope, object]:
    data = json.loads(resources.files("jumelage_contracts").joinpath("examples/BilanRecorded.v1.json").read_text())
    data.update(partnership_id=partnership_id, wish_to_continue=wish)
    env = Envelope(type="BilanRecorded", source="programmes", stream_id=f"programme-{partnership_id}",
                   occurred_at=datetime(2026, 6, 1, tzinfo=timezone.utc), correlation_id=uuid.uuid4(),
                   academie="paris", data=data)
    return env, parse_event(env)


async def test_a_bilan_from_programmes_opens_the_renewal_which_the_academie_grants(client):
    from candidatures.api.consumers import on_bilan_recorded

    await open_campaign_with_offer(client)
    await submit(client, "cand-1")
    client.clock.set(AFTER_DEADLINE)
    await review(client, "cand-1")
    pid = (await client.post("/candidatures/cand-1/attribute", json={}, headers=ACADEMIE)).json()["partnership_id"]
    client.clock.set(IN_RENEWAL_WINDOW)
    request = {"classes": classes_json("CM2"), "motivation": "Continuer"}
    r = await client.post(f"/partnerships/{pid}/renewal", json=request, headers=SCHOOL)
    assert r.status_code == 422 and r.json()["rule"] == "renewal_requires_a_recorded_bilan"
    env, event = bilan_envelope(pid)
    async with client.runtime.transaction() as tx:
        await on_bilan_recorded(tx, env, event)
    assert (await client.post(f"/partnerships/{pid}/renewal", json=request, headers=COLLEGE)).status_code == 403
    r = await client.post(f"/partnerships/{pid}/renewal", json=request, headers=SCHOOL)
    assert r.status_code == 200 and [e["type"] for e in r.json()["events"]] == ["RenewalRequested"]
    assert (await client.post(f"/partnerships/{pid}/renewal/grant", json={}, headers=SCHOOL)).status_code == 403
    assert (await client.post(f"/partnerships/{pid}/renewal/grant", json={}, headers=OTHER_ACADEMIE)).status_code \
        == 403
    assert (await client.post(f"/partnerships/{pid}/renewal/decline", json={"reason": "non"},
                              headers=OTHER_ACADEMIE)).status_code == 403
    assert (await client.get(f"/partnerships/{pid}", headers=COLLEGE)).status_code == 403
    r = await client.post(f"/partnerships/{pid}/renewal/grant", json={}, headers=NATIONAL)
    assert [e["type"] for e in r.json()["events"]] == ["RenewalGranted"]
    detail = (await client.get(f"/partnerships/{pid}", headers=ACADEMIE)).json()
    assert detail["partnership"]["year_index"] == 2 and detail["year_index"] == 2
    stored = await client.runtime.store.read_stream("candidature-cand-1")
    noted = next(e for e in stored if e.type == "PartnershipBilanNoted")
    assert noted.causation_id == env.id and noted.actor.role == "system"
    granted = stored[-1]
    assert granted.type == "RenewalGranted" and granted.causation_id == granted.correlation_id


async def test_campaigns_past_their_deadline_are_closed_by_the_sweep(client):
    await open_campaign_with_offer(client)
    assert await client.app_commands.close_campaigns_past_deadline() == []
    client.clock.set(AFTER_DEADLINE)
    assert await client.app_commands.close_campaigns_past_deadline() == ["camp-1"]
    assert await client.app_commands.close_campaigns_past_deadline() == []
    [_, closed] = await client.runtime.store.read_stream("campaign-camp-1")
    assert closed.type == "CampaignClosed" and closed.data["reason"] == "deadline" and closed.actor.role == "system"


async def test_one_open_campaign_per_academie_dispositif_and_year_until_it_closes(client):
    assert (await client.post("/campaigns", json=campaign_body(), headers=ACADEMIE)).status_code == 201
    r = await client.post("/campaigns", json=campaign_body(campaign_id="camp-2"), headers=ACADEMIE)
    assert r.status_code == 409 and r.headers["content-type"].startswith("application/problem+json")
    assert r.json()["rule"] == "one_open_campaign_per_dispositif_and_year" and r.json()["field"] == "dispositif"
    other = await client.post("/campaigns", json=campaign_body("mercredi", campaign_id="camp-3"), headers=ACADEMIE)
    assert other.status_code == 201
    assert (await client.post("/campaigns", json=campaign_body(), headers=ACADEMIE)).status_code == 201  # a repeat
    assert (await client.post("/campaigns/camp-1/close", headers=ACADEMIE)).status_code == 200
    r = await client.post("/campaigns", json=campaign_body(campaign_id="camp-2"), headers=ACADEMIE)
    assert r.status_code == 201 and r.json()["version"] == 1


async def test_concurrent_openings_of_the_same_campaign_key_give_one_campaign(client):
    responses = await asyncio.gather(*(client.post("/campaigns", json=campaign_body(campaign_id=f"c{i}"),
                                                   headers=ACADEMIE) for i in range(5)))
    assert sorted(r.status_code for r in responses) == [201, 409, 409, 409, 409]
    listed = (await client.get("/campaigns?academie=paris", headers=ACADEMIE)).json()
    assert len(listed) == 1


async def test_every_write_is_refused_outside_the_callers_scope(client):
    await open_campaign_with_offer(client)
    await submit(client, "cand-1")
    other_partner = token("partner", "autre-musee")
    refused = {
        "another académie reviews": await client.post("/candidatures/cand-1/reviews", json={"avis": "favourable"},
                                                      headers=OTHER_ACADEMIE),
        "another académie attributes": await client.post("/candidatures/cand-1/attribute", json={},
                                                         headers=OTHER_ACADEMIE),
        "another académie rejects": await client.post("/candidatures/cand-1/reject", json={"reason": "non"},
                                                      headers=OTHER_ACADEMIE),
        "another académie returns": await client.post("/candidatures/cand-1/return", json={"reason": "non"},
                                                      headers=OTHER_ACADEMIE),
        "another académie closes": await client.post("/campaigns/camp-1/close", headers=OTHER_ACADEMIE),
        "a school reviews": await client.post("/candidatures/cand-1/reviews", json={"avis": "favourable"},
                                              headers=SCHOOL),
        "a partner attributes": await client.post("/candidatures/cand-1/attribute", json={}, headers=PARTNER),
        "another school withdraws": await client.post("/candidatures/cand-1/withdraw", json={}, headers=COLLEGE),
        "another school amends": await client.put("/candidatures/cand-1", json=candidature_body(), headers=COLLEGE),
        "another partner updates": await client.put("/offers/offer-1", json=offer_body(6), headers=other_partner),
        "another partner withdraws": await client.post("/offers/offer-1/withdraw", json={}, headers=other_partner),
    }
    assert {what: r.status_code for what, r in refused.items()} == {what: 403 for what in refused}
    assert all(r.headers["content-type"].startswith("application/problem+json") and r.json()["rule"]
               for r in refused.values())
    stored = await client.runtime.store.read_stream("candidature-cand-1")
    assert [e.type for e in stored] == ["CandidatureSubmitted"]  # nothing was written
    forged = {"Authorization": "Bearer " + mint_token("another-secret-of-32-bytes-or-more!!", "academie", "paris")}
    assert (await client.post("/candidatures/cand-1/reviews", json={"avis": "favourable"},
                              headers=forged)).status_code == 401
    assert (await client.get("/candidatures/cand-1", headers={"Authorization": "Bearer not-a-token"})).status_code == 401


async def test_a_partner_lists_only_the_candidatures_addressed_to_it(client):
    await open_campaign_with_offer(client)
    await submit(client, "cand-1")
    mine = (await client.get("/campaigns/camp-1/candidatures", headers=PARTNER)).json()
    assert [c["candidature_id"] for c in mine["items"]] == ["cand-1"]
    other = (await client.get("/campaigns/camp-1/candidatures", headers=token("partner", "autre-musee"))).json()
    assert other["total"] == 0


async def test_an_attribution_pinned_on_a_stale_version_gets_409(client):
    await open_campaign_with_offer(client)
    await submit(client, "cand-1")
    client.clock.set(AFTER_DEADLINE)
    await review(client, "cand-1")  # version 2
    r = await client.post("/candidatures/cand-1/attribute", json={}, headers={**ACADEMIE, "If-Match": '"1"'})
    assert r.status_code == 409 and r.json()["current_version"] == 2 and r.json()["expected_version"] == 1
    assert (await client.get("/offers/offer-1", headers=ACADEMIE)).json()["reserved_classes"] == 0
    r = await client.post("/candidatures/cand-1/attribute", json={}, headers={**ACADEMIE, "If-Match": '"2"'})
    assert r.status_code == 200 and r.json()["version"] == 3 and r.headers["etag"] == '"3"'


async def test_a_dispositif_rule_broken_over_http_is_a_problem_naming_the_field(client):
    assert (await client.post("/campaigns", json=campaign_body("entreprise"), headers=ACADEMIE)).status_code == 201
    body = candidature_body("entreprise", offer_id=None)
    body["classes"] = classes_json("3e", "6e")
    r = await client.post("/campaigns/camp-1/candidatures", json=body, headers=COLLEGE)
    assert r.status_code == 422 and r.headers["content-type"].startswith("application/problem+json")
    assert r.json()["rule"] == "jes_only_from_5e_to_bts" and r.json()["field"] == "classes.1.level"
    assert r.json()["errors"][0]["field"] == "classes.1.level"


async def test_batch_attribution_reports_unknown_and_out_of_scope_items_without_stopping(client):
    await open_campaign_with_offer(client)
    await submit(client, "cand-1")
    client.clock.set(AFTER_DEADLINE)
    await review(client, "cand-1")
    r = await client.post("/attributions", headers=ACADEMIE, json={"items": [
        {"candidature_id": "nope"}, {"candidature_id": "cand-1"}]})
    assert r.status_code == 200 and r.json()["attributed"] == 1
    [unknown, done] = r.json()["results"]
    assert unknown["status"] == 404 and unknown["rule"] == "candidature_must_exist"
    assert done["status"] == 200 and [e["type"] for e in done["events"]] == ["PartnershipAttributed", "OfferCapacityReserved"]
    r = await client.post("/attributions", headers=OTHER_ACADEMIE, json={"items": [{"candidature_id": "cand-1"}]})
    assert r.json()["results"][0]["status"] == 403 and r.json()["attributed"] == 0


async def test_an_offer_of_600_resources_of_2000_characters_is_refused_before_parsing_and_nothing_is_stored(client):
    """1.2 MB of body: the HTTP edge refuses it (413) before any parsing."""
    assert (await client.post("/campaigns", json=campaign_body(), headers=ACADEMIE)).status_code == 201
    body = offer_body()
    body["resources"] = [{"kind": "visit", "description": "x" * 2000}] * 600
    before = await client.runtime.store.last_position()
    r = await client.post("/campaigns/camp-1/offers", json=body, headers=PARTNER)
    assert r.status_code == 413, r.text
    assert r.headers["content-type"].startswith("application/problem+json")
    assert await client.runtime.store.last_position() == before
    assert (await client.get("/offers/offer-1", headers=PARTNER)).status_code == 404


@pytest.mark.parametrize("resources, length, field", [(60, 100, "resources"), (3, 2001, "description")])
async def test_an_offer_over_the_contract_bounds_but_under_the_body_limit_is_a_422_naming_the_field(
        client, resources, length, field):
    assert (await client.post("/campaigns", json=campaign_body(), headers=ACADEMIE)).status_code == 201
    body = offer_body()
    body["resources"] = [{"kind": "visit", "description": "x" * length}] * resources
    before = await client.runtime.store.last_position()
    r = await client.post("/campaigns/camp-1/offers", json=body, headers=PARTNER)
    assert r.status_code == 422, r.text
    assert r.headers["content-type"].startswith("application/problem+json")
    assert field in r.text
    assert await client.runtime.store.last_position() == before


async def test_a_nul_character_in_a_reason_is_a_422_naming_the_field(client):
    await open_campaign_with_offer(client)
    r = await client.post("/offers/offer-1/withdraw", json={"reason": "fin\x00"}, headers=PARTNER)
    assert r.status_code == 422, r.text
    assert "reason" in r.json()["detail"]


async def test_the_deadline_sweep_leaves_a_cnr_campaign_open_for_teams_to_join_all_year(client):
    """Seed 003: teams join the démarche « à tout moment »; the campaign closes with its school year."""
    assert (await client.post("/campaigns", json=campaign_body("concertation", "cnr"), headers=ACADEMIE)).status_code \
        == 201
    client.clock.set(AFTER_DEADLINE)
    assert await client.app_commands.close_campaigns_past_deadline() == []
    body = candidature_body("concertation", "team-1", classes=("CE2",), offer_id=None)
    body["concertation"] = {"concertation_summary": "Un temps d'echange avec les familles"}
    r = await client.post("/campaigns/cnr/candidatures", json=body, headers=SCHOOL)
    assert r.status_code == 201, r.text
    client.clock.set(datetime(2026, 7, 8, 9, tzinfo=timezone.utc))  # the 2025-2026 school year is over
    assert await client.app_commands.close_campaigns_past_deadline() == ["cnr"]
    [_, closed] = await client.runtime.store.read_stream("campaign-cnr")
    assert closed.type == "CampaignClosed" and closed.data["reason"] == "deadline"


@pytest.fixture(params=["sqlite", "postgres"])
async def client_on_either(request, tmp_path):
    from tests.integration.eventkit.store_support import database_url

    async with database_url(request.param, request, tmp_path) as url:
        async with candidatures_client(url) as c:
            yield c


async def test_an_id_the_client_chose_that_is_taken_is_decided_on_its_stream(client_on_either):
    """A creating route decides a client-chosen id as a new stream without reading it; when the
    id is taken, its read row refuses the insert (in a transaction on SQLite; in the one-statement
    commit on PostgreSQL, then in a transaction) and the command is decided on the stream."""
    client = client_on_either
    await open_campaign_with_offer(client)
    first = await submit(client, "chosen")
    again = await client.post("/campaigns/camp-1/candidatures", json=candidature_body(candidature_id="chosen"),
                              headers=SCHOOL)
    drafted = await client.post("/campaigns/camp-1/drafts", json=candidature_body(candidature_id="d-chosen"),
                                headers=SCHOOL)
    over_draft = await client.post("/campaigns/camp-1/candidatures",
                                   json=candidature_body(candidature_id="d-chosen"), headers=SCHOOL)
    assert first["version"] == 1 and [e["type"] for e in first["events"]] == ["CandidatureSubmitted"]
    # the same submission again (a client's retry): nothing more, the stream's version
    assert again.status_code == 201 and again.json()["version"] == 1 and again.json()["events"] == []
    # a creating route on a draft's id submits that draft
    assert drafted.status_code == 201 and over_draft.status_code == 201, over_draft.text
    assert over_draft.json()["version"] == 2
    assert [e["type"] for e in over_draft.json()["events"]] == ["CandidatureSubmitted"]
    listed = (await client.get("/campaigns/camp-1/candidatures", headers=ACADEMIE)).json()
    assert sorted(c["candidature_id"] for c in listed["items"]) == ["chosen", "d-chosen"]
