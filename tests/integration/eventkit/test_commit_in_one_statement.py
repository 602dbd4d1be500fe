"""A command's read rows and its events go to PostgreSQL in ONE statement (``eventkit_commit``):
both or neither, with the values the transaction path would have written, and the same outcome
when the rows cannot go that way (the commit then takes the transaction path)."""

from __future__ import annotations

import asyncio
import uuid
from datetime import date, datetime, timedelta, timezone
from decimal import Decimal
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from sqlalchemy import (BigInteger, Boolean, Column, Date, Float, Integer, LargeBinary, MetaData, Numeric, String,
                        Table, Text, event, func, insert, select, text, update)
from sqlalchemy.dialects.postgresql import JSON, JSONB
from sqlalchemy.exc import IntegrityError

from eventkit import metrics
from eventkit.commands import Attempt, CommandRunner, Write
from eventkit.runtime import ServiceRuntime
from eventkit.settings import ServiceSettings
from eventkit.snapshots import StreamLoader, fold_with
from eventkit.sql import UtcDateTime, open_store
from eventkit.store import ConcurrencyError, NeedsTransaction
from jumelage_contracts import SYSTEM, Actor, to_envelope
from jumelage_contracts.candidatures import CampaignClosed
from jumelage_contracts.reference import Academie

pytestmark = pytest.mark.integration

meta = MetaData()
probe = Table(
    "probe_rows", meta,
    Column("key", String(100), primary_key=True), Column("n", Integer), Column("big", BigInteger),
    Column("txt", Text), Column("flag", Boolean), Column("at", UtcDateTime()), Column("day", Date),
    Column("doc", JSON), Column("docb", JSONB), Column("blob", LargeBinary), Column("ratio", Float),
    Column("amount", Numeric(12, 4)),
)
counter = Table("probe_counter", meta, Column("stream_id", String(100), primary_key=True), Column("seen", Integer))

CREATE = [
    "CREATE TABLE probe_rows (key varchar(100) PRIMARY KEY, n integer, big bigint, txt text, flag boolean, "
    "at timestamptz, day date, doc json, docb jsonb, blob bytea, ratio double precision, amount numeric(12, 4))",
    "CREATE TABLE probe_counter (stream_id varchar(100) PRIMARY KEY, seen integer NOT NULL)",
]


class RowTaken(Exception):
    pass


@pytest.fixture
async def store(postgres_url):
    store = await open_store(postgres_url)
    async with store.engine.begin() as conn:
        for statement in CREATE:
            await conn.execute(text(statement))
    try:
        yield store
    finally:
        await store.close()


def closed() -> CampaignClosed:
    return CampaignClosed(campaign_id="c1", academie=Academie("paris"))


def envelopes_for(stream_id: str, n: int, first_version: int = 1) -> list:
    now = datetime.now(timezone.utc)
    return [to_envelope(closed(), stream_id=stream_id, occurred_at=now, correlation_id=uuid.uuid4(), actor=SYSTEM,
                        academie="paris").model_copy(update={"stream_version": first_version + i})
            for i in range(n)]


async def count_rows(tx: Any, envelopes: Any, events: Any) -> None:
    """A read row per stream counting its events: an upsert, then an increment per event (the
    same row written several times in one commit, in order)."""
    conn = tx.connection
    stream_id = envelopes[0].stream_id
    if envelopes[0].stream_version == 1:
        await conn.execute(insert(counter).values(stream_id=stream_id, seen=0))
    for _ in events:
        await conn.execute(update(counter).where(counter.c.stream_id == stream_id)
                           .values(seen=counter.c.seen + 1))


async def seen(store: Any, stream_id: str) -> int | None:
    async with store.engine.connect() as conn:
        return await conn.scalar(select(counter.c.seen).where(counter.c.stream_id == stream_id))


def sent_statements(store: Any) -> list[str]:
    """Every statement the store's pooled connections send from now on (opened from now on):
    what asyncpg runs itself (the hot path, BEGIN/COMMIT, the ping) and what SQLAlchemy runs
    through its prepared statements."""
    sent: list[str] = []

    @event.listens_for(store.engine.sync_engine, "connect")
    def _log(dbapi_connection: Any, _record: Any) -> None:
        dbapi_connection.driver_connection.add_query_logger(lambda record: sent.append(record.query))

    @event.listens_for(store.engine.sync_engine, "before_cursor_execute")
    def _log_sqlalchemy(_conn: Any, _cursor: Any, statement: str, *_args: Any) -> None:
        sent.append(statement)

    return sent


def commits(path: str) -> float:
    return metrics.REGISTRY.get_sample_value("jumelage_command_commits_total", {"path": path}) or 0.0


class Ctx:
    def __init__(self, expected_version: int | None = None) -> None:
        self.correlation_id = uuid.uuid4()
        self.causation_id = None
        self.expected_version = expected_version

    @property
    def actor(self) -> Actor:
        return SYSTEM


def closing(stream_id: str, loader: StreamLoader, times: int = 1, *, new: bool = False, lookup: bool = False):
    async def decide(a: Attempt) -> list[Write]:
        loaded = await a.load(stream_id, loader, new=new)
        if lookup:  # a read-model lookup, as a submission asks for its campaign and offer
            assert await a.facts(lambda conn: conn.scalar(select(func.count()).select_from(counter))) >= 1
        return [Write.on(loaded, [closed() for _ in range(times)], "paris")]
    return decide


def a_runner(store: Any, project=count_rows, **options: Any) -> CommandRunner:
    runtime = ServiceRuntime(ServiceSettings.from_env("candidatures", {}), store=store)
    return CommandRunner(runtime, project=project, **options)


async def test_a_command_with_read_rows_is_one_statement_on_a_warm_pool(store) -> None:
    runner = a_runner(store)
    loader = StreamLoader(fold_with(lambda: 0, lambda state, _e: state + 1))
    await runner.handle(Ctx(), closing("s-warm", loader, new=True), "s-warm")  # the pool has a connection
    await store.engine.dispose()
    sent = sent_statements(store)
    await runner.handle(Ctx(), closing("s-open", loader, new=True), "s-open")  # opens one: no ping
    before = commits("statement")
    await asyncio.sleep(0)  # asyncpg calls query loggers with call_soon: let the last ones land
    sent.clear()
    written = await runner.handle(Ctx(), closing("s-1", loader, 3, new=True), "s-1")
    await asyncio.sleep(0)  # asyncpg calls query loggers with call_soon
    assert len(sent) == 1 and "eventkit_commit" in sent[0], sent  # no BEGIN, no ping, no COMMIT
    assert commits("statement") == before + 1
    assert written.version == 3 and [e.stream_version for e in written.events] == [1, 2, 3]
    assert await seen(store, "s-1") == 3  # the row written four times in one call, in order
    assert [e.stream_version for e in await store.read_stream("s-1")] == [1, 2, 3]
    # with a read-model lookup before the decision: two round trips in all
    await asyncio.sleep(0)
    sent.clear()
    await runner.handle(Ctx(), closing("s-1b", loader, new=True, lookup=True), "s-1b")
    await asyncio.sleep(0)
    assert len(sent) == 2 and "probe_counter" in sent[0] and "eventkit_commit" in sent[1], sent


async def test_nothing_appended_means_no_row_written(store) -> None:
    recorder = store.row_recorder()
    events = envelopes_for("s-2", 1)
    await count_rows(recorder, events, [closed()])
    [first] = await store.append_with_rows([("s-2", events, 0)], recorder)
    assert first.stream_version == 1 and await seen(store, "s-2") == 1
    # the same events again (a retry after a lost answer): the stored result, the row not counted twice
    again = store.row_recorder()
    await count_rows(again, [events[0].model_copy(update={"stream_version": 2})], [closed()])
    [duplicate] = await store.append_with_rows([("s-2", events, 1)], again)
    assert duplicate.duplicate and duplicate.stream_version == 1
    assert await seen(store, "s-2") == 1
    # new events at a version the stream is not at: a conflict, and the row rolled back with it
    late = store.row_recorder()
    stale = envelopes_for("s-2", 2, first_version=2)  # decided on version 1, sent as if on 0
    await count_rows(late, stale, [closed(), closed()])
    with pytest.raises(ConcurrencyError):
        await store.append_with_rows([("s-2", stale, 0)], late)
    assert await seen(store, "s-2") == 1
    assert len(await store.read_stream("s-2")) == 1


async def test_several_streams_commit_in_one_statement_all_or_nothing(store) -> None:
    recorder = store.row_recorder()
    a, b = envelopes_for("s-a", 2), envelopes_for("s-b", 1)
    await count_rows(recorder, a, [closed(), closed()])
    await count_rows(recorder, b, [closed()])
    done = await store.append_with_rows([("s-a", a, 0), ("s-b", b, 0)], recorder)
    assert [r.stream_version for r in done] == [2, 1]
    assert done[0].positions[-1] < done[1].positions[0]  # in the order given, one transaction
    assert (await seen(store, "s-a"), await seen(store, "s-b")) == (2, 1)
    # the second stream is not at its version: the first stream's events and every row roll back
    late = store.row_recorder()
    more_a, stale_b = envelopes_for("s-a", 1, first_version=3), envelopes_for("s-b", 1, first_version=2)
    await count_rows(late, more_a, [closed()])
    await count_rows(late, stale_b, [closed()])
    with pytest.raises(ConcurrencyError) as conflict:
        await store.append_with_rows([("s-a", more_a, 2), ("s-b", stale_b, 0)], late)
    assert conflict.value.stream_id == "s-b" and conflict.value.actual == 1
    assert [e.stream_version for e in await store.read_stream("s-a")] == [1, 2]
    assert (await seen(store, "s-a"), await seen(store, "s-b")) == (2, 1)
    # the same commit again after it got through (a lost answer): every stream's stored result
    again = store.row_recorder()
    await count_rows(again, more_a, [closed()])
    await count_rows(again, envelopes_for("s-b", 1, first_version=2), [closed()])
    repeat = await store.append_with_rows([("s-a", a, 0), ("s-b", b, 0)], again)
    assert [r.duplicate for r in repeat] == [True, True] and [r.stream_version for r in repeat] == [2, 1]
    assert (await seen(store, "s-a"), await seen(store, "s-b")) == (2, 1)


async def test_a_row_the_server_refuses_takes_the_transaction_path_and_the_service_s_own_error(store) -> None:
    async def unique_row(tx: Any, envelopes: Any, events: Any) -> None:
        try:
            await tx.connection.execute(insert(probe).values(key="taken", n=1))
        except IntegrityError as exc:
            raise RowTaken() from exc

    runner = a_runner(store, unique_row, retry_on=(RowTaken,), retries=2)
    loader = StreamLoader(fold_with(lambda: 0, lambda state, _e: state + 1))
    await runner.handle(Ctx(), closing("s-3", loader, new=True), "s-3")
    transactions = commits("transaction")
    with pytest.raises(ConcurrencyError) as refused:
        await runner.handle(Ctx(), closing("s-4", loader, new=True), "s-4")
    assert isinstance(refused.value.__cause__, RowTaken)  # what the service's project said, as always
    assert commits("transaction") == transactions  # the transaction path rolled back each time
    assert await store.read_stream("s-4") == []


async def test_a_projection_that_reads_a_result_commits_through_a_transaction(store) -> None:
    async def reads_back(tx: Any, envelopes: Any, events: Any) -> None:
        result = await tx.connection.execute(insert(probe).values(key=envelopes[0].stream_id, n=len(events))
                                             .returning(probe.c.n))
        assert result.scalar_one() == len(events)

    runner = a_runner(store, reads_back)
    loader = StreamLoader(fold_with(lambda: 0, lambda state, _e: state + 1))
    transactions = commits("transaction")
    await runner.handle(Ctx(), closing("s-5", loader, 2, new=True), "s-5")
    assert commits("transaction") == transactions + 1
    async with store.engine.connect() as conn:
        assert await conn.scalar(select(probe.c.n).where(probe.c.key == "s-5")) == 2


async def test_a_dead_connection_in_the_pool_costs_the_command_nothing(store, postgres_url) -> None:
    runner = a_runner(store)
    loader = StreamLoader(fold_with(lambda: 0, lambda state, _e: state + 1))
    await runner.handle(Ctx(), closing("s-6", loader, new=True), "s-6")
    database = postgres_url.rsplit("/", 1)[1]
    killer = await open_store(postgres_url)
    try:
        async with killer.engine.connect() as admin:
            killed = await admin.scalar(text(
                "SELECT count(pg_terminate_backend(pid)) FROM pg_stat_activity "
                "WHERE datname = :db AND pid <> pg_backend_pid()"), {"db": database})
    finally:
        await killer.close()
    assert killed >= 1
    written = await runner.handle(Ctx(), closing("s-6", loader), "s-6")
    assert written.version == 2 and await seen(store, "s-6") == 2
    # the same for a read-model lookup: every pooled connection is dead again
    async with (await open_store(postgres_url)).engine.connect() as admin:
        assert await admin.scalar(text(
            "SELECT count(pg_terminate_backend(pid)) FROM pg_stat_activity "
            "WHERE datname = :db AND pid <> pg_backend_pid()"), {"db": database}) >= 1
    written = await runner.handle(Ctx(), closing("s-6", loader, lookup=True), "s-6")
    assert written.version == 3 and await seen(store, "s-6") == 3


async def test_sqlite_and_the_portable_append_keep_the_transaction_path(tmp_path, store) -> None:
    sqlite = await open_store(f"sqlite+aiosqlite:///{tmp_path / 'rows.db'}")
    try:
        assert sqlite.row_recorder() is None
        with pytest.raises(NeedsTransaction):
            await sqlite.append_with_rows([("s", envelopes_for("s", 1), 0)], None)
    finally:
        await sqlite.close()
    store.server_side_append = False
    assert store.row_recorder() is None


# -- every value comes back as the transaction path writes it ---------------------------------

TEXT = st.text(st.characters(blacklist_categories=("Cs",), blacklist_characters="\x00"), max_size=60)
TRICKY = st.sampled_from(["", "'", "''", "%", "%1$L", "%s", "$1", "$$", "\\", "\\x00", "it's 100% sûr",
                          "line\nbreak", "tab\tend", "émoji 🎓", "NULL", "null", "-- comment", "E'x'"])
JSONS = st.recursive(st.none() | st.booleans() | st.integers(-2**53, 2**53) | TEXT | TRICKY,
                     lambda inner: st.lists(inner, max_size=4) | st.dictionaries(TEXT | TRICKY, inner, max_size=4),
                     max_leaves=12)
ZONES = st.sampled_from([timezone.utc, timezone(timedelta(hours=2)), timezone(timedelta(hours=-9, minutes=-30))])
ROWS = st.fixed_dictionaries({
    "n": st.none() | st.integers(-2**31, 2**31 - 1),
    "big": st.none() | st.integers(-2**63, 2**63 - 1),
    "txt": st.none() | TEXT | TRICKY,
    "flag": st.none() | st.booleans(),
    "at": st.none() | st.datetimes(min_value=datetime(1900, 1, 1), max_value=datetime(2200, 1, 1), timezones=ZONES),
    "day": st.none() | st.dates(min_value=date(1, 1, 1), max_value=date(9999, 12, 31)),
    "doc": st.none() | JSONS,
    "docb": st.none() | JSONS,
    "blob": st.none() | st.binary(max_size=40),
    "ratio": st.none() | st.floats(allow_nan=False, allow_infinity=True, width=64),
    "amount": st.none() | st.decimals(min_value=Decimal("-99999999"), max_value=Decimal("99999999"), places=4,
                                       allow_nan=False, allow_infinity=False),
})


@settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(rows=st.lists(ROWS, min_size=1, max_size=8))
def test_every_value_is_written_as_the_transaction_path_writes_it(postgres_server_url, rows) -> None:
    asyncio.run(_compare_paths(postgres_server_url, rows))


async def _compare_paths(server_url: str, rows: list[dict[str, Any]]) -> None:
    from tests.infra.postgres import fresh_database

    async with fresh_database(server_url) as url:
        store = await open_store(url)
        try:
            async with store.engine.begin() as conn:
                await conn.execute(text(CREATE[0]))
            recorder = store.row_recorder()
            for i, values in enumerate(rows):
                await recorder.execute(insert(probe).values(key=f"one-statement-{i}", **values))
            await store.append_with_rows([("s-values", envelopes_for("s-values", 1), 0)], recorder)
            async with store.engine.begin() as conn:
                for i, values in enumerate(rows):
                    await conn.execute(insert(probe).values(key=f"transaction-{i}", **values))
            async with store.engine.connect() as conn:
                stored = {r.key: r._mapping for r in await conn.execute(select(probe))}
            for i in range(len(rows)):
                one = {k: v for k, v in stored[f"one-statement-{i}"].items() if k != "key"}
                other = {k: v for k, v in stored[f"transaction-{i}"].items() if k != "key"}
                assert one == other, (rows[i], one, other)
        finally:
            await store.close()
