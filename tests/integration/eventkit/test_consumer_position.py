"""A consumer's position is a row in its own store, and delivery resumes from it — real NATS
JetStream, every store kind. (The crash of a real process is in
``tests/reliability/test_consumer_crash_order.py``.)"""

from __future__ import annotations

import pytest

from eventkit.bus import provision
from jumelage_contracts.subjects import stream_name
from tests.integration.eventkit.bus_support import (
    STORE_KINDS,
    Projection,
    campaign_event,
    connected,
    eventually,
    make_consumer,
    open_store,
    publish_envelopes,
    running,
)

pytestmark = pytest.mark.integration


@pytest.fixture(params=STORE_KINDS)
def store_kind(request) -> str:
    return request.param


async def position_of(store, consumer) -> int | None:
    async with store.transaction() as tx:
        row = await tx.get_consumer_position(consumer.name, consumer.stream)
    return None if row is None else row[0]


async def test_a_batch_left_unacknowledged_by_a_dead_holder_is_applied_first_not_after_what_follows(
        store_kind, request, nats_url, subject_root):
    async with open_store(store_kind, request) as store, connected(nats_url, subject_root) as nats:
        await publish_envelopes(nats, subject_root, [campaign_event(i) for i in range(3)])
        first = make_consumer(store, nats, subject_root, Projection())
        async with running(first):
            await eventually(lambda: first.counts.get("applied", 0) == 3, what="3 applied")
        await publish_envelopes(nats, subject_root, [campaign_event(i) for i in range(3, 10)])
        # a process that fetched 4..6 and died: JetStream holds them for ack_wait (30 s)
        held = await nats.js.pull_subscribe_bind(durable=first.name, stream=first.stream)
        assert len(await held.fetch(3, timeout=2)) == 3
        await held.unsubscribe()

        second = make_consumer(store, nats, subject_root, Projection())
        async with running(second):
            await eventually(lambda: second.counts.get("applied", 0) == 7, what="the other 7 applied")
        assert await Projection.campaigns(store) == [f"campaign-{i}" for i in range(10)]
        assert await position_of(store, second) == 10
        assert second.counts == {"applied": 7}


async def test_a_durable_from_before_positions_is_adopted_at_its_ack_floor(store_kind, request, nats_url, subject_root):
    async with open_store(store_kind, request) as store, connected(nats_url, subject_root) as nats:
        await publish_envelopes(nats, subject_root, [campaign_event(i) for i in range(8)])
        consumer = make_consumer(store, nats, subject_root, Projection())
        # what an earlier version left: the durable, 5 messages applied elsewhere and acked
        await nats.js.add_consumer(consumer.stream, consumer.consumer_config())
        sub = await nats.js.pull_subscribe_bind(durable=consumer.name, stream=consumer.stream)
        for msg in await sub.fetch(5, timeout=2):
            await msg.ack_sync()
        await sub.unsubscribe()

        async with running(consumer):
            await eventually(lambda: consumer.counts.get("applied", 0) == 3, what="the 3 not acked applied")
        assert await Projection.campaigns(store) == ["campaign-5", "campaign-6", "campaign-7"]
        assert await position_of(store, consumer) == 8


async def test_a_stream_made_again_is_read_from_its_start_whatever_the_old_position(
        store_kind, request, nats_url, subject_root):
    async with open_store(store_kind, request) as store, connected(nats_url, subject_root) as nats:
        await publish_envelopes(nats, subject_root, [campaign_event(i) for i in range(6)])
        first = make_consumer(store, nats, subject_root, Projection())
        async with running(first):
            await eventually(lambda: first.counts.get("applied", 0) == 6, what="6 applied")
        # JetStream lost its data: the stream is provisioned again and the producer republishes
        await nats.js.delete_stream(stream_name("candidatures", subject_root))
        await provision(nats, subject_root, sources=("candidatures",))
        await publish_envelopes(nats, subject_root, [campaign_event(i) for i in range(6, 14)])

        second = make_consumer(store, nats, subject_root, Projection())
        async with running(second):
            await eventually(lambda: second.counts.get("applied", 0) == 8, what="the 8 of the new stream applied")
        assert await Projection.campaigns(store) == [f"campaign-{i}" for i in range(14)]
        assert await position_of(store, second) == 8
