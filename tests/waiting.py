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
