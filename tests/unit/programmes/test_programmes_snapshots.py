"""Persisted snapshots: a three-year partnership of 500 events loads from its snapshot plus the
events after it; a snapshot written for another state shape, or unreadable, is ignored and
rebuilt from the stream."""

from __future__ import annotations

import uuid

from eventkit.memory import InMemoryEventStore
from jumelage_contracts import to_envelope
from jumelage_contracts.programmes import SideEvaluation
from programmes import sample
from programmes.adapters.snapshots import MemorySnapshots, StoredSnapshot
from programmes.app.snapshots import StreamLoader, encode, state_schema
from programmes.domain import fold
from programmes_builders import PID, at, open_year

STREAM = f"partnership-{PID}"
GOOD = SideEvaluation(satisfaction=4, wish_to_continue=True)


def three_year_partnership(total: int = 500) -> list:
    return sample.three_year_partnership(
        lambda year_index, start: open_year(year_index=year_index, start_year=start, now=at(start, 7, 10)),
        ("cm1-a", "cm2-b"), total)


class CountingStore:
    """The store as the loader sees it, remembering from which version each read started."""

    def __init__(self, store: InMemoryEventStore) -> None:
        self.store = store
        self.reads: list[int] = []

    async def read_stream(self, stream_id: str, from_version: int = 1):
        self.reads.append(from_version)
        return await self.store.read_stream(stream_id, from_version)


async def stored(events: list) -> InMemoryEventStore:
    store = InMemoryEventStore()
    envelopes = [to_envelope(e, stream_id=STREAM, occurred_at=at(2025, 7, 10), correlation_id=uuid.uuid4(),
                             academie="paris") for e in events]
    await store.append(STREAM, envelopes, expected_version=0)
    return store


EVENTS = three_year_partnership()


async def test_a_three_year_partnership_of_500_events_loads_from_its_persisted_snapshot():
    store, persisted = await stored(EVENTS), MemorySnapshots()
    first = await StreamLoader(persist_every=50).load(store, STREAM, persisted)
    assert persisted.rows[STREAM].version == 500 and persisted.rows[STREAM].state_schema == state_schema()

    counting = CountingStore(store)  # another process: nothing in its own cache
    restarted = await StreamLoader(persist_every=50).load(counting, STREAM, persisted)
    assert counting.reads == [501]
    assert restarted.version == 500 and restarted.state == first.state == fold(EVENTS)
    assert [y.year_index for y in restarted.state.past_years] == [1, 2]


async def test_events_after_the_snapshot_are_folded_on_top_of_it():
    store, persisted = await stored(EVENTS[:450]), MemorySnapshots()
    await StreamLoader(persist_every=50).load(store, STREAM, persisted)
    assert persisted.rows[STREAM].version == 450
    more = [to_envelope(e, stream_id=STREAM, occurred_at=at(2028, 6, 1), correlation_id=uuid.uuid4(), academie="paris")
            for e in EVENTS[450:]]
    await store.append(STREAM, more, expected_version=450)

    counting = CountingStore(store)
    loaded = await StreamLoader(persist_every=100).load(counting, STREAM, persisted)
    assert counting.reads == [451] and loaded.state == fold(EVENTS)
    assert persisted.rows[STREAM].version == 450  # 50 new events: not yet worth another snapshot


async def test_a_snapshot_of_an_older_state_shape_is_ignored_and_rebuilt():
    store, persisted = await stored(EVENTS), MemorySnapshots()
    stale = fold(EVENTS[:300])  # a real state, but tagged with the shape of older code
    persisted.rows[STREAM] = StoredSnapshot(STREAM, 300, "v0-state-before-meeting-windows", encode(stale))

    counting = CountingStore(store)
    loaded = await StreamLoader(persist_every=50).load(counting, STREAM, persisted)
    assert counting.reads == [1] and loaded.state == fold(EVENTS)
    rebuilt = persisted.rows[STREAM]
    assert (rebuilt.version, rebuilt.state_schema) == (500, state_schema())


async def test_an_unreadable_snapshot_is_ignored_and_rebuilt():
    store, persisted = await stored(EVENTS), MemorySnapshots()
    persisted.rows[STREAM] = StoredSnapshot(STREAM, 400, state_schema(), b"not a pickle")
    counting = CountingStore(store)
    loaded = await StreamLoader(persist_every=50).load(counting, STREAM, persisted)
    assert counting.reads == [1] and loaded.state == fold(EVENTS)
    assert persisted.rows[STREAM].version == 500


async def test_without_snapshots_every_load_folds_the_whole_stream():
    store, persisted = await stored(EVENTS), MemorySnapshots()
    counting = CountingStore(store)
    loader = StreamLoader(snapshots=False)
    for _ in range(2):
        assert (await loader.load(counting, STREAM, persisted)).state == fold(EVENTS)
    assert counting.reads == [1, 1] and persisted.rows == {}


async def test_a_snapshot_only_moves_forward():
    persisted = MemorySnapshots()
    await persisted.put(StoredSnapshot(STREAM, 500, state_schema(), b"new"))
    await persisted.put(StoredSnapshot(STREAM, 450, state_schema(), b"old"))
    assert persisted.rows[STREAM].state == b"new"
