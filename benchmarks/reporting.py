"""Reporting benchmark: rebuild throughput, académie query latency, consumer catch-up.

    .venv/bin/python -m benchmarks.reporting [--events 1000000] [--catchup-events 20000] [--queries 300]

Database: ``JUMELAGE_BENCH_DATABASE_URL`` (server URL, default
``postgresql://postgres@127.0.0.1:5432/postgres``), a scratch database created and dropped by the
run. NATS: ``JUMELAGE_BENCH_NATS_URL`` (default ``nats://127.0.0.1:4222``), a subject root of its own.

1. **rebuild**: a random valid history of ``--events`` events (``reporting.sample``) is rebuilt
   into a new generation through the real rebuild (projection, batched writes, swap); events/s.
   **Baselines in the same run**: the very rows the rebuild wrote (facts, timeline, applied ids,
   subjects, state) inserted again by raw asyncpg into empty copies of the tables, in batches of
   the same size: ``executemany`` (the raw batched insert) and ``COPY``. The ratios are the price
   of projecting (event decoding, lookups, upserts) over just writing its output. (The rebuild
   itself COPYs its plain inserts — facts, timeline, applied ids — on PostgreSQL.)
2. **académie indicator query** with all those events loaded: ``queries.indicators`` for one
   académie at random as-of dates (every indicator: sums, distinct schools, overdue); p50/p99.
3. **consumer catch-up**: ``--catchup-events`` events published to JetStream, then the service's
   three live consumers started on an empty read model; events/s from the consumers' start until
   all are applied. Twice, interleaved: as the service runs them (each fetched batch in one
   transaction, projected by the batch handler: one claim, one state read, one write per table),
   and with the batch handler removed (the same transaction per batch, the one-event projection
   called per event: a few round trips each) — what the batch handler buys.
   ``--events 0`` runs the catch-up only.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import random
import statistics
import time
import uuid
from datetime import date, timedelta
from urllib.parse import urlsplit, urlunsplit

import asyncpg
from sqlalchemy import select

from jumelage_contracts.subjects import event_subject

from eventkit.bus import NatsConnection, provision_now
from eventkit.migrations import KIT_MIGRATIONS, run_migrations
from eventkit.settings import ServiceSettings
from eventkit.sql import make_engine
from reporting.adapters import queries
from reporting.adapters.queries import Filters
from reporting.adapters.tables import generation
from reporting.app.rebuild import ListLog, rebuild
from reporting.bootstrap import MIGRATIONS, SOURCES, build_runtime
from reporting.sample import history

DEFAULT_SERVER = "postgresql://postgres@127.0.0.1:5432/postgres"


def make_history(total: int, seed: int = 1) -> list:
    """About ``total`` events: histories of 2 000 candidatures each, ids kept apart by a prefix."""
    rng = random.Random(seed)
    out: list = []
    chunk = 0
    while len(out) < total:
        out += history(rng, campaigns=20, candidatures=2000, validate=False, prefix=f"h{chunk}-")
        chunk += 1
    return out[:total]


def by_source(events) -> dict[str, list]:
    grouped: dict[str, list] = {s: [] for s in SOURCES}
    for env in events:
        grouped[env.source].append(env)
    return grouped


async def scratch_database(server: str) -> tuple[str, str]:
    name = "jumelage_bench_rpt_" + uuid.uuid4().hex[:8]
    conn = await asyncpg.connect(server)
    await conn.execute(f'CREATE DATABASE "{name}"')
    await conn.close()
    parts = urlsplit(server)
    return name, urlunsplit((parts.scheme, parts.netloc, "/" + name, "", ""))


async def drop_database(server: str, name: str) -> None:
    conn = await asyncpg.connect(server)
    await conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
    await conn.close()


async def raw_insert_baseline(dsn: str, gen_number: int, batch: int, copy: bool = False) -> tuple[int, float]:
    """Insert the rows of generation ``gen_number`` again into empty copies, raw asyncpg
    (``executemany`` in transactions of ``batch`` rows, or ``COPY`` of ``batch`` rows)."""
    g = generation(gen_number)
    conn = await asyncpg.connect(dsn)
    try:
        rows_total, elapsed = 0, 0.0
        for table in (g.fact, g.timeline, g.applied, g.subject, g.state):
            cols = [c.name for c in table.columns if not (c.primary_key and c.autoincrement is True
                                                         and c.name == "id")]
            target = f"bench_{'copy' if copy else 'raw'}_{table.name}"
            await conn.execute(f'CREATE TABLE "{target}" (LIKE "{table.name}" INCLUDING ALL)')
            records = [tuple(r) for r in await conn.fetch(f'SELECT {", ".join(cols)} FROM "{table.name}"')]
            sql = f'INSERT INTO "{target}" ({", ".join(cols)}) VALUES ({", ".join(f"${i + 1}" for i in range(len(cols)))})'
            started = time.perf_counter()
            for start in range(0, len(records), batch):
                async with conn.transaction():
                    if copy:
                        await conn.copy_records_to_table(target, records=records[start:start + batch], columns=cols)
                    else:
                        await conn.executemany(sql, records[start:start + batch])
            elapsed += time.perf_counter() - started
            rows_total += len(records)
        return rows_total, elapsed
    finally:
        await conn.close()


async def query_latency(engine, count: int, academies: list[str]) -> list[float]:
    rng = random.Random(3)
    timings = []
    for _ in range(count):
        as_of = date(2025, 3, 1) + timedelta(days=rng.randint(0, 900))
        started = time.perf_counter()
        async with engine.connect() as conn:
            gen = await queries.current_generation(conn)
            await queries.indicators(conn, gen, as_of, Filters(academie=rng.choice(academies)))
        timings.append(time.perf_counter() - started)
    return timings


async def catch_up(server: str, nats_url: str, events: list, batch_handler: bool = True) -> tuple[int, float]:
    name, url = await scratch_database(server)
    root = "bench" + uuid.uuid4().hex[:8]
    publisher = NatsConnection(nats_url, name="bench-publisher")
    await publisher.start()
    assert await publisher.wait_connected(10), f"NATS not reachable at {nats_url}"
    runtime = None
    try:
        await provision_now(publisher, root, SOURCES)
        acks = []
        for env in events:
            headers, body = env.to_nats()
            acks.append(await publisher.js.publish_async(event_subject(env, root), body, headers=headers)
                        if hasattr(publisher.js, "publish_async") else
                        await publisher.js.publish(event_subject(env, root), body, headers=headers))
        if acks and asyncio.isfuture(acks[0]):
            await asyncio.gather(*acks)
        settings = ServiceSettings.from_env("reporting", env={}, database_url=url, nats_url=nats_url,
                                            subject_root=root, log_level="WARNING")
        runtime = build_runtime(settings)
        if not batch_handler:
            for spec in runtime.consumers:
                spec.batch_handler = None
        await runtime.start()  # migrations, NATS, durable consumers: not part of the catch-up
        started = time.perf_counter()
        engine = runtime.engine
        while True:
            async with engine.connect() as conn:
                gen = await queries.current_generation(conn)
                done = sum(s["events_applied"] for s in await queries.lag_positions(conn, gen))
            if done >= len(events):
                break
            await asyncio.sleep(0.2)
        return len(events), time.perf_counter() - started
    finally:
        if runtime is not None:
            await runtime.stop()
        await publisher.close()
        await drop_database(server, name)


async def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--events", type=int, default=1_000_000)
    parser.add_argument("--catchup-events", type=int, default=20_000)
    parser.add_argument("--queries", type=int, default=300)
    parser.add_argument("--batch", type=int, default=5000)
    args = parser.parse_args()
    server = os.environ.get("JUMELAGE_BENCH_DATABASE_URL", DEFAULT_SERVER)
    nats_url = os.environ.get("JUMELAGE_BENCH_NATS_URL", "nats://127.0.0.1:4222")

    rebuild_rate = 0.0
    if args.events:
        started = time.perf_counter()
        events = make_history(args.events)
        print(f"generated {len(events)} events in {time.perf_counter() - started:.1f}s")
        name, dsn = await scratch_database(server)
        url = dsn.replace("postgresql://", "postgresql+asyncpg://", 1)
        try:
            await run_migrations(url, [KIT_MIGRATIONS, MIGRATIONS])
            engine = make_engine(url)
            report = await rebuild(engine, ListLog(by_source(events)), batch_size=args.batch, grace_seconds=0)
            seconds = report["replay_seconds"] + report["swap_seconds"]
            rebuild_rate = len(events) / seconds
            async with engine.connect() as conn:
                g = generation(report["generation"])
                counts = {t.name: (await conn.execute(select(__import__("sqlalchemy").func.count()).select_from(t))).scalar_one()
                          for t in (g.fact, g.timeline, g.applied, g.subject, g.state)}
            rows, raw_seconds = await raw_insert_baseline(dsn, report["generation"], args.batch)
            _, copy_seconds = await raw_insert_baseline(dsn, report["generation"], args.batch, copy=True)
            print(f"\nrebuild: {len(events)} events in {seconds:.1f}s = {rebuild_rate:,.0f} events/s "
                  f"({sum(counts.values()):,} rows written: {counts})")
            print(f"raw asyncpg batched insert of the same {rows:,} rows: {raw_seconds:.1f}s = "
                  f"{len(events) / raw_seconds:,.0f} events/s equivalent ({rows / raw_seconds:,.0f} rows/s)")
            print(f"raw asyncpg COPY of the same rows: {copy_seconds:.1f}s = {len(events) / copy_seconds:,.0f} events/s "
                  f"equivalent ({rows / copy_seconds:,.0f} rows/s)")
            print(f"ratio rebuild/raw batched insert: {raw_seconds / seconds:.2f}; rebuild/raw COPY: "
                  f"{copy_seconds / seconds:.2f} (rebuild events/s over the raw write of its own output)")

            academies = sorted({e.academie for e in events if e.academie})
            await query_latency(engine, 5, academies)  # warm the caches and the pool
            timings = sorted(await query_latency(engine, args.queries, academies))
            p50 = statistics.median(timings) * 1000
            p99 = timings[min(len(timings) - 1, int(len(timings) * 0.99))] * 1000
            print(f"\nacadémie indicator query ({len(events):,} events loaded, {args.queries} queries, random as_of): "
                  f"p50 {p50:.1f} ms, p99 {p99:.1f} ms")
            await engine.dispose()
        finally:
            await drop_database(server, name)

    # a whole small history (not the first events of a big one): all three sources, in time order
    sample = history(random.Random(2), campaigns=10, candidatures=max(1, args.catchup_events // 15), validate=False)
    rates: dict[bool, list[float]] = {True: [], False: []}
    for batched in (True, False, True, False):
        count, seconds = await catch_up(server, nats_url, sample, batch_handler=batched)
        rates[batched].append(count / seconds)
    batch_rate, single_rate = statistics.median(rates[True]), statistics.median(rates[False])
    print(f"\nconsumer catch-up from JetStream ({count:,} events, 3 live consumers, a transaction per fetched batch; "
          f"two runs each, interleaved, medians):")
    print(f"  batch handler (as the service runs):  {batch_rate:,.0f} events/s  {[round(r) for r in rates[True]]}")
    print(f"  one-event projection per event:       {single_rate:,.0f} events/s  {[round(r) for r in rates[False]]}")
    print(f"  ratio batch/one-event: {batch_rate / single_rate:.2f}"
          + (f"; rebuild/catch-up rate: {rebuild_rate / batch_rate:.1f} — not like for like: the rebuild read "
             f"{args.events:,} events from an in-memory list, the catch-up {count:,} from JetStream through "
             f"durable consumers" if rebuild_rate else ""))


if __name__ == "__main__":
    asyncio.run(main())
