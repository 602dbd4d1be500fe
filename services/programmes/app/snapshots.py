"""Loading a partnership: read its stream, parse, fold — from a snapshot when there is one.

A snapshot is the folded state at a stream version. It is only ever extended by the events after
its version, so a stale snapshot is never wrong, only a little slower. Two levels:

* in process: the latest states, bounded (least recently used out). States are immutable, so a
  cached one can be shared.
* persisted (``prog_snapshots``, :mod:`programmes.adapters.snapshots`): written every
  ``persist_every`` events, so a process that starts (or lost the stream from its cache) loads a
  three-year partnership from its snapshot plus the last few events instead of folding them all.

A persisted snapshot is a pickle of the state, tagged with :func:`state_schema`: a digest of the
code that defines the state's shape. Code that changed that shape reads another tag, ignores the
old row and rebuilds it from the stream; a row that cannot be read is treated the same way.
The bytes are only ever written by this service into its own database.
"""

from __future__ import annotations

import hashlib
import pickle
from collections import OrderedDict
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path
from typing import Any

from eventkit.logging import get_logger
from jumelage_contracts import candidatures as candidatures_contract
from jumelage_contracts import parse_event
from jumelage_contracts import programmes as programmes_contract
from jumelage_contracts import reference as reference_contract

from programmes.adapters.snapshots import StoredSnapshot
from programmes.domain import fold
from programmes.domain import state as state_module
from programmes.domain.state import State

log = get_logger("programmes")

# Raise when the encoding itself changes (the digest below follows the state's shape by itself).
SNAPSHOT_FORMAT = 1
PERSIST_EVERY = 50


@lru_cache(maxsize=1)
def state_schema() -> str:
    """The name of the snapshot's shape: a digest of the modules whose classes a pickled state
    holds (the domain's state dataclasses and the contract types inside them). A field added or
    renamed, an enum member removed — any edit there names another shape."""
    digest = hashlib.sha256(f"format {SNAPSHOT_FORMAT}".encode())
    for module in (state_module, programmes_contract, reference_contract, candidatures_contract):
        digest.update(Path(module.__file__).read_bytes())
    return f"v{SNAPSHOT_FORMAT}-{digest.hexdigest()[:40]}"


def encode(state: State) -> bytes:
    return pickle.dumps(state, protocol=pickle.HIGHEST_PROTOCOL)


def decode(stored: StoredSnapshot) -> State | None:
    """The state of a persisted snapshot, or None when it was written for another shape or cannot
    be read (it is then rebuilt from the stream)."""
    if stored.state_schema != state_schema():
        return None
    try:
        return pickle.loads(stored.state)
    except Exception as error:  # any failure to read a cache row only means: fold the stream
        log.warning("snapshot_unreadable", stream_id=stored.stream_id, version=stored.version, error=repr(error))
        return None


@dataclass(frozen=True)
class Loaded:
    stream_id: str
    version: int
    state: State


@dataclass(frozen=True)
class _Cached:
    version: int
    state: State
    persisted_version: int  # version of the persisted snapshot, as far as this process knows


class StreamLoader:
    def __init__(self, snapshots: bool = True, capacity: int = 2000, persist_every: int = PERSIST_EVERY) -> None:
        self.snapshots = snapshots
        self.capacity = capacity
        self.persist_every = persist_every
        self._cache: OrderedDict[str, _Cached] = OrderedDict()

    async def load(self, source: Any, stream_id: str, persisted: Any = None) -> Loaded:
        """``source`` is an event store or a transaction (anything with ``read_stream``);
        ``persisted`` the snapshot store (``get`` / ``put``), None to use the process cache only."""
        version, state, persisted_version = 0, None, 0
        if self.snapshots:
            version, state, persisted_version = await self._start(stream_id, persisted)
        envelopes = await source.read_stream(stream_id, from_version=version + 1)
        if envelopes:
            state = fold((parse_event(e) for e in envelopes), state)
            version = envelopes[-1].stream_version
        elif state is None:
            state = fold(())
        if self.snapshots and envelopes:
            if persisted is not None and version - persisted_version >= self.persist_every:
                persisted_version = await self._persist(persisted, stream_id, version, state, persisted_version)
            self._remember(stream_id, _Cached(version, state, persisted_version))
        return Loaded(stream_id, version, state)

    async def _start(self, stream_id: str, persisted: Any) -> tuple[int, State | None, int]:
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
        state = decode(stored) if stored is not None else None
        if state is None:
            return 0, None, 0
        return stored.version, state, stored.version

    async def _persist(self, persisted: Any, stream_id: str, version: int, state: State, previous: int) -> int:
        try:
            await persisted.put(StoredSnapshot(stream_id, version, state_schema(), encode(state)))
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

    async def advance(self, loaded: Loaded, events: list, version: int, persisted: Any = None) -> None:
        """Move the cache past events this process just appended after ``loaded``, so the next
        command needs no read (and persist a snapshot when it is due)."""
        if not self.snapshots or version != loaded.version + len(events):
            return
        known = self._cache.get(loaded.stream_id)
        persisted_version = known.persisted_version if known is not None else 0
        state = fold(events, loaded.state)
        if persisted is not None and version - persisted_version >= self.persist_every:
            persisted_version = await self._persist(persisted, loaded.stream_id, version, state, persisted_version)
        self._remember(loaded.stream_id, _Cached(version, state, persisted_version))

    def _remember(self, stream_id: str, cached: _Cached) -> None:
        self._cache[stream_id] = cached
        self._cache.move_to_end(stream_id)
        while len(self._cache) > self.capacity:
            self._cache.popitem(last=False)
