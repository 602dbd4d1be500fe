"""Effects before their causes, on SQLite and PostgreSQL, through both live paths: an
``ActionCancelled`` (and a completion, a meeting held, a bilan, a renewal, a reminder sent, an offer
before its campaign, places released before the attribution…) delivered before what causes it is
parked — visible in ``python -m reporting parked`` and the gauge — and the indicators end exactly
as in order. And the random-order property on PostgreSQL."""

from __future__ import annotations

import asyncio
import os
import random
import subprocess
import sys
from datetime import date
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from eventkit.migrations import run_migrations
from eventkit.sql import make_engine
from reporting.adapters import queries
from reporting.adapters.queries import Filters
from reporting.app.parked import parked_events
from reporting.bootstrap import MIGRATIONS
from reporting.sample import history

sys.path.insert(0, str(Path(__file__).resolve().parents[2] / "unit" / "reporting"))
from reporting_order import (CAUSES, effects_before_causes, feed, interleaved, out_of_turn,  # noqa: E402
                             parked_gauge, parking, rows, some_moved_before_their_causes)
from reporting_recount import recount  # noqa: E402

pytestmark = pytest.mark.integration
ROOT_DIR = Path(__file__).resolve().parents[3]
FAR = date(2031, 1, 1)


async def indicators(engine, flt: dict) -> dict:
    async with engine.connect() as conn:
        return await queries.indicators(conn, await queries.current_generation(conn), FAR, Filters(**flt))


def expected(events, flt: dict) -> dict:
    want = recount(events, FAR, flt)
    want.pop("_by_month")
    return want


@pytest.fixture(params=["sqlite", "postgresql"])
async def database(request, tmp_path):
    from contextlib import AsyncExitStack

    from tests.infra.postgres import fresh_database

    async with AsyncExitStack() as stack:
        url = (f"sqlite+aiosqlite:///{tmp_path / 'reporting.db'}" if request.param == "sqlite" else
               await stack.enter_async_context(fresh_database(request.getfixturevalue("postgres_server_url"))))
        await run_migrations(url, [MIGRATIONS])
        engine = make_engine(url)
        stack.push_async_callback(engine.dispose)
        yield url, engine


@pytest.mark.parametrize("batched", [False, True], ids=["one-event", "batch"])
async def test_effects_delivered_before_their_causes_are_parked_then_counted_as_in_order(database, batched) -> None:
    url, engine = database
    rng = random.Random(1)
    events = history(rng, campaigns=3, candidatures=30)
    delivered, moved = effects_before_causes(events, list(CAUSES))
    assert {e.type for e, _ in moved} >= {"ActionCancelled", "ActionCompleted", "MeetingHeld", "BilanRecorded",
                                          "RenewalRequested", "ReminderSent", "OfferPublished", "OfferPlacesReleased"}
    cancelled, scheduled = next((e, c) for e, c in moved if e.type == "ActionCancelled")

    # Up to the ActionScheduled: the cancellation is held, visibly, and counts nothing yet.
    before = delivered[:delivered.index(scheduled)]
    parked_before = parking("parked")
    await feed(engine, before, rng, batched)
    async with engine.connect() as conn:
        listed = await parked_events(conn, limit=1000)
    held = {item["event_id"]: item for item in listed["items"]}
    assert str(cancelled.id) in held and held[str(cancelled.id)]["type"] == "ActionCancelled"
    assert "version" in held[str(cancelled.id)]["waiting_for"]
    assert parked_gauge() == listed["parked"] >= 1
    assert parking("parked") - parked_before >= listed["parked"]
    if url.startswith("postgresql"):  # the operator's view: exit status 1 while something is parked
        done = await asyncio.to_thread(
            subprocess.run, [sys.executable, "-m", "reporting", "parked"], capture_output=True, text=True,
            timeout=60, cwd=ROOT_DIR, env={**os.environ, "REPORTING_DATABASE_URL": url, "LOG_LEVEL": "WARNING"})
        assert done.returncode == 1, done.stderr[-2000:]
        assert str(cancelled.id) in done.stdout and "ActionCancelled" in done.stdout

    released_before = parking("released")
    await feed(engine, delivered[len(before):], rng, batched)
    for flt in ({}, {"academie": events[0].academie}, {"ep": "REP"}):
        assert await indicators(engine, flt) == expected(events, flt), flt
    assert parking("released") - released_before >= listed["parked"]
    async with engine.connect() as conn:
        assert (await parked_events(conn))["parked"] == 0
    assert parked_gauge() == 0


async def test_a_cause_that_never_comes_leaves_its_effect_parked_and_listed(database) -> None:
    _, engine = database
    events = history(random.Random(8), campaigns=1, candidatures=6)
    scheduled = next(e for e in events if e.type == "ActionScheduled")
    await feed(engine, [e for e in events if e.id != scheduled.id], random.Random(1), batched=True)
    async with engine.connect() as conn:
        listed = await parked_events(conn, limit=1000)
    # everything after the lost event in its partnership's stream waits for it, and only that
    later = [e for e in events if e.source == scheduled.source and e.stream_id == scheduled.stream_id
             and e.stream_version > scheduled.stream_version]
    assert {i["event_id"] for i in listed["items"]} == {str(e.id) for e in later}
    assert listed["parked"] == len(later) == parked_gauge()
    # the lost event arrives (a republish, a replayed dead letter): all released, as in order
    await feed(engine, [scheduled], random.Random(1), batched=False)
    assert await indicators(engine, {}) == expected(events, {})
    async with engine.connect() as conn:
        assert (await parked_events(conn))["parked"] == 0


@settings(max_examples=6, deadline=None, suppress_health_check=[HealthCheck.too_slow,
                                                                HealthCheck.function_scoped_fixture])
@given(seed=st.integers(0, 2**32), moves=st.integers(0, 6), batched=st.booleans())
def test_on_postgresql_any_order_gives_the_in_order_read_model(postgres_server_url, seed, moves, batched) -> None:
    from tests.infra.postgres import fresh_database

    async def scenario() -> None:
        rng = random.Random(seed)
        events = history(rng, campaigns=2, candidatures=6)
        delivered, _ = some_moved_before_their_causes(interleaved(events, rng), rng, moves)
        got = {}
        for name, order in (("in order", events), ("delivered", delivered)):
            async with fresh_database(postgres_server_url) as url:
                await run_migrations(url, [MIGRATIONS])
                engine = make_engine(url)
                try:
                    parked_before = parking("parked")
                    await feed(engine, order, rng, batched)
                    assert parking("parked") - parked_before >= out_of_turn(order)
                    got[name] = await rows(engine)
                finally:
                    await engine.dispose()
        assert got["delivered"] == got["in order"]
        assert got["delivered"]["parked"] == []

    asyncio.run(scenario())
