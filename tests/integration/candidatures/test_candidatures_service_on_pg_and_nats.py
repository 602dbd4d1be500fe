"""The candidatures service as a real process on real PostgreSQL, its events seen on real NATS."""

from __future__ import annotations

import asyncio
import json
import uuid
from datetime import datetime
from importlib import resources

import pytest

from jumelage_contracts import Envelope
from jumelage_contracts.subjects import event_subject, stream_name

from tests.integration.candidatures.candidatures_service import (
    ACADEMIE,
    AFTER_DEADLINE,
    BEFORE_DEADLINE,
    COLLEGE,
    IN_RENEWAL_WINDOW,
    IN_WORK_MEETING_WINDOW,
    SCHOOL,
    YEAR,
    auth,
    campaign_body,
    metric,
    candidature_body,
    offer_body,
    running_service,
    set_clock,
    stream_events,
)
from tests.waiting import eventually

pytestmark = pytest.mark.integration


def school_of(dispositif: str) -> dict:
    return COLLEGE if dispositif == "entreprise" else SCHOOL


async def ok(response, status: int = 200) -> dict:
    assert response.status_code == status, response.text
    return response.json()


@pytest.mark.parametrize("dispositif", ["culture", "entreprise", "mercredi", "centre_social", "concertation"])
async def test_one_full_campaign_per_dispositif_over_http_lands_on_nats(dispositif, postgres_url, nats_url,
                                                                         subject_root):
    partner = auth("partner", f"partner-{dispositif}")
    school = school_of(dispositif)
    wished_offer = None if dispositif == "concertation" else "offer-1"
    async with running_service(postgres_url, nats_url, subject_root) as http:
        await set_clock(http, BEFORE_DEADLINE)
        opened = await ok(await http.post("/campaigns", json=campaign_body(dispositif, "camp"), headers=ACADEMIE), 201)
        assert opened["version"] == 1
        await ok(await http.post("/campaigns/camp/offers", json=offer_body(dispositif, "offer-1"), headers=partner),
                 201)
        for cid in ("a", "b", "c"):
            await ok(await http.post("/campaigns/camp/candidatures", headers=school,
                                     json=candidature_body(dispositif, cid, wished_offer)), 201)
        await ok(await http.put("/candidatures/a", headers={**school, "If-Match": '"1"'},
                                json=candidature_body(dispositif, "a", wished_offer, levels=("CM1",))))
        await ok(await http.post("/candidatures/c/withdraw", json={"reason": "equipe partie"}, headers=school))
        await set_clock(http, AFTER_DEADLINE)
        await ok(await http.post("/campaigns/camp/close", headers=ACADEMIE))
        await ok(await http.post("/candidatures/a/reviews", json={"avis": "favourable"}, headers=ACADEMIE))
        await ok(await http.post("/candidatures/b/return", json={"reason": "Preciser"}, headers=ACADEMIE))
        await ok(await http.post("/candidatures/b/resubmit", headers=school,
                                 json=candidature_body(dispositif, "b", wished_offer)))
        await ok(await http.post("/candidatures/b/reviews", json={"avis": "defavorable"}, headers=ACADEMIE))
        batch = await ok(await http.post("/attributions", json={"items": [{"candidature_id": "a"}]}, headers=ACADEMIE))
        assert batch["attributed"] == 1
        await ok(await http.post("/candidatures/b/reject", json={"reason": "Hors cadre"}, headers=ACADEMIE))
        listing = await ok(await http.get("/campaigns/camp/candidatures", headers=ACADEMIE))
        assert {c["candidature_id"]: c["status"] for c in listing["items"]} == {
            "a": "attributed", "b": "rejected", "c": "withdrawn"}
        detail = await ok(await http.get("/candidatures/a", headers=school))
        assert detail["partnership"]["year_index"] == 1
        # every command wrote its read rows and its events in one statement (eventkit_commit),
        # the attribution that reserves an offer's places (two streams) too: no transaction
        page = (await http.get("/metrics")).text
        assert metric(page, "jumelage_command_commits_total", 'path="statement"') >= 14
        assert 'jumelage_command_commits_total{path="transaction"}' not in page
        assert "jumelage_command_statement_fallbacks_total{" not in page

    expected = ["CampaignOpened", "OfferPublished", "CandidatureSubmitted", "CandidatureSubmitted",
                "CandidatureSubmitted", "CandidatureAmended", "CandidatureWithdrawn", "CampaignClosed",
                "CandidatureReviewed", "CandidatureReturnedForCorrection", "CandidatureResubmitted",
                "CandidatureReviewed", "PartnershipAttributed"]
    if wished_offer:
        expected.append("OfferCapacityReserved")
    expected.append("CandidatureRejected")
    messages = await stream_events(nats_url, stream_name("candidatures", subject_root), expected=len(expected))
    types = [m.headers["Jumelage-Type"] for m in messages]
    assert types == expected
    attributed = next(m for m in messages if m.headers["Jumelage-Type"] == "PartnershipAttributed")
    data = json.loads(attributed.data)
    assert data["dispositif"] == dispositif and data["year_index"] == 1 and data["school_year"] == f"{YEAR}-{YEAR + 1}"
    assert data["calendar"]["bilan_window"]["start"] == f"{YEAR + 1}-05-10"
    assert attributed.headers["Jumelage-Actor-Role"] == "academie" and attributed.headers["Jumelage-Academie"] == "paris"
    assert attributed.subject == f"{subject_root}.candidatures.paris.PartnershipAttributed"


async def publish_bilan(nats_url: str, subject_root: str, partnership_id: str) -> Envelope:
    return await publish_programmes_event(
        nats_url, subject_root, "BilanRecorded", occurred_at=IN_RENEWAL_WINDOW, partnership_id=partnership_id,
        school_year=f"{YEAR}-{YEAR + 1}", year_index=1, wish_to_continue=True)


async def test_a_bilan_on_nats_lets_the_school_renew_and_the_academie_grants(postgres_url, nats_url, subject_root):
    async with running_service(postgres_url, nats_url, subject_root) as http:
        await set_clock(http, BEFORE_DEADLINE)
        await ok(await http.post("/campaigns", json=campaign_body("culture", "camp"), headers=ACADEMIE), 201)
        await ok(await http.post("/campaigns/camp/candidatures", headers=SCHOOL,
                                 json=candidature_body("culture", "a", None) | {
                                     "partner_wished": {"partner_id": "musee", "kind": "cultural_structure",
                                                        "name": "Musee"}}), 201)
        await set_clock(http, AFTER_DEADLINE)
        await ok(await http.post("/candidatures/a/reviews", json={"avis": "favourable"}, headers=ACADEMIE))
        pid = (await ok(await http.post("/candidatures/a/attribute", json={}, headers=ACADEMIE)))["partnership_id"]
        await set_clock(http, IN_RENEWAL_WINDOW)
        bilan = await publish_bilan(nats_url, subject_root, pid)
        request = {"classes": candidature_body("culture", "a2", None)["classes"], "motivation": "Continuer"}
        async def renewal_once_the_bilan_is_noted():  # the consumer notes the bilan asynchronously
            r = await http.post(f"/partnerships/{pid}/renewal", json=request, headers=SCHOOL)
            if r.status_code != 200:
                assert r.json()["rule"] == "renewal_requires_a_recorded_bilan"
                return None
            return r

        r = await eventually(renewal_once_the_bilan_is_noted, what="the renewal accepted once the bilan is noted")
        assert r.status_code == 200 and [e["type"] for e in r.json()["events"]] == ["RenewalRequested"]
        granted = await ok(await http.post(f"/partnerships/{pid}/renewal/grant", json={}, headers=ACADEMIE))
        assert [e["type"] for e in granted["events"]] == ["RenewalGranted"]
    messages = await stream_events(nats_url, stream_name("candidatures", subject_root), expected=7)
    by_type = {m.headers["Jumelage-Type"]: m for m in messages}
    assert by_type["PartnershipBilanNoted"].headers["Jumelage-Causation-Id"] == str(bilan.id)
    assert json.loads(by_type["RenewalGranted"].data)["year_index"] == 2


async def test_concurrent_attributions_at_capacity_give_exactly_capacity_partnerships(postgres_url, nats_url,
                                                                                       subject_root):
    capacity, candidates = 3, 10
    async with running_service(postgres_url, nats_url, subject_root) as http:
        await set_clock(http, BEFORE_DEADLINE)
        await ok(await http.post("/campaigns", json=campaign_body("culture", "camp"), headers=ACADEMIE), 201)
        await ok(await http.post("/campaigns/camp/offers", json=offer_body("culture", "offer-1", capacity),
                                 headers=auth("partner", "partner-culture")), 201)
        for i in range(candidates):
            await ok(await http.post("/campaigns/camp/candidatures", headers=SCHOOL,
                                     json=candidature_body("culture", f"k{i}", "offer-1", levels=("CM1",))), 201)
        await set_clock(http, AFTER_DEADLINE)
        for i in range(candidates):
            await ok(await http.post(f"/candidatures/k{i}/reviews", json={"avis": "favourable"}, headers=ACADEMIE))
        two_reviewers = [auth("academie", "paris"), auth("national", "*")]
        responses = await asyncio.gather(*(
            http.post(f"/candidatures/k{i}/attribute", json={}, headers=two_reviewers[i % 2])
            for i in range(candidates)))
        statuses = sorted(r.status_code for r in responses)
        assert statuses.count(200) == capacity
        assert all(s in (409, 422) for s in statuses[capacity:])
        refused = [r.json()["rule"] for r in responses if r.status_code == 422]
        assert set(refused) <= {"attribution_must_fit_offer_capacity"}
        offer = await ok(await http.get("/offers/offer-1", headers=ACADEMIE))
        assert offer["reserved_classes"] == capacity
    messages = await stream_events(nats_url, stream_name("candidatures", subject_root), expected=2 + 2 * candidates + 6)
    types = [m.headers["Jumelage-Type"] for m in messages]
    assert types.count("PartnershipAttributed") == capacity and types.count("OfferCapacityReserved") == capacity


async def publish_programmes_event(nats_url: str, subject_root: str, event_type: str,
                                   occurred_at: datetime = IN_WORK_MEETING_WINDOW, **data) -> Envelope:
    """A programmes event on NATS as programmes publishes it: its example payload, then ``data``."""
    import nats

    payload = json.loads(resources.files("jumelage_contracts").joinpath(f"examples/{event_type}.v1.json").read_text())
    payload.update(data)
    env = Envelope(type=event_type, source="programmes", stream_id=f"partnership-{data['partnership_id']}",
                   stream_version=5, occurred_at=occurred_at, correlation_id=uuid.uuid4(),
                   academie="paris", data=payload)
    nc = await nats.connect(nats_url)
    try:
        headers, body = env.to_nats()
        await nc.jetstream().publish(event_subject(env, subject_root), body, headers=headers)
    finally:
        await nc.close()
    return env


async def test_a_partnership_ended_on_nats_frees_its_places_for_one_late_attribution(postgres_url, nats_url,
                                                                                     subject_root):
    late = {"late_reason": "Une ecole s'est retiree : places liberees"}
    async with running_service(postgres_url, nats_url, subject_root) as http:
        await set_clock(http, BEFORE_DEADLINE)
        await ok(await http.post("/campaigns", json=campaign_body("culture", "camp"), headers=ACADEMIE), 201)
        await ok(await http.post("/campaigns/camp/offers", json=offer_body("culture", "offer-1", 2),
                                 headers=auth("partner", "partner-culture")), 201)
        for cid, levels in (("first", ("CM1", "CM2")), ("waiting-2", ("CM1", "CM2")), ("waiting-1", ("CM1",))):
            await ok(await http.post("/campaigns/camp/candidatures", headers=SCHOOL,
                                     json=candidature_body("culture", cid, "offer-1", levels=levels)), 201)
        await set_clock(http, AFTER_DEADLINE)
        for cid in ("first", "waiting-2", "waiting-1"):
            await ok(await http.post(f"/candidatures/{cid}/reviews", json={"avis": "favourable"}, headers=ACADEMIE))
        pid = (await ok(await http.post("/candidatures/first/attribute", json={}, headers=ACADEMIE)))["partnership_id"]
        await set_clock(http, IN_WORK_MEETING_WINDOW)
        r = await http.post("/candidatures/waiting-2/attribute", json=late, headers=ACADEMIE)
        assert r.status_code == 422 and r.json()["rule"] == "attribution_must_fit_offer_capacity"
        ended = dict(partnership_id=pid, school_year=f"{YEAR}-{YEAR + 1}", year_index=1, reason="withdrawn",
                     detail="L'ecole se retire", ended_at=IN_WORK_MEETING_WINDOW.isoformat(), years=1)
        first = await publish_programmes_event(nats_url, subject_root, "PartnershipEnded", **ended)
        await publish_programmes_event(nats_url, subject_root, "PartnershipEnded", **ended)  # published again
        async def places_released() -> bool:  # the consumer releases the places asynchronously
            offer = await ok(await http.get("/offers/offer-1", headers=ACADEMIE))
            return offer["reserved_classes"] == 0

        await eventually(places_released, what="the ended partnership's places back on the offer")
        done = await ok(await http.post("/candidatures/waiting-2/attribute", json=late, headers=ACADEMIE))
        assert [e["type"] for e in done["events"]] == ["PartnershipAttributed", "OfferCapacityReserved"]
        r = await http.post("/candidatures/waiting-1/attribute", json=late, headers=ACADEMIE)
        assert r.status_code == 422 and r.json()["rule"] == "attribution_must_fit_offer_capacity"
        assert (await ok(await http.get("/offers/offer-1", headers=ACADEMIE)))["reserved_classes"] == 2
    # campaign, offer, 3 submissions, 3 avis, 2 attributions (2 events each), 1 release
    messages = await stream_events(nats_url, stream_name("candidatures", subject_root), expected=13)
    released = [m for m in messages if m.headers["Jumelage-Type"] == "OfferPlacesReleased"]
    assert len(released) == 1 and released[0].headers["Jumelage-Causation-Id"] == str(first.id)
    data = json.loads(released[0].data)
    assert (data["partnership_id"], data["classes"], data["remaining_classes"]) == (pid, 2, 2)
