"""Outbox relay against a real NATS JetStream and every store kind."""

from __future__ import annotations

import asyncio

import pytest

from eventkit.bus import OutboxRelay, StreamLimits
from eventkit.bus.provision import ensure_stream, event_stream_config
from jumelage_contracts import Header
from jumelage_contracts.subjects import event_subject, stream_name

from tests.integration.eventkit.bus_support import (
    STORE_KINDS,
    campaign_event,
    connected,
    eventually,
    open_store,
    running,
    stream_messages,
)

pytestmark = pytest.mark.integration


@pytest.fixture(params=STORE_KINDS)
def store_kind(request) -> str:
    return request.param


def fast_relay(store, nats, root, **kw) -> OutboxRelay:
    kw = {"poll_interval": 0.05, "lease_ttl": 1.0, "ack_timeout": 2.0, "backoff_initial": 0.05,
          "backoff_max": 0.2, **kw}
    return OutboxRelay(store, nats, source="candidatures", subject_root=root, **kw)


async def test_the_relay_publishes_every_event_in_position_order_with_the_event_id_as_msg_id(
        store_kind, request, nats_url, subject_root):
    async with open_store(store_kind, request) as store, connected(nats_url, subject_root) as nats:
        appended = []
        for i in range(12):
            result = await store.append(f"campaign-{i % 3}", [campaign_event(i, stream_id=f"campaign-{i % 3}")])
            appended.extend(result.events)
        relay = fast_relay(store, nats, subject_root, batch_size=5)
        async with running(relay):
            await eventually(lambda: _drained(relay), what="backlog drained")

        msgs = await stream_messages(nats, stream_name("candidatures", subject_root))
        assert [m.headers[Header.MSG_ID] for m in msgs] == [str(e.id) for e in appended]
        assert [int(m.headers[Header.POSITION]) for m in msgs] == [e.position for e in appended]
        assert [m.subject for m in msgs] == [event_subject(e, subject_root) for e in appended]
        assert await store.get_checkpoint("relay:candidatures") == appended[-1].position


async def _drained(relay: OutboxRelay) -> bool:
    return await relay.backlog() == 0


async def test_the_checkpoint_moves_only_once_every_ack_of_the_batch_arrived(
        store_kind, request, nats_url, subject_root):
    # the stream takes 4 messages and then refuses new ones: a batch of 10 half succeeds
    tight = StreamLimits(max_msgs=4)
    async with open_store(store_kind, request) as store, \
            connected(nats_url, subject_root, limits=tight) as nats:
        for i in range(10):
            await store.append(f"campaign-{i}", [campaign_event(i)])
        relay = fast_relay(store, nats, subject_root, batch_size=10, ack_timeout=0.5)
        with pytest.raises(Exception):
            await relay.publish_once()
        assert await store.get_checkpoint("relay:candidatures") == 0, "4 acks of 10 must not move the checkpoint"
        assert await relay.backlog() == 10

        # room again: the whole batch is re-sent; JetStream drops the 4 copies it already holds
        await ensure_stream(nats, event_stream_config("candidatures", subject_root, StreamLimits()))
        assert await relay.publish_once() == 10
        assert await store.get_checkpoint("relay:candidatures") == 10
        info = await nats.js.stream_info(stream_name("candidatures", subject_root))
        assert info.state.messages == 10


async def test_only_one_of_two_relays_on_one_store_publishes_and_the_other_takes_over_when_it_stops(
        store_kind, request, nats_url, subject_root):
    async with open_store(store_kind, request) as store, connected(nats_url, subject_root) as nats:
        first = fast_relay(store, nats, subject_root, holder="first")
        second = fast_relay(store, nats, subject_root, holder="second")
        async with running(first):
            await eventually(lambda: first.is_leader, what="first relay holds the lease")
            async with running(second):
                for i in range(20):
                    await store.append(f"campaign-{i}", [campaign_event(i)])
                    first.wake()
                    second.wake()
                await eventually(lambda: _drained(first), what="first batch drained")
                await asyncio.sleep(0.3)  # deliberate: the second relay must not take over within this
                assert first.is_leader and not second.is_leader
                assert (first.published, second.published) == (20, 0)

                await first.stop()  # releases the lease
                for i in range(20, 30):
                    await store.append(f"campaign-{i}", [campaign_event(i)])
                await eventually(lambda: second.is_leader, what="second relay takes over")
                await eventually(lambda: _drained(second), what="second batch drained")
                assert second.published == 10

        msgs = await stream_messages(nats, stream_name("candidatures", subject_root))
        stored = await store.read_all(0, limit=100)
        assert len(stored) == 30
        assert [int(m.headers[Header.POSITION]) for m in msgs] == [e.position for e in stored]


async def test_a_relay_takes_over_when_the_lease_holder_vanishes_without_releasing(
        store_kind, request, nats_url, subject_root):
    async with open_store(store_kind, request) as store, connected(nats_url, subject_root) as nats:
        # a crashed process: it took the lease and never renews nor releases it
        assert await store.acquire_lease("relay:candidatures", "crashed", 0.5)
        relay = fast_relay(store, nats, subject_root, holder="survivor", lease_ttl=0.5)
        await store.append("campaign-1", [campaign_event(1)])
        async with running(relay):
            await eventually(lambda: _drained(relay), what="survivor drains after the lease expired")
        assert relay.published == 1


async def test_republishing_inside_the_duplicate_window_adds_nothing_to_the_stream(
        store_kind, request, nats_url, subject_root):
    async with open_store(store_kind, request) as store, connected(nats_url, subject_root) as nats:
        for i in range(8):
            await store.append(f"campaign-{i}", [campaign_event(i)])
        relay = fast_relay(store, nats, subject_root)
        assert await relay.publish_once() == 8
        assert await relay.republish(3) == 6
        assert await relay.republish(2, 4) == 3
        info = await nats.js.stream_info(stream_name("candidatures", subject_root))
        assert info.state.messages == 8
        assert await store.get_checkpoint("relay:candidatures") == 8
