"""Notifications timer benchmark: N pending durable timers, the clock moved past all of them.

    .venv/bin/python -m benchmarks.notifications_timers [--timers 100000] [--batch 500] [--smtp-sample 5000]

Database: ``JUMELAGE_BENCH_DATABASE_URL`` (a server URL, default
``postgresql://postgres@127.0.0.1:5432/postgres``); a scratch database is created and dropped.

Measured in the same run, on the same database:

* ``kit scheduler, null transport``: the service's Scheduler firing every timer, batch by batch
  — claim (one ``UPDATE … WHERE reminder_id IN (SELECT … FOR UPDATE SKIP LOCKED) RETURNING``
  that pushes the rows' next attempt to the claim's lease) and read the batch's facts, commit;
  compose the French e-mails (partnership, referents, calendar item; jinja2; Message-ID) and
  hand them to a NULL transport that sends nothing (labelled as such: it isolates the timers
  from SMTP), outside any transaction; then lock the rows again, append ``ReminderSent`` to
  every reminder's stream with one ``append_many`` and update the timer rows, commit;
* ``kit scheduler, SMTP sink``: the same on a sample of timers with real SMTP to a local
  aiosmtpd server (one SMTP session per batch);
* ``raw select+update``: asyncpg, the same batches on a copy of the same rows: lock, mark sent;
* ``raw select+insert event+update``: the same plus one event row per reminder inserted with
  ``unnest`` (what the scheduler must at least do to record a sent reminder as an event);
* ``raw, one event INSERT per reminder``: the same with one INSERT statement per reminder, the
  shape a per-stream ``append`` would impose (each reminder is its own stream).

Peak memory is the process's max RSS (``ru_maxrss``) before and after each phase, plus the
Python heap peak of the kit run when ``--tracemalloc`` is given (it slows the run down).
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import resource
import time
import tracemalloc
import uuid
from datetime import datetime, timedelta, timezone
from urllib.parse import urlsplit, urlunsplit

import asyncpg

from eventkit.clock import ManualClock
from eventkit.sql import open_store
from notifications.adapters.db import MIGRATIONS_DIR
from notifications.adapters.mail import NullMailer, SmtpMailer
from notifications.app.scheduler import Scheduler

DEFAULT_SERVER = "postgresql://postgres@127.0.0.1:5432/postgres"
UTC = timezone.utc
START = datetime(2025, 9, 1, 6, 0, tzinfo=UTC)
PARTNERSHIPS = 1000


def rss_mb() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def with_db(server: str, db: str, driver: str = "postgresql") -> str:
    parts = urlsplit(server)
    return urlunsplit((driver, parts.netloc, f"/{db}", "", ""))


async def seed(conn: asyncpg.Connection, count: int, table: str = "notif_timers", offset: int = 0) -> None:
    """``count`` pending action reminders over ``PARTNERSHIPS`` partnerships, due over a year."""
    recipients = json.dumps([{"role": "school_referent", "name": "Claire Martin", "email": "claire.martin@ac-paris.fr"}])
    audience = json.dumps(["school_referent", "partner_referent", "teacher"])
    rows = []
    for i in range(offset, offset + count):
        pid = f"p-{i % PARTNERSHIPS:05d}"
        due = START + timedelta(minutes=(i * 5) % (365 * 24 * 60))
        key = f"action_j_minus_1:act-{i:07d}:{(due + timedelta(days=1)).isoformat()}"
        rows.append((f"rem-{uuid.uuid5(uuid.NAMESPACE_URL, key).hex}", key, "action_j_minus_1", "reminder", "action",
                     "action", f"act-{i:07d}", None, "paris", "culture", None, pid, f"act-{i:07d}", None, "0750655E",
                     audience, recipients, f"Rappel : atelier {i} demain", "Musee Carnavalet, Paris 3e",
                     due + timedelta(days=1, hours=3), due, due, "pending", 0, None, None, None, 0, START))
    columns = ["reminder_id", "dedup_key", "rule", "kind", "template", "scope", "scope_id", "school_year", "academie",
               "dispositif", "campaign_id", "partnership_id", "action_id", "meeting_id", "uai", "audience",
               "recipients", "title", "place", "event_at", "due_at", "next_attempt_at", "status", "attempts",
               "last_error", "message_id", "sent_at", "stream_version", "updated_at"]
    await conn.copy_records_to_table(table, records=rows, columns=columns)


async def seed_facts(conn: asyncpg.Connection) -> None:
    calendar = json.dumps({"work_meeting_window": {"start": "2025-09-15", "end": "2025-10-17"},
                           "bilan_window": {"start": "2026-05-11", "end": "2026-06-19"},
                           "renewal_deadline": "2026-06-26T21:59:00Z"})
    await conn.copy_records_to_table("notif_partnerships", columns=[
        "partnership_id", "school_year", "year_index", "academie", "dispositif", "campaign_id", "uai", "school_name",
        "partner_id", "partner_name", "calendar", "ended"], records=[
        (f"p-{i:05d}", "2025-2026", 1, "paris", "culture", None, "0750655E", f"Ecole {i}", f"partner-{i}",
         f"Structure {i}", calendar, False) for i in range(PARTNERSHIPS)])
    await conn.copy_records_to_table("notif_referents", columns=[
        "partnership_id", "school_year", "referent_id", "side", "role", "name", "email", "active"], records=[
        row for i in range(PARTNERSHIPS) for row in (
            (f"p-{i:05d}", "2025-2026", f"s-{i}", "school", "teacher", f"Enseignant {i}", f"ens{i}@ac-paris.fr", True),
            (f"p-{i:05d}", "2025-2026", f"p-{i}", "partner", "coordinator", f"Coordination {i}", f"coord{i}@example.fr", True))])
    await conn.copy_records_to_table("notif_feeds", columns=["token", "kind", "key", "created_at"], records=[
        (uuid.uuid4().hex + uuid.uuid4().hex[:11], "partnership", f"p-{i:05d}", START) for i in range(PARTNERSHIPS)])


async def kit_run(url: str, mailer, batch: int, use_tracemalloc: bool) -> dict:
    store = await open_store(url, extra_migrations=[MIGRATIONS_DIR], pool_size=4, max_overflow=0)
    clock = ManualClock(START + timedelta(days=400))  # past every timer
    scheduler = Scheduler(store, clock, mailer, batch_size=batch)
    rss_before = rss_mb()
    if use_tracemalloc:
        tracemalloc.start()
    started = time.perf_counter()
    fired = await scheduler.tick()
    elapsed = time.perf_counter() - started
    heap_peak = tracemalloc.get_traced_memory()[1] / 1e6 if use_tracemalloc else None
    if use_tracemalloc:
        tracemalloc.stop()
    await store.close()
    return {"fired": fired, "seconds": elapsed, "rate": fired / elapsed, "rss_before_mb": rss_before,
            "rss_peak_mb": rss_mb(), "heap_peak_mb": heap_peak}


async def raw_run(conn: asyncpg.Connection, batch: int, with_events: bool, per_row: bool = False) -> dict:
    now = START + timedelta(days=400)
    fired = 0
    started = time.perf_counter()
    while True:
        async with conn.transaction():
            rows = await conn.fetch(
                "SELECT reminder_id, stream_version FROM baseline_timers WHERE status = 'pending' "
                "AND next_attempt_at <= $1 ORDER BY next_attempt_at LIMIT $2 FOR UPDATE SKIP LOCKED", now, batch)
            if not rows:
                break
            ids = [r["reminder_id"] for r in rows]
            if with_events:
                await conn.execute("SELECT pg_advisory_xact_lock(1)")
                data = [json.dumps({"reminder_id": rid, "message_id": f"<{rid}@bench>"}) for rid in ids]
                if per_row:  # one statement per reminder, as an append per stream must be
                    for rid, d in zip(ids, data):
                        await conn.execute(
                            "INSERT INTO baseline_events (id, stream_id, stream_version, type, schema_version, source, "
                            "occurred_at, recorded_at, correlation_id, actor_role, actor_id, academie, data) "
                            "VALUES (gen_random_uuid(), 'reminder-' || $1::text, 1, 'ReminderSent', 1, 'notifications', "
                            "$2, $2, gen_random_uuid(), 'system', 'notifications', 'paris', $3::text::jsonb)", rid, now, d)
                    ids_done = True
                else:
                    ids_done = False
            if with_events and not ids_done:
                await conn.execute(
                    "INSERT INTO baseline_events (id, stream_id, stream_version, type, schema_version, source, "
                    "occurred_at, recorded_at, correlation_id, actor_role, actor_id, academie, data) "
                    "SELECT gen_random_uuid(), 'reminder-' || rid, 1, 'ReminderSent', 1, 'notifications', $2, $2, "
                    "gen_random_uuid(), 'system', 'notifications', 'paris', d::jsonb "
                    "FROM unnest($1::text[], $3::text[]) AS t(rid, d)", ids, now, data)
            await conn.execute("UPDATE baseline_timers SET status = 'sent', stream_version = stream_version + 1, "
                               "sent_at = $2, updated_at = $2 WHERE reminder_id = ANY($1::text[])", ids, now)
            fired += len(rows)
    elapsed = time.perf_counter() - started
    return {"fired": fired, "seconds": elapsed, "rate": fired / elapsed}


async def smtp_sample(url: str, conn: asyncpg.Connection, count: int, batch: int, offset: int) -> dict:
    from aiosmtpd.controller import Controller

    class Sink:
        received = 0

        async def handle_DATA(self, server, session, envelope):  # noqa: N802
            Sink.received += 1
            return "250 OK"

    import socket

    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    controller = Controller(Sink(), hostname="127.0.0.1", port=port)
    controller.start()
    try:
        await seed(conn, count, offset=offset)
        result = await kit_run(url, SmtpMailer("127.0.0.1", port, "bench@jumelage.example.fr"), batch, False)
    finally:
        controller.stop()
    result["received"] = Sink.received
    return result


async def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--timers", type=int, default=100_000)
    parser.add_argument("--batch", type=int, default=500)
    parser.add_argument("--smtp-sample", type=int, default=5_000)
    parser.add_argument("--tracemalloc", action="store_true")
    args = parser.parse_args()
    server = os.environ.get("JUMELAGE_BENCH_DATABASE_URL", DEFAULT_SERVER)
    db = f"bench_notif_{uuid.uuid4().hex[:8]}"
    admin = await asyncpg.connect(with_db(server, urlsplit(server).path.lstrip("/") or "postgres"))
    await admin.execute(f'CREATE DATABASE "{db}"')
    url = with_db(server, db, "postgresql+asyncpg")
    try:
        store = await open_store(url, extra_migrations=[MIGRATIONS_DIR])  # migrate
        await store.close()
        conn = await asyncpg.connect(with_db(server, db))
        # COPY speaks binary: jsonb's binary form is a version byte then the text
        await conn.set_type_codec("jsonb", encoder=lambda v: b"\x01" + v.encode(), decoder=lambda b: b[1:].decode(),
                                  schema="pg_catalog", format="binary")
        t0 = time.perf_counter()
        await seed_facts(conn)
        await seed(conn, args.timers)
        await conn.execute("CREATE TABLE baseline_timers (LIKE notif_timers INCLUDING ALL)")
        await conn.execute("CREATE TABLE baseline_events (LIKE events INCLUDING ALL)")
        await conn.execute("INSERT INTO baseline_timers SELECT * FROM notif_timers")
        # Statistics for the seeded tables only: an ANALYZE of the still-empty events table would
        # tell the planner it stays empty, and the append's lookups would degrade to scans.
        await conn.execute("ANALYZE notif_timers, notif_partnerships, notif_referents, notif_feeds, baseline_timers")
        print(f"seeded {args.timers} pending timers (+ copy for the baselines) in {time.perf_counter() - t0:.1f}s")

        kit = await kit_run(url, NullMailer(), args.batch, args.tracemalloc)
        raw_update = await raw_run(conn, args.batch, with_events=False)
        await conn.execute("UPDATE baseline_timers SET status = 'pending', stream_version = 0")
        await conn.execute("VACUUM ANALYZE baseline_timers")
        raw_events = await raw_run(conn, args.batch, with_events=True)
        await conn.execute("UPDATE baseline_timers SET status = 'pending', stream_version = 0")
        await conn.execute("TRUNCATE baseline_events")
        await conn.execute("VACUUM ANALYZE baseline_timers")
        raw_per_row = await raw_run(conn, args.batch, with_events=True, per_row=True)
        sample = await smtp_sample(url, conn, args.smtp_sample, min(args.batch, 100), args.timers) if args.smtp_sample else None
        await conn.close()
    finally:
        await admin.execute(f'DROP DATABASE IF EXISTS "{db}" WITH (FORCE)')
        await admin.close()

    print(f"\nPostgreSQL, {args.timers} timers due, batches of {args.batch}, one process, 2 cores")
    print(f"{'scenario':48} {'fired':>8} {'seconds':>8} {'per s':>9}")
    for name, r in [("kit scheduler, null transport (nothing sent)", kit),
                    ("raw asyncpg select+update (baseline)", raw_update),
                    ("raw asyncpg select+insert event+update", raw_events),
                    ("raw asyncpg, one event INSERT per reminder", raw_per_row)]:
        print(f"{name:48} {r['fired']:>8} {r['seconds']:>8.1f} {r['rate']:>9.0f}")
    if sample:
        print(f"{'kit scheduler, SMTP to local aiosmtpd (sample)':48} {sample['fired']:>8} {sample['seconds']:>8.1f} "
              f"{sample['rate']:>9.0f}   ({sample['received']} messages received by the sink)")
    print(f"\nratios: kit / raw select+update = {kit['rate'] / raw_update['rate']:.3f}; "
          f"kit / raw with events = {kit['rate'] / raw_events['rate']:.3f}; "
          f"kit / raw one INSERT per reminder = {kit['rate'] / raw_per_row['rate']:.3f}")
    heap = f", Python heap peak {kit['heap_peak_mb']:.1f} MB (tracemalloc)" if kit["heap_peak_mb"] else ""
    print(f"memory: max RSS {kit['rss_before_mb']:.0f} MB before firing, {kit['rss_peak_mb']:.0f} MB after{heap}")


if __name__ == "__main__":
    asyncio.run(main())
