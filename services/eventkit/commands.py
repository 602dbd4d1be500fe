"""The command runner: load → decide → append with optimistic concurrency, one loop for every service.

A service gives a ``decide`` function per command: it loads the streams the decision needs through
the :class:`Attempt` it is handed (each stream read at most once per attempt, from its snapshot
when there is one), asks the read model for facts (:meth:`Attempt.facts`), checks who asks, calls
its pure decider and returns the :class:`Write` s. The runner owns the rest:

* every write appends with the version its stream was decided on. With a pinned version
  (``If-Match``) a conflict is the caller's to resolve (409, :class:`~eventkit.store.ConcurrencyError`).
  Without one, a conflict means someone else wrote in between: the command is decided again on the
  fresh streams, after a short random backoff, up to ``retries`` times;
* round trips. Without a pinned version, the first attempt decides on the states this process
  last saw (:meth:`eventkit.snapshots.StreamLoader.cached`), or on an empty stream for an id the
  service just made up (``Attempt.load(..., new=True)``), without reading: the append's expected
  version proves them current. Anything else that attempt leads to — a conflict, a refusal,
  nothing to do — is decided again on the streams read afresh, since another process may have
  written since. A command on a stream this process keeps warm is then one round trip (the
  commit) on PostgreSQL, plus one per read-model lookup: the store's hot path takes its
  connection without the checkout ping (a dead one fails the statement, which runs once more on
  another, pinged);
* the commit: one write without read-model rows is one ``store.append`` (one round trip on
  PostgreSQL, ``eventkit_append``). Writes with read rows, or to several streams, are on
  PostgreSQL ONE statement too: the service's ``project`` runs against a
  :class:`~eventkit.pgfast.RowRecorder` that keeps its statements as data, and
  ``store.append_with_rows`` sends them with every stream's events to ``eventkit_commit`` (rows,
  then the appends, in one implicit transaction; one append that inserts nothing → nothing
  written). Where that cannot be (SQLite, a project that reads a result, a row the server
  refused: :class:`~eventkit.store.NeedsTransaction`), one
  transaction where ``project`` writes its rows first (each event's version is known: the
  expected version plus its rank), then the appends — readers of the global log wait on a
  transaction from its first append to its commit, so the rows stay out of that window. A
  read-row uniqueness that lost to a concurrent write (one of ``retry_on``) is decided again too,
  even with a pinned version (the pinned stream did not move: the check runs again on load).
  ``jumelage_command_commits_total{path}`` counts each way;
* the cache: the states of what was written move forward in the loaders, and persisted snapshots
  are written when due.

:meth:`CommandRunner.handle_in` runs the same decision once inside a caller's transaction (a
consumer's, whose inbox row commits with it).
"""

from __future__ import annotations

import asyncio
import random
from dataclasses import dataclass, field
from typing import Any, Awaitable, Callable, Protocol, Sequence, TypeVar

from jumelage_contracts import Actor, Envelope, EventData, to_envelope

from . import metrics
from .logging import get_logger
from .pgfast import run_once_more_if_lost
from .snapshots import Loaded, SnapshotStore, StreamLoader
from .store import ConcurrencyError, NeedsTransaction, Transaction

T = TypeVar("T")

log = get_logger("eventkit.commands")

RETRIES = 8
# Writers that lost a race back off a little, at random, so they do not collide again in lockstep.
BACKOFF_SECONDS = 0.004

_RETRIED = metrics.counter("jumelage_command_retries_total",
                           "Commands decided again: a conflict, or a first attempt on a cached state refused",
                           ["reason"])


_COMMITS = metrics.counter("jumelage_command_commits_total",
                           "Command commits by path: one server-side statement (rows and events), a "
                           "transaction, or an append without read rows", ["path"])
_FALLBACKS = metrics.counter("jumelage_command_statement_fallbacks_total",
                             "Commits that could not go as one statement and went through a transaction, by cause",
                             ["cause"])


class CommandContext(Protocol):
    """Who asks, under which correlation, and on which version of the main stream they decided."""

    @property
    def actor(self) -> Actor: ...

    correlation_id: Any
    causation_id: Any
    expected_version: int | None


@dataclass(frozen=True)
class Write:
    """Events to append to one stream at the version it was decided on."""

    stream_id: str
    expected_version: int
    events: Sequence[EventData]
    academie: str | None = None

    @classmethod
    def on(cls, loaded: Loaded, events: Sequence[EventData], academie: str | None = None) -> "Write":
        return cls(loaded.stream_id, loaded.version, list(events), academie)


@dataclass
class Written:
    """What a command stored: the main stream, its version now, every event appended (on every
    stream, with positions) and the main stream's state after them (None when not loaded)."""

    stream_id: str
    version: int
    events: list[Envelope] = field(default_factory=list)
    state: Any = None


class _CacheMiss(Exception):
    """A first attempt that decided on cached states met a refusal or nothing to do."""


class Attempt:
    """One try of a command: the streams it loaded (each once) and its read-model lookups."""

    def __init__(self, runner: "CommandRunner", ctx: CommandContext, main_stream: str, *,
                 optimistic: bool, source: Any = None) -> None:
        self.runner = runner
        self.ctx = ctx
        self.main_stream = main_stream
        self.optimistic = optimistic
        self.used_cache = False
        self._source = source  # a caller's transaction (handle_in), else the store
        self.loaded: dict[str, tuple[StreamLoader, Loaded]] = {}

    def now(self):
        return self.runner.runtime.clock.now()

    async def load(self, stream_id: str, loader: StreamLoader, *, new: bool = False) -> Loaded:
        """The stream folded by ``loader``. ``new``: the caller just made the id up, so the stream
        is empty unless the id collides (the append at version 0 then conflicts, and the next
        attempt reads it)."""
        known = self.loaded.get(stream_id)
        if known is not None:
            return known[1]
        loaded = None
        if self.optimistic:
            loaded = loader.new(stream_id) if new else loader.cached(stream_id)
            self.used_cache = self.used_cache or loaded is not None
        if loaded is None:
            if self._source is not None:
                loaded = await loader.load(self._source, stream_id)
            else:
                loaded = await loader.load(self.runner.runtime.store, stream_id, self.runner.persisted())
        expected = self.ctx.expected_version
        if stream_id == self.main_stream and expected is not None and expected != loaded.version:
            raise ConcurrencyError(stream_id, expected, loaded.version)
        self.loaded[stream_id] = (loader, loaded)
        return loaded

    async def facts(self, query: Callable[[Any], Awaitable[T]]) -> T:
        """``query(connection)``: a read-model lookup. Inside a caller's transaction it runs there;
        otherwise on the store's reader (autocommit: one statement, no BEGIN/ROLLBACK), on
        PostgreSQL without the checkout ping (a lookup is read-only: on a lost connection it
        runs once more on another)."""
        if self._source is not None:
            return await query(self._source.connection)
        store = self.runner.runtime.store
        if getattr(store, "fast", None) is not None:
            return await run_once_more_if_lost(store.reader, query)
        async with store.reader.connect() as conn:
            return await query(conn)


Decide = Callable[[Attempt], Awaitable[Sequence[Write]]]
Project = Callable[[Transaction, Sequence[Envelope], Sequence[EventData]], Awaitable[None]]


class CommandRunner:
    """Runs commands for one service (see the module doc).

    * ``runtime``: the service's :class:`~eventkit.runtime.ServiceRuntime` (store, clock, relay);
    * ``project(tx, envelopes, events)``: writes the service's read rows for events about to be
      appended, in their transaction; ``projects(events)`` says whether a write needs it (all
      writes do when only ``project`` is given);
    * ``retry_on``: exceptions of ``project`` that mean "a concurrent write took a row first";
    * ``snapshots``: returns the persisted snapshot store to load and save through (or None).
    """

    def __init__(self, runtime: Any, *, project: Project | None = None,
                 projects: Callable[[Sequence[EventData]], bool] | None = None,
                 retry_on: tuple[type[Exception], ...] = (), retries: int = RETRIES,
                 backoff: float = BACKOFF_SECONDS,
                 snapshots: Callable[[], SnapshotStore | None] | None = None) -> None:
        self.runtime = runtime
        self.project = project
        self.projects = projects or (lambda events: project is not None)
        self.retry_on = retry_on
        self.retries = retries
        self.backoff = backoff
        self.persisted = snapshots or (lambda: None)

    async def handle(self, ctx: CommandContext, decide: Decide, main_stream: str) -> Written:
        """Decide and append, again on a conflict unless ``ctx.expected_version`` pins the main
        stream; the last conflict goes out as :class:`~eventkit.store.ConcurrencyError`."""
        optimistic = ctx.expected_version is None
        for attempt_no in range(self.retries):
            attempt = Attempt(self, ctx, main_stream, optimistic=optimistic)
            optimistic = False
            try:
                writes = await self._decide(attempt, decide)
                return await self._commit(attempt, writes)
            except _CacheMiss:
                _RETRIED.labels("cache").inc()
                continue
            except ConcurrencyError:
                if attempt.used_cache:
                    _RETRIED.labels("cache").inc()
                    continue  # the cache was behind the stream: no race, read it now
                if ctx.expected_version is not None or attempt_no == self.retries - 1:
                    raise
                _RETRIED.labels("conflict").inc()
                await asyncio.sleep(random.uniform(0, self.backoff * (attempt_no + 1)))
            except self.retry_on as exc:
                if attempt_no == self.retries - 1:
                    raise ConcurrencyError(main_stream, ctx.expected_version, -1) from exc
                _RETRIED.labels("row").inc()
        raise AssertionError("unreachable")  # pragma: no cover

    async def handle_in(self, tx: Transaction, ctx: CommandContext, decide: Decide, main_stream: str) -> Written:
        """Decide and append once inside ``tx`` (a consumer's transaction): the streams are read
        through it, and a conflict aborts it (the consumer's retry runs it again)."""
        attempt = Attempt(self, ctx, main_stream, optimistic=False, source=tx)
        writes = await decide(attempt)
        # no cache move: the caller's transaction may still roll back, and a cached state ahead of
        # the stream would be taken for a snapshot by the next load
        return await self._write(attempt, writes, tx, advance=False)

    async def _decide(self, attempt: Attempt, decide: Decide) -> Sequence[Write]:
        try:
            writes = await decide(attempt)
        except ConcurrencyError:
            raise
        except Exception as exc:
            if attempt.used_cache:
                raise _CacheMiss() from exc  # refused on what this process last saw: ask the streams
            raise
        if attempt.used_cache and not any(w.events for w in writes):
            raise _CacheMiss()  # nothing to do, as far as the cache knows: confirm on the streams
        return writes

    async def _commit(self, attempt: Attempt, writes: Sequence[Write]) -> Written:
        pending = [w for w in writes if w.events]
        if not pending or (len(pending) == 1 and not self.projects(pending[0].events)):
            _COMMITS.labels("append").inc()
            return await self._write(attempt, writes, None)
        written = await self._write_at_once(attempt, writes, pending)
        if written is not None:
            _COMMITS.labels("statement").inc()
            return written
        async with self.runtime.transaction() as tx:
            written = await self._write(attempt, writes, tx, advance=False)
        _COMMITS.labels("transaction").inc()
        await self._advance(attempt, writes, written)
        return written

    async def _write_at_once(self, attempt: Attempt, writes: Sequence[Write], pending: Sequence[Write]) -> Written | None:
        """The ``pending`` writes and their read rows in one server-side statement (PostgreSQL: the
        rows recorded by the service's ``project``, then ``eventkit_commit``), or None when they
        must go through a transaction (:class:`~eventkit.store.NeedsTransaction`: nothing was written)."""
        make_recorder = getattr(self.runtime.store, "row_recorder", None)
        recorder = make_recorder() if make_recorder is not None else None
        if recorder is None:
            return None
        now = attempt.now()
        batches = [(w, self._envelopes(attempt, w, now)) for w in pending]
        try:
            if self.project is not None:
                for write, envelopes in batches:
                    if self.projects(write.events):
                        await self.project(recorder, envelopes, write.events)
            stored = await self.runtime.append_with_rows(
                [(w.stream_id, envelopes, w.expected_version) for w, envelopes in batches], recorder)
        except NeedsTransaction as exc:
            log.debug("commit_through_a_transaction", stream_id=pending[0].stream_id, reason=str(exc))
            _FALLBACKS.labels(type(exc.__cause__).__name__ if exc.__cause__ is not None else "recording").inc()
            return None
        written = self._written(attempt, writes, {w.stream_id: r.stream_version for w, r in zip(pending, stored)},
                                [e for r in stored for e in r.events])
        await self._advance(attempt, writes, written)
        return written

    def _envelopes(self, attempt: Attempt, write: Write, now: Any) -> list[Envelope]:
        """The events of ``write`` as envelopes occurred at ``now``, each with the stream version
        it will take."""
        ctx = attempt.ctx
        return [to_envelope(data, stream_id=write.stream_id, occurred_at=now, correlation_id=ctx.correlation_id,
                            causation_id=ctx.causation_id, actor=ctx.actor, academie=write.academie)
                .model_copy(update={"stream_version": write.expected_version + i})
                for i, data in enumerate(write.events, start=1)]

    async def _write(self, attempt: Attempt, writes: Sequence[Write], tx: Transaction | None,
                     advance: bool = True) -> Written:
        """Project (in ``tx``) then append every write; ``tx`` None: one write, on its own."""
        now = attempt.now()  # one instant for every event of the command
        batches = [(w, self._envelopes(attempt, w, now)) for w in writes if w.events]
        versions: dict[str, int] = {}
        appended: list[Envelope] = []
        if tx is not None and self.project is not None:
            for write, envelopes in batches:
                if self.projects(write.events):
                    await self.project(tx, envelopes, write.events)
        for write, envelopes in batches:
            if tx is not None:
                stored = await tx.append(write.stream_id, envelopes, expected_version=write.expected_version)
            else:
                stored = await self.runtime.append(write.stream_id, envelopes, expected_version=write.expected_version)
            versions[write.stream_id] = stored.stream_version
            appended.extend(stored.events)
        written = self._written(attempt, writes, versions, appended)
        if advance:
            await self._advance(attempt, writes, written)
        return written

    def _written(self, attempt: Attempt, writes: Sequence[Write], versions: dict[str, int],
                 appended: list[Envelope]) -> Written:
        main = attempt.loaded.get(attempt.main_stream)
        versions = {**{w.stream_id: w.expected_version for w in writes}, **versions}
        return Written(attempt.main_stream, versions.get(attempt.main_stream, main[1].version if main else 0),
                       appended, self._state_after(attempt, writes))

    def _state_after(self, attempt: Attempt, writes: Sequence[Write]) -> Any:
        main = attempt.loaded.get(attempt.main_stream)
        if main is None:
            return None
        loader, loaded = main
        events = next((w.events for w in writes if w.stream_id == attempt.main_stream), ())
        return loader.fold(events, loaded.state) if events else loaded.state

    async def _advance(self, attempt: Attempt, writes: Sequence[Write], written: Written) -> None:
        """Move the loaders' caches past what was just appended (after the commit)."""
        versions: dict[str, int] = {}
        for envelope in written.events:
            versions[envelope.stream_id] = max(versions.get(envelope.stream_id, 0), envelope.stream_version or 0)
        persisted = self.persisted() if attempt._source is None else None
        for write in writes:
            known = attempt.loaded.get(write.stream_id)
            if known is None or not write.events or write.stream_id not in versions:
                continue
            loader, loaded = known
            await loader.advance(loaded, list(write.events), versions[write.stream_id], persisted)
