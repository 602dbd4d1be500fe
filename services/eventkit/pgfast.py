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
        """``operation`` on a pooled connection; once more on another when the connection was lost."""
        for attempt in (1, 2):
            async with self.engine.connect() as conn:
                raw = await conn.get_raw_connection()
                try:
                    return await operation(raw.driver_connection)
                except CONNECTION_LOST:
                    await conn.invalidate()
                    if attempt == 2:
                        raise
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
        args = (stream_id, expected_version, recorded_at, [e.id for e in batch], [e.type for e in batch],
                [e.schema_version for e in batch], [e.source for e in batch], [e.occurred_at for e in batch],
                [e.correlation_id for e in batch], [e.causation_id for e in batch],
                [e.actor.role.value for e in batch], [e.actor.id for e in batch], [e.academie for e in batch],
                [body.decode() for body in bodies])
        return await self.run(lambda conn: conn.fetch(APPEND, *args))
