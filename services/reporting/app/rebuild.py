"""Rebuild every read model from the event log into a new generation, then swap it in.

1. Create generation N+1 beside the current N (queries and live consumers keep using N).
2. Replay each source's log into N+1 in large batches. The rebuild is N+1's only writer, so the
   projector keeps everything in memory and reads nothing back: the append-only rows of each batch
   (applied ids, facts, timeline, answers, rencontres) go to a :class:`Loader` that COPYs them on
   its own connection while the next batch is projected; subjects, state, sources, the per-day
   tally, the partnership-years (``pyear``) and what is still parked are written once, at the end. N+1 is created with its primary
   keys only; its other indexes are built after the load (one sort each, not one btree insertion
   per row), then VACUUM ANALYZE. SQLite takes the same path with ``executemany``.
   The sources are independent (each one's lookups come from its own events), so each can be
   projected in a process of its own, with its own loader (``apart``, :func:`_replay_apart`);
   the rebuild's projector then takes in what they kept in memory (``Projector.absorb``) and
   writes it once, as if it had projected them one after the other.
3. Swap, in ONE transaction that first locks the generation row (the live handlers read it
   ``FOR SHARE``, SQLite has a single writer anyway): replay what arrived since step 2, then point
   ``rpt_meta.generation`` at N+1. No live event can land in N after that final catch-up, and
   every event the live consumers applied to N came from the same log, so N+1 holds all of them.
   After the swap the live consumers write N+1; an event the rebuild already applied is skipped
   (the generation's ``applied`` table).
4. Drop N after a short grace period, so a query that just read "N" can finish — all but empty
   ``applied`` and ``state`` tables: a live consumer whose guess is still N (a single event's
   claim names them in the statement that checks the guess) is then told "not current" instead
   of failing on a missing table. Those stubs go three rebuilds later.

The log is JetStream (one stream per producing service, replayed with an ephemeral consumer), or
anything else that yields the envelopes in order: tests use a list. If the streams no longer hold
everything (limits, a lost node), refill them from the services' stores first with the relay's
re-publish (``jumelage republish``; JetStream drops what it still has by ``Nats-Msg-Id``).
"""

from __future__ import annotations

import asyncio
import gc
import multiprocessing
import os
import re
import time
import traceback
from functools import partial
from contextlib import asynccontextmanager
from typing import Any, AsyncContextManager, AsyncIterator, Callable, Mapping, Protocol, Sequence

from sqlalchemy import inspect, select, text, update
from sqlalchemy.ext.asyncio import AsyncEngine

from jumelage_contracts import Envelope

from reporting.adapters.loader import Loader
from reporting.adapters.projector import Projector
from reporting.adapters.tables import (
    create_generation_sync,
    create_indexes_sync,
    drop_generation_sync,
    generation,
    rpt_meta,
)

Batch = tuple[list[Envelope], int]
SLICE = 500  # events projected between two turns of the writer (see Loader)


class EventLog(Protocol):
    sources: Sequence[str]

    def batches(self, source: str, after: int, size: int) -> AsyncIterator[Batch]:
        """Envelopes of ``source`` after cursor ``after``, in order, with the cursor after each
        batch, up to the end of the log as it was when the iteration started."""
        ...


class ListLog:
    """A log held in memory (tests, benchmarks): ``{source: [envelopes in order]}``."""

    forkable = True  # a forked process reads it as it is (see rebuild's ``apart``)

    def __init__(self, events: Mapping[str, Sequence[Envelope]]) -> None:
        self.events = {k: list(v) for k, v in events.items()}
        self.sources = list(self.events)

    async def batches(self, source: str, after: int, size: int) -> AsyncIterator[Batch]:
        items = self.events.get(source, [])
        end = len(items)
        for start in range(after, end, size):
            chunk = items[start:min(start + size, end)]
            yield chunk, start + len(chunk)


OpenLog = Callable[[AsyncEngine], AsyncContextManager[EventLog]]
"""How a process of the rebuild opens the log for itself (its own connections), given its engine."""


async def rebuild(engine: AsyncEngine, log: EventLog, *, batch_size: int = 2000, grace_seconds: float = 2.0,
                  before_swap=None, apart: bool = False, open_log: OpenLog | None = None) -> dict[str, Any]:
    """Rebuild into a new generation and swap it in; returns figures (events, seconds, generation).

    ``apart``: project each source in a process of its own, where there are several sources,
    the platform forks, the database is not an in-memory SQLite one, and the processes can read
    the log. The processes are forked: a log that says it is ``forkable`` (in memory) is theirs
    as it is; one holding connections (JetStream) needs ``open_log`` to open one of their own.
    Off by default: on the 2-core machine it was measured on, beside PostgreSQL, it bought
    nothing (1 M events: 199 s apart, 193 s together; 100 000: slower) — see benchmarks/README."""
    started = time.perf_counter()
    async with engine.begin() as conn:
        old = int((await conn.execute(select(rpt_meta.c.value).where(rpt_meta.c.key == "generation"))).scalar_one())
        new = old + 1
        await conn.run_sync(_drop_leftovers, old)
        await conn.run_sync(partial(create_generation_sync, indexes=False), new)
    projector = Projector(generation(new), keep_cache=True)
    cursors: dict[str, int] = {}
    phases: dict[str, Any] = {}  # with apart: each process's seconds, then the parent's
    apart = (apart and len(log.sources) > 1 and _can_fork() and engine.url.database not in (None, "", ":memory:")
             and (open_log is not None or getattr(log, "forkable", False)))
    try:
        seen, applied = await _load_all(engine, log, projector, cursors, batch_size, apart, open_log, phases)
    finally:
        gc.unfreeze()  # (see _replay)
    async with engine.begin() as conn:
        await projector.redact_bulk(conn)
    loaded_at = time.perf_counter()
    async with engine.begin() as conn:
        await conn.run_sync(create_indexes_sync, new)
    indexed_at = time.perf_counter()
    if engine.dialect.name == "postgresql":
        # Statistics for the planner, and the visibility map that lets the covering index answer
        # an académie's sums without touching the table, before queries start using it.
        async with engine.connect() as conn:
            conn = await conn.execution_options(isolation_level="AUTOCOMMIT")
            for table in generation(new).metadata.sorted_tables:
                await conn.execute(text(f'VACUUM (ANALYZE) "{table.name}"'))
    replayed_at = time.perf_counter()
    if before_swap is not None:
        await before_swap()
    async with engine.begin() as conn:
        lock = select(rpt_meta.c.value).where(rpt_meta.c.key == "generation")
        if conn.dialect.name == "postgresql":
            lock = lock.with_for_update()
        await conn.execute(lock)
        for source in log.sources:
            async for envelopes, cursor in log.batches(source, cursors[source], batch_size):
                applied += await projector.apply(conn, envelopes)
                seen += len(envelopes)
                cursors[source] = cursor
        await conn.execute(update(rpt_meta).where(rpt_meta.c.key == "generation").values(value=str(new)))
    swapped_at = time.perf_counter()
    await asyncio.sleep(grace_seconds)
    async with engine.begin() as conn:
        await conn.run_sync(_retire, old)
    return {"generation": new, "previous_generation": old, "events": seen, "applied": applied,
            "cursors": cursors, "replay_seconds": round(replayed_at - started, 3),
            "load_seconds": round(loaded_at - started, 3), "index_seconds": round(indexed_at - loaded_at, 3),
            "vacuum_seconds": round(replayed_at - indexed_at, 3),
            "swap_seconds": round(swapped_at - replayed_at, 3),
            "events_per_second": round(seen / max(swapped_at - started, 1e-9), 1), "apart": phases or None}


async def _load_all(engine: AsyncEngine, log: EventLog, projector: Projector, cursors: dict[str, int],
                    batch_size: int, apart: bool, open_log: OpenLog | None,
                    phases: dict[str, Any]) -> tuple[int, int]:
    """Step 2: every source's log projected and loaded into the projector's generation, then
    what the projector kept; fills ``cursors``, returns the events seen and applied."""
    seen = applied = 0
    if apart:
        answers = await _replay_apart(engine, log, projector.gen.number, batch_size, open_log)
        started = time.perf_counter()
        for source, (cursor, n_seen, n_applied, memory, figures) in zip(log.sources, answers):
            projector.absorb(memory)
            cursors[source] = cursor
            seen += n_seen
            applied += n_applied
            phases[source] = figures
        absorbed = time.perf_counter()
        async with Loader(engine) as load:
            await load.put(projector.snapshot())
        phases["parent"] = {"absorb_seconds": round(absorbed - started, 3),
                            "snapshot_seconds": round(time.perf_counter() - absorbed, 3)}
        return seen, applied
    async with Loader(engine) as load:
        for source in log.sources:
            cursors[source], n_seen, n_applied = await _replay(projector, load, log, source, batch_size)
            seen += n_seen
            applied += n_applied
        await load.put(projector.snapshot())
    return seen, applied


async def _replay(projector: Projector, load: Loader, log: EventLog, source: str,
                  batch_size: int) -> tuple[int, int, int]:
    """Project ``source``'s whole log into the loader; returns its cursor, events seen, applied."""
    cursor = seen = applied = 0
    async for envelopes, cursor in log.batches(source, 0, batch_size):
        rows: dict[Any, list[dict[str, Any]]] = {}
        for start in range(0, len(envelopes), SLICE):
            for table, more in (await projector.project_bulk(envelopes[start:start + SLICE])).items():
                rows.setdefault(table, []).extend(more)
            await asyncio.sleep(0)  # the writer's turn: its COPY goes on while we project
        applied += len(rows.get(projector.gen.applied, ()))
        await load.put(rows)
        seen += len(envelopes)
        # What the projection keeps (its state, subjects, the ids it applied) only grows: the
        # cycle collector's full passes would walk it again and again for nothing (a fifth of the
        # projection's CPU). Frozen, it is left out of them; refcounts still free what is let go.
        gc.freeze()
    return cursor, seen, applied


def _can_fork() -> bool:
    return "fork" in multiprocessing.get_all_start_methods()


async def _replay_apart(engine: AsyncEngine, log: EventLog, number: int, batch_size: int,
                        open_log: OpenLog | None) -> list[tuple[int, int, int, dict[str, Any], dict[str, Any]]]:
    """Each source replayed by a forked process into generation ``number`` (its own projector,
    engine and loader); returns, per source in order, its cursor, counts, projector memory and
    figures (seconds in all, of its CPU, waiting for its loader; rows loaded)."""
    url = engine.url.render_as_string(hide_password=False)
    context = multiprocessing.get_context("fork")
    started = []
    try:
        for source in log.sources:
            receiver, sender = context.Pipe(duplex=False)
            process = context.Process(target=_replay_in_child, name=f"reporting-rebuild-{source}",
                                      args=(sender, url, log, open_log, number, source, batch_size), daemon=True)
            process.start()
            sender.close()
            started.append((source, process, receiver))
        loop = asyncio.get_running_loop()
        answers = await asyncio.gather(*(loop.run_in_executor(None, _receive, receiver) for _, _, receiver in started))
    finally:
        for _, process, receiver in started:
            if process.is_alive():
                await asyncio.get_running_loop().run_in_executor(None, process.join, 30)
            if process.is_alive():
                process.kill()
            receiver.close()
    out = []
    for (source, _, _), (status, value) in zip(started, answers):
        if status != "ok":
            raise RuntimeError(f"the rebuild of source {source} failed:\n{value}")
        out.append(value)
    return out


def _receive(receiver: Any) -> tuple[str, Any]:
    try:
        return receiver.recv()
    except EOFError:
        return "error", "its process ended without an answer"


def _replay_in_child(sender: Any, url: str, log: EventLog, open_log: OpenLog | None, number: int, source: str,
                     batch_size: int) -> None:
    # forked from inside the parent's running loop: Python 3.11 leaves it marked as running here
    asyncio.events._set_running_loop(None)
    try:
        sender.send(("ok", asyncio.run(_replay_one(url, log, open_log, number, source, batch_size))))
    except BaseException:
        sender.send(("error", traceback.format_exc()))
    finally:
        sender.close()


async def _replay_one(url: str, log: EventLog, open_log: OpenLog | None, number: int, source: str,
                      batch_size: int) -> tuple[int, int, int, dict[str, Any], dict[str, Any]]:
    from eventkit.sql import make_engine

    started, cpu = time.perf_counter(), time.process_time()
    engine = make_engine(url)
    try:
        async with (open_log(engine) if open_log is not None else _as_is(log)) as own:
            projector = Projector(generation(number), keep_cache=True)
            async with Loader(engine) as load:
                cursor, seen, applied = await _replay(projector, load, own, source, batch_size)
                projected = time.perf_counter()
            figures = {"seconds": round(time.perf_counter() - started, 3),
                       "cpu_seconds": round(time.process_time() - cpu, 3),  # this process's: projection, loader's encoding
                       "last_writes_seconds": round(time.perf_counter() - projected, 3), "rows": load.rows}
        return cursor, seen, applied, projector.memory(), figures
    finally:
        await engine.dispose()


@asynccontextmanager
async def _as_is(log: EventLog) -> AsyncIterator[EventLog]:
    yield log


STUBS = ("applied", "state")  # what a live consumer's claim names: kept empty after the swap
STUB_GENERATIONS = 3  # how many past generations keep them


def _retire(sync_connection, number: int) -> None:
    """Drop a swapped-out generation but for empty stubs of the tables a live claim names."""
    drop_generation_sync(sync_connection, number, keep=STUBS)
    gen = generation(number)
    for table in (gen.applied, gen.state):
        if sync_connection.dialect.name == "postgresql":
            sync_connection.execute(text(f'TRUNCATE "{table.name}"'))
        else:
            sync_connection.execute(table.delete())


def _drop_leftovers(sync_connection, current: int) -> None:
    """Every generation table but the current generation's and the recent stubs: what a crashed
    rebuild left half built, and older generations' stubs."""
    pattern = re.compile(r"^rpt_g(\d+)_(\w+)$")
    for name in inspect(sync_connection).get_table_names():
        found = pattern.match(name)
        if not found or int(found.group(1)) == current:
            continue
        number, kind = int(found.group(1)), found.group(2)
        if number < current and kind in STUBS and current + 1 - number <= STUB_GENERATIONS:  # + the one retiring
            continue
        sync_connection.execute(text(f'DROP TABLE IF EXISTS "{name}"'))


async def rebuild_from_env(settings, *, batch_size: int = 2000) -> dict[str, Any]:
    """The ``python -m reporting rebuild`` command: migrate, replay JetStream, swap."""
    from eventkit.bus import NatsConnection
    from eventkit.migrations import KIT_MIGRATIONS, run_migrations
    from eventkit.shredding import Keyring, nats_key_fetcher
    from eventkit.sql import make_engine
    from reporting.adapters.jetstream import JetStreamLog
    from reporting.bootstrap import MIGRATIONS, SOURCES

    await run_migrations(settings.database_url, [KIT_MIGRATIONS, MIGRATIONS])

    @asynccontextmanager
    async def open_log(engine: AsyncEngine) -> AsyncIterator[EventLog]:
        """JetStream through a NATS connection of the calling process's own."""
        nats = NatsConnection(settings.nats_url, name=f"reporting-rebuild-{os.getpid()}")
        await nats.start()
        try:
            if not await nats.wait_connected(10):
                raise SystemExit(f"NATS not reachable at {settings.nats_url}")
            keyring = Keyring("reporting", nats_key_fetcher(nats, settings.subject_root))

            async def opener(envelopes):
                async with engine.begin() as conn:
                    return await keyring.open_many(conn, envelopes)

            yield JetStreamLog(nats.js, settings.subject_root, SOURCES, opener=opener)
        finally:
            await nats.close()

    engine = make_engine(settings.database_url)
    try:
        async with open_log(engine) as log:
            return await rebuild(engine, log, batch_size=batch_size, open_log=open_log)
    finally:
        await engine.dispose()
