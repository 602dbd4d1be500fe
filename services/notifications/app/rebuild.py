"""``python -m notifications rebuild``: plan timers and feeds again from the events, so a defect
of the past (reminders left pending for cancelled actions, reminders never planned) is repaired.

1. **Replay** the source streams (candidatures, programmes) from the start into a scratch
   database with the live handler — the same code, the same rules and académie settings — in
   the order the events happened (the two streams merged by time; what still comes before its
   cause is held as live). Planning counts from each event's ``occurred_at``, so the replay
   plans what a correct live run would have, whenever it runs.
2. **Reconcile** the live database with the scratch one, in ONE transaction that first locks the
   consumers' inbox (PostgreSQL; SQLite has one writer): live consumers wait, the streams'
   tail that arrived meanwhile is replayed into the scratch database, then
   - facts (campaigns, candidatures, partnerships, referents, held events, settled facts) are
     replaced by the scratch ones; calendar items are updated in place with SEQUENCE raised
     where something shown changed (an item the events do not justify is kept, cancelled), and
     feed tokens are kept (calendar apps stay subscribed);
   - each reminder goes through the decider: a reminder sent, given up or missed stays so
     (never sent again); one that should be pending is planned (``ReminderScheduled``), one that
     should not is cancelled (``ReminderCancelled``, reason ``rebuilt``), one past its grace is
     recorded missed — events on the reminder's stream, as every change;
   - retention timers (RGPD) missing live are planned from the scratch ones (the upgrade path
     for partnerships learnt before they existed), pending ones re-timed; one that fired stays
     fired unless a later year was opened since;
   - every replayed event is marked in the live consumers' inbox, so they skip it afterwards.
"""

from __future__ import annotations

import os
import tempfile
import time
import uuid
from datetime import datetime
from typing import Any, AsyncIterator, Sequence

from sqlalchemy import delete, insert, select, text, update

from jumelage_contracts import Envelope, parse_event
from jumelage_contracts.notifications import Recipient

from eventkit.bus.inbox import mark_processed_many

from ..adapters import db
from ..adapters.db import MIGRATIONS_DIR
from ..domain.planning import PlannedReminder
from ..domain.reminder import (
    CancelReminder, Cancelled, GaveUp, Missed, Pending, PlanReminder, RecordMissed, Sent, fold,
)
from ..domain.retention import RetentionPolicy
from .handlers import EventHandler
from .reminders import execute, stream_of

SOURCES = ("candidatures", "programmes")
CONSUMERS = {"candidatures": "notifications-from-candidatures", "programmes": "notifications-from-programmes"}
REPLACED = (db.campaigns, db.candidatures, db.partnerships, db.referents, db.parked, db.settled)
FINAL = ("sent", "failed", "missed")


async def pending_timers(conn: Any) -> set[tuple[str, str, datetime]]:
    """The pending timers as ``(reminder_id, rule, due_at)``: what a rebuild and a correct live
    run must agree on."""
    query = select(db.timers.c.reminder_id, db.timers.c.rule, db.timers.c.due_at).where(db.timers.c.status == "pending")
    return {tuple(row) for row in (await conn.execute(query)).all()}  # type: ignore[misc]


async def rebuild(store: Any, log: Any, clock: Any, *, scratch_url: str | None = None,
                  batch_size: int = 500, retention_policy: RetentionPolicy | None = None) -> dict[str, Any]:
    """Replay ``log`` into a scratch database, then reconcile ``store`` with it (module doc)."""
    from eventkit.sql import open_store

    started = time.perf_counter()
    path = None
    if scratch_url is None:
        handle, path = tempfile.mkstemp(prefix="notifications-rebuild-", suffix=".db")
        os.close(handle)
        scratch_url = f"sqlite+aiosqlite:///{path}"
    scratch = await open_store(scratch_url, extra_migrations=[MIGRATIONS_DIR])
    try:
        async with store.engine.connect() as conn, scratch.transaction() as tx:
            for table in (db.overrides, db.contacts):  # the académies' settings shape the plans
                rows = [dict(r._mapping) for r in (await conn.execute(select(table))).all()]
                if rows:
                    await tx.connection.execute(insert(table), rows)
        # A correct live run applies each event as it happens: the replay plans at each event's time
        # (what has fallen due since is settled against the real clock when reconciling).
        handler = EventHandler(ReplayClock(clock), retention_policy=retention_policy)
        cursors = {source: 0 for source in SOURCES}
        replayed: list[Envelope] = []
        await _replay(scratch, handler, _merged(log, cursors, batch_size), replayed, batch_size)
        replayed_at = time.perf_counter()
        figures = await _reconcile(store, scratch, log, handler, cursors, replayed, clock, batch_size)
    finally:
        await scratch.close()
        if path:
            os.unlink(path)
    return {"events": len(replayed), **figures, "replay_seconds": round(replayed_at - started, 3),
            "seconds": round(time.perf_counter() - started, 3)}


class ReplayClock:
    """The time of the event being replayed, never later than the real clock."""

    def __init__(self, real: Any) -> None:
        self.real = real
        self._now = real.now()

    def at(self, when: datetime) -> None:
        self._now = min(when, self.real.now())

    def now(self) -> datetime:
        return self._now


async def _merged(log: Any, cursors: dict[str, int], size: int) -> AsyncIterator[Envelope]:
    """The sources' events merged by the time they were recorded (each source kept in order):
    the order they happened in, as near as the streams tell."""
    readers = {s: log.batches(s, cursors[s], size) for s in SOURCES if s in log.sources}
    heads: dict[str, list[Envelope]] = {}

    async def refill(source: str) -> None:
        while not heads.get(source):
            try:
                batch, cursors[source] = await readers[source].__anext__()
            except StopAsyncIteration:
                heads.pop(source, None)
                return
            heads[source] = list(batch)

    for source in list(readers):
        await refill(source)
    while heads:
        source = min(heads, key=lambda s: (_when(heads[s][0]), SOURCES.index(s)))
        yield heads[source].pop(0)
        await refill(source)


def _when(envelope: Envelope) -> datetime:
    return envelope.recorded_at or envelope.occurred_at


async def _replay(scratch: Any, handler: EventHandler, envelopes: Any, replayed: list[Envelope], size: int) -> None:
    batch: list[Envelope] = []

    async def flush() -> None:
        async with scratch.transaction() as tx:
            for envelope in batch:
                handler.clock.at(envelope.occurred_at)
                if await tx.mark_processed("rebuild", envelope.id):  # a republished copy counts once
                    try:
                        event = parse_event(envelope)
                    except ValueError:
                        continue  # the live consumer dead-lettered it
                    await handler(tx, envelope, event)
        replayed.extend(batch)
        batch.clear()

    async for envelope in envelopes:
        batch.append(envelope)
        if len(batch) >= size:
            await flush()
    if batch:
        await flush()


async def _reconcile(store: Any, scratch: Any, log: Any, handler: EventHandler, cursors: dict[str, int],
                     replayed: list[Envelope], clock: Any, size: int) -> dict[str, int]:
    async with store.transaction() as tx:
        conn = tx.connection
        if conn.dialect.name == "postgresql":
            # Live consumers mark their inbox first thing: they wait here until the swap is done.
            await conn.execute(text("LOCK TABLE inbox IN SHARE ROW EXCLUSIVE MODE"))
        await _replay(scratch, handler, _merged(log, cursors, size), replayed, size)  # the tail
        async with scratch.engine.connect() as source:
            for table in REPLACED:
                rows = [dict(r._mapping) for r in (await source.execute(select(table))).all()]
                if table is db.parked:  # keep the order they were held in, with the live numbering
                    rows = [{k: v for k, v in r.items() if k != "seq"} for r in sorted(rows, key=lambda r: r["seq"])]
                await conn.execute(delete(table))
                if rows:
                    await conn.execute(insert(table), rows)
            items = await _reconcile_items(conn, source, clock.now())
            wanted = {r.reminder_id: r for r in (await source.execute(select(db.timers))).all()}
            retention_changed = await _reconcile_retention(conn, source, clock.now())
        changed = await _reconcile_timers(tx, wanted, clock.now())
        for source_name in SOURCES:
            ids = [e.id for e in replayed if e.source == source_name]
            for start in range(0, len(ids), 1000):
                await mark_processed_many(tx, CONSUMERS[source_name], ids[start:start + 1000])
    return {"reminder_events": changed, "calendar_items_changed": items,
            "retention_timers_changed": retention_changed}


TIMING = ("academie", "dispositif", "school_year", "year_index", "ended_at", "retained_from", "retention_years",
          "due_at", "status")


async def _reconcile_retention(conn: Any, source: Any, now: datetime) -> int:
    """Retention timers the events justify: planned where missing, re-timed where pending; a
    fired one is left fired (its RetentionExpired is said) unless a later year opened since."""
    live = {r.partnership_id: r for r in (await conn.execute(select(db.retention).with_for_update())).all()}
    changed = 0
    for want in (await source.execute(select(db.retention))).all():
        have = live.get(want.partnership_id)
        values = {name: getattr(want, name) for name in TIMING}
        if have is None:
            await conn.execute(insert(db.retention).values(partnership_id=want.partnership_id, stream_version=0,
                                                           expired_at=None, updated_at=now, **values))
        elif have.status == "expired" and have.year_index >= want.year_index:
            continue
        elif any(getattr(have, name) != value for name, value in values.items()):
            await conn.execute(update(db.retention).where(db.retention.c.partnership_id == want.partnership_id)
                               .values(expired_at=None, updated_at=now, **values))
        else:
            continue
        changed += 1
    return changed


async def _reconcile_items(conn: Any, source: Any, now: datetime) -> int:
    live = {r.uid: r for r in (await conn.execute(select(db.calendar_items))).all()}
    changed = 0
    for item in (await source.execute(select(db.calendar_items))).all():
        values = {k: v for k, v in item._mapping.items() if k not in ("sequence", "updated_at")}
        current = live.pop(item.uid, None)
        if current is None:
            await db.save_calendar_item(conn, now, **values)
            changed += 1
        elif any(getattr(current, k) != v for k, v in values.items()):
            await db.save_calendar_item(conn, now, **values)
            changed += 1
    for uid, current in live.items():  # nothing in the events justifies it: calendars drop it
        if current.kind != "deadline" and current.status != "CANCELLED":
            await db.save_calendar_item(conn, now, uid=uid, status="CANCELLED")
            changed += 1
    return changed


async def _reconcile_timers(tx: Any, wanted: dict[str, Any], now: datetime) -> int:
    conn = tx.connection
    live = {r.reminder_id: r for r in (await conn.execute(select(db.timers).with_for_update())).all()}
    count = 0
    for rid in sorted(set(wanted) | set(live)):
        have, want = live.get(rid), wanted.get(rid)
        if have is None and want is not None:
            have = await _row_from_stream(tx, rid, want, now)  # the row was lost, the stream was not
        if have is not None and have.status in FINAL:
            continue  # sent (never sent again), given up or missed: done
        command = _command_for(have, want, now)
        if command is not None:
            count += len(await execute(tx, rid, command, now=now, correlation_id=uuid.uuid4(), row=have))
        elif have is not None and want is not None and have.late_until != want.late_until:
            await db.update_timer(conn, rid, late_until=want.late_until)
    return count


async def _row_from_stream(tx: Any, reminder_id: str, want: Any, now: datetime) -> Any:
    """A timer row lost while its stream lives on: the stream is the record, so the row comes
    back as the fold of it (the scratch row gives the columns the events do not carry)."""
    envelopes = await tx.read_stream(stream_of(reminder_id))
    if not envelopes:
        return None
    state = fold([parse_event(e) for e in envelopes])
    values = dict(want._mapping)
    values.update(stream_version=envelopes[-1].stream_version, updated_at=now, attempts=getattr(state, "attempts", 0),
                  status={Pending: "pending", Sent: "sent", Cancelled: "cancelled", GaveUp: "failed",
                          Missed: "missed"}.get(type(state), "cancelled"))
    if isinstance(state, Pending):
        values.update(due_at=state.due_at, next_attempt_at=state.next_attempt_at)
    if isinstance(state, Sent):
        values.update(message_id=state.message_id)
    await db.save_timer(tx.connection, values)
    return await db.timer(tx.connection, reminder_id, lock=True)


def _command_for(have: Any, want: Any, now: datetime) -> Any:
    if want is not None and want.status == "pending" and want.late_until is not None and now >= want.late_until:
        # due and past its grace by now: a live run would have sent it; too late to send today
        if have is not None and have.status == "pending":
            return RecordMissed(want.late_until, now)
        return PlanReminder(_planned(want, missed="not_sent_before_its_grace"), now=now)
    if want is None or want.status in ("cancelled", "sent", "failed"):
        return CancelReminder("rebuilt", now) if have is not None and have.status == "pending" else None
    if want.status == "missed":
        if have is not None and have.status == "pending":
            return RecordMissed(want.late_until or want.due_at, now, reason=want.last_error or "arrived_after_its_grace")
        return PlanReminder(_planned(want, missed=want.last_error or "arrived_after_its_grace"), now=now)
    if have is None or have.status == "cancelled" or have.due_at != want.due_at:
        return PlanReminder(_planned(want), now=now)
    return None


def _planned(row: Any, missed: str | None = None) -> PlannedReminder:
    subject = {"academie": row.academie, "dispositif": row.dispositif, "school_year": row.school_year,
               "campaign_id": row.campaign_id, "partnership_id": row.partnership_id, "action_id": row.action_id,
               "meeting_id": row.meeting_id, "uai": row.uai}
    return PlannedReminder(
        reminder_id=row.reminder_id, rule=row.rule, dedup_key=row.dedup_key, due_at=row.due_at, scope=row.scope,
        scope_id=row.scope_id, school_year=row.school_year, audience=tuple(row.audience),
        recipients=tuple(Recipient.model_validate(r) for r in row.recipients), title=row.title,
        template=row.template, kind=row.kind, event_at=row.event_at, place=row.place, subject=subject,
        late_until=row.late_until, missed=missed, detail=row.detail)


async def rebuild_from_env(settings: Any) -> dict[str, Any]:
    """The command: the service's own database, its NATS, the wall clock (or a fixed one)."""
    from eventkit.bus import NatsConnection
    from eventkit.clock import SystemClock
    from eventkit.shredding import Keyring, nats_key_fetcher
    from eventkit.sql import open_store

    from ..adapters.replay import JetStreamLog

    store = await open_store(settings.database_url, extra_migrations=[MIGRATIONS_DIR])
    nats = NatsConnection(settings.nats_url, name="notifications-rebuild")
    await nats.start()
    try:
        if not await nats.wait_connected(10):
            raise SystemExit(f"NATS not reachable at {settings.nats_url}")
        keyring = Keyring("notifications", nats_key_fetcher(nats, settings.subject_root))

        async def opener(envelopes):
            async with store.engine.begin() as conn:
                return await keyring.open_many(conn, envelopes)

        log = JetStreamLog(nats.js, settings.subject_root, SOURCES, opener=opener)
        return await rebuild(store, log, SystemClock(), retention_policy=RetentionPolicy.from_env(os.environ))
    finally:
        await nats.close()
        await store.close()


def sources_of(envelopes: Sequence[Envelope]) -> dict[str, list[Envelope]]:
    """Envelopes grouped by their source, in order (a ``ListLog`` from what a test played)."""
    found: dict[str, list[Envelope]] = {}
    for envelope in envelopes:
        found.setdefault(envelope.source, []).append(envelope)
    return found
