"""Events too large for the bus, seen from the candidatures service as a real process on real
PostgreSQL and NATS: a write whose event would not fit is refused and stores nothing; an event
the bus refuses anyway (a server with a small max_payload) is reported — /readyz, /metrics and
``jumelage outbox inspect`` name it — while the service goes on taking commands."""

from __future__ import annotations

import asyncio
import json
import os
import subprocess
import sys

import pytest

from eventkit.sql import open_store
from tests.infra.nats import NatsServerProcess
from tests.integration.candidatures.candidatures_service import (
    ACADEMIE,
    BEFORE_DEADLINE,
    ROOT,
    auth,
    campaign_body,
    metric,
    offer_body,
    running_service,
    set_clock,
)
from tests.integration.eventkit.bus_support import eventually

pytestmark = pytest.mark.integration

PARTNER = auth("partner", "partner-culture")


def an_offer_with(resources: int, length: int, offer_id: str = "offer-big") -> dict:
    body = offer_body("culture", offer_id)
    body["resources"] = [{"kind": "workshop", "description": f"Atelier {i} " + "x" * length} for i in range(resources)]
    return body


async def stored_types(database_url: str) -> list[str]:
    store = await open_store(database_url)
    try:
        return [e.type for e in await store.read_all()]
    finally:
        await store.close()


async def open_campaign(http) -> None:
    await set_clock(http, BEFORE_DEADLINE)
    r = await http.post("/campaigns", json=campaign_body("culture", "camp"), headers=ACADEMIE)
    assert r.status_code == 201, r.text


async def test_a_write_whose_event_is_over_event_max_bytes_is_refused_413_naming_the_field_and_stores_nothing(
        postgres_url, nats_url, subject_root):
    async with running_service(postgres_url, nats_url, subject_root, EVENT_MAX_BYTES="4096") as http:
        await open_campaign(http)

        r = await http.post("/campaigns/camp/offers", json=an_offer_with(5, 900), headers=PARTNER)

        assert r.status_code == 413, r.text
        assert r.headers["content-type"].startswith("application/problem+json")
        problem = r.json()
        assert problem["field"] == "resources" and problem["errors"][0]["field"] == "resources"
        assert problem["event_type"] == "OfferPublished" and problem["limit"] == 4096 < problem["size"]
        assert (await http.get("/offers/offer-big", headers=PARTNER)).status_code == 404
        # a smaller offer under the same limit goes through
        small = await http.post("/campaigns/camp/offers", json=an_offer_with(1, 100, "offer-small"), headers=PARTNER)
        assert small.status_code == 201, small.text
    assert await stored_types(postgres_url) == ["CampaignOpened", "OfferPublished"]


async def test_an_offer_over_the_default_limit_is_refused_as_problem_json_and_stores_nothing(
        postgres_url, nats_url, subject_root):
    # the HTTP body limit (256 KiB by default) would refuse this body before the store sees it
    async with running_service(postgres_url, nats_url, subject_root, HTTP_MAX_BODY_BYTES=str(2 * 1024 * 1024)) as http:
        await open_campaign(http)

        # 300 resources of about 1900 characters: about 580 KB, over the default 512 KiB
        r = await http.post("/campaigns/camp/offers", json=an_offer_with(300, 1900), headers=PARTNER)

        # 413 from the store's bound; 422 once the contract bounds the list itself
        assert r.status_code in (413, 422), r.text
        assert r.headers["content-type"].startswith("application/problem+json")
        assert "resources" in json.dumps(r.json())
    assert await stored_types(postgres_url) == ["CampaignOpened"]


async def test_an_event_the_bus_refuses_is_reported_degraded_while_the_service_stays_ready_and_takes_commands(
        postgres_url, subject_root, tmp_path):
    with NatsServerProcess(max_payload=16 * 1024) as small_nats:
        async with running_service(postgres_url, small_nats.url, subject_root) as http:
            await open_campaign(http)
            # about 20 KB: well under the store's limit, over this server's max_payload
            r = await http.post("/campaigns/camp/offers", json=an_offer_with(11, 1900), headers=PARTNER)
            assert r.status_code == 201, r.text

            async def degraded() -> bool:
                return (await http.get("/readyz")).json().get("relay") == "degraded"

            await eventually(degraded, timeout=30, what="/readyz to report the relay degraded")
            ready = await http.get("/readyz")
            assert ready.status_code == 200, "a stuck relay does not take the service out of rotation"
            report = ready.json()
            assert report["database"] == "ok" and report["nats"] == "ok"
            assert report["relay_blocked_at"]["type"] == "OfferPublished"
            assert "max_payload" in report["relay_error"]

            first = metric((await http.get("/metrics")).text, "jumelage_relay_stalled_seconds",
                           'source="candidatures"')

            async def climbing() -> bool:
                text = (await http.get("/metrics")).text
                return metric(text, "jumelage_relay_stalled_seconds", 'source="candidatures"') > first

            await eventually(climbing, timeout=30, interval=0.2, what="the stall gauge to climb")

            # commands still go through; they wait behind the stuck event, and the backlog says so
            r = await http.post("/campaigns", json=campaign_body("mercredi", "camp-2"), headers=ACADEMIE)
            assert r.status_code == 201, r.text
            text = (await http.get("/metrics")).text
            assert metric(text, "jumelage_outbox_backlog", 'source="candidatures"') == 2
            assert metric(text, "jumelage_nats_connected", 'service="candidatures"') == 1

            inspected = await asyncio.to_thread(
                subprocess.run,
                [sys.executable, "-m", "eventkit.cli", "outbox", "inspect", "--service", "candidatures",
                 "--url", str(http.base_url).rstrip("/"), "--json"],
                cwd=ROOT, capture_output=True, text=True, timeout=60,
                env={**os.environ, "CANDIDATURES_DATABASE_URL": postgres_url, "NATS_SUBJECT_ROOT": subject_root,
                     "JUMELAGE_DATA_DIR": str(tmp_path)},
            )
            assert inspected.returncode == 0, inspected.stderr
            found = json.loads(inspected.stdout.strip().splitlines()[-1])
            assert found["backlog"] == 2 and found["relay"] == "degraded"
            event = found["event"]
            assert event["type"] == "OfferPublished" and event["stream_id"] == report["relay_blocked_at"]["stream_id"]
            assert event["id"] == report["relay_blocked_at"]["event_id"]
            assert event["position"] == report["relay_blocked_at"]["position"]
            assert event["size"] > 16 * 1024 and "max_payload" in event["error"]
