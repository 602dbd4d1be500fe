"""A reader tailing the global log never skips an event that commits late.

The trap: a sequence hands out positions at insert time, so a transaction holding position 7
that commits after the one holding 8 lets a reader at ``position > 6`` see 8, move its cursor
and never see 7. SQLite has one writer at a time (BEGIN IMMEDIATE). PostgreSQL appenders run
side by side and ``read_all`` holds back at a gap until every transaction that may still fill
it has ended (module doc of ``eventkit.sql``). Without a lock, races between appenders end on the
unique constraints and come out as the duplicate result or a ConcurrencyError. The control test
removes the barrier and shows the same scenario does skip — so the other tests can actually fail.
"""

from __future__ import annotations

import asyncio
import random

import pytest

from eventkit import sql
from eventkit.store import ConcurrencyError

from tests.integration.eventkit.store_support import SQL_KINDS, a_store, an_event
from tests.waiting import eventually

pytestmark = pytest.mark.integration


class Boom(Exception):
    pass


@pytest.fixture(params=SQL_KINDS)
def kind(request) -> str:
    return request.param


async def tail_while(store, writers: list, page: int, timeout: float) -> list:
    """Tail the global log by ``position >`` while ``writers`` run; every event the tail saw, in
    the order it saw them, once it caught up after the last writer finished."""
    seen: list = []
    writers_done = asyncio.Event()

    async def reader() -> None:
        after = 0
        while True:
            # Read the flag before the page: an empty page read after every writer finished
            # means the reader has caught up for good.
            finished = writers_done.is_set()
            events = await store.read_all(after_position=after, limit=page)
            for event in events:
                assert event.position > after, "positions must only grow"
                seen.append(event)
                after = event.position
            if not events:
                if finished:
                    return
                await asyncio.sleep(0.001)  # the tailing reader's poll: the reader is what is tested

    reading = asyncio.create_task(reader())
    await asyncio.gather(*writers)
    writers_done.set()
    await asyncio.wait_for(reading, timeout=timeout)
    return seen


async def test_a_tailing_reader_sees_every_event_once_with_many_concurrent_appenders(kind, request, tmp_path):
    writers, per_writer = 12, 25
    rng = random.Random(20250630)
    async with a_store(kind, request, tmp_path, pool_size=writers + 2) as store:
        committed: set = set()

        async def writer(w: int) -> None:
            for i in range(per_writer):
                batch = [an_event(stream_id=f"campaign-{w}") for _ in range(rng.choice((1, 1, 1, 2)))]
                async with store.transaction() as tx:
                    await asyncio.sleep(rng.random() * 0.002)  # jitter: widens the race
                    await tx.append(f"campaign-{w}", batch)
                    # Hold the transaction open after the insert: this is where a late commit
                    # would let a later position become visible first.
                    await asyncio.sleep(rng.random() * 0.004)  # jitter: widens the race
                committed.update(e.id for e in batch)

        seen = await tail_while(store, [writer(w) for w in range(writers)], page=50, timeout=30)

        ids = [e.id for e in seen]
        assert len(ids) == len(set(ids)), "no event may be seen twice"
        assert set(ids) == committed, "every committed event is seen"
        assert [e.id for e in await store.read_all(limit=10_000)] == ids, "the tail saw the log's final order"
        positions = [e.position for e in seen]
        # No rollbacks here, so on both databases the positions have no hole either.
        assert positions == list(range(positions[0], positions[0] + len(committed)))


async def test_a_tailing_reader_sees_every_committed_event_once_despite_rollbacks_and_races(kind, request, tmp_path):
    """The same tail, with what leaves permanent holes on PostgreSQL: rolled-back appends and
    appenders racing on one stream (any version: the loser tries again)."""
    writers, per_writer = 8, 15
    rng = random.Random(20251123)
    async with a_store(kind, request, tmp_path, pool_size=writers + 4) as store:
        committed: set = set()

        async def writer(w: int) -> None:
            for i in range(per_writer):
                batch = [an_event(stream_id="shared")]
                if i % 5 == 4:
                    with pytest.raises(Boom):
                        async with store.transaction() as tx:
                            await tx.append(f"campaign-{w}", [an_event(stream_id=f"campaign-{w}")])
                            await asyncio.sleep(rng.random() * 0.003)  # jitter: widens the race
                            raise Boom()
                elif i % 2:
                    await store.append("shared", batch)  # every writer on one stream: races
                    committed.update(e.id for e in batch)
                else:
                    async with store.transaction() as tx:
                        await tx.append(f"campaign-{w}", batch)
                        await asyncio.sleep(rng.random() * 0.003)  # jitter: widens the race
                    committed.update(e.id for e in batch)

        seen = await tail_while(store, [writer(w) for w in range(writers)], page=20, timeout=60)

        ids = [e.id for e in seen]
        assert len(ids) == len(set(ids)), "no event may be seen twice"
        assert set(ids) == committed, "every committed event is seen, none rolled back"
        assert [e.id for e in await store.read_all(limit=10_000)] == ids
        shared = await store.read_stream("shared")
        assert len(shared) == sum(1 for i in range(per_writer) if i % 5 != 4 and i % 2) * writers
        assert [e.stream_version for e in shared] == list(range(1, len(shared) + 1))


async def test_a_reader_does_not_pass_the_position_of_a_transaction_still_open(kind, request, tmp_path):
    async with a_store(kind, request, tmp_path) as store:
        store.gap_wait_timeout = 0.2  # PostgreSQL: the reader gives up waiting quickly here
        before = await store.append("campaign-0", [an_event(stream_id="campaign-0")])
        first_inserted, release_first = asyncio.Event(), asyncio.Event()

        async def slow_first() -> None:
            async with store.transaction() as tx:
                await tx.append("campaign-a", [an_event(stream_id="campaign-a")])
                first_inserted.set()
                await release_first.wait()

        first = asyncio.create_task(slow_first())
        await first_inserted.wait()
        second = asyncio.create_task(store.append("campaign-b", [an_event(stream_id="campaign-b")]))
        if kind == "sqlite":
            await asyncio.sleep(0.3)  # deliberate: nothing may happen while the first writer holds on
            assert not second.done(), "SQLite: one writer at a time"
        else:
            await eventually(second.done, timeout=10,
                             what="PostgreSQL: appenders no longer queue behind an open transaction")
            assert (await second).positions[0] == before.positions[0] + 2, "b drew its position after a"

        for _ in range(2):
            assert [e.stream_id for e in await store.read_all()] == ["campaign-0"], \
                "nothing past the open transaction's position"
            assert await store.read_all(after_position=before.positions[0]) == []

        release_first.set()
        await asyncio.gather(first, second)
        log = await store.read_all(after_position=before.positions[0])
        assert [e.stream_id for e in log] == ["campaign-a", "campaign-b"]
        assert log[0].position < log[1].position


@pytest.mark.parametrize("kind", ["postgres", "postgres-portable"])
async def test_a_reader_waits_for_an_open_transaction_with_a_newer_xid_than_the_last_commit(kind, request, tmp_path):
    """The barrier must be a newly drawn xid, not the snapshot's xmax: xmax is the last
    COMPLETED xid + 1, and here the transaction holding the missing position has a newer xid
    than the one that committed (with xmax the reader would move past it)."""
    from sqlalchemy import text

    async with a_store(kind, request, tmp_path) as store:
        store.gap_wait_timeout = 0.3
        late_inserted, release_late = asyncio.Event(), asyncio.Event()

        async def late() -> None:
            async with store.transaction() as tx:
                await tx.append("campaign-late", [an_event(stream_id="campaign-late")])
                late_inserted.set()
                await release_late.wait()

        async with store.transaction() as early:
            await early.connection.execute(text("SELECT pg_current_xact_id()"))  # the older xid
            holding = asyncio.create_task(late())  # a newer xid; draws the smaller position
            await late_inserted.wait()
            await early.append("campaign-early", [an_event(stream_id="campaign-early")])
        # early has committed with the larger position; late is open with the newer xid.

        assert await store.read_all() == [], "the reader stops below the open transaction"
        release_late.set()
        await holding
        assert [e.stream_id for e in await store.read_all()] == ["campaign-late", "campaign-early"]


async def test_a_rolled_back_append_leaves_a_hole_the_reader_passes(kind, request, tmp_path):
    async with a_store(kind, request, tmp_path) as store:
        store.gap_wait_timeout = 30.0  # the hole is permanent: the reader must pass it, not time out
        first = await store.append("campaign-a", [an_event(stream_id="campaign-a")])
        with pytest.raises(Boom):
            async with store.transaction() as tx:
                await tx.append("campaign-b", [an_event(stream_id="campaign-b")])
                raise Boom()
        last = await store.append("campaign-c", [an_event(stream_id="campaign-c")])

        if kind != "sqlite":  # SQLite rolls its AUTOINCREMENT counter back with the transaction
            assert last.positions[0] == first.positions[0] + 2, "the rolled-back append consumed a position"
        assert [e.stream_id for e in await store.read_all(after_position=first.positions[0])] == ["campaign-c"]
        assert [e.stream_id for e in await store.read_all()] == ["campaign-a", "campaign-c"]


async def test_appenders_racing_for_the_same_stream_version_leave_one_winner(kind, request, tmp_path):
    async with a_store(kind, request, tmp_path) as store:
        inserted, release = asyncio.Event(), asyncio.Event()
        winner = an_event(stream_id="campaign-1")

        async def holding() -> None:
            async with store.transaction() as tx:
                await tx.append("campaign-1", [winner], expected_version=0)
                inserted.set()
                await release.wait()

        first = asyncio.create_task(holding())
        await inserted.wait()
        # On PostgreSQL both pass their checks before the first commits: the unique constraint decides.
        loser = asyncio.create_task(store.append("campaign-1", [an_event(stream_id="campaign-1")], expected_version=0))
        any_version = asyncio.create_task(store.append("campaign-1", [an_event(stream_id="campaign-1")]))
        await asyncio.sleep(0.2)  # deliberate: neither may finish while the first holds on
        assert not loser.done() and not any_version.done(), "both wait for the first transaction"
        release.set()
        await first

        with pytest.raises(ConcurrencyError) as conflict:
            await loser
        assert conflict.value.expected == 0 and conflict.value.actual >= 1
        assert (await any_version).stream_version == 2, "any version: the loser tries again"
        stream = await store.read_stream("campaign-1")
        assert [e.stream_version for e in stream] == [1, 2]
        assert stream[0].id == winner.id
        assert [e.id for e in await store.read_all()] == [e.id for e in stream]


async def test_many_appenders_racing_for_a_new_stream_leave_exactly_one_winner(kind, request, tmp_path):
    async with a_store(kind, request, tmp_path, pool_size=12) as store:
        async def attempt() -> str:
            try:
                await store.append("campaign-1", [an_event(stream_id="campaign-1")], expected_version=0)
                return "won"
            except ConcurrencyError:
                return "conflict"

        outcomes = await asyncio.gather(*[attempt() for _ in range(8)])

        assert sorted(outcomes) == ["conflict"] * 7 + ["won"]
        assert len(await store.read_stream("campaign-1")) == 1
        assert len(await store.read_all()) == 1


@pytest.mark.parametrize("kind", ["postgres", "postgres-portable"])
async def test_inside_a_transaction_losing_an_any_version_race_is_a_conflict(kind, request, tmp_path):
    async with a_store(kind, request, tmp_path) as store:
        inserted, release = asyncio.Event(), asyncio.Event()

        async def holding() -> None:
            async with store.transaction() as tx:
                await tx.append("campaign-1", [an_event(stream_id="campaign-1")])
                inserted.set()
                await release.wait()

        async def other_unit_of_work() -> None:
            async with store.transaction() as tx:
                await tx.append("campaign-1", [an_event(stream_id="campaign-1")])

        first = asyncio.create_task(holding())
        await inserted.wait()
        second = asyncio.create_task(other_unit_of_work())
        await asyncio.sleep(0.2)  # deliberate: the second reaches its insert before the first commits
        release.set()
        await first

        with pytest.raises(ConcurrencyError):
            await second  # its transaction is aborted: the caller retries the unit of work
        assert [e.stream_version for e in await store.read_stream("campaign-1")] == [1]


@pytest.mark.parametrize("kind", ["postgres", "postgres-portable"])
async def test_transactions_appending_to_two_streams_in_opposite_orders_leave_one_winner(kind, request, tmp_path):
    """Each waits for the other on the unique index: PostgreSQL breaks the deadlock and the
    aborted one gets a ConcurrencyError, like any lost race (the lock used to prevent it)."""
    async with a_store(kind, request, tmp_path) as store:
        first_in, second_in = asyncio.Event(), asyncio.Event()

        written: dict[str, set] = {}

        async def unit_of_work(streams: tuple[str, str], mine: asyncio.Event, theirs: asyncio.Event) -> str:
            events = [an_event(stream_id=s) for s in streams]
            written[streams[0]] = {e.id for e in events}
            try:
                async with store.transaction() as tx:
                    await tx.append(streams[0], events[:1], expected_version=0)
                    mine.set()
                    await theirs.wait()
                    await tx.append(streams[1], events[1:], expected_version=0)
                return "won"
            except ConcurrencyError:
                return "conflict"

        outcomes = await asyncio.wait_for(asyncio.gather(
            unit_of_work(("campaign-a", "campaign-b"), first_in, second_in),
            unit_of_work(("campaign-b", "campaign-a"), second_in, first_in),
        ), timeout=30)

        assert sorted(outcomes) == ["conflict", "won"]
        winner = "campaign-a" if outcomes[0] == "won" else "campaign-b"
        log = await store.read_all()
        assert {e.id for e in log} == written[winner], "the winner's two events, nothing of the other"


async def test_appenders_racing_with_the_same_event_store_it_once_and_the_loser_gets_the_duplicate(
        kind, request, tmp_path):
    async with a_store(kind, request, tmp_path) as store:
        inserted, release = asyncio.Event(), asyncio.Event()
        event = an_event(stream_id="campaign-1")

        async def holding():
            async with store.transaction() as tx:
                result = await tx.append("campaign-1", [event], expected_version=0)
                inserted.set()
                await release.wait()
            return result

        first = asyncio.create_task(holding())
        await inserted.wait()
        again = asyncio.create_task(store.append("campaign-1", [event], expected_version=0))
        await asyncio.sleep(0.2)  # deliberate: the second may not finish while the first holds on
        assert not again.done(), "the second waits for the first transaction"
        release.set()
        stored, duplicate = await asyncio.gather(first, again)

        assert not stored.duplicate and duplicate.duplicate
        assert duplicate.positions == stored.positions and duplicate.stream_version == 1
        assert [e.id for e in await store.read_all()] == [event.id]


async def test_many_appenders_of_the_same_event_at_once_store_it_once(kind, request, tmp_path):
    async with a_store(kind, request, tmp_path, pool_size=12) as store:
        event = an_event(stream_id="campaign-1")

        results = await asyncio.gather(*[store.append("campaign-1", [event]) for _ in range(8)])

        assert sorted(r.duplicate for r in results) == [False] + [True] * 7
        assert {r.positions for r in results} == {results[0].positions}
        assert [e.id for e in await store.read_all()] == [event.id]


async def test_without_the_gap_barrier_a_tailing_reader_would_skip_a_late_commit(request, tmp_path, monkeypatch):
    """Control: proves the scenario above detects the trap when the protection is removed
    (PostgreSQL, whose appenders no longer wait for each other)."""

    async def read_as_is(self, conn, after_position, limit, rows):
        return rows

    monkeypatch.setattr(sql.SqlEventStore, "_past_gaps", read_as_is)
    async with a_store("postgres", request, tmp_path) as store:
        first_inserted, release_first = asyncio.Event(), asyncio.Event()

        async def slow_first() -> None:
            async with store.transaction() as tx:
                await tx.append("campaign-a", [an_event(stream_id="campaign-a")])
                first_inserted.set()
                await release_first.wait()

        first = asyncio.create_task(slow_first())
        await first_inserted.wait()
        await store.append("campaign-b", [an_event(stream_id="campaign-b")])  # commits first

        tail = await store.read_all()
        cursor = tail[-1].position
        release_first.set()
        await first
        after_cursor = await store.read_all(after_position=cursor)
        everything = await store.read_all()

        assert [e.stream_id for e in tail] == ["campaign-b"]
        assert after_cursor == [], "the late commit sits below the cursor: a tailing reader loses it"
        assert {e.stream_id for e in everything} == {"campaign-a", "campaign-b"}


async def test_an_open_reader_connection_does_not_hold_writers_back(kind, request, tmp_path):
    from sqlalchemy import text

    async with a_store(kind, request, tmp_path) as store:
        await store.append("campaign-a", [an_event(stream_id="campaign-a")])
        async with store.reader.connect() as conn:
            assert await conn.scalar(text("SELECT count(*) FROM events")) == 1

            await asyncio.wait_for(store.append("campaign-b", [an_event(stream_id="campaign-b")]), timeout=5)

            assert await conn.scalar(text("SELECT count(*) FROM events")) == 2, "each statement reads afresh"
