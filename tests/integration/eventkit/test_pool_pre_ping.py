"""A connection the server closed (restart, failover, ``pg_terminate_backend``) is replaced when the
pool hands it out, so the next request does not fail on it."""

from __future__ import annotations

import asyncio

import pytest
from sqlalchemy import text

from eventkit.sql import PING, make_engine

pytestmark = pytest.mark.integration


async def terminate_backends(engine, database: str) -> int:
    async with engine.connect() as admin:
        result = await admin.execute(text(
            "SELECT count(pg_terminate_backend(pid)) FROM pg_stat_activity "
            "WHERE datname = :db AND pid <> pg_backend_pid()"), {"db": database})
        return result.scalar_one()


async def test_a_connection_the_server_killed_is_not_handed_out(postgres_url) -> None:
    engine = make_engine(postgres_url, pool_size=2, max_overflow=0)
    killer = make_engine(postgres_url, pool_size=1, max_overflow=0)
    database = postgres_url.rsplit("/", 1)[1]
    try:
        async with engine.connect() as conn:  # warm the pool: a connection waits in it
            assert (await conn.execute(text("SELECT 1"))).scalar_one() == 1
        assert await terminate_backends(killer, database) >= 1
        async with engine.connect() as conn:
            assert (await conn.execute(text("SELECT 2"))).scalar_one() == 2
    finally:
        await engine.dispose()
        await killer.dispose()


async def test_the_check_on_checkout_is_one_round_trip_outside_a_transaction(postgres_url) -> None:
    # SQLAlchemy's pre-ping on asyncpg is BEGIN, ";", ROLLBACK: the kit's sends one statement
    engine = make_engine(postgres_url, pool_size=1, max_overflow=0)
    sent: list[str] = []
    try:
        async with engine.connect() as conn:  # a fresh connection: it has just answered, no ping
            raw = await conn.get_raw_connection()
            raw.driver_connection.add_query_logger(lambda record: sent.append(record.query))
            assert (await conn.execute(text("SELECT 1"))).scalar_one() == 1
        await asyncio.sleep(0)  # asyncpg calls query loggers with call_soon
        sent.clear()  # what the first use and its check-in sent
        async with engine.connect() as conn:
            await asyncio.sleep(0)
            assert sent == [PING]
            assert (await conn.execute(text("SELECT 2"))).scalar_one() == 2
    finally:
        await engine.dispose()

