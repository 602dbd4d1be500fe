"""Concurrent writes on one partnership against the real PostgreSQL store: without If-Match a
conflict is re-decided on the fresh stream (nothing lost, nothing doubled); with a stale If-Match
it is the caller's (409)."""

from __future__ import annotations

import asyncio
import uuid

import httpx
import pytest

from eventkit.auth import mint_token
from eventkit.clock import ManualClock
from eventkit.settings import ServiceSettings
from eventkit.sql import open_store
from jumelage_contracts import parse_event, to_envelope
from jumelage_contracts.programmes import partnership_stream
from programmes.bootstrap import build_app, build_runtime
from programmes.domain import decide, fold
from programmes.adapters.directory import MIGRATIONS
from programmes.app.policies import open_year_command
from programmes_service import UAI, at, attribution

pytestmark = pytest.mark.integration


def opened_envelopes(pid: str):
    """The year-1 events programmes records for candidatures' attribution of ``pid``."""
    attributed = attribution(pid)
    command = open_year_command(parse_event(attributed), attributed, at(2025, 7, 10))
    return [to_envelope(e, stream_id=partnership_stream(pid), occurred_at=at(2025, 7, 10), correlation_id=uuid.uuid4(),
                        academie="paris") for e in decide(command, fold([]))]


def action(i: int) -> dict:
    return {"action_id": f"act-{i}", "kind": "workshop", "title": "Atelier", "class_ids": ["cm1-a"],
            "starts_at": at(2025, 10, 1 + i % 28).isoformat(), "duration_minutes": 60, "place": "Musee"}


async def test_concurrent_schedules_on_one_partnership_are_all_recorded_once(postgres_url):
    store = await open_store(postgres_url, extra_migrations=[MIGRATIONS])
    try:
        settings = ServiceSettings.from_env("programmes", env={}, database_url=postgres_url)
        app = build_app(runtime=build_runtime(settings, store=store, clock=ManualClock(at(2025, 9, 20))),
                        consumers=False)
        await store.append(partnership_stream("p-conc"), opened_envelopes("p-conc"), expected_version=0)
        school = {"Authorization": f"Bearer {mint_token(settings.jwt_secret, 'school', UAI)}"}
        async with httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://p") as client:
            responses = await asyncio.gather(*(
                client.post("/partnerships/p-conc/actions", json=action(i), headers=school) for i in range(12)))
            assert sorted(r.status_code for r in responses) == [201] * 12, [r.text for r in responses]
            assert sorted(r.json()["version"] for r in responses) == list(range(2, 14))
            again = await asyncio.gather(*(
                client.post("/partnerships/p-conc/actions", json=action(i), headers=school) for i in range(12)))
            assert {r.status_code for r in again} == {200}
            stale = await client.post("/partnerships/p-conc/actions", json=action(99),
                                      headers={**school, "If-Match": '"5"'})
            assert stale.status_code == 409
        stored = await store.read_stream(partnership_stream("p-conc"))
        assert [e.type for e in stored].count("ActionScheduled") == 12 and len(stored) == 13
    finally:
        await store.close()
