"""One active process per durable consumer: several consumers of one durable may run side by side
(several worker processes of a service), only the holder of the store lease ``consumer:<name>``
fetches, and a holder that lost its lease while paused can commit nothing (the fence inside the
transaction). Real NATS JetStream, every store kind. (Real processes killed while a second one
waits: ``tests/reliability/test_consumer_crash_order.py``.)"""

from __future__ import annotations

import asyncio

import pytest

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


def applied(*consumers) -> int:
    """Messages committed and acknowledged by these consumers."""
    return sum(c.counts.get("applied", 0) for c in consumers)


async def test_two_consumers_of_one_durable_apply_each_event_once_in_order_and_hand_over_on_stop(
        store_kind, request, nats_url, subject_root):
    async with open_store(store_kind, request) as store, connected(nats_url, subject_root) as nats:
        projection = Projection()
        first = make_consumer(store, nats, subject_root, projection, batch_size=7, lease_ttl=2.0)
        second = make_consumer(store, nats, subject_root, projection, batch_size=7, lease_ttl=2.0)
        async with running(second):
            async with running(first):
                await publish_envelopes(nats, subject_root, [campaign_event(i) for i in range(40)])
                await eventually(lambda: applied(first, second) == 40, what="40 applied")
                assert first.is_active != second.is_active, "exactly one of the two consumes"
                active, standby = (first, second) if first.is_active else (second, first)
                assert sum(standby.counts.values()) == 0 and active.counts == {"applied": 40}
            # the active one stopped (if it was `first`) and released its lease: `second` goes on
            await publish_envelopes(nats, subject_root, [campaign_event(i) for i in range(40, 60)])
            await eventually(lambda: applied(first, second) == 60, what="the next 20 applied")
            assert second.is_active
        assert set(projection.calls.values()) == {1}, "an event was applied twice"
        assert await Projection.campaigns(store) == [f"campaign-{i}" for i in range(60)]


class SlowProjection(Projection):
    """Holds its first call until released: a holder paused past its lease (a GC pause, a
    stopped VM) while another process took the lease over."""

    def __init__(self) -> None:
        super().__init__()
        self.entered = asyncio.Event()
        self.release = asyncio.Event()

    async def __call__(self, tx, envelope, event) -> None:
        if not self.entered.is_set():
            self.entered.set()
            await self.release.wait()
        await super().__call__(tx, envelope, event)


async def test_a_holder_replaced_while_paused_commits_nothing_and_goes_to_standby(request, nats_url, subject_root):
    """PostgreSQL only: SQLite and the memory store have one writer at a time, so the paused
    holder's open transaction holds the taker's lease write back — no second holder can exist."""
    async with open_store("postgres", request) as store, connected(nats_url, subject_root) as nats:
        slow = SlowProjection()
        paused = make_consumer(store, nats, subject_root, slow, batch_size=5, lease_ttl=0.6,
                               batch_transactions=False)
        async with running(paused):
            await publish_envelopes(nats, subject_root, [campaign_event(i) for i in range(5)])
            await asyncio.wait_for(slow.entered.wait(), 15)  # its transaction is open, its lease ticking
            projection = Projection()
            taker = make_consumer(store, nats, subject_root, projection, batch_size=5, lease_ttl=0.6)
            async with running(taker):
                await eventually(lambda: taker.is_active, what="the lease taken over after its expiry")
                # the paused holder wakes up and tries to commit: its fence refuses, it rolls back
                # (which also frees the inbox row the taker's insert was waiting on)
                slow.release.set()
                await eventually(lambda: not paused.is_active, what="the paused holder back in standby")
                await eventually(lambda: applied(taker) == 5, what="the taker applied all 5")
        assert await Projection.campaigns(store) == [f"campaign-{i}" for i in range(5)], \
            "the replaced holder committed after losing its lease"
        assert set(projection.calls.values()) == {1}
        assert paused.counts.get("applied", 0) == 0 and paused.counts.get("dead_lettered", 0) == 0
