"""SQL event store: one implementation for PostgreSQL (asyncpg) and SQLite (aiosqlite).

SQLAlchemy 2 async Core (no ORM). The schema comes from the migrations in
``eventkit/migrations`` (run by :func:`open_store`), never from ``metadata.create_all``.

Commit order and the global log. A ``bigserial`` hands positions out at insert time, so a
transaction that drew position 7 may commit after the one that drew 8: a reader tailing
``position > 6`` that saw 8 and moved on would never see 7 (DESIGN, "Known traps").

* SQLite: every writing transaction starts with ``BEGIN IMMEDIATE`` (one writer at a time, by
  construction), so positions become visible in order. WAL mode lets readers run beside the
  writer; ``busy_timeout`` makes a second writer wait for the lock instead of failing.
* PostgreSQL: appenders run side by side (concurrent commits share WAL flushes) and the reader
  of the global log holds back at gaps instead. Two rules make that exact:

  1. Every appending transaction has its xid BEFORE it draws a position: ``eventkit_append``
     (migration ``eventkit_0003``) starts with ``pg_current_xact_id()``, and the portable path
     sends ``SELECT pg_current_xact_id()`` once per transaction before its first insert. (A
     plain INSERT would draw ``nextval`` first and get its xid only when it writes the row.)
  2. ``read_all`` reads ``position > after ORDER BY position LIMIT n``. Contiguous positions
     from ``after + 1`` are returned at once. At the first gap below a visible row, the reader
     draws a fresh xid X (``pg_current_xact_id()`` in a statement of its own, which ends at
     once) and polls until ``pg_snapshot_xmin(pg_current_snapshot()) > X``: every transaction
     with an xid smaller than X has then ended. Then it reads ``after < position <= highest
     seen`` again and returns that.

  Why that is enough: a missing position g below a visible position v was drawn before v (the
  sequence hands values out in increasing order, ``CACHE 1``, the ``bigserial`` default), v
  was drawn before the reader's first read (its row was visible), and the transaction that drew
  g had its xid before it drew g (rule 1) — so before X was handed out, hence smaller than X.
  Once every xid below X has ended, g is visible or never will be (its transaction rolled back,
  or its insert failed on a unique constraint): the second read is final up to v, and a gap left
  in it is permanent. X has to be a newly drawn xid, not ``pg_snapshot_xmax``: that is the last
  COMPLETED xid + 1, and a transaction with a newer xid than the last commit can be running
  and holding g (the test ``…open_transaction_with_a_newer_xid…`` builds that case).

  If the wait passes ``gap_wait_timeout`` (1 s by default), ``read_all`` returns only the
  positions before the gap; the caller (the relay) reads again later. The one cost: xmin is
  cluster-wide, so a long transaction anywhere on the PostgreSQL server (any database) delays
  readers that stand at a gap for as long as it runs; it never makes them lose or reorder an
  event. Gaps are rare: a rolled-back append, a lost race (below), or a reader that caught up
  with appends still committing.

Positions are strictly increasing in the order readers get them; they may have holes (a
rolled-back transaction consumes sequence values), so readers tail by ``position >``, never by
counting. On PostgreSQL every writer of ``events`` must follow rule 1; the store's own paths do.

Races. Without a lock two appenders can pass the duplicate and expected-version checks at once;
the unique constraints decide (the second insert waits for the first transaction and fails when
it commits). ``store.append`` turns the failure into what the checks would have said: the event
id is stored → the duplicate result; the stream version was taken → ConcurrencyError, or, with
``expected_version=None``, the append is tried again. Inside ``store.transaction()`` the
transaction is aborted by then, so ``tx.append`` raises ConcurrencyError (retry the unit of work).
Two transactions appending to the same streams in opposite orders can now wait for each other
on those constraints: PostgreSQL aborts one after ``deadlock_timeout`` (1 s by default) and it
gets a ConcurrencyError too.

The append hot path. On PostgreSQL ``store.append`` is ONE round trip: it calls the
``eventkit_append`` function outside any explicit transaction, so the xid, the duplicate and
expected-version checks, the insert and the commit all happen on the server. Inside
``store.transaction()``, ``tx.append`` calls the same function. On SQLite (and on PostgreSQL
with ``server_side_append = False``) a portable ``WITH … INSERT … SELECT … RETURNING`` computes
the versions and performs both checks in the single statement. In every case, only when nothing
was inserted does a second query find out why (duplicate → the stored result, otherwise →
ConcurrencyError).

The driver on the hot path. On PostgreSQL, ``store.append``, ``store.read_stream`` and
``store.stream_version`` — what every command does — speak asyncpg directly (:class:`FastPath`:
its own pool, prepared statements cached per connection, rows turned into envelopes without
SQLAlchemy's result layer). Everything else (transactions, the relay, consumers, ad-hoc queries,
migrations) goes through SQLAlchemy, on the same pool. A connection leaving the pool is checked
with one round trip (``SELECT 1`` outside any transaction, :func:`_check_on_checkout`) instead of
SQLAlchemy's pre-ping (BEGIN, ``;``, ROLLBACK on asyncpg); the hot path skips even that on its
first try, since an operation that meets a lost connection is run once more on a new, pinged one
— safe for an append too, since a retried append of the same event ids returns the stored result
(``duplicate=True``).

A command with read rows, or on several streams (``store.append_with_rows``). The rows a
service's projection would write in the appends' transaction are recorded as statements
(``eventkit.pgfast.RowRecorder``) and sent with every stream's events to ``eventkit_commit``
(migration ``eventkit_0007``): the rows, then ``eventkit_append`` per stream, in the call's
implicit transaction; one append that inserts nothing → SQLSTATE ``EK001`` (DETAIL: which stream)
and everything rolls back; a retried call after a lost answer is the duplicate result with no row
written twice. ONE round trip where a transaction took four or more (BEGIN, rows, appends,
COMMIT). A row the
server refuses raises :class:`~eventkit.store.NeedsTransaction` and the caller writes the same
rows in a transaction, where the service's code meets the error as before.

``tx.append_many`` records many streams (a scheduler's batch of one-event reminder streams) in
one statement — arrays and ``unnest`` on PostgreSQL, the portable VALUES form on SQLite — after
the same xid step, all or nothing; when the statement inserts nothing, the streams are appended one
by one so duplicates and conflicts come out exactly as from ``append``.
"""

from __future__ import annotations

import asyncio
import json
import time

import asyncpg
import uuid
from contextlib import asynccontextmanager
from datetime import datetime, timedelta, timezone
from pathlib import Path
from typing import Any, AsyncIterator, Sequence

from sqlalchemy import (
    JSON,
    BigInteger,
    Column,
    DateTime,
    Integer,
    MetaData,
    String,
    Table,
    Text,
    TypeDecorator,
    Uuid,
    bindparam,
    event,
    func,
    or_,
    select,
    text,
)
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.exc import DBAPIError, IntegrityError
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncEngine, create_async_engine

from jumelage_contracts import Envelope
from jumelage_contracts.envelope import Actor, Role

from .pgfast import FastPath, RowRecorder, json_body
from .store import DEFAULT_EVENT_MAX_BYTES, AppendResult, ConcurrencyError, NeedsTransaction, check_event_sizes

SQLITE_BUSY_TIMEOUT_S = 30.0
# read_all on PostgreSQL, at a gap in positions (module doc): how long it waits for the
# transactions that may still fill it, and how often it looks.
GAP_WAIT_TIMEOUT_S = 1.0
GAP_POLL_INTERVAL_S = 0.005
# store.append with expected_version=None that keeps losing the race for the next version.
APPEND_ATTEMPTS = 20
# The check of a pooled PostgreSQL connection on checkout (_check_on_checkout): one round trip.
PING = "SELECT 1"


class UtcDateTime(TypeDecorator):
    """Timezone-aware UTC datetimes on both databases.

    PostgreSQL ``timestamptz`` returns aware UTC values already; SQLite stores text without an
    offset, so values are converted to UTC before binding and marked UTC when read back.
    """

    impl = DateTime(timezone=True)
    cache_ok = True

    def process_bind_param(self, value: datetime | None, dialect: Any) -> datetime | None:
        if value is None:
            return None
        if value.tzinfo is None:
            raise ValueError("naive datetime given to the event store; use timezone-aware values")
        value = value.astimezone(timezone.utc)
        return value.replace(tzinfo=None) if dialect.name == "sqlite" else value

    def process_result_value(self, value: datetime | None, dialect: Any) -> datetime | None:
        if value is not None and value.tzinfo is None:
            return value.replace(tzinfo=timezone.utc)
        return value


# Table shapes for queries only; the DDL lives in migrations/versions/0001_event_store.py.
metadata = MetaData()
POSITION = BigInteger().with_variant(Integer(), "sqlite")
JSON_DATA = JSON().with_variant(postgresql.JSONB(), "postgresql")

events = Table(
    "events",
    metadata,
    Column("position", POSITION, primary_key=True, autoincrement=True),
    Column("id", Uuid(), nullable=False, unique=True),
    Column("stream_id", String(200), nullable=False),
    Column("stream_version", Integer(), nullable=False),
    Column("type", String(100), nullable=False),
    Column("schema_version", Integer(), nullable=False),
    Column("source", String(50), nullable=False),
    Column("occurred_at", UtcDateTime(), nullable=False),
    Column("recorded_at", UtcDateTime(), nullable=False),
    Column("correlation_id", Uuid(), nullable=False),
    Column("causation_id", Uuid(), nullable=True),
    Column("actor_role", String(20), nullable=False),
    Column("actor_id", String(200), nullable=False),
    Column("academie", String(50), nullable=True),
    Column("data", JSON_DATA, nullable=False),
)
inbox = Table(
    "inbox", metadata,
    Column("consumer", String(200), primary_key=True),
    Column("event_id", Uuid(), primary_key=True),
)
checkpoints = Table(
    "checkpoints", metadata,
    Column("name", String(200), primary_key=True),
    Column("position", BigInteger(), nullable=False),
)
consumer_positions = Table(
    "consumer_positions", metadata,
    Column("consumer", String(200), primary_key=True),
    Column("stream", String(200), primary_key=True),
    Column("position", BigInteger(), nullable=False),
    Column("stream_created", String(64), nullable=True),
)
leases = Table(
    "leases", metadata,
    Column("name", String(200), primary_key=True),
    Column("holder", String(200), nullable=False),
    Column("expires_at", UtcDateTime(), nullable=False),
)

# Columns of one new event, in the order of the VALUES rows the append statement carries.
_NEW_EVENT_COLUMNS = (
    ("ord", Integer()),
    ("id", Uuid()),
    ("type", String()),
    ("schema_version", Integer()),
    ("source", String()),
    ("occurred_at", UtcDateTime()),
    ("recorded_at", UtcDateTime()),
    ("correlation_id", Uuid()),
    ("causation_id", Uuid()),
    ("actor_role", String()),
    ("actor_id", String()),
    ("academie", String()),
    ("data", JSON_DATA),
)
_EVENT_COLUMNS = tuple(c for c in events.c)


# -- engine -------------------------------------------------------------------------------------


def make_engine(url: str, *, migrations: bool = False, checkout: str = "ping", **options: Any) -> AsyncEngine:
    """An ``AsyncEngine`` configured for the store: SQLite in WAL mode, writers waiting on
    ``busy_timeout`` and starting ``BEGIN IMMEDIATE``; PostgreSQL with a pool sized for the
    relay, the consumers and the HTTP handlers of one process (20 kept open, 5 more in a burst),
    where a connection the server dropped is replaced on checkout, not handed out.

    ``checkout`` says how a PostgreSQL connection is checked as it leaves the pool:

    * ``"ping"`` (default): :func:`_check_on_checkout` — asyncpg's closed flag, then one round
      trip (``SELECT 1`` outside any transaction) on a connection that has been used;
    * ``"closed-flag"``: the flag only, no round trip — racy right after the server closed the
      connection (``test_pool_pre_ping``), kept for the store benchmark's column;
    * ``pool_pre_ping=True`` in ``options`` asks for SQLAlchemy's own ping instead (on asyncpg,
      outside autocommit: BEGIN, ``;``, ROLLBACK — three round trips).

    ``options`` go to ``create_async_engine`` (e.g. ``pool_size=16``).
    """
    from .settings import DB_MAX_OVERFLOW, DB_POOL_SIZE, normalise_database_url

    url = normalise_database_url(url)
    if url.startswith("sqlite"):
        _ensure_sqlite_parent(url)
        options.setdefault("connect_args", {}).setdefault("timeout", SQLITE_BUSY_TIMEOUT_S)
        if migrations:
            from sqlalchemy.pool import NullPool

            options.setdefault("poolclass", NullPool)
        engine = create_async_engine(url, **options)
        _configure_sqlite(engine)
        return engine
    if migrations:
        from sqlalchemy.pool import NullPool

        options.setdefault("poolclass", NullPool)
    else:
        options.setdefault("pool_size", DB_POOL_SIZE)
        options.setdefault("max_overflow", DB_MAX_OVERFLOW)
    if checkout not in ("ping", "closed-flag"):
        raise ValueError(f"checkout must be 'ping' or 'closed-flag', not {checkout!r}")
    engine = create_async_engine(url, **options)
    _count_connections(engine)
    if not migrations and not options.get("pool_pre_ping"):
        _check_on_checkout(engine, ping=checkout == "ping")
    return engine


def _check_on_checkout(engine: AsyncEngine, *, ping: bool) -> None:
    """A connection the server closed (restart, failover, ``pg_terminate_backend``, idle timeout)
    is found on checkout and replaced, instead of failing the request that drew it.

    asyncpg reads every connection's socket on the event loop, so one the server closed while it
    sat in the pool is usually already marked closed: that costs nothing to check. It is not
    always so — a backend terminated a moment ago may not have been seen closed yet
    (``test_pool_pre_ping``) — hence, with ``ping``, one round trip on the connection: ``SELECT 1``
    sent with the simple query protocol, outside any transaction (nothing prepared, so a pooler in
    transaction mode is fine with it too; asyncpg's simple protocol fails on an empty ``;``).
    SQLAlchemy's ``pool_pre_ping`` on asyncpg wraps a ``;`` in BEGIN … ROLLBACK: three round trips, a fifth of a command's CPU (the e2e
    profile in ``benchmarks/README.md``). A connection opened for this checkout is not pinged
    (it has just answered). Raising DisconnectionError makes the pool discard the connection and
    draw another. One closed between this check and its first statement still fails that
    statement (a 503 at the HTTP edge; the store's hot path runs it once more, see
    :mod:`eventkit.pgfast`)."""
    from sqlalchemy.exc import DisconnectionError

    from .pgfast import CONNECTION_LOST, UNPINGED

    @event.listens_for(engine.sync_engine, "connect")
    def _on_connect(_dbapi_connection: Any, record: Any) -> None:
        record.info["eventkit_fresh"] = True

    @event.listens_for(engine.sync_engine, "checkout")
    def _on_checkout(dbapi_connection: Any, record: Any, _proxy: Any) -> None:
        driver = getattr(dbapi_connection, "driver_connection", None)
        if driver is None:
            return
        if driver.is_closed():
            raise DisconnectionError("the server closed this connection")
        fresh = record.info.pop("eventkit_fresh", False)
        if not ping or fresh or UNPINGED.get():
            return
        try:
            dbapi_connection.run_async(lambda conn: conn.execute(PING))
        except CONNECTION_LOST as exc:
            raise DisconnectionError(f"the ping on checkout failed: {exc!r}") from exc


def _count_connections(engine: AsyncEngine) -> None:
    """``jumelage_db_connections_opened_total``: flat once the pool is warm; climbing under a
    steady load means overflow connections are opened and closed per burst (pool too small)."""
    from . import metrics

    opened = metrics.counter("jumelage_db_connections_opened_total",
                             "PostgreSQL connections opened by this process's pools")

    @event.listens_for(engine.sync_engine, "connect")
    def _on_connect(_dbapi_connection: Any, _record: Any) -> None:
        opened.inc()


def _ensure_sqlite_parent(url: str) -> None:
    path = url.split(":///", 1)[1] if ":///" in url else ""
    path = path.split("?", 1)[0]
    if path and path != ":memory:":
        Path(path).parent.mkdir(parents=True, exist_ok=True)


def _enable_wal(cursor: Any) -> None:
    """Switch a new database file to WAL. The switch needs the file to itself, and SQLite can
    answer "database is locked" at once, without its busy handler, when other processes open the
    same new file at that moment; retry for as long as the busy timeout would have waited."""
    deadline = time.monotonic() + SQLITE_BUSY_TIMEOUT_S
    while True:
        try:
            cursor.execute("PRAGMA journal_mode=WAL")
            return
        except Exception as exc:  # the driver's OperationalError, wrapped or not
            if "locked" not in str(exc) or time.monotonic() > deadline:
                raise
            time.sleep(0.01)


def _configure_sqlite(engine: AsyncEngine) -> None:
    @event.listens_for(engine.sync_engine, "connect")
    def _on_connect(dbapi_connection: Any, _record: Any) -> None:
        # Take transaction control away from the driver: it would BEGIN lazily (DEFERRED),
        # and a deferred reader that later writes fails with SQLITE_BUSY instead of waiting.
        dbapi_connection.isolation_level = None
        cursor = dbapi_connection.cursor()
        cursor.execute(f"PRAGMA busy_timeout={int(SQLITE_BUSY_TIMEOUT_S * 1000)}")
        _enable_wal(cursor)
        cursor.execute("PRAGMA synchronous=NORMAL")  # durable at each checkpoint; WAL keeps it consistent
        cursor.execute("PRAGMA foreign_keys=ON")
        # RGPD erasure (issue 16): a deleted key or a redacted line is overwritten with zeros, not
        # left in the page's free space where a byte search of the file finds it
        cursor.execute("PRAGMA secure_delete=ON")
        cursor.close()

    @event.listens_for(engine.sync_engine, "begin")
    def _on_begin(conn: Any) -> None:
        if conn.get_execution_options().get("isolation_level") == "AUTOCOMMIT":
            return  # readers: each statement reads its own snapshot, no write lock
        conn.exec_driver_sql("BEGIN IMMEDIATE")


# -- rows <-> envelopes ---------------------------------------------------------------------------


_ENVELOPE_FIELDS = frozenset(Envelope.model_fields)
_set_attr = object.__setattr__
# Building envelopes is most of the cost of a read (pydantic's model_construct walks aliases and
# defaults per field). Rows come from our own table, written from validated envelopes, so they
# are set directly — the same four attributes model_construct sets — when the model has no
# post-init hook or private attributes that would need more.
_FAST_CONSTRUCT = not Envelope.__pydantic_post_init__ and not Envelope.__private_attributes__
_actors: dict[tuple[str, str], Actor] = {}


def _actor(role: str, actor_id: str) -> Actor:
    key = (role, actor_id)
    actor = _actors.get(key)
    if actor is None:
        actor = Actor.model_construct(role=Role(role), id=actor_id)
        if len(_actors) < 10_000:
            _actors[key] = actor
    return actor


def _row_to_envelope(row: Any, load_data: Any = None) -> Envelope:
    """``load_data``: parses ``data`` when the driver hands it over as JSON text (asyncpg under
    SQLAlchemy's jsonb codec, see ``eventkit.pgfast``)."""
    # Unpacking by position: a Row's attribute access costs a key lookup per field.
    (position, id_, stream_id, stream_version, type_, schema_version, source, occurred_at, recorded_at,
     correlation_id, causation_id, actor_role, actor_id, academie, data) = row
    if load_data is not None:
        data = load_data(data)
    values = {
        "id": id_,
        "type": type_,
        "schema_version": schema_version,
        "source": source,
        "stream_id": stream_id,
        "stream_version": stream_version,
        "occurred_at": occurred_at,
        "recorded_at": recorded_at,
        "correlation_id": correlation_id,
        "causation_id": causation_id,
        "actor": _actor(actor_role, actor_id),
        "academie": academie,
        "data": data,
        "position": position,
    }
    if not _FAST_CONSTRUCT:
        return Envelope.model_construct(**values)
    envelope = Envelope.__new__(Envelope)
    _set_attr(envelope, "__dict__", values)
    _set_attr(envelope, "__pydantic_fields_set__", set(_ENVELOPE_FIELDS))
    _set_attr(envelope, "__pydantic_extra__", None)
    _set_attr(envelope, "__pydantic_private__", None)
    return envelope


def _upsert_insert(dialect_name: str):
    return postgresql.insert if dialect_name == "postgresql" else sqlite.insert


def _stream_version_query(stream_id: str):
    return select(func.coalesce(func.max(events.c.stream_version), 0)).where(events.c.stream_id == stream_id)


# Built once and bound by name: every command reads its streams, and making the statement per call
# (construction + cache key, ~0.1 ms) cost more CPU than running it.
_READ_STREAM = (
    select(*_EVENT_COLUMNS)
    .where(events.c.stream_id == bindparam("stream_id"), events.c.stream_version >= bindparam("from_version"))
    .order_by(events.c.stream_version)
)


_READ_ALL = (
    select(*_EVENT_COLUMNS)
    .where(events.c.position > bindparam("after"))
    .order_by(events.c.position)
    .limit(bindparam("limit"))
)
_READ_ALL_UP_TO = (
    select(*_EVENT_COLUMNS)
    .where(events.c.position > bindparam("after"), events.c.position <= bindparam("up_to"))
    .order_by(events.c.position)
    .limit(bindparam("limit"))
)


def _first_gap(rows: Sequence[Any], after_position: int) -> int | None:
    """Index of the first row whose position does not follow the one before (``after + 1`` for
    the first), or None when the positions are contiguous."""
    expected = after_position + 1
    for i, row in enumerate(rows):
        if row[0] != expected:
            return i
        expected += 1
    return None


async def _read_stream(conn: AsyncConnection, stream_id: str, from_version: int) -> list[Envelope]:
    result = await conn.execute(_READ_STREAM, {"stream_id": stream_id, "from_version": from_version})
    return [_row_to_envelope(row) for row in result.all()]


async def _get_checkpoint(conn: AsyncConnection, name: str) -> int:
    value = await conn.scalar(select(checkpoints.c.position).where(checkpoints.c.name == name))
    return int(value or 0)


# -- transaction ----------------------------------------------------------------------------------


class SqlTransaction:
    """A unit of work on one connection: appends, inbox marks, checkpoints and the service's
    own rows (through :attr:`connection`) commit or roll back together.

    From its first ``append`` until it ends, the transaction holds readers of the global log
    back at its position (on PostgreSQL they wait for it at the gap; on SQLite it is the only
    writer): do the slow parts — reads, own-table writes — before appending, and append last.
    """

    def __init__(self, store: "SqlEventStore", connection: AsyncConnection) -> None:
        self.store = store
        self.connection = connection
        self._has_xid = False

    async def _take_xid(self) -> None:
        """PostgreSQL: give the transaction its xid before its first insert draws a position
        (rule 1 of the module doc), once per transaction. ``eventkit_append`` does it itself;
        SQLite needs nothing (BEGIN IMMEDIATE: one writer at a time)."""
        if not self._has_xid and self.store.dialect == "postgresql":
            await self.connection.execute(_TAKE_XID)
        self._has_xid = True

    async def append(
        self, stream_id: str, events_: Sequence[Envelope], expected_version: int | None = None
    ) -> AppendResult:
        batch = list(events_)
        if not batch:
            return AppendResult(stream_version=await self.stream_version(stream_id))
        if len(batch) > MAX_ROWS_PER_STATEMENT:
            # Larger batches go in slices, still one transaction: the first slice carries the
            # caller's expected version (and the duplicate check), the next ones chain on it.
            head = await self.append(stream_id, batch[:MAX_ROWS_PER_STATEMENT], expected_version)
            if head.duplicate:
                return head
            tail = await self.append(stream_id, batch[MAX_ROWS_PER_STATEMENT:], head.stream_version)
            return AppendResult(stream_version=tail.stream_version, positions=head.positions + tail.positions,
                                events=head.events + tail.events)
        check_event_sizes(stream_id, batch, self.store.max_event_bytes)
        recorded_at = datetime.now(timezone.utc)
        try:
            if self.store.server_side_append:
                rows = await _call_append_function(self.connection, stream_id, batch, expected_version, recorded_at)
                self._has_xid = True
            else:
                await self._take_xid()
                rows = (await self.connection.execute(
                    _append_statement(len(batch), expected_version is not None),
                    _append_parameters(stream_id, batch, expected_version, recorded_at),
                )).all()
        except DBAPIError as exc:
            # A concurrent appender stored the same event id or took the same version first:
            # the checks could not see its rows before it committed, the constraints did.
            if not _lost_to_another_appender(exc):
                raise
            raise await _race_lost(self.store, stream_id, expected_version, exc) from exc
        if not rows:
            return await _explain_empty_insert(self.connection, stream_id, batch, expected_version)
        return _appended(stream_id, batch, rows, recorded_at)

    async def append_many(
        self, appends: Sequence[tuple[str, Sequence[Envelope], int | None]]
    ) -> list[AppendResult]:
        """Append to many streams — ``(stream_id, events, expected_version)`` each — in one
        statement per ``MAX_ROWS_PER_STATEMENT`` events instead of one per stream. All or nothing:
        when any stream is not at its expected version or any event is already stored, the
        statement inserts nothing and the streams are appended one by one instead, which gives
        exactly the results (duplicates, ConcurrencyError) of calling :meth:`append` for each."""
        work = [(stream_id, list(batch), expected) for stream_id, batch, expected in appends]
        if (not work or any(not batch or len(batch) > MAX_ROWS_PER_STATEMENT for _, batch, _ in work)
                or len({stream_id for stream_id, _, _ in work}) != len(work)):
            return [await self.append(stream_id, batch, expected) for stream_id, batch, expected in work]
        results: list[AppendResult] = []
        chunk: list[tuple[str, list[Envelope], int | None]] = []
        size = 0
        for item in work + [None]:  # type: ignore[list-item]
            if item is None or size + len(item[1]) > MAX_ROWS_PER_STATEMENT:
                results += await self._append_chunk(chunk)
                chunk, size = [], 0
            if item is not None:
                chunk.append(item)
                size += len(item[1])
        return results

    async def _append_chunk(self, work: list[tuple[str, list[Envelope], int | None]]) -> list[AppendResult]:
        if len(work) == 1:
            return [await self.append(*work[0])]
        for stream_id, batch, _ in work:
            check_event_sizes(stream_id, batch, self.store.max_event_bytes)
        recorded_at = datetime.now(timezone.utc)
        await self._take_xid()
        try:
            if self.store.server_side_append:  # PostgreSQL: the events as arrays, one statement shape
                rows = (await self.connection.execute(_APPEND_MANY_PG, _append_many_arrays(work, recorded_at))).all()
            else:
                count = sum(len(batch) for _, batch, _ in work)
                rows = (await self.connection.execute(_append_many_statement(count),
                                                      _append_many_parameters(work, recorded_at))).all()
        except DBAPIError as exc:
            if not _lost_to_another_appender(exc):
                raise
            stream_id = _stream_of_violation(exc, work)
            expected = next(expected for sid, _, expected in work if sid == stream_id)
            raise await _race_lost(self.store, stream_id, expected, exc) from exc
        if not rows:
            return [await self.append(stream_id, batch, expected) for stream_id, batch, expected in work]
        by_stream: dict[str, list[tuple[int, int]]] = {}
        for position, stream_id, version in rows:
            by_stream.setdefault(stream_id, []).append((position, version))
        return [_appended(stream_id, batch, by_stream[stream_id], recorded_at) for stream_id, batch, _ in work]

    async def read_stream(self, stream_id: str, from_version: int = 1) -> list[Envelope]:
        return await _read_stream(self.connection, stream_id, from_version)

    async def stream_version(self, stream_id: str) -> int:
        return int(await self.connection.scalar(_stream_version_query(stream_id)) or 0)

    async def mark_processed(self, consumer: str, event_id: uuid.UUID) -> bool:
        ins = _upsert_insert(self.store.dialect)(inbox).values(consumer=consumer, event_id=event_id)
        result = await self.connection.execute(
            ins.on_conflict_do_nothing(index_elements=["consumer", "event_id"]).returning(inbox.c.consumer)
        )
        return result.first() is not None

    async def get_checkpoint(self, name: str) -> int:
        return await _get_checkpoint(self.connection, name)

    async def set_checkpoint(self, name: str, position: int) -> None:
        ins = _upsert_insert(self.store.dialect)(checkpoints).values(name=name, position=position)
        await self.connection.execute(
            ins.on_conflict_do_update(index_elements=["name"], set_={"position": ins.excluded.position})
        )

    async def get_consumer_position(self, consumer: str, stream: str) -> tuple[int, str | None] | None:
        row = (await self.connection.execute(
            select(consumer_positions.c.position, consumer_positions.c.stream_created)
            .where(consumer_positions.c.consumer == consumer, consumer_positions.c.stream == stream)
        )).first()
        return None if row is None else (int(row[0]), row[1])

    async def advance_consumer_position(self, consumer: str, stream: str, position: int) -> None:
        ins = _upsert_insert(self.store.dialect)(consumer_positions).values(
            consumer=consumer, stream=stream, position=position)
        # never backwards: a late duplicate or a dead letter below the position leaves it
        highest = (func.greatest if self.store.dialect == "postgresql" else func.max)(
            consumer_positions.c.position, ins.excluded.position)
        await self.connection.execute(
            ins.on_conflict_do_update(index_elements=["consumer", "stream"], set_={"position": highest}))

    async def hold_lease(self, name: str, holder: str, ttl_seconds: float) -> bool:
        """Renew ``holder``'s unexpired lease inside this transaction (the store protocol's fence):
        the UPDATE keeps the row locked until the commit on PostgreSQL; SQLite has one writer."""
        now = datetime.now(timezone.utc)
        renewed = await self.connection.execute(
            leases.update()
            .where(leases.c.name == name, leases.c.holder == holder, leases.c.expires_at > now)
            .values(expires_at=now + timedelta(seconds=ttl_seconds))
            .returning(leases.c.name))
        return renewed.first() is not None

    async def reset_consumer_position(self, consumer: str, stream: str, position: int,
                                      stream_created: str | None) -> None:
        ins = _upsert_insert(self.store.dialect)(consumer_positions).values(
            consumer=consumer, stream=stream, position=position, stream_created=stream_created)
        await self.connection.execute(ins.on_conflict_do_update(
            index_elements=["consumer", "stream"],
            set_={"position": ins.excluded.position, "stream_created": ins.excluded.stream_created}))


# -- append helpers -------------------------------------------------------------------------------


def _stored_copy(ev: Envelope, update: dict[str, Any]) -> Envelope:
    """``ev.model_copy(update=update)`` at a fraction of the cost (see ``_row_to_envelope``)."""
    if not _FAST_CONSTRUCT:
        return ev.model_copy(update=update)
    envelope = Envelope.__new__(Envelope)
    _set_attr(envelope, "__dict__", {**ev.__dict__, **update})
    _set_attr(envelope, "__pydantic_fields_set__", ev.__pydantic_fields_set__ | update.keys())
    _set_attr(envelope, "__pydantic_extra__", None)
    _set_attr(envelope, "__pydantic_private__", None)
    return envelope


def _offsets(work: Sequence[tuple[str, Sequence[Envelope], int | None]]) -> list[int]:
    """Where each stream's events start in the concatenated batch."""
    offsets, at = [], 0
    for _, events, _ in work:
        offsets.append(at)
        at += len(events)
    return offsets


def _appended(stream_id: str, batch: list[Envelope], rows: Sequence[Any], recorded_at: datetime) -> AppendResult:
    by_version = sorted((int(r[1]), int(r[0])) for r in rows)  # rows are (position, stream_version)
    stored = tuple(
        _stored_copy(ev, {"stream_id": stream_id, "stream_version": version,
                          "recorded_at": recorded_at, "position": position})
        for ev, (version, position) in zip(batch, by_version)
    )
    return AppendResult(stream_version=by_version[-1][0], positions=tuple(p for _, p in by_version), events=stored)


class _RaceLost(ConcurrencyError):
    """A unique constraint refused the insert — another appender stored the same event id
    (``events_id_key``) or took the same stream version (``events_stream_version_key``) between
    the checks and the insert — or PostgreSQL aborted it to break a deadlock on them
    (``constraint`` is then empty). ``store.append`` resolves it (module doc, "Races"); inside a
    caller's transaction it is the ConcurrencyError the caller sees."""

    def __init__(self, stream_id: str, expected: int | None, actual: int, constraint: str) -> None:
        super().__init__(stream_id, expected, actual)
        self.constraint = constraint


_ID_KEY, _VERSION_KEY = "events_id_key", "events_stream_version_key"
_DEADLOCK = "40P01"
_UNIQUE_VIOLATION = "23505"


def _lost_to_another_appender(exc: BaseException) -> bool:
    """A unique violation, or (PostgreSQL) a deadlock: two transactions appending to the same
    streams in opposite orders wait for each other on the unique index until PostgreSQL aborts
    one of them (after ``deadlock_timeout``). Both mean: another writer got there first.
    ``exc``: SQLAlchemy's wrapper, or asyncpg's own error on the fast path."""
    if isinstance(exc, IntegrityError):
        return True
    if isinstance(exc, DBAPIError):
        return getattr(exc.orig, "pgcode", None) == _DEADLOCK
    return getattr(exc, "sqlstate", None) in (_UNIQUE_VIOLATION, _DEADLOCK)


def _violation(exc: BaseException) -> tuple[str, str]:
    """(constraint name, detail) of a unique violation: asyncpg names them; SQLite only says
    ``UNIQUE constraint failed: events.stream_id, events.stream_version`` (never reached there:
    SQLite has one writer at a time)."""
    error: BaseException | None = exc.orig if isinstance(exc, DBAPIError) else exc
    while error is not None:
        name = getattr(error, "constraint_name", None)
        if name:
            return str(name), str(getattr(error, "detail", "") or "")
        error = error.__cause__
    message = str(exc)
    if _VERSION_KEY in message or "events.stream_version" in message:
        return _VERSION_KEY, message
    if _ID_KEY in message or "events.id" in message:
        return _ID_KEY, message
    return "", message


def _stream_of_violation(exc: BaseException, work: list[tuple[str, list[Envelope], int | None]]) -> str:
    """Which stream of an ``append_many`` chunk lost the race (the detail names the key)."""
    constraint, detail = _violation(exc)
    for stream_id, batch, _ in work:
        if constraint == _VERSION_KEY and f"=({stream_id}, " in detail:
            return stream_id
        if constraint == _ID_KEY and any(str(ev.id) in detail for ev in batch):
            return stream_id
    return work[0][0]


async def _race_lost(
    store: "SqlEventStore", stream_id: str, expected_version: int | None, exc: BaseException
) -> _RaceLost:
    constraint, _ = _violation(exc)
    return _RaceLost(stream_id, expected_version, await _version_after_failure(store, stream_id), constraint)


async def _version_after_failure(store: "SqlEventStore", stream_id: str) -> int:
    try:
        async with store._reader.connect() as other:
            return int(await other.scalar(_stream_version_query(stream_id)) or 0)
    except Exception:  # noqa: BLE001 - the conflict is what matters, the number is a courtesy
        return -1


async def _explain_empty_insert(
    conn: AsyncConnection, stream_id: str, batch: list[Envelope], expected_version: int | None
) -> AppendResult:
    """The insert stored nothing: either these events are already stored (return them, as a
    duplicate) or the stream is not at the expected version."""
    known = (await conn.execute(
        select(*_EVENT_COLUMNS).where(events.c.id.in_([e.id for e in batch])).order_by(events.c.position)
    )).all()
    if known:
        stored = tuple(_row_to_envelope(r) for r in known)
        version = await conn.scalar(_stream_version_query(stored[0].stream_id))
        return AppendResult(stream_version=int(version or 0), positions=tuple(e.position for e in stored),
                            events=stored, duplicate=True)
    actual = int(await conn.scalar(_stream_version_query(stream_id)) or 0)
    raise ConcurrencyError(stream_id, expected_version, actual)


# Rule 1 of the module doc (PostgreSQL): the xid before the position.
_TAKE_XID = text("SELECT pg_current_xact_id()")
# The gap barrier of read_all (PostgreSQL): a fresh xid X, then xmin until it passes X.
_NEW_XID = text("SELECT pg_current_xact_id()::text::bigint")
_SNAPSHOT_XMIN = text("SELECT pg_snapshot_xmin(pg_current_snapshot())::text::bigint")

def _event_array_bindparams() -> tuple:
    """The events of a PostgreSQL append as arrays, one per column (``_event_arrays``)."""
    return (
        bindparam("ids", type_=postgresql.ARRAY(Uuid())),
        bindparam("types", type_=postgresql.ARRAY(String())),
        bindparam("schema_versions", type_=postgresql.ARRAY(Integer())),
        bindparam("sources", type_=postgresql.ARRAY(String())),
        bindparam("occurred_at", type_=postgresql.ARRAY(DateTime(timezone=True))),
        bindparam("correlation_ids", type_=postgresql.ARRAY(Uuid())),
        bindparam("causation_ids", type_=postgresql.ARRAY(Uuid())),
        bindparam("actor_roles", type_=postgresql.ARRAY(String())),
        bindparam("actor_ids", type_=postgresql.ARRAY(String())),
        bindparam("academies", type_=postgresql.ARRAY(String())),
        bindparam("data", type_=postgresql.ARRAY(Text())),
    )


def _event_arrays(events_: Sequence[Envelope]) -> dict[str, list[Any]]:
    return {
        "ids": [e.id for e in events_],
        "types": [e.type for e in events_],
        "schema_versions": [e.schema_version for e in events_],
        "sources": [e.source for e in events_],
        "occurred_at": [e.occurred_at for e in events_],
        "correlation_ids": [e.correlation_id for e in events_],
        "causation_ids": [e.causation_id for e in events_],
        "actor_roles": [e.actor.role.value for e in events_],
        "actor_ids": [e.actor.id for e in events_],
        "academies": [e.academie for e in events_],
        "data": [json.dumps(e.data) for e in events_],
    }


_CALL_APPEND = text(
    "SELECT new_position, new_version FROM eventkit_append(:stream_id, :expected, :recorded_at, :ids, :types, "
    ":schema_versions, :sources, :occurred_at, :correlation_ids, :causation_ids, :actor_roles, :actor_ids, "
    ":academies, :data)"
).bindparams(
    bindparam("stream_id", type_=String()),
    bindparam("expected", type_=Integer()),
    bindparam("recorded_at", type_=DateTime(timezone=True)),
    *_event_array_bindparams(),
)


async def _call_append_function(
    conn: AsyncConnection, stream_id: str, batch: list[Envelope], expected_version: int | None,
    recorded_at: datetime,
) -> list[Any]:
    """PostgreSQL: xid, checks and insert in one server-side call (migration eventkit_0003)."""
    result = await conn.execute(_CALL_APPEND, {
        "stream_id": stream_id, "expected": expected_version, "recorded_at": recorded_at, **_event_arrays(batch),
    })
    return result.all()


_STATEMENTS: dict[tuple[int, bool], Any] = {}
MAX_ROWS_PER_STATEMENT = 1000  # 13 parameters per event: PostgreSQL allows 32767 per statement


def _append_statement(count: int, check_version: bool):
    """``WITH new_events(…) AS (VALUES …), current AS (…) INSERT INTO events … SELECT …
    WHERE <not a duplicate> [AND <version as expected>] RETURNING position, stream_version``
    for ``count`` events; built once per shape.

    Written as text because SQLAlchemy cannot cache a ``values()`` construct (it would compile
    on every append); the typed bind parameters still get their casts on asyncpg and their
    processors (UUID, UTC datetimes, JSON) on both drivers. The same text is valid PostgreSQL
    and SQLite. PostgreSQL and SQLite both compute ``current`` once, before the first row is
    inserted, so the new versions are ``current + 1 … current + count``.
    """
    key = (count, check_version)
    statement = _STATEMENTS.get(key)
    if statement is not None:
        return statement
    names = [name for name, _ in _NEW_EVENT_COLUMNS]
    rows = ", ".join("(" + ", ".join(f":{name}_{i}" for name in names) + ")" for i in range(count))
    copied = ", ".join(f"n.{name}" for name in names[2:])
    sql = (
        f"WITH new_events({', '.join(names)}) AS (VALUES {rows}), "
        "current_version AS (SELECT coalesce(max(stream_version), 0) AS v FROM events "
        "WHERE stream_id = :stream_id) "
        f"INSERT INTO events (id, stream_id, stream_version, {', '.join(names[2:])}) "
        f"SELECT n.id, :stream_id, c.v + n.ord, {copied} FROM new_events AS n, current_version AS c "
        "WHERE NOT EXISTS (SELECT 1 FROM events WHERE id = :first_id)"
        + (" AND c.v = :expected_version" if check_version else "")
        + " ORDER BY n.ord RETURNING position, stream_version"
    )
    binds = [bindparam("stream_id", type_=String()), bindparam("first_id", type_=Uuid())]
    if check_version:
        binds.append(bindparam("expected_version", type_=Integer()))
    binds += [bindparam(f"{name}_{i}", type_=type_) for i in range(count) for name, type_ in _NEW_EVENT_COLUMNS]
    statement = text(sql).bindparams(*binds)
    if len(_STATEMENTS) < 512:
        _STATEMENTS[key] = statement
    return statement


_MANY_GUARDS = (
    "WHERE NOT EXISTS (SELECT 1 FROM events WHERE id IN (SELECT id FROM new_events)) "
    "AND NOT EXISTS (SELECT 1 FROM new_events AS m JOIN current_version AS d ON d.stream_id = m.stream_id "
    "WHERE m.expected IS NOT NULL AND m.expected <> d.v) "
)
_MANY_COLUMNS = (("seq", Integer()), ("stream_id", String()), ("expected", Integer())) + _NEW_EVENT_COLUMNS


def _append_many_statement(count: int):
    """The multi-stream form of :func:`_append_statement`: each VALUES row carries its stream, its
    stream's expected version, its order in the whole batch (``seq``: positions follow it) and
    in its stream (``ord``). Nothing is inserted unless every stream is at its expected version
    and none of the events is stored yet."""
    key = ("many", count)
    statement = _STATEMENTS.get(key)  # type: ignore[call-overload]
    if statement is not None:
        return statement
    names = [name for name, _ in _MANY_COLUMNS]
    rows = ", ".join("(" + ", ".join(f":{name}_{i}" for name in names) + ")" for i in range(count))
    event_names = [name for name, _ in _NEW_EVENT_COLUMNS][2:]
    sql = (
        f"WITH new_events({', '.join(names)}) AS (VALUES {rows}), "
        "current_version AS (SELECT s.stream_id, coalesce((SELECT max(e.stream_version) FROM events AS e "
        "WHERE e.stream_id = s.stream_id), 0) AS v FROM (SELECT DISTINCT stream_id FROM new_events) AS s) "
        f"INSERT INTO events (id, stream_id, stream_version, {', '.join(event_names)}) "
        f"SELECT n.id, n.stream_id, c.v + n.ord, {', '.join('n.' + name for name in event_names)} "
        "FROM new_events AS n JOIN current_version AS c ON c.stream_id = n.stream_id "
        + _MANY_GUARDS + "ORDER BY n.seq RETURNING position, stream_id, stream_version"
    )
    statement = text(sql).bindparams(*[bindparam(f"{name}_{i}", type_=type_)
                                       for i in range(count) for name, type_ in _MANY_COLUMNS])
    if len(_STATEMENTS) < 512:
        _STATEMENTS[key] = statement  # type: ignore[index]
    return statement


_APPEND_MANY_PG = text(
    "WITH new_events AS (SELECT * FROM unnest(:seqs, :stream_ids, :expected, :ords, :ids, :types, "
    ":schema_versions, :sources, :occurred_at, :correlation_ids, :causation_ids, :actor_roles, :actor_ids, "
    ":academies, :data) AS t(seq, stream_id, expected, ord, id, type, schema_version, source, occurred_at, "
    "correlation_id, causation_id, actor_role, actor_id, academie, data)), "
    "current_version AS (SELECT s.stream_id, coalesce((SELECT max(e.stream_version) FROM events AS e "
    "WHERE e.stream_id = s.stream_id), 0) AS v FROM (SELECT DISTINCT stream_id FROM new_events) AS s) "
    "INSERT INTO events (id, stream_id, stream_version, type, schema_version, source, occurred_at, recorded_at, "
    "correlation_id, causation_id, actor_role, actor_id, academie, data) "
    "SELECT n.id, n.stream_id, c.v + n.ord, n.type, n.schema_version, n.source, n.occurred_at, :recorded_at, "
    "n.correlation_id, n.causation_id, n.actor_role, n.actor_id, n.academie, n.data::jsonb "
    "FROM new_events AS n JOIN current_version AS c ON c.stream_id = n.stream_id "
    + _MANY_GUARDS + "ORDER BY n.seq RETURNING position, stream_id, stream_version"
).bindparams(
    bindparam("seqs", type_=postgresql.ARRAY(Integer())),
    bindparam("stream_ids", type_=postgresql.ARRAY(String())),
    bindparam("expected", type_=postgresql.ARRAY(Integer())),
    bindparam("ords", type_=postgresql.ARRAY(Integer())),
    *_event_array_bindparams(),
    bindparam("recorded_at", type_=DateTime(timezone=True)),
)


def _append_many_arrays(work: list[tuple[str, list[Envelope], int | None]], recorded_at: datetime) -> dict[str, Any]:
    flat = [(stream_id, expected, ord_, ev) for stream_id, batch, expected in work
            for ord_, ev in enumerate(batch, start=1)]
    return {
        "seqs": list(range(len(flat))),
        "stream_ids": [f[0] for f in flat],
        "expected": [f[1] for f in flat],
        "ords": [f[2] for f in flat],
        **_event_arrays([f[3] for f in flat]),
        "recorded_at": recorded_at,
    }


def _append_many_parameters(work: list[tuple[str, list[Envelope], int | None]], recorded_at: datetime) -> dict[str, Any]:
    params: dict[str, Any] = {}
    i = 0
    for stream_id, batch, expected in work:
        for ord_, ev in enumerate(batch, start=1):
            params.update({f"seq_{i}": i, f"stream_id_{i}": stream_id, f"expected_{i}": expected})
            _event_parameters(params, i, ord_, ev, recorded_at)
            i += 1
    return params


def _append_parameters(
    stream_id: str, batch: list[Envelope], expected_version: int | None, recorded_at: datetime
) -> dict[str, Any]:
    params: dict[str, Any] = {"stream_id": stream_id, "first_id": batch[0].id}
    if expected_version is not None:
        params["expected_version"] = expected_version
    for i, ev in enumerate(batch):
        _event_parameters(params, i, i + 1, ev, recorded_at)
    return params


def _event_parameters(params: dict[str, Any], i: int, ord_: int, ev: Envelope, recorded_at: datetime) -> None:
    """The bound values of the i-th new event row of the portable (VALUES) statements."""
    params[f"ord_{i}"] = ord_
    params[f"id_{i}"] = ev.id
    params[f"type_{i}"] = ev.type
    params[f"schema_version_{i}"] = ev.schema_version
    params[f"source_{i}"] = ev.source
    params[f"occurred_at_{i}"] = ev.occurred_at
    params[f"recorded_at_{i}"] = recorded_at
    params[f"correlation_id_{i}"] = ev.correlation_id
    params[f"causation_id_{i}"] = ev.causation_id
    params[f"actor_role_{i}"] = ev.actor.role.value
    params[f"actor_id_{i}"] = ev.actor.id
    params[f"academie_{i}"] = ev.academie
    params[f"data_{i}"] = ev.data


# -- store ----------------------------------------------------------------------------------------


class SqlEventStore:
    """The event store of one service, on PostgreSQL or SQLite (see the module doc).

    Build it with :func:`open_store` (which migrates first).

    * ``engine``: the ``AsyncEngine``. Every transaction begun on it is a writer: on SQLite it
      starts with ``BEGIN IMMEDIATE`` (a deferred transaction that reads and then writes fails
      at once with SQLITE_BUSY when another writer committed in between; an immediate one waits).
      Write your own tables through :meth:`transaction` (``tx.connection``) or ``engine.begin()``.
    * ``reader``: the same pool in autocommit mode, for read-only queries: no transaction, so no
      write lock on SQLite and no BEGIN/ROLLBACK round trips on PostgreSQL; each statement reads
      its own consistent snapshot. ``async with store.reader.connect() as conn: ...``
    """

    def __init__(self, engine: AsyncEngine) -> None:
        self.engine = engine
        self.dialect = engine.dialect.name
        # Every insert path refuses an event that would not fit on the bus (eventkit.store);
        # the runtime sets it from EVENT_MAX_BYTES.
        self.max_event_bytes: int | None = DEFAULT_EVENT_MAX_BYTES
        # Reads need no transaction: one statement, one snapshot, and on PostgreSQL no
        # BEGIN/ROLLBACK round trips; on SQLite no write lock.
        self.reader = engine.execution_options(isolation_level="AUTOCOMMIT")
        self._reader = self.reader
        # PostgreSQL appends through the eventkit_append function (one round trip); False sends
        # the portable statement instead, as on SQLite (the tests run both).
        self.server_side_append = self.dialect == "postgresql"
        # read_all at a gap in positions (PostgreSQL, module doc): wait at most this long for
        # the transactions that may fill it, looking every gap_poll_interval seconds.
        self.gap_wait_timeout = GAP_WAIT_TIMEOUT_S
        self.gap_poll_interval = GAP_POLL_INTERVAL_S
        # PostgreSQL: appends and stream reads on asyncpg directly (module doc, "The driver on
        # the hot path"); None on SQLite.
        self.fast: FastPath | None = FastPath(self.reader) if self.dialect == "postgresql" else None

    @asynccontextmanager
    async def transaction(self) -> AsyncIterator[SqlTransaction]:
        async with self.engine.begin() as conn:
            yield SqlTransaction(self, conn)

    async def append(
        self, stream_id: str, events_: Sequence[Envelope], expected_version: int | None = None
    ) -> AppendResult:
        batch = list(events_)
        for _ in range(APPEND_ATTEMPTS):
            try:
                return await self._append_once(stream_id, batch, expected_version)
            except _RaceLost as race:
                # Another appender committed first (module doc, "Races"); this one was rolled back.
                result = await self._after_race(stream_id, batch, expected_version, race)
                if result is not None:
                    return result
        raise ConcurrencyError(stream_id, expected_version, await self.stream_version(stream_id))

    async def _append_once(
        self, stream_id: str, batch: list[Envelope], expected_version: int | None
    ) -> AppendResult:
        if self.server_side_append and 0 < len(batch) <= MAX_ROWS_PER_STATEMENT:
            # The function call is its own transaction: xid, checks, insert and commit in one round trip.
            bodies = [json_body(e.data) for e in batch] if self.fast is not None else None
            check_event_sizes(stream_id, batch, self.max_event_bytes, bodies)
            recorded_at = datetime.now(timezone.utc)
            try:
                if self.fast is not None:
                    rows = await self.fast.append(stream_id, batch, expected_version, recorded_at, bodies)
                else:
                    async with self._reader.connect() as conn:
                        rows = await _call_append_function(conn, stream_id, batch, expected_version, recorded_at)
            except Exception as exc:
                if not _lost_to_another_appender(exc):
                    raise
                raise await _race_lost(self, stream_id, expected_version, exc) from exc
            if not rows:
                async with self._reader.connect() as conn:
                    return await _explain_empty_insert(conn, stream_id, batch, expected_version)
            return _appended(stream_id, batch, rows, recorded_at)
        async with self.transaction() as tx:
            return await tx.append(stream_id, batch, expected_version)

    def row_recorder(self) -> RowRecorder | None:
        """Where a command's read rows are recorded for :meth:`append_with_rows` (PostgreSQL);
        None where they must be written in a transaction (SQLite)."""
        return RowRecorder(self.engine.dialect) if self.fast is not None and self.server_side_append else None

    async def append_with_rows(
        self, appends: Sequence[tuple[str, Sequence[Envelope], int | None]], rows: RowRecorder
    ) -> list[AppendResult]:
        """``rows``' statements and the appends — ``(stream_id, events, expected_version)`` each —
        in ONE round trip and one implicit transaction (``eventkit_commit``, migration
        ``eventkit_0007``): all or nothing. Results as :meth:`append` for each stream (duplicate,
        ConcurrencyError naming the stream that was not at its version, EventTooLarge). A row
        statement the server refuses (a read-table uniqueness, say) raises
        :class:`NeedsTransaction`: nothing was written, and the caller writes the same rows in a
        transaction, where its own project code meets the error as it always did."""
        work = [(stream_id, list(events), expected) for stream_id, events, expected in appends]
        batch = [e for _, events, _ in work for e in events]
        if (self.fast is None or not self.server_side_append or not 0 < len(batch) <= MAX_ROWS_PER_STATEMENT
                or not all(events for _, events, _ in work)):
            raise NeedsTransaction("no one-statement commit on this store for these writes")
        bodies = [json_body(e.data) for e in batch]
        for (stream_id, events, _), at in zip(work, _offsets(work)):
            check_event_sizes(stream_id, events, self.max_event_bytes, bodies[at:at + len(events)])
        recorded_at = datetime.now(timezone.utc)
        try:
            stored = await self.fast.commit(work, recorded_at, bodies, rows)
        except Exception as exc:
            if _lost_to_another_appender(exc) and _violation(exc)[0] in ("", _ID_KEY, _VERSION_KEY):
                stream_id = _stream_of_violation(exc, work)
                expected = next(e for sid, _, e in work if sid == stream_id)
                race = await _race_lost(self, stream_id, expected, exc)
                if race.constraint == _ID_KEY:  # stored already: the answer of a call that got through
                    return await self._explain_commit(work, work.index(next(w for w in work if w[0] == stream_id)))
                raise race from exc  # the caller decides again
            if isinstance(exc, asyncpg.PostgresError):
                raise NeedsTransaction(f"the server refused a row statement: {exc.sqlstate} {exc}") from exc
            raise
        if isinstance(stored, int):
            return await self._explain_commit(work, stored - 1)
        by_stream: dict[int, list[tuple[int, int]]] = {}
        for rank, position, version in stored:
            by_stream.setdefault(rank - 1, []).append((position, version))
        return [_appended(stream_id, events, by_stream[i], recorded_at) for i, (stream_id, events, _) in enumerate(work)]

    async def _explain_commit(self, work: list[tuple[str, list[Envelope], int | None]], failed: int) -> list[AppendResult]:
        """Why ``eventkit_commit`` wrote nothing, ``failed`` being the rank of the stream whose
        append inserted nothing: its events are stored (a call that got through before, retried:
        every stream's stored result, as duplicates), or it is not at its version (ConcurrencyError)."""
        async with self._reader.connect() as conn:
            stream_id, events, expected = work[failed]
            first = await _explain_empty_insert(conn, stream_id, events, expected)
            return [first if i == failed else await _explain_empty_insert(conn, sid, evs, exp)
                    for i, (sid, evs, exp) in enumerate(work)]

    async def _after_race(
        self, stream_id: str, batch: list[Envelope], expected_version: int | None, race: _RaceLost
    ) -> AppendResult | None:
        """What the checks would have said had the winner committed before them: the events are
        stored → the duplicate result; the version was taken → ConcurrencyError, or None (try
        again) when any version was acceptable."""
        async with self._reader.connect() as conn:
            if await conn.scalar(select(events.c.position).where(events.c.id == batch[0].id)) is not None:
                return await _explain_empty_insert(conn, stream_id, batch, expected_version)
        if expected_version is None and race.constraint == _VERSION_KEY:
            return None
        raise race

    async def read_stream(self, stream_id: str, from_version: int = 1) -> list[Envelope]:
        if self.fast is not None:
            return await self.fast.read_stream(stream_id, from_version)
        async with self._reader.connect() as conn:
            return await _read_stream(conn, stream_id, from_version)

    async def stream_version(self, stream_id: str) -> int:
        if self.fast is not None:
            return await self.fast.stream_version(stream_id)
        async with self._reader.connect() as conn:
            return int(await conn.scalar(_stream_version_query(stream_id)) or 0)

    async def read_all(self, after_position: int = 0, limit: int = 1000) -> list[Envelope]:
        async with self._reader.connect() as conn:
            rows = (await conn.execute(_READ_ALL, {"after": after_position, "limit": limit})).all()
            if self.dialect == "postgresql":
                rows = await self._past_gaps(conn, after_position, limit, rows)
            return [_row_to_envelope(row) for row in rows]

    async def _past_gaps(self, conn: AsyncConnection, after_position: int, limit: int, rows: list[Any]) -> list[Any]:
        """The rows of a PostgreSQL ``read_all`` that no transaction can still slip in below:
        all of them when their positions are contiguous; otherwise, once every transaction that
        may hold a missing position has ended, the range read again; when that takes longer
        than ``gap_wait_timeout``, the rows before the first gap (see the module doc)."""
        gap = _first_gap(rows, after_position)
        if gap is None:
            return rows
        barrier = int(await conn.scalar(_NEW_XID))  # its own transaction, ended at once
        loop = asyncio.get_running_loop()
        deadline = loop.time() + self.gap_wait_timeout
        while int(await conn.scalar(_SNAPSHOT_XMIN)) <= barrier:
            if loop.time() >= deadline:
                return rows[:gap]
            await asyncio.sleep(self.gap_poll_interval)
        up_to = rows[-1][0]
        return (await conn.execute(_READ_ALL_UP_TO, {"after": after_position, "up_to": up_to, "limit": limit})).all()

    async def last_position(self) -> int:
        async with self._reader.connect() as conn:
            return int(await conn.scalar(select(func.coalesce(func.max(events.c.position), 0))) or 0)

    async def get_checkpoint(self, name: str) -> int:
        async with self._reader.connect() as conn:
            return await _get_checkpoint(conn, name)

    async def set_checkpoint(self, name: str, position: int) -> None:
        async with self.transaction() as tx:
            await tx.set_checkpoint(name, position)

    # -- leases: "at most one active X per store" (the outbox relay) ------------------------

    async def acquire_lease(self, name: str, holder: str, ttl_seconds: float) -> bool:
        """Take or renew the lease ``name`` for ``ttl_seconds``; True when ``holder`` now has it.

        Succeeds when the lease is free, expired, or already ``holder``'s (then it is renewed).
        Expiry uses this process's clock: holders on one host (or NTP-synchronised hosts) agree.
        """
        now = datetime.now(timezone.utc)
        expires_at = now + timedelta(seconds=ttl_seconds)
        async with self.engine.begin() as conn:
            taken = await conn.execute(
                leases.update()
                .where(leases.c.name == name, or_(leases.c.holder == holder, leases.c.expires_at <= now))
                .values(holder=holder, expires_at=expires_at)
                .returning(leases.c.name)
            )
            if taken.first() is not None:
                return True
            ins = _upsert_insert(self.dialect)(leases).values(name=name, holder=holder, expires_at=expires_at)
            created = await conn.execute(
                ins.on_conflict_do_nothing(index_elements=["name"]).returning(leases.c.name)
            )
            return created.first() is not None

    async def release_lease(self, name: str, holder: str) -> None:
        """Give the lease up at once (a clean shutdown), if ``holder`` has it."""
        async with self.engine.begin() as conn:
            await conn.execute(leases.delete().where(leases.c.name == name, leases.c.holder == holder))

    async def close(self) -> None:
        await self.engine.dispose()


async def open_store(url: str, extra_migrations: Sequence[Any] = (), **engine_options: Any) -> SqlEventStore:
    """Migrate the database (the kit's tables, then each of ``extra_migrations``, see
    :mod:`eventkit.migrations`) and return the store on it.

    ``url``: ``postgresql+asyncpg://…`` or ``sqlite+aiosqlite:///path`` (``postgresql://`` and
    ``sqlite:///`` are accepted). ``engine_options`` go to ``create_async_engine``.
    """
    from .migrations import KIT_MIGRATIONS, run_migrations

    await run_migrations(url, [KIT_MIGRATIONS, *extra_migrations])
    return SqlEventStore(make_engine(url, **engine_options))
