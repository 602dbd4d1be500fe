"""Persisted snapshots of partnership streams: one row per stream (``prog_snapshots``), the latest
folded state the service chose to keep, as bytes with the name of their schema.

The store only keeps bytes; :mod:`eventkit.snapshots` decides what they mean and when to
write. A snapshot only moves forward: writing an older version than the stored one changes
nothing. On the in-memory store (unit tests) the same port is a dict.
"""

from __future__ import annotations

from typing import Any

from sqlalchemy import Column, Integer, LargeBinary, MetaData, String, Table, select
from sqlalchemy.dialects import postgresql, sqlite

from eventkit.snapshots import StoredSnapshot

metadata = MetaData()
snapshots = Table(
    "prog_snapshots", metadata,
    Column("stream_id", String(250), primary_key=True),
    Column("version", Integer, nullable=False),
    Column("state_schema", String(80), nullable=False),
    Column("state", LargeBinary, nullable=False),
)


class SqlSnapshots:
    def __init__(self, store: Any) -> None:
        self.engine = store.engine
        self.reader = getattr(store, "reader", store.engine)

    async def get(self, stream_id: str) -> StoredSnapshot | None:
        async with self.reader.connect() as conn:
            row = (await conn.execute(select(snapshots).where(snapshots.c.stream_id == stream_id))).first()
        return StoredSnapshot(**row._mapping) if row is not None else None

    async def put(self, snapshot: StoredSnapshot) -> None:
        values = {"stream_id": snapshot.stream_id, "version": snapshot.version,
                  "state_schema": snapshot.state_schema, "state": snapshot.state}
        async with self.engine.begin() as conn:
            dialect = postgresql if conn.dialect.name == "postgresql" else sqlite
            stmt = dialect.insert(snapshots).values(**values)
            excluded = stmt.excluded
            # Forward only, unless the stored row has another schema (then any version replaces it).
            await conn.execute(stmt.on_conflict_do_update(
                index_elements=["stream_id"],
                set_={"version": excluded.version, "state_schema": excluded.state_schema, "state": excluded.state},
                where=(snapshots.c.version < excluded.version) | (snapshots.c.state_schema != excluded.state_schema)))


    async def clear(self) -> None:
        """Delete every snapshot (an erasure: folded states hold personal values in clear; the
        streams are folded again, with the erased person's values as placeholders)."""
        async with self.engine.begin() as conn:
            await conn.execute(snapshots.delete())


class MemorySnapshots:
    def __init__(self) -> None:
        self.rows: dict[str, StoredSnapshot] = {}

    async def clear(self) -> None:
        self.rows.clear()

    async def get(self, stream_id: str) -> StoredSnapshot | None:
        return self.rows.get(stream_id)

    async def put(self, snapshot: StoredSnapshot) -> None:
        known = self.rows.get(snapshot.stream_id)
        if known is None or known.version < snapshot.version or known.state_schema != snapshot.state_schema:
            self.rows[snapshot.stream_id] = snapshot


def snapshots_for(store: Any) -> SqlSnapshots | MemorySnapshots:
    return SqlSnapshots(store) if getattr(store, "engine", None) is not None else MemorySnapshots()
