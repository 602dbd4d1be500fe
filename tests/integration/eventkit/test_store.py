"""The event-store contract, written once and run against the in-memory fake, SQLite and
PostgreSQL (``eventkit.store.EventStore`` / ``Transaction``)."""

from __future__ import annotations

import asyncio
import uuid
from datetime import datetime, timedelta, timezone

import pytest

from eventkit.store import ConcurrencyError

from tests.integration.eventkit.store_support import STORE_KINDS, a_store, an_event
from tests.waiting import eventually

pytestmark = pytest.mark.integration


@pytest.fixture(params=STORE_KINDS)
async def store(request, tmp_path):
    async with a_store(request.param, request, tmp_path) as s:
        yield s


class Boom(Exception):
    pass


# -- append and read ------------------------------------------------------------------------------


async def test_appended_events_are_read_back_in_order_with_versions_and_positions(store):
    first, second = an_event(), an_event(type_="CampaignClosed")

    result = await store.append("campaign-1", [first, second], expected_version=0)

    assert result.stream_version == 2 and not result.duplicate
    assert [e.id for e in result.events] == [first.id, second.id]
    read = await store.read_stream("campaign-1")
    assert [(e.id, e.type, e.stream_version) for e in read] == [
        (first.id, "CampaignOpened", 1), (second.id, "CampaignClosed", 2)]
    assert [e.position for e in read] == list(result.positions)
    assert result.positions[0] < result.positions[1]
    assert all(e.recorded_at is not None and e.stream_id == "campaign-1" for e in read)
    assert await store.stream_version("campaign-1") == 2


async def test_reading_a_stream_from_a_version_skips_the_earlier_events(store):
    await store.append("campaign-1", [an_event(), an_event(), an_event()], expected_version=0)

    assert [e.stream_version for e in await store.read_stream("campaign-1", from_version=2)] == [2, 3]


async def test_an_unknown_stream_is_empty_at_version_zero(store):
    assert await store.read_stream("nobody") == []
    assert await store.stream_version("nobody") == 0


async def test_the_store_sets_the_stream_id_whatever_the_envelope_said(store):
    result = await store.append("campaign-9", [an_event(stream_id="something-else")], expected_version=0)

    assert result.events[0].stream_id == "campaign-9"
    assert (await store.read_stream("campaign-9"))[0].stream_id == "campaign-9"


async def test_an_empty_append_stores_nothing(store):
    await store.append("campaign-1", [an_event()])

    result = await store.append("campaign-1", [])

    assert result.stream_version == 1 and result.events == ()
    assert await store.last_position() == (await store.read_all())[-1].position


# -- optimistic concurrency -----------------------------------------------------------------------


async def test_expected_version_zero_refuses_a_stream_that_already_exists(store):
    await store.append("campaign-1", [an_event()], expected_version=0)

    with pytest.raises(ConcurrencyError) as caught:
        await store.append("campaign-1", [an_event()], expected_version=0)

    assert (caught.value.stream_id, caught.value.expected, caught.value.actual) == ("campaign-1", 0, 1)
    assert len(await store.read_stream("campaign-1")) == 1


async def test_a_stale_expected_version_is_refused_with_the_actual_version(store):
    await store.append("campaign-1", [an_event(), an_event()], expected_version=0)
    await store.append("campaign-1", [an_event()], expected_version=2)

    with pytest.raises(ConcurrencyError) as caught:
        await store.append("campaign-1", [an_event()], expected_version=2)

    assert caught.value.actual == 3
    assert await store.stream_version("campaign-1") == 3


async def test_expected_version_ahead_of_the_stream_is_refused(store):
    with pytest.raises(ConcurrencyError):
        await store.append("campaign-1", [an_event()], expected_version=5)
    assert await store.read_stream("campaign-1") == []


async def test_any_version_appends_after_whatever_the_stream_holds(store):
    await store.append("campaign-1", [an_event()], expected_version=0)

    result = await store.append("campaign-1", [an_event(), an_event()])

    assert result.stream_version == 3


async def test_concurrent_appends_at_the_same_version_let_exactly_one_win(store):
    await store.append("campaign-1", [an_event()], expected_version=0)

    async def attempt() -> str:
        try:
            await store.append("campaign-1", [an_event()], expected_version=1)
            return "won"
        except ConcurrencyError:
            return "conflict"

    outcomes = await asyncio.gather(*[attempt() for _ in range(5)])

    assert sorted(outcomes) == ["conflict"] * 4 + ["won"]
    assert await store.stream_version("campaign-1") == 2


async def test_two_open_transactions_deciding_on_the_same_version_conflict(store):
    await store.append("campaign-1", [an_event()], expected_version=0)
    first_in = asyncio.Event()

    async def first() -> None:
        async with store.transaction() as tx:
            await tx.append("campaign-1", [an_event()], expected_version=1)
            first_in.set()
            await asyncio.sleep(0.1)  # commit late: the second writer must wait, then conflict

    async def second() -> None:
        await first_in.wait()
        async with store.transaction() as tx:
            await tx.append("campaign-1", [an_event()], expected_version=1)

    results = await asyncio.gather(first(), second(), return_exceptions=True)

    assert results[0] is None and isinstance(results[1], ConcurrencyError)
    assert await store.stream_version("campaign-1") == 2


# -- idempotency ----------------------------------------------------------------------------------


async def test_re_appending_the_same_events_is_a_no_op_reported_as_duplicate(store):
    batch = [an_event(), an_event()]
    original = await store.append("campaign-1", batch, expected_version=0)

    again = await store.append("campaign-1", batch, expected_version=0)

    assert again.duplicate
    assert again.positions == original.positions
    assert again.stream_version == 2
    assert [e.id for e in again.events] == [e.id for e in batch]
    assert len(await store.read_stream("campaign-1")) == 2
    assert len(await store.read_all()) == 2


# -- the global log -------------------------------------------------------------------------------


async def test_read_all_returns_every_stream_in_position_order(store):
    ids = []
    for i in range(3):
        for stream in ("campaign-a", "campaign-b", "offer-c"):
            event = an_event(stream_id=stream)
            ids.append(event.id)
            await store.append(stream, [event])

    everything = await store.read_all()

    assert [e.id for e in everything] == ids
    positions = [e.position for e in everything]
    assert positions == sorted(positions) and len(set(positions)) == len(positions)
    assert await store.last_position() == positions[-1]


async def test_read_all_pages_after_a_position(store):
    await store.append("campaign-1", [an_event() for _ in range(7)])
    everything = await store.read_all()

    pages, after = [], 0
    while page := await store.read_all(after_position=after, limit=3):
        pages.append(page)
        after = page[-1].position

    assert [len(p) for p in pages] == [3, 3, 1]
    assert [e.id for p in pages for e in p] == [e.id for e in everything]
    assert await store.read_all(after_position=everything[-1].position) == []


async def test_an_empty_store_is_at_position_zero(store):
    assert await store.last_position() == 0
    assert await store.read_all() == []


# -- transactions, inbox, checkpoints -------------------------------------------------------------


async def test_a_transaction_reads_its_own_appends_and_commits_them_together(store):
    async with store.transaction() as tx:
        await tx.append("campaign-1", [an_event()], expected_version=0)
        await tx.append("offer-1", [an_event(stream_id="offer-1")], expected_version=0)
        assert len(await tx.read_stream("campaign-1")) == 1
        await tx.set_checkpoint("projection", 2)

    assert await store.stream_version("campaign-1") == 1
    assert await store.stream_version("offer-1") == 1
    assert await store.get_checkpoint("projection") == 2


async def test_a_rolled_back_transaction_leaves_no_event_inbox_mark_or_checkpoint(store):
    handled = uuid.uuid4()
    with pytest.raises(Boom):
        async with store.transaction() as tx:
            await tx.append("campaign-1", [an_event()], expected_version=0)
            assert await tx.mark_processed("reporting", handled)
            await tx.set_checkpoint("reporting", 42)
            raise Boom

    assert await store.read_stream("campaign-1") == []
    assert await store.read_all() == []
    assert await store.get_checkpoint("reporting") == 0
    async with store.transaction() as tx:
        assert await tx.mark_processed("reporting", handled), "the rolled-back mark must not count"


async def test_mark_processed_is_true_the_first_time_and_false_after(store):
    event_id = uuid.uuid4()
    async with store.transaction() as tx:
        assert await tx.mark_processed("reporting", event_id) is True
        assert await tx.mark_processed("reporting", event_id) is False
    async with store.transaction() as tx:
        assert await tx.mark_processed("reporting", event_id) is False
        assert await tx.mark_processed("notifications", event_id) is True, "inboxes are per consumer"


async def test_checkpoints_start_at_zero_and_keep_the_last_value_set(store):
    assert await store.get_checkpoint("relay:candidatures") == 0
    async with store.transaction() as tx:
        await tx.set_checkpoint("relay:candidatures", 10)
        assert await tx.get_checkpoint("relay:candidatures") == 10
    await store.set_checkpoint("relay:candidatures", 25)

    assert await store.get_checkpoint("relay:candidatures") == 25
    assert await store.get_checkpoint("another") == 0


# -- leases ---------------------------------------------------------------------------------------


async def test_a_lease_is_refused_to_a_second_holder_until_it_expires(store):
    assert await store.acquire_lease("relay:candidatures", "process-a", ttl_seconds=0.5)
    assert not await store.acquire_lease("relay:candidatures", "process-b", ttl_seconds=0.5)
    assert await store.acquire_lease("relay:candidatures", "process-a", ttl_seconds=0.5), "the holder renews"

    await eventually(lambda: store.acquire_lease("relay:candidatures", "process-b", ttl_seconds=5),
                     timeout=5, what="the lease free once its 0.5 s are over")
    assert not await store.acquire_lease("relay:candidatures", "process-a", ttl_seconds=5)


async def test_a_released_lease_can_be_taken_at_once_and_only_its_holder_releases_it(store):
    await store.acquire_lease("relay:programmes", "process-a", ttl_seconds=30)
    await store.release_lease("relay:programmes", "process-b")  # not the holder: nothing happens
    assert not await store.acquire_lease("relay:programmes", "process-b", ttl_seconds=30)

    await store.release_lease("relay:programmes", "process-a")

    assert await store.acquire_lease("relay:programmes", "process-b", ttl_seconds=30)


async def test_holders_racing_for_a_free_lease_leave_exactly_one_winner(store):
    outcomes = await asyncio.gather(*[
        store.acquire_lease("relay:notifications", f"process-{i}", ttl_seconds=30) for i in range(6)])

    assert sorted(outcomes) == [False] * 5 + [True]


async def test_leases_of_different_names_are_independent(store):
    assert await store.acquire_lease("relay:candidatures", "process-a", ttl_seconds=30)
    assert await store.acquire_lease("relay:programmes", "process-b", ttl_seconds=30)


# -- what goes in comes out -----------------------------------------------------------------------


async def test_timestamps_come_back_timezone_aware_and_at_the_same_instant(store):
    paris_summer = timezone(timedelta(hours=2))
    occurred = datetime(2025, 6, 30, 23, 59, 59, 123456, tzinfo=paris_summer)
    event = an_event().model_copy(update={"occurred_at": occurred})

    await store.append("campaign-1", [event])
    read = (await store.read_stream("campaign-1"))[0]

    assert read.occurred_at.tzinfo is not None and read.recorded_at.tzinfo is not None
    assert read.occurred_at == occurred
    assert read.occurred_at.utcoffset() is not None
    assert abs(read.recorded_at - datetime.now(timezone.utc)) < timedelta(minutes=1)


async def test_json_data_with_french_characters_round_trips(store):
    data = {
        "intitule": "Jumelage « approfondir » — École élémentaire Jean-Jaurès, Besançon",
        "structure": "Théâtre de l'Œuvre",
        "classes": [{"niveau": "CE2", "effectif": 24, "objectif": "Découvrir le théâtre ; s'exprimer"}],
        "rep_plus": True,
        "budget": None,
        "ratio": 0.75,
    }
    event = an_event(**data)

    await store.append("candidature-0750655E", [event])
    read = (await store.read_stream("candidature-0750655E"))[0]

    assert read.data == data
    assert read.model_dump(exclude={"position", "recorded_at", "stream_version"}) == \
        event.model_copy(update={"stream_id": "candidature-0750655E"}).model_dump(
            exclude={"position", "recorded_at", "stream_version"})


async def test_envelopes_read_back_equal_freshly_validated_ones(store):
    await store.append("campaign-1", [an_event()])

    read = (await store.read_stream("campaign-1"))[0]

    assert read == type(read).model_validate(read.model_dump())
    headers, body = read.to_nats()
    assert type(read).from_nats(headers, body) == read


async def test_a_batch_larger_than_one_statement_is_appended_whole_and_in_order(store):
    batch = [an_event(n=i) for i in range(2500)]

    result = await store.append("campaign-1", batch, expected_version=0)

    assert result.stream_version == 2500 and len(result.positions) == 2500
    read = await store.read_stream("campaign-1")
    assert [e.data["n"] for e in read] == list(range(2500))
    assert [e.stream_version for e in read] == list(range(1, 2501))
    assert (await store.append("campaign-1", batch, expected_version=0)).duplicate


# -- many streams at once ---------------------------------------------------------------------------


async def test_append_many_records_many_streams_in_one_go_in_the_order_given(store):
    await store.append("reminder-0", [an_event(stream_id="reminder-0", n=0)], expected_version=0)
    work = [(f"reminder-{i}", [an_event(stream_id=f"reminder-{i}", n=i)], 1 if i == 0 else 0) for i in range(1200)]
    work[5] = ("reminder-5", [an_event(stream_id="reminder-5", n=5), an_event(stream_id="reminder-5", n=-5)], 0)

    async with store.transaction() as tx:
        results = await tx.append_many(work)

    assert [r.stream_version for r in results[:7]] == [2, 1, 1, 1, 1, 2, 1]
    positions = [p for r in results for p in r.positions]
    assert positions == sorted(positions) and len(set(positions)) == len(positions)
    logged = await store.read_all(after_position=0, limit=5000)
    assert [e.data["n"] for e in logged] == [0, 0] + list(range(1, 5)) + [5, -5] + list(range(6, 1200))
    assert [e.stream_version for e in await store.read_stream("reminder-5")] == [1, 2]
    assert results[3].events[0].stream_id == "reminder-3" and results[3].events[0].position == results[3].positions[0]


async def test_append_many_with_one_stream_not_at_its_version_raises_and_the_transaction_stores_nothing(store):
    await store.append("reminder-b", [an_event(stream_id="reminder-b")], expected_version=0)
    work = [(s, [an_event(stream_id=s)], 0) for s in ("reminder-a", "reminder-b", "reminder-c")]

    with pytest.raises(ConcurrencyError) as raised:
        async with store.transaction() as tx:
            await tx.append_many(work)

    assert raised.value.stream_id == "reminder-b" and raised.value.actual == 1
    assert await store.stream_version("reminder-a") == 0 and await store.stream_version("reminder-c") == 0


async def test_append_many_again_with_the_same_events_reports_duplicates(store):
    work = [(s, [an_event(stream_id=s)], 0) for s in ("reminder-a", "reminder-b")]
    async with store.transaction() as tx:
        first = await tx.append_many(work)
    async with store.transaction() as tx:
        again = await tx.append_many(work)

    assert [r.duplicate for r in again] == [True, True]
    assert [r.positions for r in again] == [r.positions for r in first]
    assert len(await store.read_all()) == 2
