"""PostgreSQL connections killed under the feet of a running service, while clients write and read:
every answer is a success, a client error or 503 problem+json with ``Retry-After`` — never a 500 —
and what was answered 201 is stored once, what was refused is not half-stored.

The service is the real ``python -m candidatures`` process; a killer terminates every backend of
its database (``pg_terminate_backend``) every 300 ms while eight clients submit
candidatures and list them."""

from __future__ import annotations

import asyncio
from collections import Counter

import asyncpg
import pytest

from eventkit.sql import open_store
from tests.integration.candidatures.candidatures_service import (
    ACADEMIE,
    BEFORE_DEADLINE,
    SCHOOL,
    auth,
    campaign_body,
    candidature_body,
    offer_body,
    running_service,
    set_clock,
)

pytestmark = pytest.mark.integration

PARTNER = auth("partner", "partner-culture")
CLIENTS = 8
PER_CLIENT = 15


async def kill_backends(dsn: str, database: str, stop: asyncio.Event) -> int:
    """Terminate every other backend of ``database`` until ``stop``; how many were terminated."""
    killed = 0
    conn = await asyncpg.connect(dsn)
    try:
        while not stop.is_set():
            killed += await conn.fetchval(
                "SELECT count(*) FILTER (WHERE pg_terminate_backend(pid)) FROM pg_stat_activity "
                "WHERE datname = $1 AND pid <> pg_backend_pid()", database)
            try:
                await asyncio.wait_for(stop.wait(), timeout=0.3)
            except asyncio.TimeoutError:
                pass
    finally:
        await conn.close()
    return killed


async def test_backends_terminated_during_requests_give_503_or_success_never_500_and_lose_nothing(
        postgres_url, nats_url, subject_root):
    # quiet logs: the service's stderr is a pipe nobody reads while the storm lasts
    async with running_service(postgres_url, nats_url, subject_root, LOG_LEVEL="CRITICAL") as http:
        await set_clock(http, BEFORE_DEADLINE)
        assert (await http.post("/campaigns", json=campaign_body("culture", "camp"), headers=ACADEMIE)).status_code == 201
        r = await http.post("/campaigns/camp/offers", json=offer_body("culture", "offer-1", capacity=30), headers=PARTNER)
        assert r.status_code == 201, r.text

        answers: list[tuple[str, str, int, dict]] = []

        async def client(n: int) -> None:
            for i in range(PER_CLIENT):
                cid = f"cand-{n}-{i}"
                r = await http.post("/campaigns/camp/candidatures", headers=SCHOOL,
                                    json=candidature_body("culture", cid, "offer-1"))
                answers.append(("submit", cid, r.status_code, dict(r.headers)))
                r = await http.get("/campaigns/camp/candidatures", headers=ACADEMIE)
                answers.append(("list", cid, r.status_code, dict(r.headers)))

        stop = asyncio.Event()
        dsn = postgres_url.replace("postgresql+asyncpg://", "postgresql://")
        killer = asyncio.create_task(kill_backends(dsn, dsn.rsplit("/", 1)[1], stop))
        try:
            await asyncio.gather(*(client(n) for n in range(CLIENTS)))
        finally:
            stop.set()
            killed = await killer

        statuses = Counter(status for _, _, status, _ in answers)
        assert killed >= 10, f"the storm terminated only {killed} backends: the test proved nothing"
        assert not [s for s in statuses if s >= 500 and s != 503], statuses
        assert not [s for s in statuses if 400 <= s < 500], statuses  # the requests themselves are valid
        for _, _, status, headers in answers:
            if status == 503:
                assert headers["content-type"].startswith("application/problem+json")
                assert int(headers["retry-after"]) > 0
        print(f"\n{len(answers)} requests, {killed} backends terminated: {dict(statuses)}")

        # After the storm: every 201 is stored and readable; nothing is stored twice.
        accepted = {cid for kind, cid, status, _ in answers if kind == "submit" and status == 201}
        for cid in sorted(accepted):
            assert (await http.get(f"/candidatures/{cid}", headers=SCHOOL)).status_code == 200, cid
        listed = (await http.get("/campaigns/camp/candidatures", headers=ACADEMIE)).json()

    store = await open_store(postgres_url)
    try:
        submitted = Counter(e.stream_id for e in await store.read_all() if e.type == "CandidatureSubmitted")
    finally:
        await store.close()
    assert accepted <= {stream.removeprefix("candidature-") for stream in submitted}
    assert set(submitted.values()) <= {1}, "a candidature was submitted twice"
    # a 503 write either did not happen or happened whole: the read model and the store agree
    assert listed["total"] == len(submitted)
