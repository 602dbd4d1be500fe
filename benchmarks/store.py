"""Event-store benchmark: the kit's SqlEventStore against raw asyncpg and against the
``eventsourcing`` library's PostgreSQL application recorder, same database, same run.

    .venv/bin/python -m benchmarks.store [--events N] [--rounds R]

Database: ``JUMELAGE_BENCH_DATABASE_URL`` (a server URL, default
``postgresql://postgres@127.0.0.1:5432/postgres``); a scratch database is created for the run
and dropped at the end. Scenarios (events/s, median of the rounds, implementations interleaved
so table growth and machine noise hit all of them alike):

* ``append 1/txn``: one event per transaction, one connection, each on a new stream with an
  expected version (the shape of an HTTP command);
* ``append 100/txn``: 100 events per transaction on one stream;
* ``append 1/txn x16``: 16 connections appending one event per transaction concurrently;
* ``read stream``: read back a stream of ~1000 events (decoded: envelopes for the kit, rows with
  their JSON decoded for raw asyncpg, stored events with their JSON state decoded for
  eventsourcing).

Every implementation keeps a tailing reader from skipping a late commit: the kit and "raw" take
their xid before their position and leave the waiting to readers at gaps (no lock, see
``eventkit.sql``); "raw txn" takes an advisory lock; eventsourcing's application recorder takes
``LOCK TABLE … IN EXCLUSIVE MODE``. Two raw asyncpg baselines: "raw" sends exactly the kit's
PostgreSQL SQL (one call of the ``eventkit_append`` function), so ``kit/raw`` is the price of
SQLAlchemy and envelopes; "raw txn" is the classic client-side transaction (BEGIN, lock,
``INSERT … SELECT FROM unnest(…)``, COMMIT: four round trips), the shape most hand-written
stores use.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import statistics
import sys
import time
import uuid
import zlib
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from datetime import datetime, timezone
from typing import Awaitable, Callable
from urllib.parse import urlsplit, urlunsplit

import asyncpg

from eventkit.sql import open_store
from jumelage_contracts import Envelope
from jumelage_contracts.envelope import Actor, Role

DEFAULT_SERVER = "postgresql://postgres@127.0.0.1:5432/postgres"
# The advisory lock of "raw txn" (the kit's own append lock until migration eventkit_0003).
APPEND_LOCK_KEY = zlib.crc32(b"jumelage.eventkit.append")
CONCURRENCY = 16
READ_STREAM_LENGTH = 1000


def an_envelope(stream_id: str) -> Envelope:
    return Envelope(
        type="CampaignOpened", source="candidatures", stream_id=stream_id,
        occurred_at=datetime.now(timezone.utc), correlation_id=uuid.uuid4(),
        actor=Actor(role=Role.academie, id="paris"), academie="paris",
        data={"campaign_id": stream_id, "dispositif": "culture", "annee_scolaire": "2025-2026",
              "intitule": "Appel à candidatures « jumelage » — académie de Paris",
              "date_limite": "2025-06-15"},
    )


# -- raw asyncpg --------------------------------------------------------------------------------

RAW_APPEND = """
WITH current AS (SELECT coalesce(max(stream_version), 0) AS v FROM events WHERE stream_id = $1)
INSERT INTO events (id, stream_id, stream_version, type, schema_version, source, occurred_at,
                    recorded_at, correlation_id, causation_id, actor_role, actor_id, academie, data)
SELECT n.id, $1, current.v + n.ord, n.type, n.schema_version, n.source, n.occurred_at, $2,
       n.correlation_id, n.causation_id, n.actor_role, n.actor_id, n.academie, n.data
FROM current,
     unnest($3::int[], $4::uuid[], $5::text[], $6::int[], $7::text[], $8::timestamptz[], $9::uuid[],
            $10::uuid[], $11::text[], $12::text[], $13::text[], $14::jsonb[])
       AS n(ord, id, type, schema_version, source, occurred_at, correlation_id, causation_id,
            actor_role, actor_id, academie, data)
WHERE ($15::int IS NULL OR current.v = $15)
  AND NOT EXISTS (SELECT 1 FROM events WHERE id = ($4::uuid[])[1])
ORDER BY n.ord
RETURNING position, stream_version
"""

RAW_READ = """
SELECT position, id, stream_id, stream_version, type, schema_version, source, occurred_at, recorded_at,
       correlation_id, causation_id, actor_role, actor_id, academie, data
FROM events WHERE stream_id = $1 AND stream_version >= 1 ORDER BY stream_version
"""


def raw_columns(batch: list[Envelope]) -> tuple:
    """The events as the arrays RAW_APPEND unnests."""
    return (
        list(range(1, len(batch) + 1)), [e.id for e in batch], [e.type for e in batch],
        [e.schema_version for e in batch], [e.source for e in batch], [e.occurred_at for e in batch],
        [e.correlation_id for e in batch], [e.causation_id for e in batch],
        [e.actor.role.value for e in batch], [e.actor.id for e in batch], [e.academie for e in batch],
        [json.dumps(e.data) for e in batch],
    )


async def raw_append(conn: asyncpg.Connection, stream_id: str, batch: list[Envelope], expected: int | None):
    columns = raw_columns(batch)
    async with conn.transaction():
        await conn.execute("SELECT pg_advisory_xact_lock($1)", APPEND_LOCK_KEY)
        rows = await conn.fetch(RAW_APPEND, stream_id, datetime.now(timezone.utc), *columns, expected)
    if not rows:
        raise RuntimeError("raw append conflicted")
    return rows


async def raw_unordered(conn: asyncpg.Connection, stream_id: str, batch: list[Envelope], expected: int | None):
    """The same INSERT in one autocommit statement, with neither a lock nor the xid step: positions
    in insert order, not commit order (the trap in DESIGN, unless readers hold back at gaps), so
    concurrent commits share WAL flushes. The ceiling for an append that keeps no order."""
    columns = raw_columns(batch)
    rows = await conn.fetch(RAW_APPEND, stream_id, datetime.now(timezone.utc), *columns, expected)
    if not rows:
        raise RuntimeError("raw append conflicted")
    return rows


RAW_CALL = """SELECT new_position, new_version FROM eventkit_append($1, $2, $3, $4, $5, $6, $7, $8, $9, $10,
                                                               $11, $12, $13, $14)"""


async def raw_call(conn: asyncpg.Connection, stream_id: str, batch: list[Envelope], expected: int | None):
    """The kit's own SQL on PostgreSQL (one autocommit call of eventkit_append), without the kit."""
    rows = await conn.fetch(
        RAW_CALL, stream_id, expected, datetime.now(timezone.utc), [e.id for e in batch],
        [e.type for e in batch], [e.schema_version for e in batch], [e.source for e in batch],
        [e.occurred_at for e in batch], [e.correlation_id for e in batch], [e.causation_id for e in batch],
        [e.actor.role.value for e in batch], [e.actor.id for e in batch], [e.academie for e in batch],
        [json.dumps(e.data) for e in batch],
    )
    if not rows:
        raise RuntimeError("raw append conflicted")
    return rows


async def raw_read(conn: asyncpg.Connection, stream_id: str) -> list[dict]:
    rows = await conn.fetch(RAW_READ, stream_id)
    return [{**dict(r), "data": json.loads(r["data"])} for r in rows]


# -- eventsourcing ----------------------------------------------------------------------------------


def es_stored(stream_uuid: uuid.UUID, version: int, envelope: Envelope):
    from eventsourcing.persistence import StoredEvent

    # The recorder keeps a topic and opaque bytes: carry the whole envelope so it stores as much.
    return StoredEvent(originator_id=stream_uuid, originator_version=version, topic=envelope.type,
                       state=envelope.model_dump_json().encode())


# -- harness ----------------------------------------------------------------------------------------


@dataclass
class Scenario:
    name: str
    events: int
    results: dict[str, list[float]] = field(default_factory=dict)

    def add(self, impl: str, seconds: float) -> None:
        self.results.setdefault(impl, []).append(self.events / seconds)

    def median(self, impl: str) -> float:
        return statistics.median(self.results[impl])


async def timed(fn: Callable[[], Awaitable[None]]) -> float:
    start = time.perf_counter()
    await fn()
    return time.perf_counter() - start


async def run(server_url: str, events: int, rounds: int) -> list[Scenario]:
    from eventsourcing.postgres import PostgresApplicationRecorder, PostgresDatastore

    parts = urlsplit(server_url.replace("postgresql+asyncpg://", "postgresql://"))
    db = f"jumelage_bench_{uuid.uuid4().hex[:10]}"
    admin = await asyncpg.connect(urlunsplit(("postgresql", parts.netloc, parts.path or "/postgres", "", "")))
    await admin.execute(f'CREATE DATABASE "{db}"')
    dsn = urlunsplit(("postgresql", parts.netloc, "/" + db, "", ""))
    store = sa_pinged = raw_pool = datastore = None
    try:
        # the store as the services open it (the kit's one-round-trip ping on checkout) and, below,
        # with SQLAlchemy's pool pre-ping instead (BEGIN, ";", ROLLBACK per checkout): what the
        # kit's ping saves
        store = await open_store(dsn, pool_size=CONCURRENCY + 2, max_overflow=0)
        sa_pinged = await open_store(dsn, pool_size=CONCURRENCY + 2, max_overflow=0, pool_pre_ping=True)
        raw_pool = await asyncpg.create_pool(dsn, min_size=CONCURRENCY, max_size=CONCURRENCY)
        datastore = PostgresDatastore(db, parts.hostname or "127.0.0.1", parts.port or 5432,
                                      parts.username or "postgres", parts.password or "",
                                      pool_size=CONCURRENCY, max_overflow=0)
        recorder = PostgresApplicationRecorder(datastore, events_table_name="es_events")
        recorder.create_table()
        executor = ThreadPoolExecutor(max_workers=CONCURRENCY)
        loop = asyncio.get_running_loop()

        single = Scenario("append 1/txn", events)
        batched = Scenario("append 100/txn", events * 10 // 100 * 100)
        concurrent = Scenario(f"append 1/txn x{CONCURRENCY}", events)
        reading = Scenario(f"read stream ({READ_STREAM_LENGTH})", READ_STREAM_LENGTH * 20)

        # -- append one event per transaction, one connection
        async def kit_single() -> None:
            for _ in range(single.events):
                sid = f"c-{uuid.uuid4()}"
                await store.append(sid, [an_envelope(sid)], expected_version=0)

        async def kit_single_no_ping() -> None:
            for _ in range(single.events):
                sid = f"n-{uuid.uuid4()}"
                await sa_pinged.append(sid, [an_envelope(sid)], expected_version=0)

        def raw_single_with(append):
            async def raw_single() -> None:
                async with raw_pool.acquire() as conn:
                    for _ in range(single.events):
                        sid = f"c-{uuid.uuid4()}"
                        await append(conn, sid, [an_envelope(sid)], 0)
            return raw_single

        def es_single_sync() -> None:
            for _ in range(single.events):
                oid = uuid.uuid4()
                recorder.insert_events([es_stored(oid, 1, an_envelope(str(oid)))])

        async def es_single() -> None:
            await loop.run_in_executor(executor, es_single_sync)

        # -- 100 events per transaction, one connection
        def batch_of(sid: str) -> list[Envelope]:
            return [an_envelope(sid) for _ in range(100)]

        async def kit_batched() -> None:
            sid = f"b-{uuid.uuid4()}"
            for n in range(batched.events // 100):
                await store.append(sid, batch_of(sid), expected_version=n * 100)

        def raw_batched_with(append):
            async def raw_batched() -> None:
                sid = f"b-{uuid.uuid4()}"
                async with raw_pool.acquire() as conn:
                    for n in range(batched.events // 100):
                        await append(conn, sid, batch_of(sid), n * 100)
            return raw_batched

        def es_batched_sync() -> None:
            oid = uuid.uuid4()
            for n in range(batched.events // 100):
                recorder.insert_events([es_stored(oid, n * 100 + i + 1, e)
                                        for i, e in enumerate(batch_of(str(oid)))])

        async def es_batched() -> None:
            await loop.run_in_executor(executor, es_batched_sync)

        # -- 16 connections, one event per transaction
        per_worker = concurrent.events // CONCURRENCY

        async def kit_concurrent() -> None:
            async def worker() -> None:
                for _ in range(per_worker):
                    sid = f"k-{uuid.uuid4()}"
                    await store.append(sid, [an_envelope(sid)], expected_version=0)
            await asyncio.gather(*[worker() for _ in range(CONCURRENCY)])

        def raw_concurrent_with(append):
            async def raw_concurrent() -> None:
                async def worker() -> None:
                    async with raw_pool.acquire() as conn:
                        for _ in range(per_worker):
                            sid = f"k-{uuid.uuid4()}"
                            await append(conn, sid, [an_envelope(sid)], 0)
                await asyncio.gather(*[worker() for _ in range(CONCURRENCY)])
            return raw_concurrent

        def es_worker() -> None:
            for _ in range(per_worker):
                oid = uuid.uuid4()
                recorder.insert_events([es_stored(oid, 1, an_envelope(str(oid)))])

        async def es_concurrent() -> None:
            await asyncio.gather(*[loop.run_in_executor(executor, es_worker) for _ in range(CONCURRENCY)])

        # -- read a stream of READ_STREAM_LENGTH events, 20 times
        read_sid, read_oid = "r-stream", uuid.uuid4()
        for n in range(READ_STREAM_LENGTH // 100):
            await store.append(read_sid, batch_of(read_sid), expected_version=n * 100)
            recorder.insert_events([es_stored(read_oid, n * 100 + i + 1, e)
                                    for i, e in enumerate(batch_of(str(read_oid)))])

        async def kit_read() -> None:
            for _ in range(20):
                assert len(await store.read_stream(read_sid)) == READ_STREAM_LENGTH

        async def raw_read_all() -> None:
            async with raw_pool.acquire() as conn:
                for _ in range(20):
                    assert len(await raw_read(conn, read_sid)) == READ_STREAM_LENGTH

        def es_read_sync() -> None:
            for _ in range(20):
                stored = recorder.select_events(read_oid)
                assert len([json.loads(s.state) for s in stored]) == READ_STREAM_LENGTH

        async def es_read() -> None:
            await loop.run_in_executor(executor, es_read_sync)

        plan = [
            (single, {"kit": kit_single, "kit pre-ping": kit_single_no_ping,
                      "raw asyncpg": raw_single_with(raw_call),
                      "raw txn": raw_single_with(raw_append), "eventsourcing": es_single,
                      "raw no lock": raw_single_with(raw_unordered)}),
            (batched, {"kit": kit_batched, "raw asyncpg": raw_batched_with(raw_call),
                       "raw txn": raw_batched_with(raw_append), "eventsourcing": es_batched}),
            (concurrent, {"kit": kit_concurrent, "raw asyncpg": raw_concurrent_with(raw_call),
                          "raw txn": raw_concurrent_with(raw_append), "eventsourcing": es_concurrent,
                          "raw no lock": raw_concurrent_with(raw_unordered)}),
            (reading, {"kit": kit_read, "raw asyncpg": raw_read_all, "eventsourcing": es_read}),
        ]
        # Warm-up: connections, prepared statements, compiled SQL.
        for _scenario, impls in plan[:1]:
            for fn in impls.values():
                await fn()
        for r in range(rounds):
            for scenario, impls in plan:
                order = list(impls.items())
                order = order[r % len(order):] + order[:r % len(order)]  # rotate who goes first
                for impl, fn in order:
                    scenario.add(impl, await timed(fn))
            print(f"  round {r + 1}/{rounds} done", file=sys.stderr, flush=True)
        executor.shutdown()
        return [s for s, _ in plan]
    finally:
        if datastore is not None:
            datastore.close()
        if raw_pool is not None:
            await raw_pool.close()
        if store is not None:
            await store.close()
        if sa_pinged is not None:
            await sa_pinged.close()
        await admin.execute(f'DROP DATABASE IF EXISTS "{db}" WITH (FORCE)')
        await admin.close()


def report(scenarios: list[Scenario], rounds: int) -> str:
    lines = [f"{'scenario':<22}{'kit ev/s':>11}{'raw ev/s':>11}{'raw txn':>11}{'es ev/s':>11}"
             f"{'no lock':>11}{'kit/raw':>9}{'kit/txn':>9}{'kit/es':>8}{'kit/nolock':>11}"]
    for s in scenarios:
        kit, raw, es = s.median("kit"), s.median("raw asyncpg"), s.median("eventsourcing")
        txn = s.median("raw txn") if "raw txn" in s.results else None
        txn_col = f"{txn:>11,.0f}" if txn else f"{'-':>11}"
        txn_ratio = f"{kit / txn:>9.2f}" if txn else f"{'-':>9}"
        free = s.median("raw no lock") if "raw no lock" in s.results else None
        free_col = f"{free:>11,.0f}" if free else f"{'-':>11}"
        free_ratio = f"{kit / free:>11.2f}" if free else f"{'-':>11}"
        lines.append(f"{s.name:<22}{kit:>11,.0f}{raw:>11,.0f}{txn_col}{es:>11,.0f}{free_col}"
                     f"{kit / raw:>9.2f}{txn_ratio}{kit / es:>8.2f}{free_ratio}")
    for s in scenarios:
        if "kit pre-ping" in s.results:
            bare, pinged = s.median("kit"), s.median("kit pre-ping")
            lines.append(f"SQLAlchemy's pre-ping, {s.name}: {pinged:,.0f} ev/s with it, {bare:,.0f} ev/s with the kit's ping "
                         f"({(bare - pinged) / bare:+.1%} cost)")
    lines.append(f"median of {rounds} rounds. raw = asyncpg sending the kit's PostgreSQL SQL (one call of "
                 "eventkit_append); raw txn = asyncpg BEGIN, advisory lock, INSERT … unnest, COMMIT; "
                 "no lock = the same INSERT in autocommit, neither lock nor xid step; "
                 f"es = eventsourcing {_es_version()} PostgresApplicationRecorder (LOCK TABLE, psycopg).")
    return "\n".join(lines)


def _es_version() -> str:
    from importlib.metadata import version

    return version("eventsourcing")


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--events", type=int, default=500,
                        help="events per round for the 1/txn scenarios (x10 for 100/txn); default 500")
    parser.add_argument("--rounds", type=int, default=3)
    args = parser.parse_args(argv)
    server = os.environ.get("JUMELAGE_BENCH_DATABASE_URL", DEFAULT_SERVER)
    print(f"event store benchmark on {urlsplit(server).hostname}:{urlsplit(server).port or 5432}, "
          f"{args.events} events per 1/txn round, {args.rounds} rounds", flush=True)
    scenarios = asyncio.run(run(server, args.events, args.rounds))
    print(report(scenarios, args.rounds))


if __name__ == "__main__":
    main()
