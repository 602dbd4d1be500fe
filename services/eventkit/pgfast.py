"""The PostgreSQL hot path of the event store: asyncpg directly, no SQLAlchemy in between.

Every command reads a stream and appends to it; through SQLAlchemy's async Core that cost more
CPU than the database spent (statement cache lookups, bind and result processors, the greenlet
hop). Here the same SQL goes to asyncpg, which prepares each statement once per connection and
keeps it. The connections are the store's own pool's (SQLAlchemy's, in autocommit): one budget
of connections per process, one ``jumelage_db_connections_opened_total``.

Dead connections. The pool refuses on checkout a connection asyncpg already saw closed, and
pings one it handed out before with one round trip (``eventkit.sql._check_on_checkout``). One
closed between the checkout and the statement fails that statement with a connection error: the connection is dropped and
the operation runs once more on another. That is safe for an append: the same event ids sent
twice come back as the stored result (``duplicate=True``), so a call that committed before the
connection died is not stored twice.
"""

from __future__ import annotations

import json
import re
import uuid
from contextlib import contextmanager
from contextvars import ContextVar
from datetime import date, datetime
from decimal import Decimal
from typing import Any, Awaitable, Callable, Iterator, Sequence, TypeVar

import asyncpg
import orjson
from sqlalchemy.util import greenlet_spawn

from jumelage_contracts import Envelope

from .store import NeedsTransaction

T = TypeVar("T")

# Set while the hot path checks a connection out for its first try: the pool skips the ping (one
# round trip) since a connection found dead by the statement itself is replaced and the operation
# run once more, with the ping (``eventkit.sql._check_on_checkout``).
UNPINGED: ContextVar[bool] = ContextVar("eventkit_unpinged", default=False)

_COLUMNS = ("position, id, stream_id, stream_version, type, schema_version, source, occurred_at, recorded_at, "
            "correlation_id, causation_id, actor_role, actor_id, academie, data")
READ_STREAM = (f"SELECT {_COLUMNS} FROM events WHERE stream_id = $1 AND stream_version >= $2 "
               "ORDER BY stream_version")
STREAM_VERSION = "SELECT coalesce(max(stream_version), 0) FROM events WHERE stream_id = $1"
APPEND = ("SELECT new_position, new_version FROM eventkit_append($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, "
          "$11, $12, $13, $14)")
# A command's read rows and its events in one call (migration eventkit_0007): EK001 = nothing appended.
COMMIT = ("SELECT stream_index, new_position, new_version FROM eventkit_commit($1, $2, $3, $4, $5, $6, $7, $8, "
          "$9, $10, $11, $12, $13, $14, $15, $16, $17::jsonb)")
NOTHING_APPENDED = "EK001"

# What says "this connection is gone", not "this statement is wrong": run it once more elsewhere.
CONNECTION_LOST = (
    asyncpg.exceptions.PostgresConnectionError,  # ConnectionDoesNotExistError, ConnectionFailureError…
    asyncpg.exceptions.OperatorInterventionError,  # AdminShutdownError (pg_terminate_backend), CannotConnectNow
    asyncpg.exceptions.InterfaceError,  # "connection is closed"
    # a statement begun while asyncpg was still reading the server's goodbye on that connection
    # ("cannot switch to state …; another operation … is in progress"): seen right after
    # pg_terminate_backend (test_pool_pre_ping); the connection is of no further use
    asyncpg.exceptions.InternalClientError,
    ConnectionError,
)


def json_body(data: Any) -> bytes:
    """An event's data as compact JSON (orjson; what it cannot encode goes through ``json``,
    which refuses what is not JSON, as the SQLAlchemy path does)."""
    try:
        return orjson.dumps(data, option=orjson.OPT_PASSTHROUGH_DATETIME | orjson.OPT_PASSTHROUGH_DATACLASS)
    except TypeError:
        return json.dumps(data, separators=(",", ":"), ensure_ascii=False).encode()


def _json_data(data: Any) -> Any:
    """``data`` as read: JSON text where SQLAlchemy's asyncpg dialect installed its jsonb codec
    on the connection (it hands the text over), already parsed otherwise."""
    return orjson.loads(data) if isinstance(data, (str, bytes)) else data


class FastPath:
    """Appends, stream reads and stream versions sent by asyncpg on the connections of
    ``engine`` (the store's autocommit engine)."""

    def __init__(self, engine: Any) -> None:
        self.engine = engine

    async def run(self, operation: Callable[[asyncpg.Connection], Awaitable[T]]) -> T:
        """``operation`` on the asyncpg connection of a connection of the store's pool, taken from
        the pool itself (one greenlet hop, no SQLAlchemy ``Connection`` around it: nothing here
        opens a transaction through SQLAlchemy, so handing it back does no I/O); once more on
        another when the connection was lost. The first try takes it without the checkout ping,
        the second with it (:func:`run_once_more_if_lost`)."""
        pool = self.engine.sync_engine.pool
        for attempt in (1, 2):
            with unpinged(attempt == 1):
                fairy = await greenlet_spawn(pool.connect)
            try:
                return await operation(fairy.driver_connection)
            except CONNECTION_LOST:
                await greenlet_spawn(fairy.invalidate)
                if attempt == 2:
                    raise
            finally:
                fairy.close()
        raise AssertionError("unreachable")  # pragma: no cover

    async def read_stream(self, stream_id: str, from_version: int = 1) -> list[Envelope]:
        from .sql import _row_to_envelope

        rows = await self.run(lambda conn: conn.fetch(READ_STREAM, stream_id, from_version))
        return [_row_to_envelope(row, _json_data) for row in rows]

    async def stream_version(self, stream_id: str) -> int:
        return int(await self.run(lambda conn: conn.fetchval(STREAM_VERSION, stream_id)) or 0)

    async def append(self, stream_id: str, batch: Sequence[Envelope], expected_version: int | None,
                     recorded_at: datetime, bodies: Sequence[bytes]) -> list[Any]:
        """One call of ``eventkit_append`` (its own transaction): the (position, version) rows,
        none when nothing was inserted (a duplicate, or not at the expected version). ``bodies``:
        each event's data as JSON (:func:`json_body`)."""
        args = _append_arguments(stream_id, batch, expected_version, recorded_at, bodies)
        return await self.run(lambda conn: conn.fetch(APPEND, *args))

    async def commit(self, appends: Sequence[tuple[str, Sequence[Envelope], int | None]], recorded_at: datetime,
                     bodies: Sequence[bytes], rows: "RowRecorder") -> list[Any] | int:
        """One call of ``eventkit_commit``: ``rows``' statements then each stream's append, in one
        implicit transaction. The (stream rank, position, version) rows; when an append inserted
        nothing (and then nothing at all was written), the rank (from 1) of its stream instead.
        ``bodies``: every event's data as JSON, streams in order."""
        batch = [e for _, events, _ in appends for e in events]
        args = (
            [stream_id for stream_id, _, _ in appends], [expected for _, _, expected in appends],
            [len(events) for _, events, _ in appends],
            *_append_arguments(None, batch, None, recorded_at, bodies)[2:],
            rows.statements, orjson.dumps(rows.arguments).decode(),
        )

        async def call(conn: asyncpg.Connection) -> list[Any] | int:
            try:
                return await conn.fetch(COMMIT, *args)
            except asyncpg.PostgresError as exc:
                if getattr(exc, "sqlstate", None) == NOTHING_APPENDED:
                    return int(getattr(exc, "detail", None) or 1)
                raise

        return await self.run(call)


def _append_arguments(stream_id: str, batch: Sequence[Envelope], expected_version: int | None,
                      recorded_at: datetime, bodies: Sequence[bytes]) -> tuple:
    return (stream_id, expected_version, recorded_at, [e.id for e in batch], [e.type for e in batch],
            [e.schema_version for e in batch], [e.source for e in batch], [e.occurred_at for e in batch],
            [e.correlation_id for e in batch], [e.causation_id for e in batch],
            [e.actor.role.value for e in batch], [e.actor.id for e in batch], [e.academie for e in batch],
            [body.decode() for body in bodies])


async def run_once_more_if_lost(engine: Any, operation: Callable[[Any], Awaitable[T]]) -> T:
    """``operation(connection)`` on a connection of ``engine``'s pool, once more on another when
    the connection was lost. The first try takes the connection without the checkout ping, the
    second with it: only for what may run twice (reads; appends and commits are idempotent by
    event id)."""
    for attempt in (1, 2):
        with unpinged(attempt == 1):
            async with engine.connect() as conn:
                try:
                    return await operation(conn)
                except Exception as exc:
                    if not connection_lost(exc):
                        raise
                    if not conn.invalidated:
                        await conn.invalidate()
                    if attempt == 2:
                        raise
    raise AssertionError("unreachable")  # pragma: no cover


def connection_lost(exc: BaseException) -> bool:
    """``exc`` (asyncpg's, or SQLAlchemy's wrapper of it) says the connection is gone."""
    seen: BaseException | None = exc
    for _ in range(8):  # the wrapper, the DBAPI adapter's error, asyncpg's: a short chain
        if seen is None:
            break
        if isinstance(seen, CONNECTION_LOST) or getattr(seen, "connection_invalidated", False):
            return True
        seen = getattr(seen, "orig", None) or seen.__cause__
    return False


@contextmanager
def unpinged(skip: bool = True) -> Iterator[None]:
    """Connections checked out inside take no ping (see :data:`UNPINGED`)."""
    token = UNPINGED.set(skip)
    try:
        yield
    finally:
        UNPINGED.reset(token)


# -- a command's read rows as data, for eventkit_commit ----------------------------------------

_PLACEHOLDER = re.compile(r"\$(\d+)")


class _Unread:
    """What a recorded statement "returns": nothing can be read from it yet."""

    def __getattr__(self, name: str) -> Any:
        raise NeedsTransaction(f"the read rows' projection reads a statement's result ({name})")

    def __iter__(self):
        raise NeedsTransaction("the read rows' projection reads a statement's result")


class RowRecorder:
    """Stands for a transaction (and its ``connection``) while a service's ``project`` writes
    its read rows: each statement it executes is compiled as SQLAlchemy would send it on asyncpg
    and kept — SQL text with ``%n$L`` placeholders, its values as text — for ``eventkit_commit``
    to run on the server before the append. Anything else a project does (reading a result,
    ``executemany``, a value with no text form) raises :class:`~eventkit.store.NeedsTransaction`:
    that write then commits in a transaction, unchanged."""

    _cache: dict[Any, tuple[Any, str]] = {}
    _CACHE_SIZE = 512

    def __init__(self, dialect: Any) -> None:
        self.dialect = dialect
        self.statements: list[str] = []
        self.arguments: list[list[str | None]] = []

    @property
    def connection(self) -> "RowRecorder":
        return self

    def __getattr__(self, name: str) -> Any:
        raise NeedsTransaction(f"the read rows' projection uses {name!r} of its transaction")

    async def execute(self, statement: Any, parameters: Any = None) -> Any:
        if parameters is not None and not isinstance(parameters, dict):
            raise NeedsTransaction("executemany")
        compiled, sql, extracted = self._compiled(statement, parameters)
        values = compiled.construct_params(parameters, extracted_parameters=extracted)
        processors = compiled._bind_processors
        row: list[str | None] = []
        for name in compiled.positiontup:
            value = values[name]
            processor = processors.get(name)
            row.append(_as_text(processor(value) if processor is not None else value))
        self.statements.append(sql)
        self.arguments.append(row)
        return _Unread()

    def _compiled(self, statement: Any, parameters: dict | None) -> tuple[Any, str, Any]:
        keys = tuple(sorted(parameters)) if parameters else ()  # as SQLAlchemy compiles them
        cache_key = statement._generate_cache_key()
        key = (cache_key.key, keys) if cache_key is not None else None
        found = self._cache.get(key) if key is not None else None
        if found is None:
            compiled = statement.compile(dialect=self.dialect, column_keys=list(keys) or None, cache_key=cache_key)
            if compiled.positiontup is None or compiled.post_compile_params or compiled.literal_execute_params:
                raise NeedsTransaction("a statement with expanding parameters")
            found = (compiled, _PLACEHOLDER.sub(r"%\1$L", compiled.string.replace("%", "%%")))
            if key is not None:
                if len(self._cache) >= self._CACHE_SIZE:
                    self._cache.clear()
                self._cache[key] = found
        return found[0], found[1], (cache_key.bindparams if cache_key is not None else None)


def _as_text(value: Any) -> str | None:
    """A bound value as the text PostgreSQL reads it from (the server quotes it)."""
    if value is None or isinstance(value, str):
        return value
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, (int, float, Decimal, uuid.UUID)):
        return str(value)
    if isinstance(value, datetime):
        if value.tzinfo is None:
            raise NeedsTransaction("a naive datetime (its zone would be the server's)")
        return value.isoformat()
    if isinstance(value, date):
        return value.isoformat()
    if isinstance(value, (bytes, bytearray, memoryview)):
        return "\\x" + bytes(value).hex()
    raise NeedsTransaction(f"no text form for a {type(value).__name__} value")
