"""Event store port: append with optimistic concurrency, read a stream, read the global log.

Implementations: ``eventkit.sql.SqlEventStore`` (PostgreSQL and SQLite, same code) and
``eventkit.memory.InMemoryEventStore`` (tests). All of them pass ``tests/unit/eventkit`` and
``tests/integration/eventkit`` store suites.

Positions are global to one store and strictly increasing, and a reader that tails
``read_all(after_position)`` never skips an event that commits late (SQL stores: see
``eventkit.sql``, where PostgreSQL's ``read_all`` holds back at a gap that a running transaction
may still fill).
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass, field
from typing import Any, AsyncContextManager, Protocol, Sequence

from jumelage_contracts import Envelope

ANY_VERSION: int | None = None
NO_STREAM = 0


class ConcurrencyError(Exception):
    """The stream is not at the version the command was decided on (HTTP 409)."""

    def __init__(self, stream_id: str, expected: int | None, actual: int) -> None:
        super().__init__(f"stream {stream_id!r} is at version {actual}, expected {expected}")
        self.stream_id = stream_id
        self.expected = expected
        self.actual = actual


@dataclass(frozen=True)
class AppendResult:
    stream_version: int
    positions: tuple[int, ...] = ()
    events: tuple[Envelope, ...] = ()
    duplicate: bool = False  # the events' ids were already stored: nothing was appended


class Transaction(Protocol):
    """One unit of work: appends, inbox marks, checkpoints and (SQL stores) the service's own rows
    commit or roll back together."""

    connection: Any  # sqlalchemy AsyncConnection for SQL stores, None in memory

    async def append(
        self, stream_id: str, events: Sequence[Envelope], expected_version: int | None = ANY_VERSION
    ) -> AppendResult: ...

    async def append_many(
        self, appends: Sequence[tuple[str, Sequence[Envelope], int | None]]
    ) -> list[AppendResult]:
        """``append`` for each ``(stream_id, events, expected_version)``, same results, in as few
        statements as the store can (many one-event streams recorded at once)."""
        ...

    async def read_stream(self, stream_id: str, from_version: int = 1) -> list[Envelope]: ...

    async def stream_version(self, stream_id: str) -> int: ...

    async def mark_processed(self, consumer: str, event_id: uuid.UUID) -> bool:
        """Record that ``consumer`` handled ``event_id``; False if it already had (skip it)."""
        ...

    async def get_checkpoint(self, name: str) -> int: ...

    async def set_checkpoint(self, name: str, position: int) -> None: ...

    # A durable consumer's position: the last stream sequence whose effects this transaction's
    # store holds, written with them (``eventkit.bus.consumer``).
    async def get_consumer_position(self, consumer: str, stream: str) -> tuple[int, str | None] | None:
        """``(position, stream_created)`` of ``consumer`` in ``stream``, None before its first."""
        ...

    async def advance_consumer_position(self, consumer: str, stream: str, position: int) -> None:
        """Raise the position to ``position`` (never lower it)."""
        ...

    async def reset_consumer_position(self, consumer: str, stream: str, position: int,
                                      stream_created: str | None) -> None:
        """Set the position and the stream it counts in, whatever it was."""
        ...


class EventStore(Protocol):
    async def append(
        self, stream_id: str, events: Sequence[Envelope], expected_version: int | None = ANY_VERSION
    ) -> AppendResult:
        """Append ``events`` to ``stream_id`` in one transaction.

        ``expected_version``: ``None`` accepts any version, ``0`` requires a new stream, ``n``
        requires the stream to be at ``n``; otherwise :class:`ConcurrencyError`. Appending events
        whose ids are already stored returns the stored result with ``duplicate=True``.
        """
        ...

    async def read_stream(self, stream_id: str, from_version: int = 1) -> list[Envelope]: ...

    async def stream_version(self, stream_id: str) -> int: ...

    async def read_all(self, after_position: int = 0, limit: int = 1000) -> list[Envelope]:
        """Events with ``position > after_position`` in position order, at most ``limit``."""
        ...

    async def last_position(self) -> int: ...

    def transaction(self) -> AsyncContextManager[Transaction]: ...

    async def get_checkpoint(self, name: str) -> int: ...

    async def set_checkpoint(self, name: str, position: int) -> None:
        """Set a checkpoint in a transaction of its own (the relay after a batch is acked)."""
        ...

    async def acquire_lease(self, name: str, holder: str, ttl_seconds: float) -> bool:
        """Take or renew the lease ``name`` for ``ttl_seconds``: True if it was free, expired or
        already ``holder``'s (one active relay per store even when two processes start)."""
        ...

    async def release_lease(self, name: str, holder: str) -> None:
        """Give the lease up at once, if ``holder`` has it."""
        ...

    async def close(self) -> None: ...


@dataclass
class Appended:
    """What a handler returns: the events it stored (for the HTTP response and the relay wake-up)."""

    stream_id: str
    version: int
    events: list[Envelope] = field(default_factory=list)
