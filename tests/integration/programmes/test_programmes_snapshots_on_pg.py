"""Persisted snapshots on the real PostgreSQL store: the service writes one while answering, a
process that starts afresh loads the three-year stream from it, and a row written for another
state shape is ignored and rewritten."""

from __future__ import annotations

import uuid
from datetime import timedelta

import httpx
import pytest
from sqlalchemy import text

from eventkit.auth import mint_token
from eventkit.clock import ManualClock
from eventkit.settings import ServiceSettings
from eventkit.sql import open_store
from jumelage_contracts import parse_event, to_envelope
from jumelage_contracts.programmes import ClassParticipation, MeetingKind, SideEvaluation, partnership_stream
from programmes.adapters.snapshots import SqlSnapshots
from programmes.adapters.directory import MIGRATIONS
from programmes.app.policies import open_year_command
from programmes.app.snapshots import StreamLoader, state_schema
from programmes.bootstrap import build_app, build_runtime
from programmes.domain import commands as c
from programmes.domain import decide, fold
from programmes_service import UAI, at, attribution, renewal_granted

pytestmark = pytest.mark.integration

PID = "p-snapshots"
STREAM = partnership_stream(PID)
GOOD = SideEvaluation(satisfaction=4, wish_to_continue=True)


def three_years(actions_per_year: int = 80) -> list:
    """Three school years: actions per class completed, bilan meeting held, bilan; ~500 events."""
    events: list = []
    state = fold([])

    def run(command) -> None:
        nonlocal state
        new = decide(command, state)
        events.extend(new)
        state = fold(new, state)

    for year_index, start in ((1, 2025), (2, 2026), (3, 2027)):
        opening = attribution(PID) if year_index == 1 else renewal_granted(PID, year_index)
        run(open_year_command(parse_event(opening), opening, at(start, 7, 10)))
        run(c.ScheduleMeeting(f"bilan{start}", MeetingKind.bilan, at(start + 1, 6, 2, 17), "Ecole", at(start, 9, 12)))
        for n in range(actions_per_year):
            when = at(start, 10, 1) + timedelta(days=n * 2)
            class_id = ("cm1-a", "cm2-b")[n % 2]
            run(c.ScheduleAction(f"a{start}-{n}", "workshop", "Atelier", (class_id,), when, 90, "Musee", at(start, 9, 20)))
            run(c.CompleteAction(f"a{start}-{n}", when + timedelta(hours=2),
                                 (ClassParticipation(class_id=class_id, pupils_present=20),)))
        run(c.HoldMeeting(f"bilan{start}", "Bilan", at(start + 1, 6, 2, 19)))
        run(c.RecordBilan(GOOD, GOOD, at(start + 1, 6, 3)))
    return events


class CountingStore:
    def __init__(self, store) -> None:
        self.store = store
        self.reads: list[int] = []

    async def read_stream(self, stream_id: str, from_version: int = 1):
        self.reads.append(from_version)
        return await self.store.read_stream(stream_id, from_version)


async def test_a_three_year_partnership_loads_from_its_persisted_snapshot_and_an_old_one_is_rebuilt(postgres_url):
    store = await open_store(postgres_url, extra_migrations=[MIGRATIONS])
    try:
        events = three_years()
        envelopes = [to_envelope(e, stream_id=STREAM, occurred_at=at(2025, 7, 10), correlation_id=uuid.uuid4(),
                                 academie="paris") for e in events]
        await store.append(STREAM, envelopes, expected_version=0)
        total = len(events)
        assert total >= 490

        settings = ServiceSettings.from_env("programmes", env={}, database_url=postgres_url)
        app = build_app(runtime=build_runtime(settings, store=store, clock=ManualClock(at(2028, 6, 10))),
                        consumers=False)
        school = {"Authorization": f"Bearer {mint_token(settings.jwt_secret, 'school', UAI)}"}
        async with httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://p") as client:
            first = await client.get(f"/partnerships/{PID}", headers=school)
        assert first.status_code == 200 and first.json()["current_year"]["year_index"] == 3

        snapshots = SqlSnapshots(store)
        row = await snapshots.get(STREAM)
        assert row is not None and (row.version, row.state_schema) == (total, state_schema())

        fresh = CountingStore(store)  # a process that just started: nothing in its own cache
        loaded = await StreamLoader().load(fresh, STREAM, snapshots)
        assert fresh.reads == [total + 1] and loaded.state == fold(events)

        async with store.engine.begin() as conn:
            await conn.execute(text("UPDATE prog_snapshots SET state_schema = 'v0-older-code', version = 100"))
        again = CountingStore(store)
        rebuilt = await StreamLoader().load(again, STREAM, snapshots)
        assert again.reads == [1] and rebuilt.state == fold(events)
        row = await snapshots.get(STREAM)
        assert (row.version, row.state_schema) == (total, state_schema())
    finally:
        await store.close()
