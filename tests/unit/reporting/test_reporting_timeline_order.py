"""A partnership's timeline between events of one instant: the order they were recorded in, not
the order they reached reporting (two consumers, any order). An event another service derives
from one it consumed (``PartnershipBilanNoted`` from ``BilanRecorded``) takes that one's
``occurred_at`` but is always recorded later."""

from __future__ import annotations

import uuid
from datetime import date, datetime, timedelta, timezone

import pytest

from eventkit.migrations import run_migrations
from eventkit.sql import make_engine
from jumelage_contracts import Envelope
from reporting.adapters import queries
from reporting.app.live import LiveProjection
from reporting.bootstrap import MIGRATIONS
from reporting.domain.candidatures import partnership_subject

AT = datetime(2026, 6, 10, 15, 0, tzinfo=timezone.utc)


def noted(school_year: str, recorded_at: datetime | None) -> Envelope:
    return Envelope.model_construct(
        id=uuid.uuid4(), type="PartnershipBilanNoted", schema_version=1, source="candidatures",
        stream_id="candidature-c-1", stream_version=0, occurred_at=AT, recorded_at=recorded_at,
        correlation_id=uuid.uuid4(), causation_id=None, actor=None, academie="paris", position=None,
        data={"partnership_id": "p-1", "school_year": school_year, "wish_to_continue": True})


@pytest.mark.parametrize("batched", [False, True])
async def test_events_of_one_instant_are_listed_in_the_order_they_were_recorded(tmp_path, batched):
    url = f"sqlite+aiosqlite:///{tmp_path / 'r.db'}"
    await run_migrations(url, [MIGRATIONS])
    engine = make_engine(url)
    first, second = noted("2025-2026", AT + timedelta(seconds=1)), noted("2026-2027", AT + timedelta(seconds=2))
    live = LiveProjection()
    try:
        arrival = [second, first]  # the later-recorded one reaches reporting first
        if batched:
            async with engine.begin() as conn:
                await live.apply_many(conn, arrival)
        else:
            for env in arrival:
                async with engine.begin() as conn:
                    await live.apply(conn, env)
        async with engine.connect() as conn:
            gen = await queries.current_generation(conn)
            entries = await queries.timeline(conn, gen, [partnership_subject("p-1")], date(2031, 1, 1))
        assert [e["event_id"] for e in entries] == [str(first.id), str(second.id)]
    finally:
        await engine.dispose()


async def test_the_migration_adds_the_column_to_a_generation_made_before_it(tmp_path):
    from sqlalchemy import inspect, text

    url = f"sqlite+aiosqlite:///{tmp_path / 'old.db'}"
    await run_migrations(url, [MIGRATIONS])
    engine = make_engine(url, migrations=True)
    try:
        async with engine.begin() as conn:  # a database left at reporting_0003, before the column
            await conn.execute(text("ALTER TABLE rpt_g1_timeline DROP COLUMN recorded_at"))
            await conn.execute(text("UPDATE alembic_version_reporting SET version_num = 'reporting_0003'"))
        await run_migrations(url, [MIGRATIONS])
        async with engine.connect() as conn:
            columns = await conn.run_sync(lambda c: {col["name"] for col in inspect(c).get_columns("rpt_g1_timeline")})
            version = await conn.scalar(text("SELECT version_num FROM alembic_version_reporting"))
        assert "recorded_at" in columns and version == "reporting_0009"  # the head
    finally:
        await engine.dispose()
