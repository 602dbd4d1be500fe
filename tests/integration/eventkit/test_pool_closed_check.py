"""A service's pool (no pre-ping: eventkit.pooling) still never hands out a connection the server
closed: the socket's state is checked on checkout, without a round trip."""

from __future__ import annotations

import pytest
from sqlalchemy import text

from eventkit.pooling import check_closed_on_checkout
from eventkit.sql import make_engine
from tests.integration.eventkit.test_pool_pre_ping import terminate_backends
from tests.waiting import eventually

pytestmark = pytest.mark.integration


async def test_a_connection_the_server_ended_is_replaced_without_a_ping(postgres_url) -> None:
    engine = make_engine(postgres_url, pool_size=2, max_overflow=0, pool_pre_ping=False)
    check_closed_on_checkout(engine)
    killer = make_engine(postgres_url, pool_size=1, max_overflow=0)
    database = postgres_url.rsplit("/", 1)[1]
    statements: list[str] = []

    from sqlalchemy import event

    @event.listens_for(engine.sync_engine, "before_cursor_execute")
    def _seen(_conn, _cursor, statement, *_):
        statements.append(statement)

    try:
        async with engine.connect() as conn:  # warm the pool: a connection waits in it
            assert (await conn.execute(text("SELECT 1"))).scalar_one() == 1
            pooled = (await conn.get_raw_connection()).driver_connection
        assert await terminate_backends(killer, database) >= 1
        await eventually(pooled.is_closed, what="the client seeing the server's close")
        statements.clear()
        async with engine.connect() as conn:
            assert (await conn.execute(text("SELECT 2"))).scalar_one() == 2
        assert statements == ["SELECT 2"]  # no ping statement on the way
    finally:
        await engine.dispose()
        await killer.dispose()
