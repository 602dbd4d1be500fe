"""The rebuild's JetStream read on a three-node cluster, streams R3: the ephemeral consumer it
creates may answer its first pulls 503 while the cluster places it; the read retries them and
gets every event (found by the two-replicas test, tests/reliability/test_service_replicas.py,
where ``python -m notifications rebuild`` failed once on it)."""

from __future__ import annotations

import pytest

from eventkit.bus import StreamLimits
from notifications.adapters.replay import JetStreamLog
from tests.integration.eventkit.bus_support import campaign_event, connected, publish_envelopes

pytestmark = pytest.mark.integration

READS = 15  # the 503 comes about once in fifteen fresh reads on this machine


async def test_every_read_from_the_start_of_an_r3_stream_gets_every_event(nats_cluster, subject_root):
    for attempt in range(READS):
        root = f"{subject_root}r{attempt}"
        async with connected(nats_cluster.url, root, limits=StreamLimits(replicas=3)) as nats:
            await publish_envelopes(nats, root, [campaign_event(i) for i in range(20)])
            log = JetStreamLog(nats.js, root, ["candidatures"])
            read = [envelope async for batch, _ in log.batches("candidatures", 0) for envelope in batch]
            assert [e.data["campaign_id"] for e in read] == [f"campaign-{i}" for i in range(20)], attempt
