"""In process on SQLite: programmes' PartnershipEnded / ClassCancelled, handed to the consumer's
handler as the kit would, give the offer its places back once; a late attribution uses them."""

from __future__ import annotations

import json
import uuid
from datetime import datetime, timezone
from importlib import resources

import pytest
from candidatures.api.consumers import on_partnership_stopped
from candidatures_api_kit import (
    ACADEMIE,
    PARTNER,
    SCHOOL,
    campaign_body,
    candidature_body,
    candidatures_client,
    offer_body,
)
from candidatures_builders import AFTER_DEADLINE
from jumelage_contracts import Envelope, parse_event

UTC = timezone.utc
IN_OCTOBER = datetime(2025, 10, 1, 8, tzinfo=UTC)  # after the attribution date, inside the work-meeting window
REASON = "Desistement d'une ecole apres attribution : places liberees"


@pytest.fixture
async def client(sqlite_url):
    async with candidatures_client(sqlite_url) as c:
        yield c


def programmes_envelope(event_type: str, **data) -> tuple[Envelope, object]:
    """A programmes event as programmes publishes it (its example payload, then the fields given)."""
    payload = json.loads(resources.files("jumelage_contracts").joinpath(f"examples/{event_type}.v1.json").read_text())
    payload.update(data)
    env = Envelope(type=event_type, source="programmes", stream_id=f"partnership-{data['partnership_id']}",
                   stream_version=7, occurred_at=IN_OCTOBER, correlation_id=uuid.uuid4(), academie="paris",
                   data=payload)
    return env, parse_event(env)


def ended(pid: str, **data) -> tuple[Envelope, object]:
    fields = dict(partnership_id=pid, school_year="2025-2026", year_index=1, reason="withdrawn",
                  detail="L'ecole se retire", ended_at=IN_OCTOBER.isoformat(), years=1)
    return programmes_envelope("PartnershipEnded", **(fields | data))


async def deliver(client, env, event) -> None:
    async with client.runtime.transaction() as tx:
        await on_partnership_stopped(tx, env, event)


async def full_offer_with_waiting_list(client) -> str:
    """An offer of 2 classes taken by cand-1 (2 classes); cand-2 and cand-3 wait (1 class each)."""
    assert (await client.post("/campaigns", json=campaign_body(), headers=ACADEMIE)).status_code == 201
    assert (await client.post("/campaigns/camp-1/offers", json=offer_body(2), headers=PARTNER)).status_code == 201
    for cid, classes in (("cand-1", ("CM1", "CM2")), ("cand-2", ("CM1",)), ("cand-3", ("CM2",))):
        r = await client.post("/campaigns/camp-1/candidatures", headers=SCHOOL,
                              json=candidature_body(candidature_id=cid, classes=classes))
        assert r.status_code == 201, r.text
    client.clock.set(AFTER_DEADLINE)
    for cid in ("cand-1", "cand-2", "cand-3"):
        assert (await client.post(f"/candidatures/{cid}/reviews", json={"avis": "favourable"},
                                  headers=ACADEMIE)).status_code == 200
    r = await client.post("/candidatures/cand-1/attribute", json={}, headers=ACADEMIE)
    assert r.status_code == 200, r.text
    client.clock.set(IN_OCTOBER)
    r = await client.post("/candidatures/cand-2/attribute", json={"late_reason": REASON}, headers=ACADEMIE)
    assert r.json()["rule"] == "attribution_must_fit_offer_capacity"
    return (await client.get("/candidatures/cand-1", headers=ACADEMIE)).json()["partnership_id"]


async def offer_events(client) -> list[str]:
    return [e.type for e in await client.runtime.store.read_stream("offer-offer-1")]


async def test_a_redelivered_partnership_end_releases_nothing_twice(client):
    pid = await full_offer_with_waiting_list(client)
    env, event = ended(pid)
    await deliver(client, env, event)
    await deliver(client, env, event)  # the same message again (past the inbox)
    again, again_event = ended(pid)  # the same fact published again under a new id
    await deliver(client, again, again_event)
    assert (await offer_events(client)).count("OfferPlacesReleased") == 1
    stored = (await client.runtime.store.read_stream("offer-offer-1"))[-1]
    release = parse_event(stored)
    assert (release.class_ids, release.classes, release.remaining_classes, release.reason) == (
        ["c0", "c1"], 2, 2, "partnership_ended")
    assert stored.causation_id == env.id and stored.correlation_id == env.correlation_id
    assert stored.actor.role == "system"
    offer = (await client.get("/offers/offer-1", headers=ACADEMIE)).json()
    assert offer["reserved_classes"] == 0 and offer["capacity_classes"] == 2


async def test_the_freed_places_take_late_attributions_up_to_the_capacity_and_no_more(client):
    pid = await full_offer_with_waiting_list(client)
    # a class leaves first, then the partnership ends: two places come back, each once
    await deliver(client, *programmes_envelope("ClassCancelled", partnership_id=pid, school_year="2025-2026",
                                               year_index=1, class_id="c1"))
    await deliver(client, *ended(pid))
    released = [parse_event(e) for e in await client.runtime.store.read_stream("offer-offer-1")
                if e.type == "OfferPlacesReleased"]
    assert [(r.class_ids, r.reason) for r in released] == [(["c1"], "class_cancelled"), (["c0"], "partnership_ended")]
    for cid in ("cand-2", "cand-3"):
        r = await client.post(f"/candidatures/{cid}/attribute", json={"late_reason": REASON}, headers=ACADEMIE)
        assert r.status_code == 200, r.text
    assert (await client.get("/offers/offer-1", headers=ACADEMIE)).json()["reserved_classes"] == 2


async def test_an_end_after_the_first_year_or_at_its_close_releases_nothing(client):
    pid = await full_offer_with_waiting_list(client)
    await deliver(client, *ended(pid, reason="renewal_declined"))
    await deliver(client, *ended(pid, school_year="2026-2027", year_index=2, years=2))
    await deliver(client, *ended("unknown-partnership"))
    assert "OfferPlacesReleased" not in await offer_events(client)
    r = await client.post("/candidatures/cand-2/attribute", json={"late_reason": REASON}, headers=ACADEMIE)
    assert r.json()["rule"] == "attribution_must_fit_offer_capacity"
