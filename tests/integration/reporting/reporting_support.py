"""Helpers of reporting's integration tests."""

from __future__ import annotations

import asyncio
import time

from reporting.adapters import queries


async def wait_applied(engine, count: int, timeout: float = 30.0, interval: float = 0.1) -> None:
    """Wait until the current generation has applied ``count`` events (all sources together)."""
    deadline = time.monotonic() + timeout
    applied = -1
    while time.monotonic() < deadline:
        async with engine.connect() as conn:
            gen = await queries.current_generation(conn)
            applied = sum(s["events_applied"] for s in await queries.lag_positions(conn, gen))
        if applied >= count:
            return
        await asyncio.sleep(interval)
    raise AssertionError(f"only {applied}/{count} events applied after {timeout}s")
