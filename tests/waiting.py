"""The one way tests wait: for a condition, with a deadline — never a fixed sleep.

A fixed sleep either wastes time or, on a loaded machine, is too short and the test fails for
nothing; waiting on the condition is as fast as the system and as patient as the deadline."""

from __future__ import annotations

import asyncio
import inspect
import time
from typing import Any, Awaitable, Callable, TypeVar

T = TypeVar("T")


async def eventually(check: Callable[[], Awaitable[T]] | Callable[[], T], timeout: float = 15.0,
                     interval: float = 0.05, what: str = "condition") -> T:
    """Call ``check`` (sync or async) until it returns something truthy, and return that; raise
    ``AssertionError`` naming ``what`` when ``timeout`` seconds pass first."""
    deadline = time.monotonic() + timeout
    while True:
        result: Any = check()
        if inspect.isawaitable(result):
            result = await result
        if result:
            return result
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out after {timeout}s waiting for {what}")
        await asyncio.sleep(interval)


async def while_progressing(done: Callable[[], Awaitable[Any]], measure: Callable[[], Awaitable[Any]],
                            stall: float, what: str, interval: float = 0.1) -> None:
    """Wait until ``done()``; fail only when ``measure()`` (how far the work is) has not changed
    for ``stall`` seconds.

    A loaded machine slows a pipeline down but does not stop it: a fixed deadline fails a slow but
    healthy run, while work stuck for longer than any fault explains fails here. ``stall`` is the
    longest the work may rightly stand still, derived from what it waits for.
    """
    last, moved_at = await measure(), time.monotonic()
    while not await done():
        now_at = await measure()
        if now_at != last:
            last, moved_at = now_at, time.monotonic()
        elif time.monotonic() - moved_at > stall:
            raise AssertionError(f"no progress for {stall:.0f}s (stuck at {last}) waiting for {what}")
        await asyncio.sleep(interval)
