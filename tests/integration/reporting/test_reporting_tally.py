"""The per-day tally (issue 14) holds, per académie, metric and day, the sums of the facts — kept
by both live paths and by the rebuild, and filled by ``reporting_0008`` for a generation projected
before it; so are the partnership-years' days (``pyear``, ``reporting_0009``); an académie's indicators read through it equal the general path's at every date. On
SQLite and PostgreSQL (the PostgreSQL live path writes it inside its one combined statement)."""

from __future__ import annotations

import random
from datetime import date, timedelta

import pytest
from sqlalchemy import func, select, text

from eventkit.migrations import run_migrations
from eventkit.sql import make_engine
from reporting.adapters import queries
from reporting.adapters.queries import Filters
from reporting.app.live import LiveProjection, apply_live
from reporting.app.rebuild import ListLog, rebuild
from reporting.bootstrap import MIGRATIONS
from reporting.domain.indicators import derive
from reporting.sample import history


async def tally_and_facts(engine) -> tuple[dict, dict]:
    async with engine.connect() as conn:
        g = await queries.current_generation(conn)
        t, f = g.tally.c, g.fact.c
        tally = {(a, m, d): (int(n), int(amount)) for a, m, d, n, amount in
                 await conn.execute(select(t.academie, t.metric, t.day, t.n, t.amount))}
        academie = func.coalesce(f.academie, "")
        facts = {(a, m, d): (int(n), int(amount)) for a, m, d, n, amount in await conn.execute(
            select(academie, f.metric, f.day, func.sum(f.n), func.sum(f.amount)).group_by(academie, f.metric, f.day))}
    return tally, facts


async def partnership_years(engine) -> dict:
    """``pyear``: (académie, school year, partnership) → its days."""
    async with engine.connect() as conn:
        g = await queries.current_generation(conn)
        return {tuple(r[:3]): tuple(r[3:]) for r in await conn.execute(select(g.pyear))}


async def assert_fast_path_matches(engine, events) -> None:
    """Through the tally (``queries.indicators`` under an académie or no filter) = the general
    path (sums, schools reached and overdue each from the facts), at dates across the history."""
    academies = sorted({e.academie for e in events if e.academie})
    first = events[0].occurred_at.date()
    rng = random.Random(5)
    days = [first - timedelta(days=1), date(2031, 1, 1)] + [first + timedelta(days=rng.randint(0, 900))
                                                          for _ in range(6)]
    async with engine.connect() as conn:
        g = await queries.current_generation(conn)
        for as_of in days:
            for flt in [Filters(), *(Filters(academie=a) for a in academies)]:
                general = derive((await queries.metric_sums(conn, g, as_of, flt)).get(None, {}))
                general["schools_reached"] = await queries.schools_reached(conn, g, as_of, flt)
                general.update(await queries.overdue(conn, g, as_of, flt))
                assert await queries.indicators(conn, g, as_of, flt) == general, (as_of, flt)


@pytest.mark.parametrize("path", ["one event", "batches"])
async def test_the_tally_sums_the_facts_live_and_after_a_rebuild(database_url, path):
    events = history(random.Random(11), campaigns=3, candidatures=12, edges=True)
    await run_migrations(database_url, [MIGRATIONS])
    engine = make_engine(database_url)
    try:
        if path == "one event":
            for env in events:
                async with engine.begin() as conn:
                    await apply_live(conn, env)
        else:
            live = LiveProjection()
            for start in range(0, len(events), 37):
                async with engine.begin() as conn:
                    await live.apply_many(conn, events[start:start + 37])
        tally, facts = await tally_and_facts(engine)
        assert tally == facts and len(tally) > 50
        years = await partnership_years(engine)
        assert len(years) >= 3 and all(days[0] for days in years.values())  # attributed, each
        await assert_fast_path_matches(engine, events)

        sources: dict[str, list] = {}
        for env in events:
            sources.setdefault(env.source, []).append(env)
        await rebuild(engine, ListLog(sources), batch_size=100, grace_seconds=0)
        assert await tally_and_facts(engine) == (facts, facts)
        assert await partnership_years(engine) == years  # the rebuild writes the same rows
        await assert_fast_path_matches(engine, events)
    finally:
        await engine.dispose()


async def test_the_migration_fills_the_partnership_years_as_the_projection_wrote_them(database_url):
    events = history(random.Random(13), campaigns=2, candidatures=12, edges=True)
    await run_migrations(database_url, [MIGRATIONS])
    engine = make_engine(database_url)
    try:
        live = LiveProjection()
        async with engine.begin() as conn:
            await live.apply_many(conn, events)
        years = await partnership_years(engine)
        assert len(years) >= 3
        async with engine.begin() as conn:  # a database left at reporting_0008, before pyear
            await conn.execute(text("DROP TABLE rpt_g1_pyear"))
            await conn.execute(text("UPDATE alembic_version_reporting SET version_num = 'reporting_0008'"))
        await run_migrations(database_url, [MIGRATIONS])
        assert await partnership_years(engine) == years
        await assert_fast_path_matches(engine, events)
    finally:
        await engine.dispose()


async def test_the_migration_fills_the_tally_of_a_generation_projected_before_it(database_url):
    events = history(random.Random(12), campaigns=2, candidatures=10)
    await run_migrations(database_url, [MIGRATIONS])
    engine = make_engine(database_url)
    try:
        live = LiveProjection()
        async with engine.begin() as conn:
            await live.apply_many(conn, events)
        _, facts = await tally_and_facts(engine)
        async with engine.begin() as conn:  # a database left at reporting_0006, before the tally
            await conn.execute(text("DROP TABLE rpt_g1_tally"))
            await conn.execute(text("DROP TABLE rpt_g1_pyear"))
            await conn.execute(text("UPDATE alembic_version_reporting SET version_num = 'reporting_0006'"))
        await run_migrations(database_url, [MIGRATIONS])
        assert await tally_and_facts(engine) == (facts, facts)
        await assert_fast_path_matches(engine, events)
    finally:
        await engine.dispose()
