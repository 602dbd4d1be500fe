"""Every store kind refuses an event that would not fit on the bus, before writing anything.

NATS counts headers and body together against max_payload; an event the relay cannot publish
stalls the service's outbox behind it, so the bound is checked where events are stored."""

from __future__ import annotations

import pytest

from eventkit.store import DEFAULT_EVENT_MAX_BYTES, EventTooLarge, nats_message_size

from tests.integration.eventkit.store_support import STORE_KINDS, a_store, an_event

pytestmark = pytest.mark.integration


@pytest.fixture(params=STORE_KINDS)
async def store(request, tmp_path):
    async with a_store(request.param, request, tmp_path) as s:
        yield s


def an_offer(resources: str, **extra) -> object:
    return an_event("offer-1", "OfferPublished", title="Ateliers", resources=resources, **extra)


async def assert_nothing_stored(store, *streams: str) -> None:
    assert await store.last_position() == 0
    assert await store.read_all() == []
    for stream in streams:
        assert await store.stream_version(stream) == 0


async def test_an_event_over_the_default_limit_is_refused_naming_its_type_size_and_largest_field(store):
    big = an_offer("x" * (DEFAULT_EVENT_MAX_BYTES + 1))

    with pytest.raises(EventTooLarge) as refused:
        await store.append("offer-1", [big], expected_version=0)

    assert refused.value.event_type == "OfferPublished"
    assert refused.value.field == "resources"
    assert refused.value.limit == DEFAULT_EVENT_MAX_BYTES < refused.value.size
    await assert_nothing_stored(store, "offer-1")


async def test_one_event_too_large_refuses_the_whole_append(store):
    with pytest.raises(EventTooLarge):
        await store.append("offer-1", [an_offer("small"), an_offer("x" * DEFAULT_EVENT_MAX_BYTES)])

    await assert_nothing_stored(store, "offer-1")


async def test_a_transaction_that_appends_an_event_too_large_stores_nothing(store):
    with pytest.raises(EventTooLarge):
        async with store.transaction() as tx:
            await tx.append("offer-0", [an_offer("fits")])
            await tx.append("offer-1", [an_offer("x" * DEFAULT_EVENT_MAX_BYTES)])

    await assert_nothing_stored(store, "offer-0", "offer-1")


async def test_append_many_refuses_every_stream_when_one_event_is_too_large(store):
    store.max_event_bytes = 4096
    appends = [(f"offer-{i}", [an_offer("x" * (5000 if i == 7 else 10))], 0) for i in range(10)]

    with pytest.raises(EventTooLarge) as refused:
        async with store.transaction() as tx:
            await tx.append_many(appends)

    assert refused.value.field == "resources"
    await assert_nothing_stored(store, *(stream for stream, _, _ in appends))


async def test_the_limit_counts_the_nats_headers_as_well_as_the_body(store):
    store.max_event_bytes = 4096
    probe = an_offer("")
    headers, body = probe.to_nats()
    # a body that fits on its own, but not with the headers the relay will send beside it
    body_only_fits = an_offer("x" * (4096 - len(body) - 10))
    assert len(body_only_fits.to_nats()[1]) < 4096

    with pytest.raises(EventTooLarge):
        await store.append("offer-1", [body_only_fits])

    await assert_nothing_stored(store, "offer-1")


async def test_the_limit_counts_bytes_not_characters(store):
    store.max_event_bytes = 4096

    with pytest.raises(EventTooLarge):
        await store.append("offer-1", [an_offer("é" * 2500)])  # 2500 characters, 5000 bytes

    await assert_nothing_stored(store, "offer-1")


async def test_an_event_the_store_accepts_fits_the_limit_once_stored_and_published(store):
    store.max_event_bytes = 4096
    accepted = None
    for length in range(3900, 3000, -25):  # the largest offer the store takes
        try:
            result = await store.append("offer-1", [an_offer("x" * length)], expected_version=0)
        except EventTooLarge:
            continue
        accepted = result.events[0]
        break
    assert accepted is not None, "no offer under the limit was accepted"

    stored = (await store.read_all())[0]
    assert stored.id == accepted.id
    # what the relay will send: the stored envelope with its version, recording time and position
    assert nats_message_size(*stored.to_nats()) <= 4096
