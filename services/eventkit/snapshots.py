"""Loading a stream into its state: read, parse, fold — from a snapshot when there is one.

A snapshot is the folded state at a stream version. It is only ever extended by the events after
its version, so a stale snapshot is never wrong, only a little slower. Two levels:

* in process: the latest states, bounded (least recently used out). States are immutable, so a
  cached one can be shared.
* persisted (optional, the service's own table behind a ``get`` / ``put`` port of
  :class:`StoredSnapshot`): written every ``persist_every`` events, so a process that starts (or
  lost the stream from its cache) loads a long stream from its snapshot plus the last few events
  instead of folding them all.

A persisted snapshot is a pickle of the state, tagged with the service's ``schema()``: a name of
the state's shape (e.g. a digest of the code that defines it). Code that changed that shape reads
another tag, ignores the old row and rebuilds it from the stream; a row that cannot be read is
treated the same way. The bytes are only ever written by the service into its own database.
"""

from __future__ import annotations

import pickle
from collections import OrderedDict
from dataclasses import dataclass
from typing import Any, Callable, Iterable, Protocol

from jumelage_contracts import EventData, parse_event

from .logging import get_logger

log = get_logger("eventkit.snapshots")

PERSIST_EVERY = 50

Fold = Callable[[Iterable[EventData], Any], Any]  # (events, state or None for a new stream) -> state


@dataclass(frozen=True)
class StoredSnapshot:
    stream_id: str
    version: int
    state_schema: str
    state: bytes


class SnapshotStore(Protocol):
    """Where a service keeps its persisted snapshots. ``put`` only moves a row forward (or
    replaces one of another schema)."""

    async def get(self, stream_id: str) -> StoredSnapshot | None: ...

    async def put(self, snapshot: StoredSnapshot) -> None: ...


def encode(state: Any) -> bytes:
    return pickle.dumps(state, protocol=pickle.HIGHEST_PROTOCOL)


def decode(stored: StoredSnapshot, schema: str) -> Any | None:
    """The state of a persisted snapshot, or None when it was written for another shape or cannot
    be read (it is then rebuilt from the stream)."""
    if stored.state_schema != schema:
        return None
    try:
        return pickle.loads(stored.state)
    except Exception as error:  # any failure to read a cache row only means: fold the stream
        log.warning("snapshot_unreadable", stream_id=stored.stream_id, version=stored.version, error=repr(error))
        return None


@dataclass(frozen=True)
class Loaded:
    """A stream folded up to ``version`` (0: no event yet)."""

    stream_id: str
    version: int
    state: Any


@dataclass(frozen=True)
class _Cached:
    version: int
    state: Any
    persisted_version: int  # version of the persisted snapshot, as far as this process knows


class StreamLoader:
    """Folds streams with ``fold``; ``snapshots=False`` turns both snapshot levels off.

    ``schema``: the name of the state's shape that persisted snapshots are tagged with (needed
    only when a snapshot store is passed to :meth:`load`)."""

    def __init__(self, fold: Fold, *, snapshots: bool = True, capacity: int = 2000,
                 persist_every: int = PERSIST_EVERY, schema: Callable[[], str] | None = None) -> None:
        self.fold = fold
        self.snapshots = snapshots
        self.capacity = capacity
        self.persist_every = persist_every
        self.schema = schema or (lambda: "unversioned")
        self._cache: OrderedDict[str, _Cached] = OrderedDict()

    async def load(self, source: Any, stream_id: str, persisted: SnapshotStore | None = None) -> Loaded:
        """``source`` is an event store or a transaction (anything with ``read_stream``);
        ``persisted`` the snapshot store, None to use the process cache only."""
        version, state, persisted_version = 0, None, 0
        if self.snapshots:
            version, state, persisted_version = await self._start(stream_id, persisted)
        envelopes = await source.read_stream(stream_id, from_version=version + 1)
        if envelopes:
            state = self.fold((parse_event(e) for e in envelopes), state)
            version = envelopes[-1].stream_version
        elif state is None:
            state = self.fold((), None)
        if self.snapshots and envelopes:
            if persisted is not None and version - persisted_version >= self.persist_every:
                persisted_version = await self._persist(persisted, stream_id, version, state, persisted_version)
            self._remember(stream_id, _Cached(version, state, persisted_version))
        return Loaded(stream_id, version, state)

    def new(self, stream_id: str) -> Loaded:
        """The state of a stream that has no event yet, without asking the store: for a stream
        whose id was just made up (a command's append at version 0 proves it still has none)."""
        return Loaded(stream_id, 0, self.fold((), None))

    async def _start(self, stream_id: str, persisted: SnapshotStore | None) -> tuple[int, Any, int]:
        cached = self._cache.get(stream_id)
        if cached is not None:
            return cached.version, cached.state, cached.persisted_version
        if persisted is None:
            return 0, None, 0
        try:
            stored = await persisted.get(stream_id)
        except Exception as error:  # a cache that cannot be read only means: fold the stream
            log.warning("snapshot_not_read", stream_id=stream_id, error=repr(error))
            return 0, None, 0
        state = decode(stored, self.schema()) if stored is not None else None
        if state is None:
            return 0, None, 0
        return stored.version, state, stored.version

    async def _persist(self, persisted: SnapshotStore, stream_id: str, version: int, state: Any, previous: int) -> int:
        try:
            await persisted.put(StoredSnapshot(stream_id, version, self.schema(), encode(state)))
        except Exception as error:  # a snapshot is a cache: failing to write one fails no command
            log.warning("snapshot_not_written", stream_id=stream_id, version=version, error=repr(error))
            return previous
        return version

    def forget_all(self) -> None:
        """Drop every state this process holds (an erasure: they may hold the person in clear)."""
        self._cache.clear()

    def cached(self, stream_id: str) -> Loaded | None:
        """The state this process last saw, without reading the stream: possibly behind it. A
        command decided on it must be checked by the append's expected version."""
        if not self.snapshots:
            return None
        cached = self._cache.get(stream_id)
        return Loaded(stream_id, cached.version, cached.state) if cached is not None else None

    async def advance(self, loaded: Loaded, events: list, version: int, persisted: SnapshotStore | None = None) -> None:
        """Move the cache past events this process just appended after ``loaded``, so the next
        command needs no read (and persist a snapshot when it is due)."""
        if not self.snapshots or version != loaded.version + len(events):
            return
        known = self._cache.get(loaded.stream_id)
        persisted_version = known.persisted_version if known is not None else 0
        state = self.fold(events, loaded.state)
        if persisted is not None and version - persisted_version >= self.persist_every:
            persisted_version = await self._persist(persisted, loaded.stream_id, version, state, persisted_version)
        self._remember(loaded.stream_id, _Cached(version, state, persisted_version))

    def _remember(self, stream_id: str, cached: _Cached) -> None:
        self._cache[stream_id] = cached
        self._cache.move_to_end(stream_id)
        while len(self._cache) > self.capacity:
            self._cache.popitem(last=False)


def fold_with(initial: Callable[[], Any], evolve: Callable[[Any, EventData], Any]) -> Fold:
    """A :data:`Fold` from a decider's initial state and ``evolve``."""

    def fold(events: Iterable[EventData], state: Any = None) -> Any:
        current = initial() if state is None else state
        for event in events:
            current = evolve(current, event)
        return current

    return fold
