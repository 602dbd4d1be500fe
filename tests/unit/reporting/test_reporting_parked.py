"""The parked events seen by operators (``GET /parked``), and a database projected before streams
were sequenced (migration ``reporting_0005``): a stream it had already begun is taken up where it
stands, while a generation sequenced from the start parks what comes without its beginning."""

from __future__ import annotations

import random
from datetime import datetime, timezone

import pytest
from sqlalchemy import inspect, text

from eventkit.migrations import run_migrations
from eventkit.sql import make_engine
from reporting.app.live import LiveProjection
from reporting.app.parked import parked_events
from reporting.bootstrap import MIGRATIONS
from reporting.sample import history

from reporting_app import reporting_app

NOW = datetime(2026, 9, 1, tzinfo=timezone.utc)


def partnership_tail() -> tuple[list, list]:
    """A history, and one partnership's events from its third on (its beginning lost)."""
    events = history(random.Random(12), campaigns=1, candidatures=4)
    stream = next(e.stream_id for e in events if e.type == "ActionScheduled")
    return events, [e for e in events if e.stream_id == stream and e.stream_version >= 3]


async def test_only_national_and_admin_see_the_parked_events(sqlite_url) -> None:
    app = await reporting_app(sqlite_url, NOW)
    try:
        _, tail = partnership_tail()
        await app.apply(tail)
        r = await app.client.get("/parked", headers=app.auth("national", "*"))
        assert r.status_code == 200
        body = r.json()
        assert body["parked"] == len(tail) and body["generation"] == 1
        assert {i["event_id"] for i in body["items"]} == {str(e.id) for e in tail}
        assert all(i["waits_on"].startswith("stream:programmes:") for i in body["items"])
        assert (await app.client.get("/parked", headers=app.auth("academie", "paris"))).status_code == 403
        assert (await app.client.get("/parked")).status_code == 401
        r = await app.client.get("/parked?limit=0", headers=app.auth("admin", "*"))
        assert r.status_code == 422 and "limit" in r.text
    finally:
        await app.client.aclose()
        await app.store.close()


@pytest.mark.parametrize("legacy", [True, False], ids=["projected-before-0005", "sequenced-from-the-start"])
async def test_a_stream_begun_before_the_migration_is_taken_up_where_it_stands(tmp_path, legacy) -> None:
    url = f"sqlite+aiosqlite:///{tmp_path / 'r.db'}"
    await run_migrations(url, [MIGRATIONS])
    engine = make_engine(url, migrations=True)
    events, tail = partnership_tail()
    try:
        if legacy:  # a database left at reporting_0004 that had projected events
            async with engine.begin() as conn:
                await conn.execute(text("DROP TABLE rpt_g1_parked"))
                await conn.execute(text("INSERT INTO rpt_g1_applied (event_id) VALUES ('an-older-event')"))
                await conn.execute(text("UPDATE alembic_version_reporting SET version_num = 'reporting_0004'"))
            await run_migrations(url, [MIGRATIONS])
            async with engine.connect() as conn:
                assert "rpt_g1_parked" in await conn.run_sync(lambda c: inspect(c).get_table_names())
        live = LiveProjection()
        for env in tail:
            async with engine.begin() as conn:
                await live.apply(conn, env)
        async with engine.connect() as conn:
            parked = (await parked_events(conn))["parked"]
        assert parked == (0 if legacy else len(tail))
    finally:
        await engine.dispose()


async def test_a_rebuild_parks_exactly_what_the_live_projection_parked(tmp_path) -> None:
    from reporting.app.rebuild import ListLog, rebuild

    from reporting_order import feed, rows

    url = f"sqlite+aiosqlite:///{tmp_path / 'r.db'}"
    await run_migrations(url, [MIGRATIONS])
    engine = make_engine(url)
    events = history(random.Random(21), campaigns=2, candidatures=6)
    lost = {next(e.id for e in events if e.type == t) for t in ("ActionScheduled", "CampaignOpened", "ReminderScheduled")}
    log = [e for e in events if e.id not in lost]  # never reached JetStream: their effects wait
    try:
        await feed(engine, log, random.Random(2), batched=True)
        live = await rows(engine)
        assert live["parked"], "the effects of the lost events are parked"
        by_source: dict[str, list] = {}
        for env in log:
            by_source.setdefault(env.source, []).append(env)
        await rebuild(engine, ListLog(by_source), batch_size=7, grace_seconds=0)
        assert await rows(engine) == live
    finally:
        await engine.dispose()
