"""Rebuild every read model from the event log into a new generation, then swap it in.

1. Create generation N+1 beside the current N (queries and live consumers keep using N).
2. Replay each source's log into N+1 in large batches. The rebuild is N+1's only writer, so the
   projector keeps everything in memory and reads nothing back: the append-only rows of each batch
   (applied ids, facts, timeline, answers, rencontres) go to a :class:`Loader` that COPYs them on
   its own connection while the next batch is projected; subjects, state, sources, the per-day
   tally, the partnership-years (``pyear``) and what is still parked are written once, at the end. N+1 is created with its primary
   keys only; its other indexes are built after the load (one sort each, not one btree insertion
   per row), then VACUUM ANALYZE. SQLite takes the same path with ``executemany``.
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
import re
import time
from functools import partial
from typing import Any, AsyncIterator, Mapping, Protocol, Sequence

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

    def __init__(self, events: Mapping[str, Sequence[Envelope]]) -> None:
        self.events = {k: list(v) for k, v in events.items()}
        self.sources = list(self.events)

    async def batches(self, source: str, after: int, size: int) -> AsyncIterator[Batch]:
        items = self.events.get(source, [])
        end = len(items)
        for start in range(after, end, size):
            chunk = items[start:min(start + size, end)]
            yield chunk, start + len(chunk)


async def rebuild(engine: AsyncEngine, log: EventLog, *, batch_size: int = 2000, grace_seconds: float = 2.0,
                  before_swap=None) -> dict[str, Any]:
    """Rebuild into a new generation and swap it in; returns figures (events, seconds, generation)."""
    started = time.perf_counter()
    async with engine.begin() as conn:
        old = int((await conn.execute(select(rpt_meta.c.value).where(rpt_meta.c.key == "generation"))).scalar_one())
        new = old + 1
        await conn.run_sync(_drop_leftovers, old)
        await conn.run_sync(partial(create_generation_sync, indexes=False), new)
    projector = Projector(generation(new), keep_cache=True)
    cursors: dict[str, int] = {}
    seen = applied = 0
    async with Loader(engine) as load:
        for source in log.sources:
            cursors[source] = 0
            async for envelopes, cursor in log.batches(source, 0, batch_size):
                rows: dict[Any, list[dict[str, Any]]] = {}
                for start in range(0, len(envelopes), SLICE):
                    for table, more in (await projector.project_bulk(envelopes[start:start + SLICE])).items():
                        rows.setdefault(table, []).extend(more)
                    await asyncio.sleep(0)  # the writer's turn: its COPY goes on while we project
                applied += len(rows.get(projector.gen.applied, ()))
                await load.put(rows)
                seen += len(envelopes)
                cursors[source] = cursor
        await load.put(projector.snapshot())
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
            "events_per_second": round(seen / max(swapped_at - started, 1e-9), 1)}


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
    engine = make_engine(settings.database_url)
    nats = NatsConnection(settings.nats_url, name="reporting-rebuild")
    await nats.start()
    try:
        if not await nats.wait_connected(10):
            raise SystemExit(f"NATS not reachable at {settings.nats_url}")
        keyring = Keyring("reporting", nats_key_fetcher(nats, settings.subject_root))

        async def opener(envelopes):
            async with engine.begin() as conn:
                return await keyring.open_many(conn, envelopes)

        log = JetStreamLog(nats.js, settings.subject_root, SOURCES, opener=opener)
        return await rebuild(engine, log, batch_size=batch_size)
    finally:
        await nats.close()
        await engine.dispose()
