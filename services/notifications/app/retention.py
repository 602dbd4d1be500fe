"""Retention timers (RGPD, issue 16): one durable timer per partnership (``notif_retention``),
planned in the consumer's transaction from programmes' events, fired by the scheduler.

- ``ProgrammeYearOpened`` plans it at the end of that school year plus the dispositif's
  retention; a renewal (a later year opened) moves it to the later year's end — also after it
  fired: the partnership lives again, and its next end counts anew.
- ``PartnershipEnded`` moves it when the end came after the year's end.
- A dispositif set to ``never`` keeps the row with status ``never`` and no due time.

Firing (:func:`fire_due`) is one short transaction: lock the due rows (``FOR UPDATE SKIP LOCKED``
on PostgreSQL: two replicas never take the same row), append ``RetentionExpired`` to each
``retention-<partnership_id>`` stream at the version its row says, with an id derived from the
partnership and its year (the store keeps it once whatever happens), mark the rows expired;
the kit's relay publishes the events and programmes decides whom to erase. A timer fired twice
(a crash before the commit, two replicas) appends once.

At start, :func:`apply_policy` brings the pending timers in line with the retention in force
(an operator who changed ``RETENTION_YEARS_<DISPOSITIF>`` restarts the service).
"""

from __future__ import annotations

import uuid
from datetime import datetime
from typing import Any

from sqlalchemy import func, select, update
from sqlalchemy.dialects import postgresql, sqlite

from jumelage_contracts import EventData, to_envelope
from jumelage_contracts.notifications import RetentionExpired, retention_stream
from jumelage_contracts.programmes import PartnershipEnded, ProgrammeYearOpened

from ..adapters.db import retention
from ..domain.retention import RetentionPolicy, due_at, retained_from


def _timing(policy: RetentionPolicy, dispositif: str, school_year: str, academie: str,
            ended_at: datetime | None) -> dict[str, Any]:
    start = retained_from(school_year, academie, ended_at)
    years = policy.years(dispositif)
    return {"retained_from": start, "retention_years": years,
            "due_at": due_at(start, years, academie) if years is not None else None,
            "status": "pending" if years is not None else "never"}


async def plan(conn: Any, event: EventData, academie: str | None, policy: RetentionPolicy, now: datetime) -> None:
    """Plan or move the partnership's timer on a year opened or an end."""
    if isinstance(event, ProgrammeYearOpened):
        await _year_opened(conn, event, academie or event.academie.value, policy, now)
    elif isinstance(event, PartnershipEnded):
        await _ended(conn, event, policy, now)


async def _year_opened(conn: Any, event: ProgrammeYearOpened, academie: str, policy: RetentionPolicy,
                       now: datetime) -> None:
    row = (await conn.execute(select(retention).where(retention.c.partnership_id == event.partnership_id))).first()
    if row is not None and row.year_index >= event.year_index:
        return  # a redelivered or older year: the timer already counts from this one or a later one
    values = {"academie": academie, "dispositif": event.dispositif.value, "school_year": event.school_year,
              "year_index": event.year_index, "ended_at": None, "expired_at": None, "updated_at": now,
              **_timing(policy, event.dispositif.value, event.school_year, academie, None)}
    dialect = postgresql if conn.dialect.name == "postgresql" else sqlite
    insert = dialect.insert(retention).values(partnership_id=event.partnership_id, stream_version=0, **values)
    await conn.execute(insert.on_conflict_do_update(index_elements=["partnership_id"], set_=values))


async def _ended(conn: Any, event: PartnershipEnded, policy: RetentionPolicy, now: datetime) -> None:
    row = (await conn.execute(select(retention).where(retention.c.partnership_id == event.partnership_id))).first()
    if row is None or row.year_index != event.year_index or row.status == "expired":
        return  # no year known here (its cause is held until it is), another year's end, or past already
    timing = _timing(policy, row.dispositif, row.school_year, row.academie, event.ended_at)
    await conn.execute(update(retention).where(retention.c.partnership_id == event.partnership_id)
                       .values(ended_at=event.ended_at, updated_at=now, **timing))


async def apply_policy(store: Any, policy: RetentionPolicy, now: datetime) -> int:
    """Re-time the pending (and ``never``) timers with ``policy``; returns how many moved."""
    moved = 0
    async with store.transaction() as tx:
        conn = tx.connection
        rows = (await conn.execute(select(retention).where(retention.c.status.in_(["pending", "never"]))
                                   .with_for_update(skip_locked=True))).all()
        for row in rows:
            timing = _timing(policy, row.dispositif, row.school_year, row.academie, row.ended_at)
            if (timing["due_at"], timing["status"], timing["retention_years"]) != (row.due_at, row.status,
                                                                                   row.retention_years):
                await conn.execute(update(retention).where(retention.c.partnership_id == row.partnership_id)
                                   .values(updated_at=now, **timing))
                moved += 1
    return moved


def event_id_of(partnership_id: str, year_index: int) -> uuid.UUID:
    return uuid.uuid5(uuid.NAMESPACE_URL, f"jumelage:retention-expired:{partnership_id}:{year_index}")


async def fire_due(store: Any, now: datetime, batch_size: int = 100) -> int:
    """Say ``RetentionExpired`` for up to ``batch_size`` due timers; returns how many."""
    async with store.transaction() as tx:
        conn = tx.connection
        rows = (await conn.execute(
            select(retention).where(retention.c.status == "pending", retention.c.due_at <= now)
            .order_by(retention.c.due_at, retention.c.partnership_id).limit(batch_size)
            .with_for_update(skip_locked=True))).all()
        if not rows:
            return 0
        appends = []
        for row in rows:
            stream = retention_stream(row.partnership_id)
            event = RetentionExpired(
                partnership_id=row.partnership_id, dispositif=row.dispositif, school_year=row.school_year,
                year_index=row.year_index, retained_from=row.retained_from, retention_years=row.retention_years,
                due_at=row.due_at, expired_at=now)
            envelope = to_envelope(event, stream_id=stream, occurred_at=now, correlation_id=uuid.uuid4(),
                                   academie=row.academie, event_id=event_id_of(row.partnership_id, row.year_index))
            appends.append((stream, [envelope.model_copy(update={"stream_version": row.stream_version + 1})],
                            row.stream_version))
        results = await tx.append_many(appends)
        for row, result in zip(rows, results):
            await conn.execute(update(retention).where(retention.c.partnership_id == row.partnership_id)
                               .values(status="expired", expired_at=now, updated_at=now,
                                       stream_version=max(result.stream_version, row.stream_version)))
    return len(rows)


async def fire_all_due(store: Any, now: datetime, batch_size: int = 100) -> int:
    total = 0
    while True:
        fired = await fire_due(store, now, batch_size)
        total += fired
        if fired < batch_size:
            return total


async def next_due(conn: Any) -> datetime | None:
    return await conn.scalar(select(func.min(retention.c.due_at)).where(retention.c.status == "pending"))
