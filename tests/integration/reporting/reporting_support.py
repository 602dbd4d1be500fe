"""Helpers of reporting's integration tests."""

from __future__ import annotations

from reporting.adapters import queries

from tests.waiting import eventually


async def wait_applied(engine, count: int, timeout: float = 30.0, interval: float = 0.1) -> None:
    """Wait until the current generation has applied ``count`` events (all sources together)."""
    applied = -1

    async def all_applied() -> bool:
        nonlocal applied
        async with engine.connect() as conn:
            gen = await queries.current_generation(conn)
            applied = sum(s["events_applied"] for s in await queries.lag_positions(conn, gen))
        return applied >= count

    try:
        await eventually(all_applied, timeout=timeout, interval=interval, what=f"{count} events applied")
    except AssertionError as exc:
        raise AssertionError(f"only {applied}/{count} events applied after {timeout}s") from exc


async def texts_holding(engine, values: list[str]) -> list[tuple[str, str, str]]:
    """(table, column, value) for every text column of every table of the database that holds
    one of ``values`` anywhere in a row (an erasure's byte search, on PostgreSQL)."""
    found = []
    async with engine.connect() as conn:
        columns = (await conn.exec_driver_sql(
            "SELECT table_schema, table_name, column_name FROM information_schema.columns "
            "WHERE table_schema NOT IN ('pg_catalog', 'information_schema') "
            "AND data_type IN ('text', 'character varying', 'character', 'json', 'jsonb', 'bytea')")).all()
        for schema, table, column in columns:
            for value in values:
                hit = (await conn.exec_driver_sql(
                    f'SELECT 1 FROM "{schema}"."{table}" WHERE position($1 in "{column}"::text) > 0 LIMIT 1',
                    (value,))).first()
                if hit is not None:
                    found.append((table, column, value))
    return found
