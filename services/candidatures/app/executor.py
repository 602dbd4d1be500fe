"""Load → decide → append (+ project) with optimistic concurrency.

Every write appends with the version the decision was taken on. With ``If-Match`` the caller
names that version and a conflict is its to resolve (409). Without it, a conflict means someone
else wrote in between: the command is re-decided on the fresh stream a few times, which is what
makes concurrent attributions on one offer end with exactly its capacity taken.
"""

from __future__ import annotations

import asyncio
import uuid
import weakref
from dataclasses import dataclass, field
from typing import Any, Awaitable, Callable, Sequence

from eventkit.auth import Principal
from eventkit.store import ConcurrencyError
from jumelage_contracts import Actor, Envelope, EventData, parse_event, to_envelope

from candidatures.adapters import read_model

RETRIES = 8


@dataclass(frozen=True)
class Context:
    """Who asks, under which correlation, and on which version they decided (If-Match)."""

    principal: Principal
    correlation_id: uuid.UUID
    expected_version: int | None = None
    causation_id: uuid.UUID | None = None

    @property
    def actor(self) -> Actor:
        return self.principal.actor


@dataclass
class Loaded:
    stream_id: str
    version: int
    events: list[EventData]

    def fold(self, fold: Callable[[list[EventData]], Any]) -> Any:
        return fold(self.events)


@dataclass
class Result:
    """What a write returns: the stream, its new version and the events appended (on every stream)."""

    id: str
    stream_id: str
    version: int
    events: list[Envelope] = field(default_factory=list)
    extra: dict[str, Any] = field(default_factory=dict)


@dataclass
class Write:
    stream_id: str
    expected_version: int
    events: list[EventData]
    academie: str | None


_readers: "weakref.WeakKeyDictionary[Any, Any]" = weakref.WeakKeyDictionary()


def reader_of(store: Any):
    """The store's engine in autocommit (one per store, made on first use): a read is one
    statement, without BEGIN/ROLLBACK round trips."""
    engine = _readers.get(store)
    if engine is None:
        engine = _readers[store] = store.engine.execution_options(isolation_level="AUTOCOMMIT")
    return engine


class Executor:
    def __init__(self, runtime: Any) -> None:
        self.runtime = runtime

    @property
    def store(self):
        return self.runtime.store

    def reader(self):
        """The store's engine in autocommit: a read is one statement, no BEGIN/ROLLBACK round trips."""
        return reader_of(self.runtime.store)

    def now(self):
        return self.runtime.clock.now()

    async def load_many(self, *stream_ids: str) -> list[Loaded]:
        """Several streams read side by side (each on its own pooled connection)."""
        return list(await asyncio.gather(*(self.load(s) for s in stream_ids)))

    async def load(self, stream_id: str) -> Loaded:
        envelopes = await self.store.read_stream(stream_id)
        version = envelopes[-1].stream_version if envelopes else 0
        return Loaded(stream_id, version, [parse_event(e) for e in envelopes])

    async def run(self, ctx: Context, decide: Callable[[], Awaitable[list[Write]]], result_id: str,
                  main_stream: str) -> Result:
        """Call ``decide`` (which loads what it needs and returns the writes) and commit its
        writes atomically; re-decide on a conflict unless the caller pinned a version."""
        for attempt in range(RETRIES):
            writes = await decide()
            main = next((w for w in writes if w.stream_id == main_stream), None)
            if ctx.expected_version is not None and main is not None and main.expected_version != ctx.expected_version:
                raise ConcurrencyError(main_stream, ctx.expected_version, main.expected_version)
            try:
                version, appended = await self.commit(ctx, writes)
            except ConcurrencyError:
                if ctx.expected_version is not None or attempt == RETRIES - 1:
                    raise
                continue
            except read_model.RowConflict as exc:
                # A read-table uniqueness lost to a concurrent write: decide again on what it
                # wrote (the decider then names the rule), even with If-Match — the pinned
                # stream itself did not move, which the check above verifies again.
                if attempt == RETRIES - 1:
                    raise ConcurrencyError(main_stream, main.expected_version if main else 0, -1) from exc
                continue
            return Result(result_id, main_stream, version.get(main_stream, main.expected_version if main else 0), appended)
        raise AssertionError("unreachable")

    async def commit(self, ctx: Context, writes: Sequence[Write]) -> tuple[dict[str, int], list[Envelope]]:
        """One transaction: read rows first, then the appends.

        The read tables are written BEFORE the appends (each event's version is known: the
        expected version plus its rank): from its first append to its commit the transaction holds
        readers of the global log back at its position (see eventkit.sql), so keeping our own
        statements out of that window keeps it short, and a failed append rolls the rows back with
        everything else. Row locks come first, appends last, always in that order.
        """
        versions: dict[str, int] = {w.stream_id: w.expected_version for w in writes}
        appended: list[Envelope] = []
        pending = [w for w in writes if w.events]
        if not pending:
            return versions, appended
        now = self.now()
        batches = [(w, [self.wrap(ctx, w, data, now).model_copy(update={"stream_version": w.expected_version + i})
                        for i, data in enumerate(w.events, start=1)]) for w in pending]
        async with self.runtime.transaction() as tx:
            for write, envelopes in batches:
                for envelope, data in zip(envelopes, write.events):
                    await read_model.project(tx.connection, envelope, data)
            for write, envelopes in batches:
                stored = await tx.append(write.stream_id, envelopes, expected_version=write.expected_version)
                versions[write.stream_id] = stored.stream_version
                appended.extend(stored.events)
        return versions, appended

    @staticmethod
    def wrap(ctx: Context, write: Write, data: EventData, now) -> Envelope:
        return to_envelope(data, stream_id=write.stream_id, occurred_at=now, correlation_id=ctx.correlation_id,
                           causation_id=ctx.causation_id, actor=ctx.actor, academie=write.academie)
