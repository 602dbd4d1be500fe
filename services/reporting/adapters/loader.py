"""Writes a rebuild's rows while the projection goes on.

The rebuild projects in memory (it is its new generation's only writer) and hands each batch's
rows to a :class:`Loader`, whose task writes them on a connection of its own: ``COPY`` on
PostgreSQL, one ``executemany`` per table elsewhere (SQLite has no ``COPY``). While the database
takes one batch, the projection works on the next — two processes, two cores. The queue is short
(``depth`` batches), so a projection faster than the database waits rather than piles rows up in
memory. The generation is nobody else's until the swap, so each write commits on its own: a
rebuild that dies leaves a half-built generation, dropped by the next one.
"""

from __future__ import annotations

import asyncio
import json
from operator import itemgetter
from typing import Any, Mapping, Sequence

from sqlalchemy import JSON, Table
from sqlalchemy.ext.asyncio import AsyncEngine

Rows = Mapping[Table, Sequence[dict[str, Any]]]


async def copy_rows(raw: Any, table: Table, rows: Sequence[dict[str, Any]]) -> None:
    """``COPY`` ``rows`` (dicts of one shape) into ``table`` through an asyncpg connection; JSON
    columns are sent as their text."""
    if not rows:
        return
    columns = list(rows[0])
    record = itemgetter(*columns) if len(columns) > 1 else lambda r: (r[columns[0]],)
    encoded = [i for i, c in enumerate(columns) if isinstance(table.c[c].type, JSON)]
    if encoded:
        records: list[Any] = []
        for r in rows:
            values = list(record(r))
            for i in encoded:
                values[i] = json.dumps(values[i])
            records.append(values)
    else:
        records = list(map(record, rows))
    await raw.copy_records_to_table(table.name, records=records, columns=columns)


class Loader:
    """``async with Loader(engine) as load: await load.put({table: rows, …})``; leaving the block
    waits for every write (and raises the first error)."""

    def __init__(self, engine: AsyncEngine, depth: int = 2) -> None:
        self.engine = engine
        self.queue: asyncio.Queue[Rows | None] = asyncio.Queue(maxsize=depth)
        self.task: asyncio.Task[None] | None = None
        self.rows = 0

    async def __aenter__(self) -> "Loader":
        self.task = asyncio.create_task(self._run())
        return self

    async def __aexit__(self, exc_type, exc, tb) -> None:
        assert self.task is not None
        if exc_type is not None:
            self.task.cancel()
            await asyncio.gather(self.task, return_exceptions=True)
            return
        await self._send(None)
        await self.task

    async def put(self, rows: Rows) -> None:
        """Queue one batch's rows (waits while ``depth`` batches are queued)."""
        await self._send(rows)

    async def _send(self, item: Rows | None) -> None:
        assert self.task is not None
        put = asyncio.ensure_future(self.queue.put(item))
        done, _ = await asyncio.wait({put, self.task}, return_when=asyncio.FIRST_COMPLETED)
        if put not in done:  # the writer stopped: its error is the rebuild's
            put.cancel()
            self.task.result()
            raise RuntimeError("the rebuild's writer stopped early")

    async def _run(self) -> None:
        async with self.engine.connect() as conn:
            postgres = conn.dialect.name == "postgresql"
            raw = (await conn.get_raw_connection()).driver_connection if postgres else None
            while (item := await self.queue.get()) is not None:
                async with conn.begin():
                    for table, rows in item.items():
                        if not rows:
                            continue
                        if postgres:
                            await copy_rows(raw, table, rows)
                        else:
                            await conn.execute(table.insert(), list(rows))
                        self.rows += len(rows)
