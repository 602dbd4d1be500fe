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
