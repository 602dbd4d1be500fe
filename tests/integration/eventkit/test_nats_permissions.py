"""The bus refuses what a service may not say, on a real nats-server configured as every
deployment is (``eventkit.natsauth``): no anonymous client, no service publishing another's
events, and the real kit (provision, relay, durable consumer, dead letters) works within its own."""

from __future__ import annotations

import asyncio
import json

import nats
import pytest
from nats.errors import NoServersError

from eventkit.bus import Consumer, NatsConnection, OutboxRelay, provision
from eventkit.memory import InMemoryEventStore
from eventkit.natsauth import (CONSUMERS, OPS_USER, authorization_block, compose_permissions, generate_passwords,
                               with_credentials)
from eventkit.runtime import ConsumerSpec
from jumelage_contracts import Envelope
from jumelage_contracts.subjects import SOURCES, dead_letter_stream, stream_name
from tests.infra.nats import NatsServerProcess
from tests.integration.eventkit.bus_support import campaign_event
from tests.waiting import eventually

pytestmark = pytest.mark.integration


@pytest.fixture
def secured(subject_root):
    passwords = generate_passwords()
    server = NatsServerProcess(config=authorization_block(passwords, subject_root)).start()
    try:
        yield server, passwords
    finally:
        server.cleanup()


def url_of(server: NatsServerProcess, passwords: dict[str, str], user: str) -> str:
    return with_credentials(server.url, user, passwords[user])


async def test_a_client_without_credentials_is_refused(secured) -> None:
    server, passwords = secured
    with pytest.raises((NoServersError, nats.errors.Error, OSError)):
        await nats.connect(server.url, allow_reconnect=False, connect_timeout=2, max_reconnect_attempts=0)
    with pytest.raises((NoServersError, nats.errors.Error, OSError)):
        await nats.connect(with_credentials(server.url, "programmes", "not-its-password"), allow_reconnect=False,
                           connect_timeout=2, max_reconnect_attempts=0)


async def test_a_service_cannot_publish_another_services_event_and_nothing_is_stored(secured, subject_root) -> None:
    server, passwords = secured
    ops = await nats.connect(url_of(server, passwords, OPS_USER))
    forger = await nats.connect(url_of(server, passwords, "programmes"), allow_reconnect=False)
    errors: list[Exception] = []
    try:
        ops_js = ops.jetstream()
        ops_conn = NatsConnection(url_of(server, passwords, OPS_USER), name="ops")
        await ops_conn.start()
        await provision(ops_conn, subject_root)
        await ops_conn.close()

        forged = campaign_event(1)
        headers, body = forged.to_nats()
        subject = f"{subject_root}.candidatures.paris.CampaignClosed"
        with pytest.raises(Exception) as refused:
            await forger.jetstream().publish(subject, body, headers=headers, timeout=2)
        errors.append(refused.value)
        # plain core publish too: the server drops it and reports a permission violation
        seen = asyncio.Event()

        async def on_error(exc: Exception) -> None:
            if "permissions violation" in str(exc).lower():
                seen.set()

        sneaky = await nats.connect(url_of(server, passwords, "programmes"), error_cb=on_error, allow_reconnect=False)
        await sneaky.publish(subject, b"{}")
        await sneaky.flush()
        await asyncio.wait_for(seen.wait(), 5)
        await sneaky.close()

        info = await ops_js.stream_info(stream_name("candidatures", subject_root))
        assert info.state.messages == 0
        # its own subject is allowed and stored
        await forger.jetstream().publish(f"{subject_root}.programmes.paris.MeetingHeld", b"{}", timeout=5)
        assert (await ops_js.stream_info(stream_name("programmes", subject_root))).state.messages == 1
    finally:
        await forger.close()
        await ops.close()


async def test_the_kit_works_within_each_services_permissions(secured, subject_root) -> None:
    """Provision at start, the outbox relay of candidatures, the durable consumer of programmes
    and its dead letters: everything a service does on the bus, with its own credentials only."""
    server, passwords = secured
    producer = NatsConnection(url_of(server, passwords, "candidatures"), name="candidatures")
    consumer_conn = NatsConnection(url_of(server, passwords, "programmes"), name="programmes")
    await producer.start()
    await consumer_conn.start()
    store = InMemoryEventStore()
    applied: list[str] = []
    try:
        assert await producer.wait_connected(5) and await consumer_conn.wait_connected(5)
        await provision(producer, subject_root)
        await provision(consumer_conn, subject_root)
        relay = OutboxRelay(store, producer, source="candidatures", subject_root=subject_root)
        relay_task = asyncio.create_task(relay.run())

        async def handler(tx, envelope: Envelope, event) -> None:
            applied.append(envelope.stream_id)

        name = next(iter(CONSUMERS["programmes"]))
        consumer = Consumer(ConsumerSpec(name=name, source="candidatures", handler=handler), InMemoryEventStore(),
                            consumer_conn, subject_root=subject_root, service="programmes")
        consumer_task = asyncio.create_task(consumer.run())
        for i in range(3):
            await store.append(f"campaign-{i}", [campaign_event(i, stream_id=f"campaign-{i}")])
        relay.wake()
        # an undecodable message on the consumed subject, put there by the producer: dead-lettered
        await producer.js.publish(f"{subject_root}.candidatures.paris.CampaignClosed", b"not an event")
        dead = 0

        async def three_applied_one_dead() -> bool:
            nonlocal dead
            ops = await nats.connect(url_of(server, passwords, OPS_USER))
            try:
                dead = (await ops.jetstream().stream_info(dead_letter_stream(subject_root))).state.messages
            finally:
                await ops.close()
            return len(applied) == 3 and dead == 1

        try:
            await eventually(three_applied_one_dead, timeout=30, interval=0.2, what="3 applied and 1 dead letter")
        except AssertionError:
            pass  # the two assertions below say which half is missing
        assert sorted(applied) == ["campaign-0", "campaign-1", "campaign-2"]
        assert dead == 1
        await consumer.stop()
        await relay.stop()
        for task in (consumer_task, relay_task):
            task.cancel()
        await asyncio.gather(consumer_task, relay_task, return_exceptions=True)
    finally:
        await producer.close()
        await consumer_conn.close()


def test_the_consumer_map_matches_every_services_bootstrap() -> None:
    from eventkit.settings import ServiceSettings
    import importlib

    for service in SOURCES:
        bootstrap = importlib.import_module(f"{service}.bootstrap")
        settings = ServiceSettings.from_env(service, env={})
        app = bootstrap.build_app(settings) if hasattr(bootstrap, "build_app") else bootstrap.build(settings)[0]
        runtime = app.state.runtime
        assert {spec.name: spec.source for spec in runtime.consumers} == CONSUMERS.get(service, {}), service


def test_compose_permissions_file_is_generated_from_the_same_rules() -> None:
    from pathlib import Path

    committed = (Path(__file__).resolve().parents[3] / "deploy/nats/permissions.conf").read_text()
    assert committed == compose_permissions(), "regenerate: python -m eventkit.natsauth > deploy/nats/permissions.conf"
    assert json.dumps("$PROGRAMMES_NATS_PASSWORD") not in committed  # unquoted: NATS expands it


async def test_a_consumer_gets_a_key_from_the_owner_it_reads_and_no_other_service_may_answer_or_ask_elsewhere(
        secured, subject_root) -> None:
    """Personal data keys (``eventkit.shredding``) travel as a request/reply the permissions allow
    exactly: notifications asks programmes (a source it reads), programmes answers for itself;
    candidatures may not listen on programmes' key subject, and programmes may not ask notifications."""
    from eventkit.shredding import KeyService, Keyring, KeyUnavailable, SealingStore, nats_key_fetcher

    server, passwords = secured
    connections = {user: NatsConnection(url_of(server, passwords, user), name=user)
                   for user in ("programmes", "notifications", "candidatures")}
    for connection in connections.values():
        await connection.start()
    try:
        owner = SealingStore(InMemoryEventStore(), Keyring("programmes"))
        [key] = (await owner.keyring.keys_for_writing(None, ["ref-jeanne"])).values()
        await KeyService(owner, owner.keyring, connections["programmes"], subject_root).start()
        await eventually(lambda: connections["programmes"].connected, what="programmes connected")
        ask = nats_key_fetcher(connections["notifications"], subject_root, timeout=2)

        async def answered():
            try:
                return await ask("programmes", "ref-jeanne")
            except KeyUnavailable:
                return None

        assert await eventually(answered, what="programmes to answer") == key

        refused = asyncio.Event()

        async def on_error(exc: Exception) -> None:
            if "permissions violation" in str(exc).lower():
                refused.set()

        spy = await nats.connect(url_of(server, passwords, "candidatures"), error_cb=on_error, allow_reconnect=False)
        await spy.subscribe(f"{subject_root}.keys.programmes")
        await spy.flush()
        await asyncio.wait_for(refused.wait(), 5)
        await spy.close()
        with pytest.raises(KeyUnavailable):
            await nats_key_fetcher(connections["programmes"], subject_root, timeout=1)("notifications", "ref-jeanne")
    finally:
        for connection in connections.values():
            await connection.close()
