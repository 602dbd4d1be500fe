"""Durable consumer against a real NATS JetStream and every store kind: order, inbox, retries,
dead letters."""

from __future__ import annotations

import asyncio
import json
import uuid

import pytest

from eventkit.bus import Consumer, DeadLetterHeader, OutboxRelay, StreamLimits
from jumelage_contracts import Header
from jumelage_contracts.subjects import dead_letter_stream, event_subject, stream_name
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
    stream_messages,
)

pytestmark = pytest.mark.integration


@pytest.fixture(params=STORE_KINDS)
def store_kind(request) -> str:
    return request.param


async def test_a_consumer_applies_a_stream_in_order_and_records_each_event_once(
        store_kind, request, nats_url, subject_root):
    events = [campaign_event(i) for i in range(40)]
    async with open_store(store_kind, request) as store, connected(nats_url, subject_root) as nats:
        await publish_envelopes(nats, subject_root, events)
        projection = Projection()
        woken = []
        consumer = make_consumer(store, nats, subject_root, projection, batch_size=16,
                                 after_commit=lambda: woken.append(1))
        async with running(consumer):
            await eventually(lambda: consumer.counts.get("applied", 0) == 40, what="40 applied")
        assert await Projection.campaigns(store) == [f"campaign-{i}" for i in range(40)]
        assert await Projection.rows(store) == [str(e.id) for e in events]
        assert 1 <= len(woken) <= 40  # once per committed transaction (a batch or one message)
        assert (await consumer.lag())["pending"] == 0


async def test_a_batch_handler_gets_each_fetched_batch_in_one_call_in_order(
        store_kind, request, nats_url, subject_root):
    events = [campaign_event(i) for i in range(40)]
    async with open_store(store_kind, request) as store, connected(nats_url, subject_root) as nats:
        await publish_envelopes(nats, subject_root, events)
        projection = Projection()
        consumer = make_consumer(store, nats, subject_root, projection, batch_handler=projection.batch, batch_size=16)
        async with running(consumer):
            await eventually(lambda: consumer.counts.get("applied", 0) == 40, what="40 applied")
        assert await Projection.campaigns(store) == [f"campaign-{i}" for i in range(40)]
        assert sum(projection.batches) == 40 and max(projection.batches) > 1  # all through batch calls
        assert projection.calls == {f"campaign-{i}": 1 for i in range(40)}


async def test_a_failing_batch_falls_back_to_one_message_per_transaction_in_order_with_dead_letters(
        store_kind, request, nats_url, subject_root):
    events = [campaign_event(i) for i in range(8)]
    async with open_store(store_kind, request) as store, connected(nats_url, subject_root) as nats:
        await publish_envelopes(nats, subject_root, events)
        # the batch call fails on campaign-2 (poison); one message at a time, campaign-5 then
        # fails once more and is retried in hand, campaign-2 is dead-lettered
        projection = Projection(poison={"campaign-2"}, fail={"campaign-5": 1})
        consumer = make_consumer(store, nats, subject_root, projection, batch_handler=projection.batch,
                                 batch_size=10, max_attempts=3)
        async with running(consumer):
            await eventually(lambda: consumer.counts.get("applied", 0) == 7, what="the others applied")
        assert await Projection.campaigns(store) == [f"campaign-{i}" for i in (0, 1, 3, 4, 5, 6, 7)]
        assert consumer.counts["dead_lettered"] == 1
        assert len(await stream_messages(nats, dead_letter_stream(subject_root))) == 1


class LosesFirstAck(Consumer):
    """Commits but 'crashes' before its first ack: JetStream redelivers after ack_wait."""

    lost = 0

    async def _ack(self, msg) -> None:
        if self.lost == 0:
            self.lost += 1
            return
        await super()._ack(msg)


async def test_a_redelivered_message_changes_nothing(store_kind, request, nats_url, subject_root):
    events = [campaign_event(i) for i in range(3)]
    async with open_store(store_kind, request) as store, connected(nats_url, subject_root) as nats:
        await publish_envelopes(nats, subject_root, events)
        projection = Projection()
        consumer = make_consumer(store, nats, subject_root, projection, cls=LosesFirstAck, ack_wait=1.0)
        async with running(consumer):
            await eventually(lambda: consumer.counts.get("duplicate", 0) == 1, what="the redelivery", timeout=10)
        assert consumer.counts["applied"] == 3
        assert projection.calls == {"campaign-0": 1, "campaign-1": 1, "campaign-2": 1}
        assert sorted(await Projection.rows(store)) == sorted(str(e.id) for e in events)


async def test_a_handler_failing_transiently_is_retried_with_backoff_and_the_order_is_kept(
        store_kind, request, nats_url, subject_root):
    events = [campaign_event(i) for i in range(8)]
    async with open_store(store_kind, request) as store, connected(nats_url, subject_root) as nats:
        await publish_envelopes(nats, subject_root, events)
        projection = Projection(fail={"campaign-2": 2, "campaign-5": 1})
        consumer = make_consumer(store, nats, subject_root, projection, batch_size=10, max_attempts=5)
        async with running(consumer):
            await eventually(lambda: consumer.counts.get("applied", 0) == 8, what="8 applied")
        assert await Projection.campaigns(store) == [f"campaign-{i}" for i in range(8)], \
            "a later event overtook a failing one"
        assert projection.calls["campaign-2"] == 3 and projection.calls["campaign-5"] == 2
        assert consumer.counts["retried"] == 3
        assert "dead_lettered" not in consumer.counts
        assert len(await Projection.rows(store)) == 8


async def test_a_poison_message_goes_to_the_dead_letter_stream_with_its_error_and_the_consumer_goes_on(
        store_kind, request, nats_url, subject_root):
    events = [campaign_event(i) for i in range(5)]
    async with open_store(store_kind, request) as store, connected(nats_url, subject_root) as nats:
        await publish_envelopes(nats, subject_root, events)
        projection = Projection(poison={"campaign-2"})
        consumer = make_consumer(store, nats, subject_root, projection, max_attempts=3)
        async with running(consumer):
            await eventually(lambda: consumer.counts.get("applied", 0) == 4, what="the others applied")
        assert await Projection.campaigns(store) == ["campaign-0", "campaign-1", "campaign-3", "campaign-4"]
        assert projection.calls["campaign-2"] == 3
        assert consumer.counts["dead_lettered"] == 1

        [dead] = await stream_messages(nats, dead_letter_stream(subject_root))
        poison = events[2]
        headers, body = poison.to_nats()
        assert dead.subject == f"{subject_root}.deadletter.reporting-test"
        assert dead.data == body
        assert dead.headers[DeadLetterHeader.ERROR] == "bad campaign campaign-2 second line"
        assert dead.headers[DeadLetterHeader.ERROR_TYPE] == "ValueError"
        assert dead.headers[DeadLetterHeader.CONSUMER] == "reporting-test"
        assert dead.headers[DeadLetterHeader.ORIGINAL_SUBJECT] == event_subject(poison, subject_root)
        assert dead.headers[DeadLetterHeader.ORIGINAL_STREAM] == stream_name("candidatures", subject_root)
        assert dead.headers[DeadLetterHeader.STREAM_SEQUENCE] == "3"
        assert dead.headers[DeadLetterHeader.ATTEMPTS] == "3"
        assert dead.headers[DeadLetterHeader.DELIVERY_COUNT] == "1"  # retried in hand, not redelivered
        assert dead.headers[DeadLetterHeader.ORIGINAL_MSG_ID] == str(poison.id)
        assert dead.headers[Header.TYPE] == "CampaignClosed"
        assert dead.headers[Header.CORRELATION_ID] == headers[Header.CORRELATION_ID]


async def test_malformed_headers_a_non_json_body_an_unknown_type_or_an_invalid_payload_are_dead_lettered_without_retries(
        store_kind, request, nats_url, subject_root):
    good = campaign_event(1, academie="paris")
    headers, body = good.to_nats()
    subject = event_subject(good, subject_root)

    def variant(**changes) -> dict[str, str]:
        h = {**headers, Header.MSG_ID: str(uuid.uuid4())}
        h.update(changes)
        return {k: v for k, v in h.items() if v is not None}

    bad = [
        ("missing headers", {Header.MSG_ID: str(uuid.uuid4())}, body),
        ("not json", variant(), b"\xff{not json"),
        ("unknown type", variant(**{Header.TYPE: "NoSuchEvent"}), body),
        ("invalid payload", variant(), json.dumps({"type": "CampaignClosed", "academie": "paris"}).encode()),
    ]
    async with open_store(store_kind, request) as store, connected(nats_url, subject_root) as nats:
        for _, h, b in bad:
            await nats.js.publish(subject, b, headers=h)
        await publish_envelopes(nats, subject_root, [good])
        projection = Projection()
        consumer = make_consumer(store, nats, subject_root, projection, max_attempts=5)
        async with running(consumer):
            await eventually(lambda: consumer.counts.get("applied", 0) == 1, what="the good one applied")
        assert consumer.counts["dead_lettered"] == 4
        assert "retried" not in consumer.counts
        assert await Projection.campaigns(store) == ["campaign-1"]

        dead = await stream_messages(nats, dead_letter_stream(subject_root))
        assert [d.headers[DeadLetterHeader.ATTEMPTS] for d in dead] == ["1", "1", "1", "1"]
        assert [d.headers[DeadLetterHeader.ERROR_TYPE] for d in dead] == [
            "ValueError", "ValueError", "UnknownEventType", "ValidationError"]
        assert [d.data for d in dead] == [b for _, _, b in bad]


async def test_a_consumer_filtered_by_types_receives_only_those_types(
        store_kind, request, nats_url, subject_root):
    events = [campaign_event(i) for i in range(3)]
    async with open_store(store_kind, request) as store, connected(nats_url, subject_root) as nats:
        # something else from the same service, which the consumer did not ask for
        await nats.js.publish(f"{subject_root}.candidatures.paris.OfferWithdrawn", b"{}",
                              headers={Header.MSG_ID: str(uuid.uuid4())})
        await publish_envelopes(nats, subject_root, events)
        projection = Projection()
        consumer = make_consumer(store, nats, subject_root, projection,
                                 types=["CampaignClosed", "CampaignOpened"])
        await consumer.ensure()
        await consumer.ensure()  # provisioning twice is harmless
        async with running(consumer):
            await eventually(lambda: consumer.counts.get("applied", 0) == 3, what="3 applied")
        assert "dead_lettered" not in consumer.counts
        assert sorted(await Projection.campaigns(store)) == [f"campaign-{i}" for i in range(3)]
        info = await nats.js.consumer_info(stream_name("candidatures", subject_root), "reporting-test")
        version = nats.nc.connected_server_version
        if (version.major, version.minor) >= (2, 10):  # the server filters
            assert sorted(info.config.filter_subjects) == sorted(
                f"{subject_root}.candidatures.*.{t}" for t in ("CampaignClosed", "CampaignOpened"))
            assert "filtered" not in consumer.counts
        else:  # one filter subject only: the consumer drops the other types itself, unread
            assert info.config.filter_subject == f"{subject_root}.candidatures.>"
            assert consumer.counts["filtered"] == 1


async def test_republishing_from_a_position_delivers_duplicates_that_the_consumer_applies_only_once(
        store_kind, request, nats_url, subject_root):
    # a short duplicate window so the republished copies really reach the stream
    limits = StreamLimits(duplicate_window=0.3)
    async with open_store(store_kind, request) as source, \
            open_store(store_kind, request, name="reporting") as sink, \
            connected(nats_url, subject_root, limits=limits) as nats:
        events = [(await source.append(f"campaign-{i}", [campaign_event(i)])).events[0] for i in range(10)]
        relay = OutboxRelay(source, nats, source="candidatures", subject_root=subject_root)
        assert await relay.publish_once() == 10
        projection = Projection()
        consumer = make_consumer(sink, nats, subject_root, projection)
        async with running(consumer):
            await eventually(lambda: consumer.counts.get("applied", 0) == 10, what="10 applied")
            await asyncio.sleep(0.5)  # past the duplicate window
            assert await relay.republish(events[2].position) == 8
            await eventually(lambda: consumer.counts.get("duplicate", 0) == 8, what="8 duplicates seen")
        info = await nats.js.stream_info(stream_name("candidatures", subject_root))
        assert info.state.messages == 18
        assert consumer.counts["applied"] == 10
        assert sorted(await Projection.rows(sink)) == sorted(str(e.id) for e in events)


async def test_an_outage_of_the_consumers_database_delays_events_but_never_dead_letters_them(
        store_kind, request, nats_url, subject_root):
    events = [campaign_event(i) for i in range(4)]
    outage = {"left": 6}  # more failures than max_attempts

    projection = Projection()

    async def handler(tx, envelope, event) -> None:
        if event.campaign_id == "campaign-1" and outage["left"] > 0:
            outage["left"] -= 1
            raise ConnectionError("database unreachable")
        await projection(tx, envelope, event)

    async with open_store(store_kind, request) as store, connected(nats_url, subject_root) as nats:
        await publish_envelopes(nats, subject_root, events)
        consumer = make_consumer(store, nats, subject_root, handler, max_attempts=3, backoff_max=0.05)
        async with running(consumer):
            await eventually(lambda: consumer.counts.get("applied", 0) == 4, what="all applied after the outage")
        assert "dead_lettered" not in consumer.counts
        assert await Projection.campaigns(store) == [f"campaign-{i}" for i in range(4)]


async def test_a_durable_consumer_restarted_resumes_after_what_it_already_acknowledged(
        store_kind, request, nats_url, subject_root):
    async with open_store(store_kind, request) as store, connected(nats_url, subject_root) as nats:
        await publish_envelopes(nats, subject_root, [campaign_event(i) for i in range(5)])
        first = make_consumer(store, nats, subject_root, Projection())
        async with running(first):
            await eventually(lambda: first.counts.get("applied", 0) == 5, what="first run applied 5")
        await publish_envelopes(nats, subject_root, [campaign_event(i) for i in range(5, 8)])
        second = make_consumer(store, nats, subject_root, Projection())
        async with running(second):
            await eventually(lambda: second.counts.get("applied", 0) == 3, what="second run applied the 3 new")
            await asyncio.sleep(0.2)  # deliberate: an old event applied again would show now
        assert second.counts == {"applied": 3}
        assert await Projection.campaigns(store) == [f"campaign-{i}" for i in range(8)]
