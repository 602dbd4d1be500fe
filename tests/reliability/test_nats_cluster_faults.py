"""Faults on a real three-node NATS cluster (``tests/infra/nats_cluster.py``), streams with three
replicas: the relay of a PostgreSQL store publishes a steady load of events while two consumers
of one durable (each on its own connection to the cluster; the store lease lets one consume)
project them; the server leading the stream is killed (-9) mid-load, then restarted — or frozen
(SIGSTOP for 30 s, a stopped VM or a partitioned host: sockets open, nothing answers), then
resumed (SIGCONT).

After quiescence: every stored event is in the stream once, in position order; the projection
holds each once, in that order (so each aggregate stream's order is kept); each event was applied
by one of the two consumers (the lease hands the durable over if the holder stalls past it). The time from the kill until the stream has a new leader, and
until an event appended after the fault is projected, is printed (``-s`` shows it) and recorded
as test properties (``--junitxml``).

Then the same with real processes: two worker processes of one durable
(``tests/reliability/consumer_crash_child.py``, the order-sensitive projection of the crash
tests) on the cluster, the stream leader's server killed while they work, then the active worker
SIGKILLed, a new one started beside the survivor and the server restarted: every event applied
once, no effect before its cause.
"""

from __future__ import annotations

import asyncio
import os
import signal
import time

import pytest
from sqlalchemy import text

from eventkit.bus import NatsConnection, OutboxRelay, StreamLimits, provision
from eventkit.sql import open_store as open_sql_store
from jumelage_contracts import Header
from jumelage_contracts.subjects import stream_name
from tests.integration.eventkit.bus_support import (
    Projection,
    campaign_event,
    connected,
    eventually,
    make_consumer,
    open_store,
    publish_envelopes,
    running,
    stream_messages,
)
from tests.waiting import while_progressing
from tests.reliability.consumer_crash_child import CONSUMER
from tests.reliability.test_consumer_crash_order import CAMPAIGNS, count, publish_paced, start_child

pytestmark = pytest.mark.integration

ROOT = "cluster"
AGGREGATES = 12  # events are spread over this many aggregate streams, several events each
PAUSE = 30.0  # seconds a frozen server stays stopped (SIGSTOP … SIGCONT)
# The longest the pipeline may rightly stand still: the fault itself, then a client on the frozen
# server noticing it (``ping_interval`` 5 s × ``max_outstanding_pings`` 2, plus one interval), the
# consumer lease expiring (3 s) and a new stream leader (a few election timeouts). Waits that follow
# the pipeline allow this much *without progress*; while events keep moving they keep waiting.
STALL = PAUSE + 3 * 5.0 + 3.0 + 10.0


async def start_connection(url: str, name: str) -> NatsConnection:
    nats = NatsConnection(url, name=name, reconnect_wait=0.1, js_timeout=2.0)
    await nats.start()
    assert await nats.wait_connected(10), f"no NATS cluster at {url}"
    return nats


async def stream_leader(nats: NatsConnection, stream: str) -> str | None:
    try:
        info = await nats.js.stream_info(stream)
    except Exception:  # noqa: BLE001 - no leader to answer yet
        return None
    return info.cluster.leader if info.cluster else None


async def whole(info_call):
    """The stream or consumer info when it has a leader and two current replicas, else None."""
    try:
        info = await info_call
    except Exception:  # noqa: BLE001 - JetStream unavailable for a moment: not whole yet
        return None
    peers = info.cluster.replicas or [] if info.cluster else []
    return info if info.cluster.leader and len(peers) == 2 and all(peer.current for peer in peers) else None


class Recovery:
    """Watches the pipeline after the kill: when the stream has a new leader, and when an event
    appended after the kill has been projected."""

    def __init__(self) -> None:
        self.killed_at = 0.0
        self.first_after_kill = 0  # the index of the first event appended after the kill
        self.new_leader_after: float | None = None
        self.projected_after: float | None = None

    async def watch(self, nats: NatsConnection, stream: str, victim: str, consumers) -> None:
        while self.new_leader_after is None or self.projected_after is None:
            now = time.monotonic() - self.killed_at
            if self.new_leader_after is None and (await stream_leader(nats, stream)) not in (None, victim):
                self.new_leader_after = now
            if self.projected_after is None and sum(c.counts.get("applied", 0) for c in consumers) > self.first_after_kill:
                self.projected_after = now
            await asyncio.sleep(0.02)


async def progress(relay: OutboxRelay, consumers) -> tuple[int, int]:
    """How far the pipeline is: events left in the outbox, events projected."""
    return await relay.backlog(), sum(c.counts.get("applied", 0) for c in consumers)


async def resume_after(server, seconds: float) -> None:
    await asyncio.sleep(seconds)  # the length of the fault, not a wait for a condition
    server.resume()


@pytest.mark.parametrize("fault", ["kill", "pause"])
async def test_the_stream_leaders_server_killed_or_frozen_mid_load_loses_none_applies_none_twice_and_keeps_order(
        fault, nats_cluster, request, record_property, monkeypatch):
    # as a deployment on the cluster sets it: the relay provisions the stream again (with the
    # environment's limits) when a publish finds no stream, and must not scale it down to R1
    monkeypatch.setenv("NATS_STREAM_REPLICAS", "3")
    total, kill_at, restart_at = 900, 300, 600
    stream = stream_name("candidatures", ROOT)
    async with open_store("postgres", request) as source, open_store("postgres", request, name="reporting") as sink:
        producer = await start_connection(nats_cluster.url, "candidatures")
        # the two consumer processes list the servers in other orders, as two hosts might
        reversed_url = ",".join(reversed(nats_cluster.urls))
        consumer_links = [await start_connection(url, f"reporting-{i}")
                          for i, url in enumerate((nats_cluster.url, reversed_url))]
        await provision(producer, ROOT, sources=("candidatures",), limits=StreamLimits.from_env())
        relay = OutboxRelay(source, producer, source="candidatures", subject_root=ROOT, poll_interval=0.05,
                            ack_timeout=2.0, backoff_initial=0.05, backoff_max=0.5, batch_size=50, lease_ttl=2.0)
        projection = Projection()
        consumers = [make_consumer(sink, link, ROOT, projection, name="reporting-campaigns", batch_size=64,
                                   lease_ttl=3.0, holder=f"reporting-{i}")
                     for i, link in enumerate(consumer_links)]
        recovery = Recovery()
        watcher: asyncio.Task | None = None
        resumer: asyncio.Task | None = None
        victim = ""
        try:
            async with running(relay, *consumers):
                for i in range(total):
                    if i == kill_at:
                        victim = await eventually(lambda: stream_leader(producer, stream), what="a stream leader")
                        if fault == "kill":
                            nats_cluster.servers[victim].kill()
                        else:
                            nats_cluster.servers[victim].pause()
                            resumer = asyncio.create_task(resume_after(nats_cluster.servers[victim], PAUSE))
                        recovery.killed_at, recovery.first_after_kill = time.monotonic(), i
                        watcher = asyncio.create_task(recovery.watch(consumer_links[0], stream, victim, consumers))
                    if i == restart_at and fault == "kill":
                        nats_cluster.servers[victim].start()
                    # one event per command, spread over a few aggregates (several events each)
                    await source.append(f"partnership-{i % AGGREGATES}", [campaign_event(i, stream_id=f"partnership-{i % AGGREGATES}")],
                                        expected_version=i // AGGREGATES)
                    relay.wake()
                    await asyncio.sleep(0.005)

                async def settled() -> bool:
                    applied = sum(c.counts.get("applied", 0) for c in consumers)
                    return await relay.backlog() == 0 and applied >= total

                await while_progressing(settled, lambda: progress(relay, consumers), stall=STALL,
                                        what="the backlog drained and every event projected")
                assert watcher is not None
                await asyncio.wait_for(watcher, STALL)
                if resumer is not None:
                    await resumer
                # the restarted member caught up: its replica is current again
                await eventually(lambda: nats_cluster.meta_leader(), timeout=STALL, what="the cluster whole again")

            # the member back from its fault has caught its replicas up (JetStream answers 503
            # for a moment while it rejoins)
            info = await eventually(lambda: whole(producer.js.stream_info(stream)), timeout=STALL,
                                    what="the stream's three replicas current")
            assert info.config.num_replicas == 3
            await eventually(lambda: whole(producer.js.consumer_info(stream, consumers[0].name)), timeout=STALL,
                             what="the durable replicated like its stream, its three replicas current")
            stored = await source.read_all(0, limit=total + 10)
            assert len(stored) == total
            messages = await stream_messages(producer, stream, timeout=10)
            assert [m.headers[Header.MSG_ID] for m in messages] == [str(e.id) for e in stored], \
                "the stream must hold every stored event once, in position order"
            rows = await Projection.rows(sink)
            assert rows == [str(e.id) for e in stored], "the projection must hold every event once, in order"
            campaigns = [int(c.split("-")[1]) for c in await Projection.campaigns(sink)]
            for aggregate in range(AGGREGATES):
                mine = [n for n in campaigns if n % AGGREGATES == aggregate]
                assert mine == sorted(mine), f"partnership-{aggregate} projected out of order"
            split = [c.counts.get("applied", 0) for c in consumers]
            assert sum(split) == total, f"each event applied by exactly one of the two consumers: {split}"
        finally:
            for task in (watcher, resumer):
                if task is not None and not task.done():
                    task.cancel()
            for link in (producer, *consumer_links):
                await link.close()
        figures = {"stream_new_leader_s": recovery.new_leader_after, "projecting_again_s": recovery.projected_after,
                   "applied_per_consumer": split}
        for key, value in figures.items():
            record_property(f"{fault}_{key}", value)
        print(f"\ncluster fault: {fault} {victim} (stream leader); new stream leader after "
              f"{recovery.new_leader_after:.2f} s; events appended after the fault projected after "
              f"{recovery.projected_after:.2f} s; applied per consumer {split}")


class PublishThroughFailover:
    """Publishes each envelope until JetStream acknowledges it: while the stream elects a new
    leader a publish times out or finds no responder. A retry that follows an accepted publish
    whose ack was lost is dropped by the stream's duplicate window (same ``Nats-Msg-Id``)."""

    def __init__(self) -> None:
        self.accepted = 0

    async def __call__(self, nats: NatsConnection, root: str, envelopes) -> None:
        for envelope in envelopes:
            async def accepted() -> bool:
                try:
                    await publish_envelopes(nats, root, [envelope])
                except Exception:  # noqa: BLE001 - no stream leader yet: again
                    return False
                return True

            await eventually(accepted, timeout=30, interval=0.1, what="a publish accepted by the cluster")
            self.accepted += 1


async def test_two_consumer_processes_of_one_durable_on_the_cluster_survive_the_stream_leaders_and_the_active_ones_death(
        nats_cluster, postgres_url, subject_root, tmp_path):
    store = await open_sql_store(postgres_url)
    log = tmp_path / "workers.log"
    env = {"CHILD_DATABASE_URL": postgres_url, "CHILD_NATS_URL": nats_cluster.url, "CHILD_ROOT": subject_root,
           "CHILD_ACK_WAIT": "30", "CHILD_LEASE_TTL": "1.5"}
    stream = stream_name("candidatures", subject_root)
    total = 2 * CAMPAIGNS

    def applied() -> "asyncio.Future[int]":
        return count(store, "select count(*) from inbox where consumer = :c", c=CONSUMER)

    async def holder_pid() -> int | None:
        async with store.reader.connect() as conn:
            holder = await conn.scalar(text("select holder from leases where name = :n"), {"n": f"consumer:{CONSUMER}"})
        return int(holder.split(":")[1]) if holder else None

    workers: list[asyncio.subprocess.Process] = []
    try:
        async with connected(nats_cluster.url, subject_root, limits=StreamLimits(replicas=3)) as nats:
            # both workers up before the load: the first holds the lease, the second stands by
            workers.append(await start_child(env, "", log))
            await eventually(lambda: holder_pid(), timeout=30, what="the first worker holding the lease")
            workers.append(await start_child(env, "", log))
            publish = PublishThroughFailover()
            publisher = asyncio.create_task(publish_paced(nats, subject_root, publish=publish))
            await eventually(lambda: _more(applied, 20), timeout=30, what="the first events applied")
            victim = await eventually(lambda: stream_leader(nats, stream), what="a stream leader")
            nats_cluster.servers[victim].kill()
            killed_at, published_before = time.monotonic(), publish.accepted
            assert not publisher.done(), "the load must still run when the leader dies"
            # applied in stream order: past this count, an event published after the kill was applied
            await eventually(lambda: _more(applied, published_before + 1), timeout=40,
                             what="an event published after the leader died applied")
            recovered = time.monotonic() - killed_at
            active = await holder_pid()
            os.kill(active, signal.SIGKILL)
            workers.append(await start_child(env, "", log))
            nats_cluster.servers[victim].start()
            await publisher
            await eventually(lambda: _more(applied, total - 1), timeout=90, interval=0.2, what=f"{total} events applied")
        opened_ = await store.stream_version("opened")
        closed_ = await store.stream_version("closed")
        dropped = await store.stream_version("dropped")
        print(f"\ncluster, two worker processes: killed {victim} (stream leader), an event published after the kill applied after "
              f"{recovered:.2f} s; then the active worker (pid {active}) killed: opened={opened_} closed={closed_} "
              f"dropped={dropped}")
        assert active in {w.pid for w in workers[:2]}
        assert (opened_, closed_, dropped) == (CAMPAIGNS, CAMPAIGNS, 0), "an event was lost, doubled or applied early"
    finally:
        for worker in workers:
            if worker.returncode is None:
                worker.send_signal(signal.SIGTERM)
        for worker in workers:
            try:
                await asyncio.wait_for(worker.wait(), 30)
            except asyncio.TimeoutError:
                worker.kill()
        await store.close()


async def _more(read, than: int) -> bool:
    return await read() > than
