"""The bus without a server: backoff, stream and consumer configuration, the relay's checkpoint
rule against a fake JetStream, leases of the in-memory store, metrics, the CLI's token."""

from __future__ import annotations

import asyncio
import socket
import uuid
from datetime import datetime, timezone
from types import SimpleNamespace

import jwt
import pytest
from typer.testing import CliRunner

from eventkit import metrics
from eventkit.bus import Backoff, Consumer, NatsConnection, OutboxRelay, StreamLimits
from eventkit.bus.consumer import _header_value
from eventkit.bus.provision import dead_letter_stream_config, event_stream_config
from eventkit.cli import app
from eventkit.memory import InMemoryEventStore
from eventkit.runtime import ConsumerSpec
from jumelage_contracts import Header, to_envelope
from jumelage_contracts.candidatures import CampaignClosed
from nats.js.api import AckPolicy, DiscardPolicy, StorageType
from tests.waiting import eventually


def closed_event(i: int):
    return to_envelope(CampaignClosed(campaign_id=f"c{i}", academie="paris"), stream_id=f"campaign-{i}",
                       occurred_at=datetime.now(timezone.utc), correlation_id=uuid.uuid4(), academie="paris")


def test_backoff_doubles_up_to_its_cap_and_starts_over_after_a_success() -> None:
    backoff = Backoff(0.1, 0.5)
    assert [backoff.next() for _ in range(5)] == [0.1, 0.2, 0.4, 0.5, 0.5]
    backoff.reset()
    assert backoff.next() == 0.1


def test_event_streams_are_file_backed_with_a_duplicate_window_and_refuse_rather_than_drop() -> None:
    config = event_stream_config("candidatures", "jumelage")
    assert config.name == "JUMELAGE_CANDIDATURES"
    assert config.subjects == ["jumelage.candidatures.>"]
    assert config.storage == StorageType.FILE
    assert config.duplicate_window == 120.0
    assert config.discard == DiscardPolicy.NEW
    assert (config.max_msgs, config.max_bytes, config.max_age) == (-1, -1, 0)
    dead = dead_letter_stream_config("jumelage")
    assert (dead.name, dead.subjects) == ("JUMELAGE_DEADLETTER", ["jumelage.deadletter.>"])


def test_stream_limits_come_from_the_environment() -> None:
    limits = StreamLimits.from_env({"NATS_STREAM_MAX_AGE_DAYS": "365", "NATS_STREAM_MAX_BYTES": "1000000",
                                    "NATS_STREAM_REPLICAS": "3", "NATS_DUPLICATE_WINDOW_SECONDS": "300"})
    assert limits == StreamLimits(max_age=365 * 86400, max_bytes=1_000_000, duplicate_window=300.0, replicas=3)
    config = event_stream_config("programmes", "jumelage", limits)
    assert (config.num_replicas, config.max_age, config.max_bytes) == (3, 365 * 86400, 1_000_000)
    assert StreamLimits.from_env({}) == StreamLimits()


async def _noop(tx, envelope, event) -> None:
    return None


def test_a_consumer_filters_on_its_types_or_on_the_whole_service() -> None:
    def config(types):
        spec = ConsumerSpec(name="reporting-candidatures", source="candidatures", handler=_noop, types=types)
        return Consumer(spec, None, None, subject_root="jumelage").consumer_config()

    everything = config(None)
    assert everything.filter_subject == "jumelage.candidatures.>" and not everything.filter_subjects
    one = config(["CampaignOpened"])
    assert one.filter_subject == "jumelage.candidatures.*.CampaignOpened"
    two = config(["CampaignOpened", "CampaignClosed"])
    assert two.filter_subjects == ["jumelage.candidatures.*.CampaignOpened", "jumelage.candidatures.*.CampaignClosed"]
    assert two.durable_name == "reporting-candidatures"
    assert two.ack_policy == AckPolicy.EXPLICIT
    assert two.max_deliver == -1, "the kit decides when to dead-letter, never the server silently"
    assert two.ack_wait == 30.0


def test_dead_letter_error_headers_are_one_bounded_line() -> None:
    assert _header_value("boom\r\n  at line 3\n") == "boom at line 3"
    assert len(_header_value("x" * 5000)) == 2000


class FakeJetStream:
    """publish_async returning futures the test resolves or fails."""

    def __init__(self) -> None:
        self.published: list[tuple[str, dict, bytes]] = []
        self.futures: list[asyncio.Future] = []

    async def publish_async(self, subject, payload=b"", headers=None, **_):
        self.published.append((subject, dict(headers or {}), payload))
        future = asyncio.get_running_loop().create_future()
        self.futures.append(future)
        return future


def fake_nats(js) -> SimpleNamespace:
    return SimpleNamespace(js=js, connected=True)


async def test_the_relay_keeps_its_checkpoint_when_one_ack_of_the_batch_fails() -> None:
    store = InMemoryEventStore()
    for i in range(3):
        await store.append(f"campaign-{i}", [closed_event(i)])
    js = FakeJetStream()
    relay = OutboxRelay(store, fake_nats(js), source="candidatures", subject_root="jumelage", ack_timeout=1)
    attempt = asyncio.create_task(relay.publish_once())
    await eventually(lambda: len(js.futures) >= 3, timeout=5, interval=0.001, what="three publishes in flight")
    js.futures[0].set_result(SimpleNamespace(duplicate=False))
    js.futures[1].set_exception(RuntimeError("stream full"))
    try:
        await attempt
        raise AssertionError("the batch must fail")
    except RuntimeError:
        pass
    assert js.futures[2].cancelled(), "the rest of a failed batch is abandoned (it is re-sent whole)"
    assert await store.get_checkpoint("relay:candidatures") == 0
    assert await relay.backlog() == 3


async def test_the_relay_publishes_in_position_order_with_the_envelope_headers_then_moves_its_checkpoint() -> None:
    store = InMemoryEventStore()
    stored = [(await store.append(f"campaign-{i}", [closed_event(i)])).events[0] for i in range(4)]
    js = FakeJetStream()
    relay = OutboxRelay(store, fake_nats(js), source="candidatures", subject_root="jumelage")
    attempt = asyncio.create_task(relay.publish_once())
    await eventually(lambda: len(js.futures) >= 4, timeout=5, interval=0.001, what="four publishes in flight")
    assert await store.get_checkpoint("relay:candidatures") == 0, "no checkpoint before the acks"
    for future in js.futures:
        future.set_result(SimpleNamespace(duplicate=False))
    assert await attempt == 4
    assert [h[Header.MSG_ID] for _, h, _ in js.published] == [str(e.id) for e in stored]
    assert [s for s, _, _ in js.published] == ["jumelage.candidatures.paris.CampaignClosed"] * 4
    assert await store.get_checkpoint("relay:candidatures") == stored[-1].position
    assert await relay.backlog() == 0


async def test_while_nats_is_down_the_relay_waits_for_it_without_taking_the_lease_or_failing() -> None:
    """Down is not a failure: the relay waits for the connection (no publish attempt that would
    count towards a stall and back off) and leaves the lease free for a relay that can reach NATS."""
    store = InMemoryEventStore()
    await store.append("campaign-1", [closed_event(1)])
    nats = SimpleNamespace(js=None, connected=False, waits=0)

    async def wait_connected(timeout=None):
        nats.waits += 1
        await asyncio.sleep(0.01)  # the fake's own wait for a connection that never comes
        return False

    nats.wait_connected = wait_connected
    relay = OutboxRelay(store, nats, source="candidatures", poll_interval=0.01, stall_after=1)
    task = asyncio.create_task(relay.run())
    try:
        await eventually(lambda: nats.waits >= 3, timeout=5, what="the relay to wait for NATS three times")
        assert relay.stall is None, relay.status()
        assert await store.acquire_lease("relay:candidatures", "another-relay", 1.0), "the down relay took the lease"
    finally:
        await relay.stop()
        await asyncio.gather(task, return_exceptions=True)
    assert await relay.backlog() == 1 and relay.published == 0


async def test_an_in_memory_lease_has_one_holder_until_it_is_released_or_expires() -> None:
    store = InMemoryEventStore()
    assert await store.acquire_lease("relay:x", "a", 0.2)
    assert not await store.acquire_lease("relay:x", "b", 0.2)
    assert await store.acquire_lease("relay:x", "a", 0.2), "the holder renews"
    await store.release_lease("relay:x", "b")  # not the holder: no effect
    assert not await store.acquire_lease("relay:x", "b", 0.2)
    await store.release_lease("relay:x", "a")
    assert await store.acquire_lease("relay:x", "b", 0.05)
    await eventually(lambda: store.acquire_lease("relay:x", "a", 0.2), timeout=5, what="an expired lease is free")


async def test_a_connection_to_an_unreachable_nats_starts_and_keeps_trying_in_the_background() -> None:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    nats = NatsConnection(f"nats://127.0.0.1:{port}", name="test", connect_timeout=0.2, reconnect_wait=0.05)
    await asyncio.wait_for(nats.start(), 2)
    assert not nats.connected
    assert not await nats.wait_connected(0.1)
    await nats.close()


def test_metrics_render_the_relay_and_consumer_series() -> None:
    metrics.RELAY_BACKLOG.labels("unit").set(7)
    metrics.CONSUMER_LAG.labels("unit-consumer").set(3)
    text = metrics.render().decode()
    assert 'jumelage_outbox_backlog{source="unit"} 7.0' in text
    assert 'jumelage_consumer_lag{consumer="unit-consumer"} 3.0' in text
    assert metrics.counter("jumelage_relay_published_total", "again", ["source"]) is metrics.RELAY_PUBLISHED


def test_the_cli_prints_a_token_with_the_role_and_scope() -> None:
    secret = "a-test-secret-long-enough-for-hs256-keys"
    result = CliRunner().invoke(app, ["token", "--role", "academie", "--scope", "paris", "--secret", secret])
    assert result.exit_code == 0, result.output
    claims = jwt.decode(result.output.strip(), secret, algorithms=["HS256"])
    assert (claims["role"], claims["scope"]) == ("academie", "paris")


def test_nats_url_may_name_the_servers_of_a_cluster_comma_separated():
    from eventkit.bus.connection import server_urls

    assert server_urls("nats://a:4222") == ["nats://a:4222"]
    assert server_urls("nats://a:4222, nats://b:4222,nats://c:4222,") == ["nats://a:4222", "nats://b:4222", "nats://c:4222"]
    assert NatsConnection("nats://a:4222,nats://b:4222").servers == ["nats://a:4222", "nats://b:4222"]
    with pytest.raises(ValueError):
        server_urls(" , ")


def test_servers_after_the_first_may_be_named_by_host_and_port_and_take_its_scheme_and_credentials():
    from eventkit.bus.connection import server_urls

    # as PostgreSQL's multi-host URLs: what compose's cluster profile gives each service
    assert server_urls("nats://reporting:s%2Fecret@nats:4222,nats-2:4222, nats-3:4222") == [
        "nats://reporting:s%2Fecret@nats:4222", "nats://reporting:s%2Fecret@nats-2:4222",
        "nats://reporting:s%2Fecret@nats-3:4222"]
    assert server_urls("tls://a:4222,b:4222") == ["tls://a:4222", "tls://b:4222"]
    assert server_urls("nats://u:p@a:4222,nats://b:4222") == ["nats://u:p@a:4222", "nats://b:4222"]  # as written


def test_credentials_go_into_every_url_of_a_cluster_list():
    from eventkit.natsauth import with_credentials

    assert with_credentials("nats://a:4222,nats://b:4223", "programmes", "p/w") == \
        "nats://programmes:p%2Fw@a:4222,nats://programmes:p%2Fw@b:4223"
