"""The live consumers' handler: apply one event to the current generation, in the kit's transaction.

The hot path is one statement before the projection's own writes: it inserts the event id into
the *cached* generation's ``applied`` table only if ``rpt_meta`` still names that generation,
reading that row ``FOR SHARE`` on PostgreSQL. A rebuild swapping generations holds the row
``FOR UPDATE`` during its final catch-up, so no live write can land in the old generation after
it (SQLite gets the same from its single writer). When the insert returns nothing, either the
event was already applied or the generation changed: one more query tells which. On PostgreSQL
that statement also returns the state rows the projection reads, and the projection's writes go
in one more statement (``Projector._flush``): with the kit's BEGIN, inbox row and COMMIT, five
round trips per event. A fetched batch goes through :meth:`LiveProjection.apply_many` instead: the
generation read once, one claim, one state read and one write per table for the whole batch.
"""

from __future__ import annotations

import json
from contextlib import contextmanager
from typing import Any, Iterator, Sequence

from sqlalchemy import bindparam, func, select, text
from sqlalchemy.exc import DBAPIError
from sqlalchemy.ext.asyncio import AsyncConnection

from jumelage_contracts import Envelope

from eventkit import metrics
from reporting.adapters.projector import Projector, keys_needed
from reporting.adapters.tables import Generation, generation, rpt_meta

LAST_POSITION = metrics.gauge("jumelage_reporting_last_position",
                              "Store position (in the producing service) of the last event applied to the read models",
                              ["source"])
EVENTS_APPLIED = metrics.counter("jumelage_reporting_events_applied_total",
                                 "Events applied to the read models by the live consumers", ["source"])
PARKED = metrics.gauge("jumelage_reporting_parked_events",
                       "Events held in the current generation until their cause is projected (python -m reporting "
                       "parked lists them)")
PARKED_MOVES = metrics.counter("jumelage_reporting_parking_total",
                               "Events the live consumers parked before their cause, and released after it",
                               ["outcome"])


async def count_parked(conn: AsyncConnection, gen: Generation) -> int:
    """Events parked in ``gen`` now; sets the gauge."""
    n = int((await conn.execute(select(func.count()).select_from(gen.parked))).scalar_one())
    PARKED.set(n)
    return n


async def generation_for_write(conn: AsyncConnection) -> Generation:
    stmt = select(rpt_meta.c.value).where(rpt_meta.c.key == "generation")
    if conn.dialect.name == "postgresql":
        stmt = stmt.with_for_update(read=True)
    return generation(int((await conn.execute(stmt)).scalar_one()))


_CLAIM = ("INSERT INTO {applied} (event_id) SELECT :event_id WHERE EXISTS "
          "(SELECT 1 FROM rpt_meta WHERE key = 'generation' AND value = :generation{share}) "
          "ON CONFLICT (event_id) DO NOTHING RETURNING event_id")


async def _claim_if_current(conn: AsyncConnection, gen: Generation, event_id: str,
                            keys: list[str]) -> dict[str, Any] | None:
    """Claim the event for ``gen`` if it is current; None when not claimed. On PostgreSQL the
    same round trip also returns the state rows the projection will read (``keys``)."""
    params = {"event_id": event_id, "generation": str(gen.number)}
    if conn.dialect.name != "postgresql":
        claimed = (await conn.execute(text(_CLAIM.format(applied=gen.applied.name, share="")), params)).first()
        return {} if claimed is not None else None
    claim = _CLAIM.format(applied=gen.applied.name, share=" FOR SHARE")
    stmt = text(f"WITH c AS ({claim}) SELECT 0 AS marker, CAST(NULL AS TEXT) AS key, CAST(NULL AS TEXT) AS value "
                f"FROM c UNION ALL SELECT 1, s.key, CAST(s.value AS TEXT) FROM {gen.state.name} s "
                f"WHERE s.key IN :keys AND EXISTS (SELECT 1 FROM c)").bindparams(bindparam("keys", expanding=True))
    rows = (await conn.execute(stmt, {**params, "keys": keys or [""]})).all()
    if not any(r.marker == 0 for r in rows):
        return None
    return {r.key: json.loads(r.value) for r in rows if r.marker == 1}


class LiveProjection:
    """Holds the generation last written to (a guess, checked by every write)."""

    def __init__(self) -> None:
        self._generation: Generation | None = None
        self._gauge_read = False  # the parked gauge is read from the table once per process

    async def _observe(self, conn: AsyncConnection, gen: Generation, projector: Projector) -> None:
        """Counters of what this call parked and released; the gauge re-read from the table (in
        this transaction) whenever that changed it — rarely: in order, nothing parks."""
        if projector.parked:
            PARKED_MOVES.labels("parked").inc(projector.parked)
        if projector.released:
            PARKED_MOVES.labels("released").inc(projector.released)
        if projector.parked or projector.released or not self._gauge_read:
            self._gauge_read = True
            await count_parked(conn, gen)

    @contextmanager
    def _forgets_a_dropped_generation(self) -> Iterator[None]:
        """A generation dropped under us (two rebuilds while this consumer slept): forget the
        guess; the kit retries the message and the retry reads the current generation."""
        try:
            yield
        except DBAPIError as exc:
            if "rpt_g" in str(exc):
                self._generation = None
            raise

    async def apply(self, conn: AsyncConnection, envelope: Envelope) -> int:
        with self._forgets_a_dropped_generation():
            return await self._apply(conn, envelope)

    async def _apply(self, conn: AsyncConnection, envelope: Envelope) -> int:
        gen = self._generation or await generation_for_write(conn)
        event_id, keys = str(envelope.id), keys_needed([envelope])
        state = await _claim_if_current(conn, gen, event_id, keys)
        if state is None:
            current = await generation_for_write(conn)
            if current.number == gen.number:
                return 0  # already applied to this generation (a rebuild got there first)
            gen = current
            state = await _claim_if_current(conn, gen, event_id, keys)
            if state is None:
                return 0
        self._generation = gen
        projector = Projector(gen)
        applied = await projector.apply_claimed(conn, [envelope], state if conn.dialect.name == "postgresql"
                                                else None)
        await self._observe(conn, gen, projector)
        _count_applied([envelope])
        return applied

    async def __call__(self, tx: Any, envelope: Envelope, event: Any) -> None:
        """``runtime.add_consumer`` handler for all three sources."""
        await self.apply(tx.connection, envelope)

    async def apply_many(self, conn: AsyncConnection, envelopes: Sequence[Envelope]) -> int:
        """A fetched batch at once: read the generation ``FOR SHARE`` (held to the commit, so a
        rebuild cannot swap under the batch), claim every id in one statement, load the state the
        batch reads in one, and write each table once — instead of the one-event path's round
        trips per event. Same effect as :meth:`apply` on each, in order."""
        with self._forgets_a_dropped_generation():
            self._generation = gen = await generation_for_write(conn)
            projector = Projector(gen)
            fresh = await projector.claim(conn, envelopes)
            applied = await projector.apply_claimed(conn, fresh)
            await self._observe(conn, gen, projector)
        _count_applied(fresh)
        return applied

    async def batch(self, tx: Any, events: Sequence[tuple[Envelope, Any]]) -> None:
        """``runtime.add_consumer`` batch handler (see ``eventkit.bus.consumer``)."""
        await self.apply_many(tx.connection, [envelope for envelope, _ in events])


def _count_applied(envelopes: Sequence[Envelope]) -> None:
    """The metrics of what a call applied: events per source, the last position per source."""
    last: dict[str, int] = {}
    for envelope in envelopes:
        EVENTS_APPLIED.labels(envelope.source).inc()
        last[envelope.source] = max(last.get(envelope.source, 0), envelope.position or 0)
    for source, position in last.items():
        if position:
            LAST_POSITION.labels(source).set(position)


async def apply_live(conn: AsyncConnection, envelope: Envelope) -> int:
    """One event, without a cached generation (tests, tools)."""
    return await LiveProjection().apply(conn, envelope)
