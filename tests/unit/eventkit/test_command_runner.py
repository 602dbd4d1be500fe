"""The kit's command runner (eventkit.commands) on the in-memory store: what it reads, when it
decides again, and what a pinned version does. The services' own suites run it on SQLite and
PostgreSQL."""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from typing import Any

import pytest

from eventkit.commands import Attempt, CommandRunner, Write
from eventkit.memory import InMemoryEventStore
from eventkit.runtime import ServiceRuntime
from eventkit.settings import ServiceSettings
from eventkit.snapshots import StreamLoader, fold_with
from eventkit.store import ConcurrencyError
from jumelage_contracts import SYSTEM, Actor, to_envelope
from jumelage_contracts.candidatures import CampaignClosed
from jumelage_contracts.reference import Academie

STREAM = "campaign-c1"


class Refused(Exception):
    pass


@dataclass(frozen=True)
class Ctx:
    correlation_id: uuid.UUID
    expected_version: int | None = None
    causation_id: uuid.UUID | None = None

    @property
    def actor(self) -> Actor:
        return SYSTEM


def closed() -> CampaignClosed:
    return CampaignClosed(campaign_id="c1", academie=Academie("paris"))


# The state is the number of closings seen; a command closes once more while below a limit.
count = fold_with(lambda: 0, lambda state, _event: state + 1)


def close_up_to(limit: int, loader: StreamLoader, *, new: bool = False):
    async def decide(a: Attempt) -> list[Write]:
        loaded = await a.load(STREAM, loader, new=new)
        if loaded.state >= limit:
            raise Refused(f"already closed {loaded.state} times")
        return [Write.on(loaded, [closed()], "paris")]
    return decide


class CountingStore(InMemoryEventStore):
    def __init__(self) -> None:
        super().__init__()
        self.reads = 0

    async def read_stream(self, stream_id: str, from_version: int = 1):
        self.reads += 1
        return await super().read_stream(stream_id, from_version)


def a_runtime(store: Any) -> ServiceRuntime:
    return ServiceRuntime(ServiceSettings.from_env("candidatures", {}), store=store)


async def written_elsewhere(store: Any, n: int = 1) -> None:
    """Another process appends ``n`` closings behind this process's cache."""
    version = await store.stream_version(STREAM)
    envelopes = [to_envelope(closed(), stream_id=STREAM, occurred_at=a_runtime(store).clock.now(),
                             correlation_id=uuid.uuid4(), actor=SYSTEM, academie="paris") for _ in range(n)]
    await store.append(STREAM, envelopes, expected_version=version)


async def test_a_stream_this_process_just_wrote_is_not_read_again_for_the_next_command():
    store = CountingStore()
    runner, loader = CommandRunner(a_runtime(store)), StreamLoader(count)
    await runner.handle(Ctx(uuid.uuid4()), close_up_to(5, loader), STREAM)
    reads = store.reads
    written = await runner.handle(Ctx(uuid.uuid4()), close_up_to(5, loader), STREAM)
    assert store.reads == reads  # decided on the cached state; the append's expected version proved it
    assert (written.version, written.state) == (2, 2)
    assert [e.stream_version for e in written.events] == [2]


async def test_a_made_up_stream_id_is_decided_as_empty_without_a_read():
    store = CountingStore()
    written = await CommandRunner(a_runtime(store)).handle(Ctx(uuid.uuid4()), close_up_to(1, StreamLoader(count), new=True),
                                                           STREAM)
    assert store.reads == 0 and written.version == 1


async def test_a_cache_behind_the_stream_leads_to_a_read_and_a_decision_on_the_fresh_state():
    store = CountingStore()
    runner, loader = CommandRunner(a_runtime(store)), StreamLoader(count)
    await runner.handle(Ctx(uuid.uuid4()), close_up_to(5, loader), STREAM)
    await written_elsewhere(store, 2)
    written = await runner.handle(Ctx(uuid.uuid4()), close_up_to(5, loader), STREAM)
    assert written.version == 4 and written.state == 4
    assert [e.stream_version for e in await store.read_stream(STREAM)] == [1, 2, 3, 4]


async def test_a_refusal_on_a_stale_cache_is_checked_on_the_stream_before_it_goes_out():
    store = CountingStore()
    runner, loader = CommandRunner(a_runtime(store)), StreamLoader(count)
    await runner.handle(Ctx(uuid.uuid4()), close_up_to(5, loader), STREAM)
    await written_elsewhere(store, 4)  # the stream is at 5: the limit is reached, the cache says 1
    reads = store.reads
    with pytest.raises(Refused, match="already closed 5 times"):
        await runner.handle(Ctx(uuid.uuid4()), close_up_to(5, loader), STREAM)
    assert store.reads == reads + 1


async def test_a_pinned_version_that_is_not_the_stream_s_is_a_conflict_and_nothing_is_written():
    store = CountingStore()
    runner, loader = CommandRunner(a_runtime(store)), StreamLoader(count)
    await runner.handle(Ctx(uuid.uuid4()), close_up_to(5, loader), STREAM)
    with pytest.raises(ConcurrencyError):
        await runner.handle(Ctx(uuid.uuid4(), expected_version=0), close_up_to(5, loader), STREAM)
    assert await store.stream_version(STREAM) == 1
    written = await runner.handle(Ctx(uuid.uuid4(), expected_version=1), close_up_to(5, loader), STREAM)
    assert written.version == 2


async def test_a_conflict_on_every_attempt_ends_as_a_concurrency_error_after_the_retries():
    store = CountingStore()
    runner, loader = CommandRunner(a_runtime(store), retries=3, backoff=0), StreamLoader(count, snapshots=False)

    async def always_behind(a: Attempt) -> list[Write]:
        loaded = await a.load(STREAM, loader)
        await written_elsewhere(store)  # someone writes between every read and its append
        return [Write.on(loaded, [closed()], "paris")]

    with pytest.raises(ConcurrencyError):
        await runner.handle(Ctx(uuid.uuid4()), always_behind, STREAM)
    assert await store.stream_version(STREAM) == 3  # only the other writer's events


async def test_rows_are_projected_in_the_transaction_of_the_append_and_a_row_conflict_is_decided_again():
    store = CountingStore()
    projected: list[int] = []
    conflicts = iter([True, False])

    class RowTaken(Exception):
        pass

    async def project(tx, envelopes, events) -> None:
        if next(conflicts):
            raise RowTaken()
        projected.extend(e.stream_version for e in envelopes)

    runner = CommandRunner(a_runtime(store), project=project, retry_on=(RowTaken,))
    written = await runner.handle(Ctx(uuid.uuid4()), close_up_to(5, StreamLoader(count)), STREAM)
    assert written.version == 1 and projected == [1]
    assert len(await store.read_stream(STREAM)) == 1  # the attempt whose row conflicted stored nothing


async def test_inside_a_caller_s_transaction_the_write_commits_with_it_or_not_at_all():
    store = CountingStore()
    runner, loader = CommandRunner(a_runtime(store)), StreamLoader(count)
    with pytest.raises(RuntimeError):
        async with store.transaction() as tx:
            await runner.handle_in(tx, Ctx(uuid.uuid4()), close_up_to(5, loader), STREAM)
            raise RuntimeError("the consumer's handler failed after the write")
    assert await store.stream_version(STREAM) == 0
    # the cache did not move past a write that rolled back
    written = await runner.handle(Ctx(uuid.uuid4()), close_up_to(5, loader), STREAM)
    assert written.version == 1
