"""The kit on a real three-node NATS cluster (``tests/infra/nats_cluster.py``): streams provisioned
with ``NATS_STREAM_REPLICAS=3`` get three replicas (the dead-letter stream too), and a
NatsConnection given the three URLs moves to another member when the one it uses is killed."""

from __future__ import annotations

import pytest

from eventkit.bus import StreamLimits
from eventkit.bus.provision import provision_now
from jumelage_contracts.subjects import dead_letter_stream, stream_name
from tests.integration.eventkit.bus_support import campaign_event, connected, eventually, publish_envelopes

pytestmark = pytest.mark.integration


def replicas(info) -> set[str]:
    """The servers holding a stream: its leader and its other replicas."""
    return {info.cluster.leader, *(peer.name for peer in info.cluster.replicas or [])}


async def test_streams_provisioned_with_nats_stream_replicas_3_live_on_all_three_servers(nats_cluster, subject_root):
    limits = StreamLimits.from_env({"NATS_STREAM_REPLICAS": "3"})
    async with connected(nats_cluster.url, subject_root, limits=limits) as nats:
        for stream in (stream_name("candidatures", subject_root), dead_letter_stream(subject_root)):
            info = await nats.js.stream_info(stream)
            assert info.config.num_replicas == 3
            assert replicas(info) == set(nats_cluster.servers), f"{stream} is not on every server"


async def test_the_default_is_one_replica(nats_cluster, subject_root):
    async with connected(nats_cluster.url, subject_root, limits=StreamLimits.from_env({})) as nats:
        info = await nats.js.stream_info(stream_name("candidatures", subject_root))
        assert info.config.num_replicas == 1 and len(replicas(info)) == 1


async def test_a_connection_given_three_urls_moves_to_another_server_when_its_own_is_killed(
        nats_cluster, subject_root):
    limits = StreamLimits(replicas=3)
    async with connected(nats_cluster.url, subject_root, limits=limits) as nats:
        assert nats.servers == nats_cluster.urls
        first = nats.nc.connected_url.port
        victim = next(name for name, server in nats_cluster.servers.items() if server.port == first)
        nats_cluster.servers[victim].kill()
        await eventually(lambda: nats.connected and nats.nc.connected_url.port != first,
                         timeout=20, what="reconnected to another member")
        # JetStream answers through the new member once the stream has a leader among the two left
        stream = stream_name("candidatures", subject_root)

        async def published() -> bool:
            try:
                await publish_envelopes(nats, subject_root, [campaign_event(1)])
            except Exception:  # noqa: BLE001 - no stream leader yet: try again
                return False
            return (await nats.js.stream_info(stream)).state.messages >= 1

        await eventually(published, timeout=20, what="a publish accepted by the two members left")


async def test_provisioning_with_fewer_replicas_never_scales_an_existing_stream_down(nats_cluster, subject_root):
    # a service started without NATS_STREAM_REPLICAS (default 1) on a cluster whose streams are R3
    # must not turn them into single-copy streams: provisioning keeps the replicas it finds
    async with connected(nats_cluster.url, subject_root, limits=StreamLimits(replicas=3)) as nats:
        await provision_now(nats, subject_root, sources=("candidatures",), limits=StreamLimits.from_env({}))
        for stream in (stream_name("candidatures", subject_root), dead_letter_stream(subject_root)):
            info = await nats.js.stream_info(stream)
            assert info.config.num_replicas == 3, f"{stream} scaled down"
            assert replicas(info) == set(nats_cluster.servers)
        # the other settings are still applied, and more replicas are still possible (R1 → R3)
        await provision_now(nats, subject_root, sources=("candidatures",),
                            limits=StreamLimits(replicas=1, duplicate_window=300.0))
        info = await nats.js.stream_info(stream_name("candidatures", subject_root))
        assert (info.config.num_replicas, info.config.duplicate_window) == (3, 300.0)


async def test_provisioning_with_more_replicas_scales_a_single_copy_stream_up(nats_cluster, subject_root):
    async with connected(nats_cluster.url, subject_root, limits=StreamLimits(replicas=1)) as nats:
        await provision_now(nats, subject_root, sources=("candidatures",), limits=StreamLimits(replicas=3))
        info = await nats.js.stream_info(stream_name("candidatures", subject_root))
        assert info.config.num_replicas == 3
