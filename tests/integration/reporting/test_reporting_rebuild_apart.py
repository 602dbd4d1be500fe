"""A rebuild that projects each source in a process of its own (issue 14) writes exactly the
rows of one that projects them one after the other — facts, timeline (erasures said again
without the person), subjects merged from both sources, state, tally, sources, parked events —
on SQLite and PostgreSQL."""

from __future__ import annotations

import random

from sqlalchemy import select

from eventkit.migrations import run_migrations
from eventkit.sql import make_engine
from reporting.adapters import queries
from reporting.app.rebuild import ListLog, rebuild
from reporting.bootstrap import MIGRATIONS
from reporting.sample import history


async def every_row(engine) -> dict[str, list]:
    """Each table of the current generation, its rows without their serial ids, sorted."""
    async with engine.connect() as conn:
        g = await queries.current_generation(conn)
        out = {}
        for table in g.metadata.sorted_tables:
            columns = [c for c in table.columns if c.name not in ("id", "parked_at")]
            rows = [tuple(repr(v) for v in r) for r in await conn.execute(select(*columns))]
            out[table.name.split("_", 2)[2]] = sorted(rows)
    return out


async def test_sources_projected_apart_write_the_rows_of_sources_projected_together(database_url):
    events = history(random.Random(21), campaigns=3, candidatures=14, edges=True, erasures=True)
    sources: dict[str, list] = {}
    for env in events:
        sources.setdefault(env.source, []).append(env)
    # an effect before its cause within a source: parked by the rebuild, released when its cause comes
    programmes = sources["programmes"]
    programmes[3], programmes[4] = programmes[4], programmes[3]
    # and one whose cause never comes: its stream's later events stay parked
    lost = programmes.pop(0)
    assert any(e.stream_id == lost.stream_id for e in programmes)
    assert len(sources) == 3
    await run_migrations(database_url, [MIGRATIONS])
    engine = make_engine(database_url)
    try:
        await rebuild(engine, ListLog(sources), batch_size=50, grace_seconds=0, apart=False)
        together = await every_row(engine)
        report = await rebuild(engine, ListLog(sources), batch_size=50, grace_seconds=0, apart=True)
        assert report["events"] == report["applied"] == len(events) - 1
        apart = await every_row(engine)
        assert apart == together
        assert {name for name, rows in apart.items() if not rows} <= {"rencontre"}, "every table has rows"
    finally:
        await engine.dispose()
