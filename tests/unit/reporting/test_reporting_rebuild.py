"""The rebuild's swap seen from a live consumer that still believes in the old generation."""

from __future__ import annotations

import random
from datetime import date

from sqlalchemy import inspect, text

from eventkit.migrations import run_migrations
from eventkit.sql import make_engine
from reporting.adapters import queries
from reporting.adapters.queries import Filters
from reporting.app.live import LiveProjection
from reporting.app.rebuild import ListLog, rebuild
from reporting.bootstrap import MIGRATIONS
from reporting.sample import history

from reporting_recount import recount

FAR = date(2031, 1, 1)


async def figures(engine) -> dict:
    async with engine.connect() as conn:
        conn = await conn.execution_options(isolation_level="AUTOCOMMIT")
        return await queries.indicators(conn, await queries.current_generation(conn), FAR, Filters())


async def test_after_a_swap_live_writes_follow_the_new_generation_and_skip_what_the_rebuild_applied(tmp_path) -> None:
    url = f"sqlite+aiosqlite:///{tmp_path / 'r.db'}"
    await run_migrations(url, [MIGRATIONS])
    engine = make_engine(url)
    events = history(random.Random(5), campaigns=2, candidatures=8)
    later = history(random.Random(6), campaigns=1, candidatures=3, prefix="later")
    live = LiveProjection()
    half = len(events) // 2
    for env in events[:half]:
        async with engine.begin() as conn:
            assert await live.apply(conn, env) == 1

    by_source: dict[str, list] = {}
    for env in events:
        by_source.setdefault(env.source, []).append(env)
    report = await rebuild(engine, ListLog(by_source), grace_seconds=0)
    assert (report["previous_generation"], report["generation"]) == (1, 2)
    async with engine.connect() as conn:
        tables = await conn.run_sync(lambda c: inspect(c).get_table_names())
    # the old generation is dropped but for empty `applied` and `state` tables, so that a consumer
    # still writing to it is told "not current" rather than "no such table"
    assert sorted(t for t in tables if t.startswith("rpt_g1_")) == ["rpt_g1_applied", "rpt_g1_state"]
    async with engine.connect() as conn:
        assert (await conn.execute(text("SELECT count(*) FROM rpt_g1_state"))).scalar_one() == 0

    for env in events:  # the live consumer catches up on what the rebuild already holds
        async with engine.begin() as conn:
            assert await live.apply(conn, env) == 0
    for env in later:
        async with engine.begin() as conn:
            assert await live.apply(conn, env) == 1

    for env in later:
        by_source.setdefault(env.source, []).append(env)
    again = await rebuild(engine, ListLog(by_source), grace_seconds=0)
    assert again["generation"] == 3
    for _ in range(3):
        await rebuild(engine, ListLog(by_source), grace_seconds=0)
    async with engine.connect() as conn:
        tables = await conn.run_sync(lambda c: inspect(c).get_table_names())
    assert sorted(t for t in tables if t.startswith("rpt_g") and not t.startswith("rpt_g6_")) == [
        "rpt_g3_applied", "rpt_g3_state", "rpt_g4_applied", "rpt_g4_state", "rpt_g5_applied", "rpt_g5_state"
    ], "the stubs of the last three generations only"

    want = recount(events + later, FAR, {})
    want.pop("_by_month")
    assert await figures(engine) == want
    await engine.dispose()
