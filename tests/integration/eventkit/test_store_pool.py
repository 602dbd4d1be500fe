"""The PostgreSQL pool of a service process: sized from the environment, and its churn visible.

Overflow connections are closed when handed back, so a load steadily above the pool size opens
(and asyncpg introspects and prepares on) a new connection per burst; the counter shows it."""

from __future__ import annotations

import asyncio

import pytest
from sqlalchemy import event as sa_event
from sqlalchemy import text

from eventkit import metrics
from eventkit.settings import ServiceSettings
from eventkit.sql import make_engine

from tests.integration.eventkit.store_support import database_url

pytestmark = pytest.mark.integration


def test_the_pool_is_sized_from_the_environment_with_defaults_for_four_services_on_one_server():
    settings = ServiceSettings.from_env("programmes", {"DATABASE_POOL_SIZE": "7", "PROGRAMMES_DATABASE_MAX_OVERFLOW": "2"})
    assert (settings.db_pool_size, settings.db_max_overflow) == (7, 2)
    default = ServiceSettings.from_env("programmes", {})
    assert 4 * (default.db_pool_size + default.db_max_overflow) <= 100  # PostgreSQL's default max_connections


def opened() -> float:
    return metrics.REGISTRY.get_sample_value("jumelage_db_connections_opened_total") or 0.0


async def hold(engine, n: int) -> None:
    """``n`` connections in use at once, then all handed back."""
    release = asyncio.Event()
    ready = 0

    async def one() -> None:
        nonlocal ready
        async with engine.connect() as conn:
            await conn.execute(text("SELECT 1"))
            ready += 1
            if ready == n:
                release.set()
            await release.wait()

    await asyncio.gather(*(one() for _ in range(n)))


async def test_a_load_within_the_pool_reuses_its_connections_and_overflow_is_reopened_each_burst(request, tmp_path):
    async with database_url("postgres", request, tmp_path) as url:
        engine = make_engine(url, pool_size=3, max_overflow=2)
        mine: list[int] = []  # this engine's connections (the metric is the whole process's)
        sa_event.listen(engine.sync_engine, "connect", lambda *_: mine.append(1))
        try:
            assert (engine.pool.size(), engine.pool._max_overflow) == (3, 2)
            start = opened()
            await hold(engine, 3)
            await hold(engine, 3)
            assert len(mine) == 3  # warm pool: the second burst opened nothing

            await hold(engine, 5)
            await hold(engine, 5)
            assert len(mine) == 3 + 4  # each burst above the pool reopens its 2 overflow connections
            assert opened() - start >= 7  # and the metric counted them
        finally:
            await engine.dispose()
