"""In-memory event store: the fake for unit tests of handlers. Same contract as the SQL store."""

from __future__ import annotations

import asyncio
import time
import uuid
from contextlib import asynccontextmanager
from datetime import datetime, timezone
from typing import AsyncIterator, Sequence

from jumelage_contracts import Envelope

from .store import DEFAULT_EVENT_MAX_BYTES, AppendResult, ConcurrencyError, check_event_sizes


class _MemoryTx:
    connection = None

    def __init__(self, store: "InMemoryEventStore") -> None:
        self._store = store
        self._streams: dict[str, list[Envelope]] = {}
        self._log: list[Envelope] = []
        self._processed: set[tuple[str, uuid.UUID]] = set()
        self._checkpoints: dict[str, int] = {}
        self._positions: dict[tuple[str, str], tuple[int, str | None]] = {}

    def _version(self, stream_id: str) -> int:
        return len(self._store._streams.get(stream_id, [])) + len(self._streams.get(stream_id, []))

    async def append(self, stream_id, events: Sequence[Envelope], expected_version=None) -> AppendResult:
        events = list(events)
        if not events:
            return AppendResult(stream_version=self._version(stream_id))
        check_event_sizes(stream_id, events, self._store.max_event_bytes)
        known = self._store._by_id.get(events[0].id)
        if known is not None:
            stored = tuple(e for e in self._store._streams[known.stream_id] if e.id in {x.id for x in events})
            return AppendResult(
                stream_version=self._store._stream_version(known.stream_id),
                positions=tuple(e.position or 0 for e in stored), events=stored, duplicate=True,
            )
        actual = self._version(stream_id)
        if expected_version is not None and expected_version != actual:
            raise ConcurrencyError(stream_id, expected_version, actual)
        now = datetime.now(timezone.utc)
        stored = []
        for offset, ev in enumerate(events, start=1):
            position = self._store._position + len(self._log) + 1
            stored_ev = ev.model_copy(
                update={"stream_id": stream_id, "stream_version": actual + offset,
                        "recorded_at": now, "position": position}
            )
            self._streams.setdefault(stream_id, []).append(stored_ev)
            self._log.append(stored_ev)
            stored.append(stored_ev)
        return AppendResult(
            stream_version=actual + len(events), positions=tuple(e.position for e in stored), events=tuple(stored)
        )

    async def append_many(self, appends) -> list[AppendResult]:
        return [await self.append(stream_id, events, expected) for stream_id, events, expected in appends]

    async def read_stream(self, stream_id: str, from_version: int = 1) -> list[Envelope]:
        events = self._store._streams.get(stream_id, []) + self._streams.get(stream_id, [])
        return [e for e in events if e.stream_version >= from_version]

    async def stream_version(self, stream_id: str) -> int:
        return self._version(stream_id)

    async def mark_processed(self, consumer: str, event_id: uuid.UUID) -> bool:
        key = (consumer, event_id)
        if key in self._store._processed or key in self._processed:
            return False
        self._processed.add(key)
        return True

    async def get_checkpoint(self, name: str) -> int:
        return self._checkpoints.get(name, self._store._checkpoints.get(name, 0))

    async def set_checkpoint(self, name: str, position: int) -> None:
        self._checkpoints[name] = position

    async def get_consumer_position(self, consumer: str, stream: str) -> tuple[int, str | None] | None:
        key = (consumer, stream)
        return self._positions.get(key, self._store._positions.get(key))

    async def hold_lease(self, name: str, holder: str, ttl_seconds: float) -> bool:
        now = time.monotonic()
        current = self._store._leases.get(name)
        if current is None or current[0] != holder or current[1] <= now:
            return False
        self._store._leases[name] = (holder, now + ttl_seconds)
        return True

    async def advance_consumer_position(self, consumer: str, stream: str, position: int) -> None:
        current = await self.get_consumer_position(consumer, stream)
        if current is None:
            self._positions[(consumer, stream)] = (position, None)
        elif position > current[0]:
            self._positions[(consumer, stream)] = (position, current[1])

    async def reset_consumer_position(self, consumer: str, stream: str, position: int,
                                      stream_created: str | None) -> None:
        self._positions[(consumer, stream)] = (position, stream_created)

    def _commit(self) -> None:
        s = self._store
        for stream_id, evs in self._streams.items():
            s._streams.setdefault(stream_id, []).extend(evs)
        for ev in self._log:
            s._by_id[ev.id] = ev
        s._log.extend(self._log)
        s._position += len(self._log)
        s._processed |= self._processed
        s._checkpoints.update(self._checkpoints)
        s._positions.update(self._positions)


class InMemoryEventStore:
    def __init__(self, max_event_bytes: int | None = DEFAULT_EVENT_MAX_BYTES) -> None:
        self.max_event_bytes = max_event_bytes  # see eventkit.store.check_event_sizes
        self._streams: dict[str, list[Envelope]] = {}
        self._by_id: dict[uuid.UUID, Envelope] = {}
        self._log: list[Envelope] = []
        self._position = 0
        self._processed: set[tuple[str, uuid.UUID]] = set()
        self._checkpoints: dict[str, int] = {}
        self._positions: dict[tuple[str, str], tuple[int, str | None]] = {}
        self._leases: dict[str, tuple[str, float]] = {}
        self._lock = asyncio.Lock()
        self._leases: dict[str, tuple[str, float]] = {}  # name -> (holder, monotonic expiry)

    def _stream_version(self, stream_id: str) -> int:
        return len(self._streams.get(stream_id, []))

    @asynccontextmanager
    async def transaction(self) -> AsyncIterator[_MemoryTx]:
        async with self._lock:  # one writer at a time: positions in commit order
            tx = _MemoryTx(self)
            yield tx
            tx._commit()

    async def append(self, stream_id, events, expected_version=None) -> AppendResult:
        async with self.transaction() as tx:
            return await tx.append(stream_id, events, expected_version)

    async def read_stream(self, stream_id: str, from_version: int = 1) -> list[Envelope]:
        return [e for e in self._streams.get(stream_id, []) if e.stream_version >= from_version]

    async def stream_version(self, stream_id: str) -> int:
        return self._stream_version(stream_id)

    async def read_all(self, after_position: int = 0, limit: int = 1000) -> list[Envelope]:
        return self._log[after_position: after_position + limit]

    async def last_position(self) -> int:
        return self._position

    async def get_checkpoint(self, name: str) -> int:
        return self._checkpoints.get(name, 0)

    async def set_checkpoint(self, name: str, position: int) -> None:
        async with self.transaction() as tx:
            await tx.set_checkpoint(name, position)

    async def acquire_lease(self, name: str, holder: str, ttl_seconds: float) -> bool:
        """Take or renew ``name`` for ``ttl_seconds`` if it is free, expired or already ``holder``'s."""
        now = time.monotonic()
        current = self._leases.get(name)
        if current is not None and current[0] != holder and current[1] > now:
            return False
        self._leases[name] = (holder, now + ttl_seconds)
        return True

    async def release_lease(self, name: str, holder: str) -> None:
        if self._leases.get(name, ("", 0.0))[0] == holder:
            del self._leases[name]

    async def close(self) -> None:
        return None
