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
   itself COPYs its plain inserts — facts, timeline, applied ids — on PostgreSQL; ``--apart``
   projects each source in a forked process of its own, each with its own loader.) The projection's CPU alone, without a database: ``benchmarks.reporting_cpu``.
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
from sqlalchemy import func, select
from sqlalchemy.dialects import postgresql
from sqlalchemy.schema import CreateIndex

from jumelage_contracts.subjects import SOURCES as ALL_SOURCES
from jumelage_contracts.subjects import dead_letter_stream, event_subject, stream_name

from eventkit.bus import NatsConnection, provision_now
from eventkit.migrations import KIT_MIGRATIONS, run_migrations
from eventkit.settings import ServiceSettings
from eventkit.sql import make_engine
from reporting.adapters import queries
from reporting.adapters.queries import Filters
from reporting.adapters.tables import generation
from reporting.app.rebuild import ListLog, rebuild
from reporting.bootstrap import MIGRATIONS, SOURCES, build_runtime
from reporting.domain.indicators import derive
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


async def raw_insert_baseline(dsn: str, gen_number: int, batch: int, mode: str) -> tuple[int, float]:
    """Insert the rows of generation ``gen_number`` again into empty copies of its tables, raw
    asyncpg, in transactions of ``batch`` rows: ``executemany`` or ``COPY`` into tables with every
    index (``LIKE … INCLUDING ALL``), or ``copy+index``: ``COPY`` into tables with their primary
    keys only, then ``CREATE INDEX`` of the others (how the rebuild loads), index builds timed."""
    g = generation(gen_number)
    conn = await asyncpg.connect(dsn)
    try:
        rows_total, elapsed = 0, 0.0
        for table in g.metadata.sorted_tables:
            cols = [c.name for c in table.columns if not (c.primary_key and c.autoincrement is True
                                                         and c.name == "id")]
            target = f"bench_{mode.replace('+', '_')}_{table.name}"
            like = "INCLUDING DEFAULTS INCLUDING CONSTRAINTS" if mode == "copy+index" else "INCLUDING ALL"
            await conn.execute(f'CREATE TABLE "{target}" (LIKE "{table.name}" {like})')
            pkey = [c.name for c in table.primary_key.columns]
            records = [tuple(r) for r in await conn.fetch(f'SELECT {", ".join(cols)} FROM "{table.name}"')]
            if not records:
                continue
            sql = f'INSERT INTO "{target}" ({", ".join(cols)}) VALUES ({", ".join(f"${i + 1}" for i in range(len(cols)))})'
            started = time.perf_counter()
            if mode == "copy+index":
                await conn.execute(f'ALTER TABLE "{target}" ADD PRIMARY KEY ({", ".join(pkey)})')
            for start in range(0, len(records), batch):
                async with conn.transaction():
                    if mode == "executemany":
                        await conn.executemany(sql, records[start:start + batch])
                    else:
                        await conn.copy_records_to_table(target, records=records[start:start + batch], columns=cols)
            if mode == "copy+index":
                for index in table.indexes:
                    ddl = str(CreateIndex(index).compile(dialect=postgresql.dialect()))
                    await conn.execute(ddl.replace(f'INDEX {index.name} ON {table.name}',
                                                   f'INDEX "bench_{index.name}" ON "{target}"'))
            elapsed += time.perf_counter() - started
            rows_total += len(records)
        return rows_total, elapsed
    finally:
        await conn.close()


async def indicators_from_index(conn, g, as_of, flt) -> dict:
    """The option not kept (issue 14 asked for both): the académie's sums read from the facts'
    covering index ``fact_academie`` (``queries.metric_sums``, as the general path does), the rest
    from the académie's facts grouped per partnership-year (``_year_from_facts``: what the service
    read before ``pyear``). Same figures, checked below."""
    out = derive((await queries.metric_sums(conn, g, as_of, flt)).get(None, {}))
    year = await queries._year_from_facts(conn, g, as_of, flt)
    out.update({k: year[k] for k in ("schools_reached", "overdue_work_meeting", "overdue_bilan")})
    return out


async def indicators_general(conn, g, as_of, flt) -> dict:
    """The general path (any filter), as every académie query ran before issue 14: the sums,
    then schools reached and overdue, each reading the facts again."""
    out = derive((await queries.metric_sums(conn, g, as_of, flt)).get(None, {}))
    out["schools_reached"] = await queries.schools_reached(conn, g, as_of, flt)
    out.update(await queries.overdue(conn, g, as_of, flt))
    return out


QUERY_PATHS = {"tally": queries.indicators, "index": indicators_from_index, "general": indicators_general}


async def query_latency(engine, count: int, academies: list[str]) -> dict[str, list[float]]:
    """``count`` académie queries at random as-of dates through each path, interleaved (the same
    dates and académies for each); the answers are compared (a difference is printed)."""
    rng = random.Random(3)
    timings: dict[str, list[float]] = {name: [] for name in QUERY_PATHS}
    for _ in range(count):
        as_of = date(2025, 3, 1) + timedelta(days=rng.randint(0, 900))
        flt = Filters(academie=rng.choice(academies))
        answers = {}
        for name, run in QUERY_PATHS.items():
            started = time.perf_counter()
            async with engine.connect() as conn:
                gen = await queries.current_generation(conn)
                answers[name] = await run(conn, gen, as_of, flt)
            timings[name].append(time.perf_counter() - started)
        if not answers["tally"] == answers["general"] == answers["index"]:
            print(f"DIFFERENT ANSWERS as of {as_of} for {flt}: {answers}")
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
        for stream in [*(stream_name(s, root) for s in ALL_SOURCES), dead_letter_stream(root)]:
            try:  # the run's streams on the shared NATS
                await publisher.js.delete_stream(stream)
            except Exception:  # noqa: BLE001 - a stream not made is fine
                pass
        await publisher.close()
        await drop_database(server, name)


async def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--events", type=int, default=1_000_000)
    parser.add_argument("--catchup-events", type=int, default=20_000)
    parser.add_argument("--queries", type=int, default=300)
    parser.add_argument("--batch", type=int, default=5000)
    parser.add_argument("--apart", action="store_true", help="the rebuild projects each source in a process")
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
            report = await rebuild(engine, ListLog(by_source(events)), batch_size=args.batch, grace_seconds=0,
                                   apart=args.apart)
            seconds = report["replay_seconds"] + report["swap_seconds"]
            rebuild_rate = len(events) / seconds
            async with engine.connect() as conn:
                g = generation(report["generation"])
                counts = {t.name.split("_", 2)[2]: (await conn.execute(select(func.count()).select_from(t))).scalar_one()
                          for t in g.metadata.sorted_tables}
            rows, raw_seconds = await raw_insert_baseline(dsn, report["generation"], args.batch, "executemany")
            _, copy_seconds = await raw_insert_baseline(dsn, report["generation"], args.batch, "copy")
            _, bulk_seconds = await raw_insert_baseline(dsn, report["generation"], args.batch, "copy+index")
            print(f"\nrebuild: {len(events)} events in {seconds:.1f}s = {rebuild_rate:,.0f} events/s "
                  f"({sum(counts.values()):,} rows written: {counts}; projection and COPY {report['load_seconds']:.1f}s, "
                  f"index builds {report['index_seconds']:.1f}s, VACUUM ANALYZE {report['vacuum_seconds']:.1f}s, "
                  f"swap {report['swap_seconds']:.1f}s)")
            if report.get("apart"):
                print(f"rebuild's processes (a source each, then the parent): {report['apart']}")
            for label, took in (("batched insert (executemany), indexed tables", raw_seconds),
                                ("COPY, indexed tables", copy_seconds),
                                ("COPY, then the secondary indexes built", bulk_seconds)):
                print(f"raw asyncpg {label}, the same {rows:,} rows: {took:.1f}s = "
                      f"{len(events) / took:,.0f} events/s equivalent ({rows / took:,.0f} rows/s); "
                      f"ratio rebuild/raw {took / seconds:.2f}")

            academies = sorted({e.academie for e in events if e.academie})
            await query_latency(engine, 5, academies)  # warm the caches and the pool
            timings = await query_latency(engine, args.queries, academies)
            print(f"\nacadémie indicator query ({len(events):,} events loaded, {args.queries} queries per path, "
                  f"random as_of, paths interleaved; a difference in their answers is printed above):")
            for path, values in timings.items():
                values.sort()
                p50 = statistics.median(values) * 1000
                p99 = values[min(len(values) - 1, int(len(values) * 0.99))] * 1000
                print(f"  {path:8} p50 {p50:6.1f} ms  p99 {p99:6.1f} ms  max {values[-1] * 1000:6.1f} ms")
            await engine.dispose()
        finally:
            await drop_database(server, name)

    if not args.catchup_events:
        return
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
