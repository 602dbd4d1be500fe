"""The PostgreSQL hot path of the event store: asyncpg directly, no SQLAlchemy in between.

Every command reads a stream and appends to it; through SQLAlchemy's async Core that cost more
CPU than the database spent (statement cache lookups, bind and result processors, the greenlet
hop) plus a ``SELECT 1`` round trip per checkout for the pool's pre-ping. Here the same SQL goes
to asyncpg, which prepares each statement once per connection and keeps it.

Dead connections. The pool does not ping on checkout. A connection the server closed while it sat
in the pool is seen closed by asyncpg (its socket is read by the event loop) and replaced when
acquired; one closed between the checkout and the statement fails that statement with a
connection error, and the operation is run once more on a fresh connection. That is safe for an
append: the same event ids sent twice come back as the stored result (``duplicate=True``), so a
call that committed before the connection died is not stored twice.

Connections. The pool keeps what it opened until ``max_inactive_connection_lifetime`` (5 min)
of idleness: a steady load opens none. Each new one counts in
``jumelage_db_connections_opened_total`` like the SQLAlchemy pool's.
"""

from __future__ import annotations

import asyncio
import json
from datetime import datetime
from typing import Any, Awaitable, Callable, Sequence, TypeVar

import asyncpg
import orjson

from jumelage_contracts import Envelope

T = TypeVar("T")

_COLUMNS = ("position, id, stream_id, stream_version, type, schema_version, source, occurred_at, recorded_at, "
            "correlation_id, causation_id, actor_role, actor_id, academie, data")
READ_STREAM = (f"SELECT {_COLUMNS} FROM events WHERE stream_id = $1 AND stream_version >= $2 "
               "ORDER BY stream_version")
STREAM_VERSION = "SELECT coalesce(max(stream_version), 0) FROM events WHERE stream_id = $1"
APPEND = ("SELECT new_position, new_version FROM eventkit_append($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, "
          "$11, $12, $13, $14)")

# What says "this connection is gone", not "this statement is wrong": run it once more elsewhere.
CONNECTION_LOST = (
    asyncpg.exceptions.PostgresConnectionError,  # ConnectionDoesNotExistError, ConnectionFailureError…
    asyncpg.exceptions.OperatorInterventionError,  # AdminShutdownError (pg_terminate_backend), CannotConnectNow
    asyncpg.exceptions.InterfaceError,  # "connection is closed"
    ConnectionError,
)
MAX_INACTIVE_SECONDS = 300.0


def asyncpg_dsn(engine: Any) -> str:
    """The libpq-style URL asyncpg connects with, from a SQLAlchemy engine's URL."""
    return engine.url.set(drivername="postgresql").render_as_string(hide_password=False)


async def _setup_connection(conn: asyncpg.Connection) -> None:
    from . import metrics

    metrics.counter("jumelage_db_connections_opened_total",
                    "PostgreSQL connections opened by this process's pools").inc()
    await conn.set_type_codec("jsonb", schema="pg_catalog", encoder=json.dumps, decoder=orjson.loads)


def json_body(data: Any) -> bytes:
    """An event's data as compact JSON (orjson; what it cannot encode goes through ``json``,
    which refuses what is not JSON, as the SQLAlchemy path does)."""
    try:
        return orjson.dumps(data, option=orjson.OPT_PASSTHROUGH_DATETIME | orjson.OPT_PASSTHROUGH_DATACLASS)
    except TypeError:
        return json.dumps(data, separators=(",", ":"), ensure_ascii=False).encode()


class FastPath:
    """Appends, stream reads and stream versions on an asyncpg pool of their own (opened on first
    use, at most ``max_size`` connections: the engine's pool size and overflow by default)."""

    def __init__(self, engine: Any, max_size: int | None = None) -> None:
        self.dsn = asyncpg_dsn(engine)
        pool = getattr(engine, "pool", None)
        size = pool.size() if hasattr(pool, "size") else 10
        overflow = max(getattr(pool, "_max_overflow", 0), 0)
        self.max_size = max_size or max(size + overflow, 1)
        self._pool: asyncpg.Pool | None = None
        self._opening: asyncio.Lock | None = None

    async def _get_pool(self) -> asyncpg.Pool:
        if self._pool is None:
            if self._opening is None:
                self._opening = asyncio.Lock()
            async with self._opening:
                if self._pool is None:
                    self._pool = await asyncpg.create_pool(
                        self.dsn, min_size=0, max_size=self.max_size, init=_setup_connection,
                        max_inactive_connection_lifetime=MAX_INACTIVE_SECONDS)
        return self._pool

    async def run(self, operation: Callable[[asyncpg.Connection], Awaitable[T]]) -> T:
        """``operation`` on a pooled connection; once more on another when the connection was lost."""
        pool = await self._get_pool()
        try:
            async with pool.acquire() as conn:
                return await operation(conn)
        except CONNECTION_LOST:
            async with pool.acquire() as conn:
                return await operation(conn)

    async def read_stream(self, stream_id: str, from_version: int = 1) -> list[Envelope]:
        from .sql import _row_to_envelope

        rows = await self.run(lambda conn: conn.fetch(READ_STREAM, stream_id, from_version))
        return [_row_to_envelope(row) for row in rows]

    async def stream_version(self, stream_id: str) -> int:
        return int(await self.run(lambda conn: conn.fetchval(STREAM_VERSION, stream_id)) or 0)

    async def append(self, stream_id: str, batch: Sequence[Envelope], expected_version: int | None,
                     recorded_at: datetime, bodies: Sequence[bytes]) -> list[Any]:
        """One call of ``eventkit_append`` (its own transaction): the (position, version) rows,
        none when nothing was inserted (a duplicate, or not at the expected version). ``bodies``:
        each event's data as JSON (:func:`json_body`)."""
        args = (stream_id, expected_version, recorded_at, [e.id for e in batch], [e.type for e in batch],
                [e.schema_version for e in batch], [e.source for e in batch], [e.occurred_at for e in batch],
                [e.correlation_id for e in batch], [e.causation_id for e in batch],
                [e.actor.role.value for e in batch], [e.actor.id for e in batch], [e.academie for e in batch],
                [body.decode() for body in bodies])
        return await self.run(lambda conn: conn.fetch(APPEND, *args))

    async def close(self) -> None:
        if self._pool is not None:
            pool, self._pool = self._pool, None
            await pool.close()
