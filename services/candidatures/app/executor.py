"""The candidatures service on the kit's command runner (:mod:`eventkit.commands`): the loaders of
its four stream kinds, its read rows written in each command's transaction, and what a write
answers.

Every write appends with the version the decision was taken on. With ``If-Match`` the caller
names that version and a conflict is its to resolve (409). Without it, a conflict means someone
else wrote in between: the command is re-decided on the fresh streams a few times, which is what
makes concurrent attributions on one offer end with exactly its capacity taken.
"""

from __future__ import annotations

import uuid
import weakref
from dataclasses import dataclass, field
from typing import Any, Sequence

from eventkit.auth import Principal
from eventkit.commands import Attempt, CommandRunner, Decide, Write
from eventkit.snapshots import StreamLoader, fold_with
from jumelage_contracts import Actor, Envelope, EventData

from candidatures.adapters import read_model
from candidatures.domain import campaign, candidature, offer, renewal

__all__ = ["Attempt", "Context", "Executor", "Result", "Write", "reader_of"]


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
class Result:
    """What a write returns: the stream, its new version and the events appended (on every stream)."""

    id: str
    stream_id: str
    version: int
    events: list[Envelope] = field(default_factory=list)
    extra: dict[str, Any] = field(default_factory=dict)


_readers: "weakref.WeakKeyDictionary[Any, Any]" = weakref.WeakKeyDictionary()


def reader_of(store: Any):
    """The store's engine in autocommit (one per store, made on first use): a read is one
    statement, without BEGIN/ROLLBACK round trips."""
    engine = _readers.get(store)
    if engine is None:
        engine = _readers[store] = store.engine.execution_options(isolation_level="AUTOCOMMIT")
    return engine


async def project_rows(tx: Any, envelopes: Sequence[Envelope], events: Sequence[EventData]) -> None:
    """The read rows of events about to be appended, in their transaction (before the appends)."""
    for envelope, data in zip(envelopes, events):
        await read_model.project(tx.connection, envelope, data)


class Executor:
    def __init__(self, runtime: Any) -> None:
        self.runtime = runtime
        self.runner = CommandRunner(runtime, project=project_rows, retry_on=(read_model.RowConflict,))
        # One loader (and in-process state cache) per way of folding a stream.
        self.campaigns = StreamLoader(fold_with(campaign.NoCampaign, campaign.evolve))
        self.offers = StreamLoader(fold_with(offer.NoOffer, offer.evolve))
        self.candidatures = StreamLoader(fold_with(candidature.NoCandidature, candidature.evolve))
        self.partnerships = StreamLoader(fold_with(renewal.NotAPartnership, renewal.evolve))

    def reader(self):
        """The store's engine in autocommit: a read is one statement, no BEGIN/ROLLBACK round trips."""
        return reader_of(self.runtime.store)

    def now(self):
        return self.runtime.clock.now()

    async def run(self, ctx: Context, decide: Decide, result_id: str, main_stream: str) -> Result:
        """Run ``decide`` on the kit's runner (load through the attempt, decide, return the
        writes): committed atomically, re-decided on a conflict unless the caller pinned a version."""
        written = await self.runner.handle(ctx, decide, main_stream)
        return Result(result_id, main_stream, written.version, written.events)
