"""Two worker processes of a service (``WORKERS=2``, one port) give the same outcome as one.

candidatures and reporting run as real processes on real PostgreSQL and NATS JetStream, first
with one worker each, then with two each (fresh databases and streams for each run). Every
request opens its own connection, so the kernel hands them to either worker: candidature streams
get their events from both workers in turn. Then, for each run: every command's events once in
the store, once in JetStream and in each stream's order, every one applied once by reporting,
nothing parked (nothing met before its cause) and the académie's indicators as the commands say.
With two workers, ``/readyz`` (which names the process that answered) shows both processes
serving and, across them, exactly one active relay and one active consumer per durable.
"""

from __future__ import annotations

import asyncio
import uuid
from collections import Counter
from contextlib import AsyncExitStack
from datetime import date, timedelta

import asyncpg
import httpx
import pytest

from eventkit.auth import mint_token
from jumelage_contracts import Header
from jumelage_contracts.subjects import stream_name
from tests.infra.postgres import fresh_database
from tests.infra.processes import free_port, service_process
from tests.integration.candidatures.candidatures_service import (
    ACADEMIE, SECRET, campaign_body, candidature_body, offer_body, stream_events)
from tests.waiting import eventually

pytestmark = [pytest.mark.e2e, pytest.mark.integration, pytest.mark.timeout(420)]

CANDIDATURES = 40
REVIEWED = range(0, CANDIDATURES, 2)  # these get an avis
WITHDRAWN = range(0, CANDIDATURES, 4)  # and these are withdrawn after it (3 events in their stream)
NO_KEEPALIVE = httpx.Limits(max_keepalive_connections=0)  # a new connection, so maybe another worker, each time


def bearer(role: str, scope: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {mint_token(SECRET, role, scope)}"}


async def both_workers_serving(url: str) -> dict[int, dict]:
    """The last ``/readyz`` of each worker process, once two different ones have answered and
    their leases have settled (one relay ``ok``, each durable ``active`` once)."""
    seen: dict[int, dict] = {}

    async def settled() -> bool:
        async with httpx.AsyncClient(base_url=url, limits=NO_KEEPALIVE, timeout=10) as client:
            for _ in range(8):
                body = (await client.get("/readyz")).json()
                seen[body["process"]] = body
        if len(seen) < 2:
            return False
        relays = Counter(body["relay"] for body in seen.values())
        durables = {name for body in seen.values() for name in body.get("consumers", {})}
        return relays["ok"] == 1 and all(
            sum(body.get("consumers", {}).get(name) == "active" for body in seen.values()) == 1 for name in durables)

    await eventually(settled, timeout=60, interval=0.2, what="two workers answering, leases settled")
    return seen


async def drive(url: str) -> list[str]:
    """Open a campaign and an offer, submit the candidatures concurrently, review some and withdraw
    some of those; returns the candidature ids."""
    ids = [f"cand-{i:03d}" for i in range(CANDIDATURES)]
    async with httpx.AsyncClient(base_url=url, limits=NO_KEEPALIVE, timeout=30) as client:
        r = await client.post("/campaigns", json=campaign_body("culture", "workers"), headers=ACADEMIE)
        assert r.status_code == 201, r.text
        r = await client.post("/campaigns/workers/offers", json=offer_body("culture", "offer-w", capacity=100),
                              headers=bearer("partner", "partner-culture"))
        assert r.status_code == 201, r.text
        gate = asyncio.Semaphore(8)

        async def life(i: int, candidature_id: str) -> None:
            async with gate:
                r = await client.post("/campaigns/workers/candidatures", headers=bearer("school", "0750655E"),
                                      json=candidature_body("culture", candidature_id, "offer-w"))
                assert r.status_code == 201, r.text
                if i in REVIEWED:
                    r = await client.post(f"/candidatures/{candidature_id}/reviews", headers=ACADEMIE,
                                          json={"avis": "favourable"})
                    assert r.status_code == 200, r.text
                if i in WITHDRAWN:
                    r = await client.post(f"/candidatures/{candidature_id}/withdraw", headers=bearer("school", "0750655E"))
                    assert r.status_code == 200, r.text

        await asyncio.gather(*(life(i, cid) for i, cid in enumerate(ids)))
    return ids


async def outcome(workers: int, postgres_server_url: str, nats_url: str) -> dict:
    """One run with ``workers`` processes per service; what it left, in comparable form."""
    root = "t" + uuid.uuid4().hex[:12]
    as_of = (date.today() + timedelta(days=2)).isoformat()  # past today in any time zone
    async with AsyncExitStack() as stack:
        cand_db = await stack.enter_async_context(fresh_database(postgres_server_url))
        rep_db = await stack.enter_async_context(fresh_database(postgres_server_url))
        common = {"NATS_URL": nats_url, "NATS_SUBJECT_ROOT": root, "JWT_SECRET": SECRET, "LOG_LEVEL": "WARNING",
                  "WORKERS": str(workers)}
        cand_port, rep_port = free_port(), free_port()
        await stack.enter_async_context(service_process("candidatures", {
            **common, "CANDIDATURES_DATABASE_URL": cand_db, "CANDIDATURES_PORT": str(cand_port)}, cand_port, 60))
        reporting = await stack.enter_async_context(service_process("reporting", {
            **common, "REPORTING_DATABASE_URL": rep_db, "REPORTING_PORT": str(rep_port)}, rep_port, 60))
        cand_url = f"http://127.0.0.1:{cand_port}"
        if workers > 1:
            for url in (cand_url, f"http://127.0.0.1:{rep_port}"):
                seen = await both_workers_serving(url)
                assert len(seen) == workers

        ids = await drive(cand_url)

        store = await asyncpg.connect(cand_db.replace("postgresql+asyncpg", "postgresql"))
        try:
            rows = await store.fetch("SELECT id, stream_id, stream_version, type FROM events ORDER BY position")
        finally:
            await store.close()
        expected_events = 2 + CANDIDATURES + len(REVIEWED) + len(WITHDRAWN)
        assert len(rows) == expected_events, "every command's events stored once"
        assert len({row["id"] for row in rows}) == len(rows)

        messages = await stream_events(nats_url, stream_name("candidatures", root), expected=len(rows))
        published = [(m.headers[Header.MSG_ID], m.headers[Header.STREAM_ID], int(m.headers[Header.STREAM_VERSION]),
                      m.headers[Header.TYPE]) for m in messages]
        assert Counter(p[0] for p in published) == Counter(str(row["id"]) for row in rows), \
            "every stored event in JetStream exactly once"
        versions: dict[str, list[int]] = {}
        for _, stream_id, version, _ in published:
            versions.setdefault(stream_id, []).append(version)
        assert all(v == list(range(1, len(v) + 1)) for v in versions.values()), "each stream in its order"

        last: list = []

        async def indicators() -> dict | None:
            r = await reporting.get("/indicators", params={"academie": "paris", "as_of": as_of}, headers=ACADEMIE)
            body = r.json()["indicators"]
            last[:] = [body]
            return body if body.get("candidatures_withdrawn") == len(WITHDRAWN) \
                and body.get("candidatures_submitted") == CANDIDATURES else None

        try:
            figures = await eventually(indicators, timeout=60, interval=0.25, what="reporting caught up")
        except AssertionError as exc:
            raise AssertionError(f"{exc}: {last}") from None
        parked = (await reporting.get("/parked", headers=bearer("admin", "*"))).json()
        assert parked["parked"] == 0, parked
        rep = await asyncpg.connect(rep_db.replace("postgresql+asyncpg", "postgresql"))
        try:
            inbox = await rep.fetch("SELECT event_id FROM inbox WHERE consumer = 'reporting-candidatures'")
        finally:
            await rep.close()
        assert Counter(str(row["event_id"]) for row in inbox) == Counter(str(row["id"]) for row in rows), \
            "reporting applied every event once"
        return {"indicators": figures, "candidatures": sorted(ids),
                "streams": sorted((stream_id, tuple(t for _, s, _, t in published if s == stream_id))
                                  for stream_id in versions)}


async def test_two_workers_per_service_give_the_outcome_of_one(postgres_server_url, nats_url):
    one = await outcome(1, postgres_server_url, nats_url)
    two = await outcome(2, postgres_server_url, nats_url)
    assert two == one
